"""README "Adding a setting", followed in a fixture: a field declared with ``setting`` on the
schema is checked, recorded, keeps earlier run ids and splits configurations, with no other
module naming it."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pytest

from mlpbench import results, settings
from mlpbench.errors import ConfigError
from mlpbench.methods import backprop
from mlpbench.settings import Column, RunConfig, positive, setting

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class WithClip(RunConfig):
    """The README's example, on a subclass so the real schema stays as it is."""

    clip: Optional[float] = setting(  # noqa: UP045
        None, "clip each step's gradient to this norm; null: no clipping",
        check=positive(" (or null: no clipping)"), column=Column(null_at=None))


def with_clip(**values) -> WithClip:
    return WithClip(method=backprop.Config(), dataset=settings.DatasetConfig(), **values)


def test_the_new_setting_is_checked():
    settings.check(with_clip(clip=1.0))
    with pytest.raises(ConfigError, match=r"^clip: must be a finite number > 0 \(or null"):
        settings.check(with_clip(clip=-1.0))


def test_it_is_recorded_and_keeps_earlier_run_ids():
    plain = settings.columns(RunConfig(method=backprop.Config(), dataset=settings.DatasetConfig()))
    default, clipped = settings.columns(with_clip()), settings.columns(with_clip(clip=1.0))
    assert default == {**plain, "clip": None} and clipped["clip"] == 1.0
    assert "clip" in settings.nullable_columns(WithClip)
    later = results.LATER_COLUMNS | {"clip"}
    hashed = {k: v for k, v in default.items() if not (k in later and v is None)}
    assert hashed == {k: v for k, v in plain.items() if not (k in later and v is None)}


def test_it_splits_configurations():
    assert settings.group_columns(WithClip) == (*settings.group_columns(), "clip")


def test_lr_decay_is_named_in_at_most_three_modules():
    found = subprocess.run(["grep", "-rln", "lr_decay", "mlpbench/"], cwd=REPO,
                           capture_output=True, text=True).stdout.split()
    assert len([f for f in found if f.endswith(".py")]) <= 3, found
