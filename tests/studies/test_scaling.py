"""The scaling benchmark: a tiny grid end to end, the naive sample, and one-line usage errors."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpbench.model import PARAM_KEYS, param_count
from mlpbench.studies import scaling_study

HIDDEN = (4, 8)
BATCH = (5, 10)
NAIVE_SAMPLE = 10


@pytest.fixture(scope="module")
def tiny_grid(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    """One invocation of the CLI entry point on a 2 x 2 grid; its folder, rows and stdout."""
    out = tmp_path_factory.mktemp("scaling") / "scaling"
    argv = ["--out", str(out), "--hidden", *map(str, HIDDEN), "--batch", *map(str, BATCH),
            "--repeats", "1", "--naive-sample", str(NAIVE_SAMPLE)]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert scaling_study.main(argv) == 0
    return out, pd.read_parquet(out), stdout.getvalue()


def test_one_row_per_engine_and_cell(tiny_grid: tuple[Path, pd.DataFrame, str]) -> None:
    out, rows, _ = tiny_grid
    assert len(rows) == len(scaling_study.ENGINES) * len(HIDDEN) * len(BATCH)
    cells = set(zip(rows["engine"], rows["hidden_size"], rows["batch_size"], strict=True))
    assert cells == {(e, h, b) for e in scaling_study.ENGINES for h in HIDDEN for b in BATCH}
    files = [p.name for p in out.iterdir()]
    assert len(files) == 1 and files[0].endswith(".parquet") and not files[0].startswith(".")
    assert rows["measurement_id"].nunique() == 1


def test_param_counts_and_flags(tiny_grid: tuple[Path, pd.DataFrame, str]) -> None:
    _, rows, _ = tiny_grid
    for _, row in rows.iterrows():
        hidden = row["hidden_size"]
        assert row["param_count"] == 784 * hidden + hidden + 10 * hidden + 10
        naive = row["engine"] == "naive"
        assert bool(row["extrapolated"]) is naive
        if naive:
            assert row["sampled_params"] == NAIVE_SAMPLE
        else:
            assert pd.isna(row["sampled_params"])
        assert row["repeats"] == 1
        assert row["seconds_per_step_median"] > 0
        assert 0 < row["seconds_per_step_min"] <= row["seconds_per_step_median"]
    assert rows["dtype"].eq("float64").all() and rows["dataset"].eq("mnist_subset").all()


def test_rows_say_what_each_engine_is_to_the_comparison(
    tiny_grid: tuple[Path, pd.DataFrame, str],
) -> None:
    """backprop is the reference, incremental the fast engine, naive the seed's loop: the
    report orders and styles the engines by these columns, never by their names."""
    _, rows, _ = tiny_grid
    roles = rows[["engine", "role", "engine_role"]].astype(object)
    found = {tuple(None if pd.isna(v) else v for v in row)
             for row in roles.itertuples(index=False)}
    assert found == {("backprop", "reference", None), ("incremental", None, "fast"),
                     ("naive", None, "seed_loop")}


def test_environment_columns(tiny_grid: tuple[Path, pd.DataFrame, str]) -> None:
    _, rows, _ = tiny_grid
    for column in ("cpu_model", "cpu_count", "numpy_version", "blas", "platform",
                   "python_version", "git_revision", "measured_at"):
        assert column in rows.columns
    assert rows["cpu_count"].iloc[0] >= 1
    assert str(rows["measured_at"].dt.tz) == "UTC"


def test_stdout_table(tiny_grid: tuple[Path, pd.DataFrame, str]) -> None:
    _, _, stdout = tiny_grid
    assert "extrapolated from 10 entries" in stdout
    assert "total " in stdout and "wrote " in stdout
    assert "6,370" in stdout  # 784-8-10


def test_cell_params_are_the_seed_network() -> None:
    for hidden in (1, 16, 50, 200):
        params = scaling_study.cell_params(hidden)
        assert param_count(params) == 784 * hidden + hidden + 10 * hidden + 10
        assert params["W1"].shape == (784, hidden) and params["b2"].shape == (10,)
    assert param_count(scaling_study.cell_params(50)) == 39_760


def test_naive_sample_is_distinct_valid_and_spans_blocks() -> None:
    params = scaling_study.cell_params(2)  # 1,568 + 2 + 20 + 10 entries: small blocks get drawn
    total = param_count(params)
    entries = scaling_study.sample_entries(params, 400, np.random.default_rng(0))
    assert len(entries) == len(set(entries)) == 400
    for key, index in entries:
        assert key in PARAM_KEYS
        assert all(0 <= i < n for i, n in zip(index, params[key].shape, strict=True))
    share_w1 = sum(key == "W1" for key, _ in entries) / len(entries)
    assert abs(share_w1 - params["W1"].size / total) < 0.05
    again = scaling_study.sample_entries(params, 400, np.random.default_rng(0))
    assert again == entries
    assert len(scaling_study.sample_entries(params, 10 * total, np.random.default_rng(0))) == total


def test_step_seconds_scales_the_sample() -> None:
    median, best = scaling_study.step_seconds([0.3, 0.1, 0.2], scale=1000 / 10)
    assert (median, best) == pytest.approx((20.0, 10.0))


def test_default_repeats_shrink_for_slow_cells() -> None:
    assert scaling_study.repeats_for(0.01, None) == scaling_study.DEFAULT_REPEATS
    slow = scaling_study.SLOW_CALL_S * 2
    assert scaling_study.repeats_for(slow, None) == scaling_study.SLOW_REPEATS
    assert scaling_study.repeats_for(100.0, 7) == 7


@pytest.mark.parametrize(("args", "message"), [
    (["--hidden", "0"], "argument --hidden: must be an integer >= 1, got '0'"),
    (["--batch", "5000"], "argument --batch: 5000 is larger than the training set"),
    (["--repeats", "x"], "argument --repeats: must be an integer >= 1, got 'x'"),
])
def test_bad_argument_is_one_line_exit_2(args: list[str], message: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.scaling", "--out", str(tmp_path / "s"), *args],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"python -m mlpbench.scaling: error: {message}")
    assert not (tmp_path / "s").exists()
