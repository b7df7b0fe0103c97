"""Property: any value for any key either composes into valid settings or fails as one line.

In-process through Hydra's compose API (hundreds of examples, fast), plus a few examples through
the real CLI in a subprocess, where the promise is: exit 0 with rows, or exit 2 with one
`mlpbench: error:` line, no traceback and no rows.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra import compose, initialize
from hydra.errors import HydraException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from omegaconf.errors import OmegaConfBaseException

from mlpbench.__main__ import check_group_overrides, one_line
from mlpbench.config import register_configs, settings_from
from mlpbench.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
KEYS = ["epochs", "steps_per_epoch", "batch_size", "lr", "h", "seed", "dtype", "log_eps",
        "model.hidden_size", "method", "method.scheme", "method.engine", "dataset", "progress",
        "resume", "epoch", "lr_rate", "model.hidden"]
VALUES = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "0", "-0.0", "1e-300", "1e308", "true", "null",
                     "numerical", "backprop", "central", "naive", "float32", "mnist_subset",
                     "abc", "''", "[1,2]", "{a:1}"]),
)


@pytest.fixture(scope="module", autouse=True)
def _store():
    register_configs()


def compose_and_check(overrides: list[str]) -> str | None:
    """None when the overrides give valid settings, else the one-line error text."""
    try:
        check_group_overrides(overrides)
        with initialize(version_base="1.3", config_path="../conf"):
            cfg = compose("config", overrides=overrides)
        settings_from(cfg)
    except (ConfigError, HydraException, OmegaConfBaseException) as ex:
        return one_line(ex)
    return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pairs=st.lists(st.tuples(st.sampled_from(KEYS), VALUES), min_size=1, max_size=3))
def test_any_override_is_valid_or_one_clear_line(pairs):
    overrides = [f"{key}={value}" for key, value in pairs]
    if any(k.startswith("method.") for k, _ in pairs):
        overrides.insert(0, "method=numerical")
    message = compose_and_check(overrides)
    if message is None:
        return
    assert "\n" not in message and message.strip() == message and message
    named = {k.split(".")[0] for k, _ in pairs} | {k for k, _ in pairs}
    leading = set(message.split(": ")[0].split(", "))  # "key: ..." or "key, key: ..."
    assert leading & named or message.startswith(
        ("method", "dataset", "Error", "Could not")), message


def test_known_bad_values_are_rejected():
    for override in ("h=nan", "lr=inf", "epochs=-1", "h=-0.0", "log_eps=-1"):
        message = compose_and_check([override])
        assert message is not None and message.startswith(override.split("=")[0]), override


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from(["epochs", "lr", "h", "batch_size", "model.hidden_size", "seed"]),
       value=st.sampled_from(["0", "-1", "nan", "inf", "x", "2", "1e-3"]))
def test_cli_runs_or_fails_cleanly(tmp_path_factory, key, value):
    results = tmp_path_factory.mktemp("results")
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", f"results_dir={results}", "dataset=mnist_subset",
         "epochs=1", "model.hidden_size=2", "batch_size=10", f"{key}={value}"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
        env={**os.environ, "MLPBENCH_DATA": str(results / "none")},
    )
    rows = [p for p in results.rglob("*.parquet") if not p.name.startswith(".")]
    assert "Traceback" not in proc.stdout + proc.stderr
    if proc.returncode == 0:
        assert len(rows) == 2  # one curves file and one runs file
    else:
        assert proc.returncode == 2
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"mlpbench: error: {key}"), lines
        assert rows == []
    assert not (value in ("nan", "inf") and key in ("lr", "h") and proc.returncode == 0)
