"""docs/development.md "Adding a setting", followed literally: its field, declared with ``setting``
on (a subclass of) the schema, is checked, recorded in the results columns, keeps earlier run ids
and splits configurations, with no other module naming it."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import pandas as pd
import pytest

from mlpbench import results, settings
from mlpbench.errors import ConfigError
from mlpbench.methods import backprop
from mlpbench.settings import Column, RunConfig, positive, setting

REPO = Path(__file__).resolve().parents[1]
GUIDE = REPO / "docs" / "development.md"


def readme_field() -> str:
    """The field "Adding a setting" (docs/development.md) declares, as printed there."""
    section = GUIDE.read_text().split("## Adding a setting", 1)[1].split("\n## ", 1)[0]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def schema_with_the_readme_field() -> type:
    """``RunConfig`` with that field added (on a subclass: the real schema stays)."""
    namespace = {"__name__": __name__, "Optional": Optional, "setting": setting,
                 "positive": positive, "Column": Column, "RunConfig": RunConfig}
    exec(f"class WithClip(RunConfig):\n{readme_field()}", namespace)
    return dataclass(frozen=True)(namespace["WithClip"])


WithClip = schema_with_the_readme_field()


def with_clip(**values) -> RunConfig:
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


def test_the_report_states_it(monkeypatch):
    """The report's protocol line names a recorded setting it has no words of its own for."""
    from mlpbench.report import describe

    group_columns = settings.group_columns
    monkeypatch.setattr(settings, "group_columns", lambda schema=WithClip: group_columns(schema))
    row = {**settings.columns(with_clip(clip=1.0, lr=0.1)), "lr": 0.1}
    text = describe.protocols_text(pd.DataFrame([row]))
    assert text.endswith("log_eps 1e-07, clip 1"), text
