"""The h error curve: a small grid end to end, the physics it must show, and one-line errors."""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpbench import results, train
from mlpbench.data import inputs, load_dataset, targets
from mlpbench.methods import backprop
from mlpbench.model import loss
from mlpbench.report.gradcheck_section import best_of
from mlpbench.run import execute
from mlpbench.studies import gradcheck_study
from tests.run_settings import run_settings

HIDDEN = 8
BATCH = 20
TRAINED_EPOCHS = 3
STEPS = (1e-2, 1e-3, 1e-4, 1e-5, 1e-6)


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, str]:
    """One invocation of the CLI entry point on a 784-8-10 network and five steps."""
    out = tmp_path_factory.mktemp("gradcheck") / "gradcheck"
    argv = ["--out", str(out), "--hidden", str(HIDDEN), "--batch-size", str(BATCH),
            "--trained-epochs", str(TRAINED_EPOCHS), "--h-max", "1e-2", "--h-min", "1e-6",
            "--points", str(len(STEPS))]
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        assert gradcheck_study.main(argv) == 0
    return out, pd.read_parquet(out), stdout.getvalue()


def curve(rows: pd.DataFrame, scheme: str, dtype: str = "float64",
          weights: str = "init") -> pd.DataFrame:
    picked = rows[(rows["scheme"] == scheme) & (rows["dtype"] == dtype)
                  & (rows["weights"] == weights)]
    assert len(picked) == len(STEPS)
    return picked.set_index("h")


def test_one_row_per_weights_scheme_dtype_and_h(small_run) -> None:
    out, rows, _ = small_run
    schemes, dtypes = gradcheck_study.SCHEMES, gradcheck_study.DTYPES
    assert len(rows) == 2 * len(schemes) * len(dtypes) * len(STEPS)  # 100
    assert sorted(set(rows["h"])) == sorted(STEPS)
    assert set(rows["scheme"]) == set(gradcheck_study.SCHEMES)
    assert list(rows.columns) == results.GRADCHECK_SCHEMA.names
    assert rows["measurement_id"].nunique() == 1
    files = [p.name for p in out.iterdir()]
    assert len(files) == 1 and files[0].endswith(".parquet") and not files[0].startswith(".")
    trained = rows[rows["weights"] == "trained"]
    assert set(trained["trained_epochs"]) == {TRAINED_EPOCHS}
    assert set(rows.loc[rows["weights"] == "init", "trained_epochs"]) == {0}
    assert (rows["hidden_size"].eq(HIDDEN) & rows["batch_size"].eq(BATCH)).all()
    assert rows["dataset"].eq("mnist_subset").all() and rows["n_train"].eq(4000).all()
    assert rows["cpu_count"].iloc[0] >= 1 and (rows["grad_time_s"] > 0).all()


@pytest.mark.parametrize("weights", ["init", "trained"])
def test_float64_errors_follow_the_theory(small_run, weights: str) -> None:
    _, rows, _ = small_run
    central = curve(rows, "central", weights=weights)
    assert central.loc[1e-4, "rel_err"] < 1e-6  # measured: about 1e-9
    assert central.loc[1e-4, "cos"] == pytest.approx(1.0, abs=1e-12)
    best = {s: curve(rows, s, weights=weights)["rel_err"].min() for s in gradcheck_study.SCHEMES}
    assert best["central"] < best["forward"] / 100
    assert best["richardson"] < best["central"] / 10
    assert best["complex_step"] < 1e-13  # exact to rounding (measured: about 4e-16)
    forward = curve(rows, "forward", weights=weights)["rel_err"]
    # O(h) truncation: a decade less h, a decade less error, while truncation dominates
    assert forward.loc[1e-2] / forward.loc[1e-3] == pytest.approx(10, rel=0.3)
    assert central.loc[1e-2, "rel_err"] / central.loc[1e-3, "rel_err"] == pytest.approx(
        100, rel=0.3)


def test_float32_is_worse_except_for_the_complex_step(small_run) -> None:
    _, rows, _ = small_run
    for scheme in ("forward", "central"):
        best32 = curve(rows, scheme, "float32")["rel_err"].min()
        assert best32 > 100 * curve(rows, scheme, "float64")["rel_err"].min()
        assert 1e-6 < best32 < 1e-1
    assert curve(rows, "complex_step", "float32")["rel_err"].min() < 1e-5  # ~1e-7


