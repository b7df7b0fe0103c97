"""Sweeps through Hydra's launchers: joblib (default), submitit, Ray; many workers, one dataset.

The Ray test runs a sweep against a real Ray head on 127.0.0.1 only (the ``ray_head`` fixture in
``conftest.py``, with Ray's loopback settings), stopped in the fixture's teardown.
It needs the optional extra (`make install-ray`); without it the test is skipped, unless
MLPBENCH_REQUIRE_RAY=1 (as in CI), where a missing Ray is a failure.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from hydra import compose, initialize

from mlpbench.config import register_configs

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=mnist_subset", "model.hidden_size=4", "epochs=3", "batch_size=20",
        "progress=false"]
PAIRED = ["method=backprop,numerical", "seed=0,1"]

pytestmark = pytest.mark.slow


def multirun(results: Path, *args: str, env: dict | None = None, timeout: float = 300):
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", f"results_dir={results}", *TINY, *args],
        cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env,
    )


def curves_of(results: Path) -> pd.DataFrame:
    columns = ["method", "seed", "epoch", "loss", "test_acc"]
    return (pd.read_parquet(results / "curves")[columns]
            .sort_values(["method", "seed", "epoch"]).reset_index(drop=True))


def test_sixteen_runs_over_four_workers_land_once_each(tmp_path):
    results = tmp_path / "results"
    proc = multirun(results, "method=backprop", "seed=range(0,16)", "hydra.launcher.n_jobs=4")
    assert proc.returncode == 0, proc.stderr
    runs = pd.read_parquet(results / "runs")
    assert len(runs) == 16 and runs["run_id"].nunique() == 16
    assert sorted(runs["seed"]) == list(range(16))
    curves = pd.read_parquet(results / "curves")
    assert len(curves) == 16 * 3
    epochs = curves.groupby("run_id")["epoch"].apply(sorted)
    assert epochs.tolist() == [[1, 2, 3]] * 16


def test_joblib_and_alone_give_identical_curves(tmp_path):
    proc = multirun(tmp_path / "joblib", *PAIRED, "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr
    for method in ("backprop", "numerical"):
        for seed in (0, 1):
            alone = subprocess.run(
                [sys.executable, "-m", "mlpbench", f"results_dir={tmp_path / 'alone'}", *TINY,
                 f"method={method}", f"seed={seed}"],
                cwd=REPO, capture_output=True, text=True, timeout=120)
            assert alone.returncode == 0, alone.stderr
    pd.testing.assert_frame_equal(curves_of(tmp_path / "alone"), curves_of(tmp_path / "joblib"))


def test_submitit_local_launcher(tmp_path):
    results = tmp_path / "results"
    proc = multirun(results, "hydra/launcher=submitit_local", "method=backprop", "seed=0,1",
                    "hydra.launcher.timeout_min=5")
    assert proc.returncode == 0, proc.stderr
    assert sorted(pd.read_parquet(results / "runs")["seed"]) == [0, 1]


def test_slurm_launcher_config_composes():
    register_configs()
    with initialize(version_base="1.3", config_path="../conf"):
        cfg = compose("config", overrides=["hydra/launcher=slurm"], return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    settings = (launcher.cpus_per_task, launcher.timeout_min, launcher.array_parallelism)
    assert settings == (2, 120, 64)


def test_ray_sweep_against_a_loopback_head(tmp_path, ray_head):
    address, env = ray_head
    results = tmp_path / "ray"
    proc = multirun(results, *PAIRED, "hydra/launcher=ray",
                    f"hydra.launcher.ray.init.address={address}",
                    "+hydra.launcher.ray.init.object_store_memory=null", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    runs = pd.read_parquet(results / "runs")
    assert sorted(zip(runs["method"], runs["seed"], strict=True)) == [
        ("backprop", 0), ("backprop", 1), ("numerical", 0), ("numerical", 1)]
    assert len(pd.read_parquet(results / "curves")) == 4 * 3
    joblib = multirun(tmp_path / "joblib", *PAIRED)
    assert joblib.returncode == 0, joblib.stderr
    pd.testing.assert_frame_equal(curves_of(results), curves_of(tmp_path / "joblib"))
