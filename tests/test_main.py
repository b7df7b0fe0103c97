"""The real entry points in subprocesses: a run writes parquet, bad input writes nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=mnist_subset", "model.hidden_size=4", "epochs=3", "batch_size=20"]


def mlpbench(*args: str, results: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLPBENCH_DATA": str(results.parent / "no-data-here")}
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", f"results_dir={results}", *args],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout,
    )


def result_files(results: Path) -> list[Path]:
    return sorted(p for p in results.rglob("*") if p.is_file() and not p.name.startswith("."))


@pytest.mark.slow
def test_run_writes_curves_and_runs(tmp_path):
    results = tmp_path / "results"
    proc = mlpbench("method=numerical", "seed=3", *TINY, results=results)
    assert proc.returncode == 0, proc.stderr
    curves = pd.read_parquet(results / "curves")
    runs = pd.read_parquet(results / "runs")
    assert len(curves) == 3 and len(runs) == 1
    assert list(curves["epoch"]) == [1, 2, 3]
    row = runs.iloc[0]
    assert (row.method, row.scheme, row.engine, row.h) == (
        "numerical", "central", "incremental", 1e-4)
    assert (row.dataset, row.n_train, row.n_test, row.seed) == ("mnist_subset", 4000, 1000, 3)
    assert row.status == "ok" and row.epochs_done == 3
    params = 784 * 4 + 4 + 4 * 10 + 10
    assert row.loss_evals_per_step == 2 * params
    assert (np.diff(curves["elapsed_s"]) > 0).all()
    assert (curves["grad_time_s"] <= curves["elapsed_s"]).all()
    assert row.numpy_version == np.__version__ and row.cpu_count == os.cpu_count()
    assert "test_acc 0." in proc.stdout


@pytest.mark.slow
def test_backprop_row_has_null_h_scheme_engine(tmp_path):
    results = tmp_path / "results"
    assert mlpbench("method=backprop", *TINY, results=results).returncode == 0
    assert mlpbench("method=numerical", *TINY, results=results).returncode == 0
    runs = pd.read_parquet(results / "runs").set_index("method")
    assert runs.loc["backprop", ["h", "scheme", "engine"]].isna().all()
    assert runs.loc["numerical", "h"] == 1e-4


@pytest.mark.slow
def test_paired_runs_match_between_methods(tmp_path):
    """Same seed, different method: same init and batches, so the curves agree to 1e-6."""
    results = tmp_path / "results"
    for method in ("backprop", "numerical"):
        proc = mlpbench(f"method={method}", "seed=5", *TINY, results=results)
        assert proc.returncode == 0, proc.stderr
    curves = pd.read_parquet(results / "curves").pivot(index="epoch", columns="method",
                                                       values=["loss", "test_acc"])
    np.testing.assert_allclose(curves["loss"]["numerical"], curves["loss"]["backprop"],
                               atol=1e-6, rtol=0)
    np.testing.assert_array_equal(curves["test_acc"]["numerical"], curves["test_acc"]["backprop"])


@pytest.mark.slow
def test_rerun_resumes_and_force_never_overwrites(tmp_path):
    results = tmp_path / "results"
    assert mlpbench("method=backprop", *TINY, results=results).returncode == 0
    again = mlpbench("method=backprop", *TINY, results=results)
    assert again.returncode == 0
    assert again.stdout.startswith("skipped backprop lr=0.1 784-4-10 sigmoid batch_size=20 seed=0 "
                                   "on mnist_subset, 3 epochs (run_id ")
    assert len(pd.read_parquet(results / "runs")) == 1
    assert mlpbench("method=backprop", "force=true", *TINY, results=results).returncode == 0
    runs = pd.read_parquet(results / "runs")
    assert len(runs) == 2 and runs["run_id"].nunique() == 1 and runs["attempt_id"].nunique() == 2


BAD_INPUTS = [
    (["method=nope"], "method"),
    (["method=numerical", "method.scheme=sideways"], "method.scheme"),
    (["method=numerical", "method.engine=turbo"], "method.engine"),
    (["h=0"], "h"),
    (["h=-1"], "h"),
    (["h=nan"], "h"),
    (["h=inf"], "h"),
    (["epochs=0"], "epochs"),
    (["epochs=-3"], "epochs"),
    (["batch_size=0"], "batch_size"),
    (["lr=0"], "lr"),
    (["lr=-1"], "lr"),
    (["batch_size=4001"], "batch_size"),
    (["model.hidden_size=0"], "model.hidden_size"),
    (["epoch=3"], "epoch"),
    (["epochs=many"], "epochs"),
    (["dtype=float16"], "dtype"),
    (["dataset=cifar"], "dataset"),
    (["method=spsa", "method.directions=0"], "method.directions"),
    (["method=numerical", "method.scheme=complex"], "method.scheme"),
    (["method=es", "method.population=x"], "method.population"),
    (["fidelity_every=-1"], "fidelity_every"),
    (["seed=9223372036854775808"], "seed"),
    (["+method.foo=1"], "method.foo"),
    (["++epoch=3"], "epoch"),
    (["results_dir="], "results_dir"),
    (["results_dir=/"], "results_dir"),
    (["k" * 3000 + "=1"], "k" * 40),
    (["lr=${oc.env:MLPBENCH_UNSET_VARIABLE}"], "lr"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("args", "key"), BAD_INPUTS, ids=[" ".join(a)[:40] for a, _ in BAD_INPUTS])
def test_bad_input_one_line_nonzero_no_rows(tmp_path, args, key):
    results = tmp_path / "results"
    proc = mlpbench("dataset=mnist_subset", "epochs=2", *args, results=results)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"mlpbench: error: {key}"), lines[0]
    assert any(w in lines[0] for w in ("allowed", "must", "unknown", "converted", "cannot")), (
        lines[0])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert result_files(results) == []


@pytest.mark.slow
def test_unwritable_results_dir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    proc = mlpbench("dataset=mnist_subset", "epochs=1", results=blocker / "results")
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"mlpbench: error: results_dir: cannot write to '{blocker / 'results'}': Not a directory"
    ]


@pytest.mark.slow
def test_corrupt_data_file_one_line(tmp_path):
    data = tmp_path / "mnist"
    data.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        (data / name).write_bytes(b"\x00\x00\x08\x03garbage")
    results = tmp_path / "results"
    proc = mlpbench("dataset=mnist", f"data_dir={data}", "epochs=1", results=results)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "idx" in lines[0] and "Traceback" not in proc.stderr
    assert result_files(results) == []


@pytest.mark.slow
def test_multirun_with_joblib_then_report(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", f"results_dir={results}", *TINY,
         "method=backprop,numerical", "seed=0,1", "hydra.launcher.n_jobs=2"],
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(results / "runs")
    assert len(runs) == 4
    assert sorted(zip(runs["method"], runs["seed"], strict=True)) == [
        ("backprop", 0), ("backprop", 1), ("numerical", 0), ("numerical", 1)]
    assert len(pd.read_parquet(results / "curves")) == 4 * 3
    report = subprocess.run(
        [sys.executable, "-m", "mlpbench.report", "--results-dir", str(results)],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert report.returncode == 0, report.stderr
    text = (results / "report" / "report.md").read_text()
    assert "mnist_subset" in text and "backprop" in text and "numerical" in text


@pytest.mark.slow
def test_sweep_with_a_bad_value_writes_nothing(tmp_path):
    results = tmp_path / "results"
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", f"results_dir={results}", *TINY,
         "h=1e-3,-1", "method=numerical"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("mlpbench: error: h: must be")
    assert result_files(results) == []


@pytest.mark.slow
def test_a_two_layer_relu_network_trains_and_records_its_shape(tmp_path):
    results = tmp_path / "results"
    proc = mlpbench("dataset=mnist_subset", "model.hidden_sizes=[64,32]", "model.activation=relu",
                    "epochs=100", "progress=false", results=results)
    assert proc.returncode == 0, proc.stderr
    run = pd.read_parquet(results / "runs").iloc[0]
    assert run["param_count"] == 52_650
    assert (run["hidden_size"], run["hidden_sizes"], run["activation"]) == (64, "64-32", "relu")
    assert run["final_test_acc"] > 0.5  # chance is 0.1