def test_stdout_table_lists_best_h(small_run) -> None:
    _, rows, stdout = small_run
    best = curve(rows, "central")["rel_err"].idxmin()
    line = next(ln for ln in stdout.splitlines()
                if ln.startswith("init ") and "float64" in ln and " central " in ln)
    assert line.split()[-2:] == [f"{best:.1e}", f"{curve(rows, 'central')['rel_err'].min():.1e}"]
    assert f"trained ({TRAINED_EPOCHS} epochs)" in stdout
    assert "wrote " in stdout and "100 rows" in stdout


def test_trained_weights_are_a_backprop_runs(tmp_path: Path) -> None:
    """The trained weights reproduce a real ``method=backprop`` run's final loss bit for bit."""
    cfg = backprop.Config()
    h, lr = backprop.Backprop().default_h(cfg), backprop.Backprop().default_lr(cfg)
    settings = run_settings(
        method=cfg, dataset="mnist_subset", download=False, hidden_size=HIDDEN, epochs=2,
        steps_per_epoch=1, batch_size=100, lr=lr, h=h, seed=1, dtype="float64",
        log_eps=1e-7, data_dir=None, results_dir=tmp_path, progress=False,
    )
    run = execute(settings)
    data = load_dataset("mnist_subset")
    params = gradcheck_study.trained_weights(data, HIDDEN, seed=1, epochs=2)
    batches = train.batch_indices(train.streams(1).batches, data.n_train, 100)
    idx = [next(batches) for _ in range(2)][-1]
    x, t = inputs(data.x_train[idx]), targets(data.y_train[idx])
    assert loss(params, x, t) == run["final_loss"]


def test_h_grid_is_half_decades_with_exact_decades() -> None:
    grid = gradcheck_study.h_grid(gradcheck_study.DEFAULT_H_MAX, gradcheck_study.DEFAULT_H_MIN,
                            gradcheck_study.DEFAULT_POINTS)
    assert len(grid) == 27 and grid[0] == 1e-1 and grid[-1] == 1e-14
    assert 1e-4 in grid and 1e-8 in grid
    assert grid[1] == pytest.approx(10 ** -1.5)
    assert gradcheck_study.h_grid(1e-3, 1e-3, 1) == [1e-3]


def test_non_finite_gradient_is_nan_not_a_crash() -> None:
    reference = {"W1": np.ones((2, 2)), "b1": np.ones(2), "W2": np.ones((2, 1)), "b2": np.ones(1)}
    grads = {**reference, "b1": np.array([1.0, math.inf])}
    assert all(math.isnan(v) for v in gradcheck_study.gradient_errors(grads, reference))
    scaled = {k: 2 * v for k, v in reference.items()}
    rel_err, cos, max_abs = gradcheck_study.gradient_errors(scaled, reference)
    assert (rel_err, cos, max_abs) == pytest.approx((1.0, 1.0, 1.0))
    best = best_of(pd.DataFrame({"h": [1e-2, 1e-3], "rel_err": [math.nan] * 2}))
    assert math.isnan(best["h"]) and math.isnan(best["rel_err"])


@pytest.mark.parametrize(("args", "message"), [
    (["--points", "0"], "argument --points: must be an integer >= 1, got '0'"),
    (["--h-min", "0"], "argument --h-min: must be a finite number > 0, got '0'"),
    (["--h-max", "nan"], "argument --h-max: must be a finite number > 0, got 'nan'"),
    (["--h-min", "1", "--h-max", "0.1"], "argument --h-min: 1 is larger than --h-max 0.1"),
    (["--h-min", "1e-3", "--h-max", "1e-3"], "argument --points: --h-min equals --h-max"),
    (["--schemes", "central", "bogus"], "argument --schemes: invalid choice: 'bogus'"),
    (["--dtypes", "float16"], "argument --dtypes: invalid choice: 'float16'"),
    (["--batch-size", "5000"], "argument --batch-size: 5000 is larger than the training set"),
    (["--trained-epochs", "-1"], "argument --trained-epochs: must be an integer >= 0"),
    (["--hidden", "x"], "argument --hidden: must be an integer >= 1, got 'x'"),
])
def test_bad_argument_is_one_line_exit_2(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        gradcheck_study.main(["--out", str(tmp_path / "g"), *args])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"python -m mlpbench.gradcheck: error: {message}")
    assert not (tmp_path / "g").exists()


def test_cli_process_reports_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.gradcheck", "--out", str(tmp_path / "g"),
         "--points", "-3"], capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2 and proc.stdout == ""
    assert proc.stderr.splitlines() == [
        "python -m mlpbench.gradcheck: error: argument --points: must be an integer >= 1, "
        "got '-3'"]
    assert not (tmp_path / "g").exists()
