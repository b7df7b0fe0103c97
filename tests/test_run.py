"""One whole run in-process (``run.execute``): pairing, divergence, failure, fidelity."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlpbench import results
from mlpbench.methods import backprop, numerical
from mlpbench.run import execute, result_config
from mlpbench.settings import RunConfig
from tests.run_settings import run_settings

REPO = Path(__file__).resolve().parents[1]


def settings(tmp_path, **changes) -> RunConfig:
    base = dict(
        method=backprop.Config(), dataset="mnist_subset", download=False, hidden_size=4,
        epochs=5, steps_per_epoch=2, batch_size=30, lr=0.1, h=1e-4, seed=1, dtype="float64",
        log_eps=1e-7, data_dir=None, results_dir=tmp_path / "results", progress=False,
    )
    return run_settings(**{**base, **changes})


def test_same_seed_gives_identical_run(tmp_path):
    first = execute(settings(tmp_path))
    second = execute(settings(tmp_path, force=True))
    curves = pd.read_parquet(tmp_path / "results" / "curves").sort_values(["attempt_id", "epoch"])
    a, b = (g for _, g in curves.groupby("attempt_id"))
    np.testing.assert_array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())
    np.testing.assert_array_equal(a["test_acc"].to_numpy(), b["test_acc"].to_numpy())
    assert first["run_id"] == second["run_id"] and first["attempt_id"] != second["attempt_id"]


def test_epoch_is_steps_per_epoch_steps(tmp_path):
    run = execute(settings(tmp_path, epochs=3, steps_per_epoch=4))
    curves = pd.read_parquet(tmp_path / "results" / "curves")
    assert list(curves.sort_values("epoch")["step"]) == [4, 8, 12]
    assert run["loss_evals"] == 12 and run["loss_evals_per_step"] == 1


def test_different_seed_changes_init_and_batches(tmp_path):
    a = execute(settings(tmp_path, seed=1))
    b = execute(settings(tmp_path, seed=2))
    assert a["final_loss"] != b["final_loss"] and a["run_id"] != b["run_id"]


def test_diverged_run_is_recorded_and_stops(tmp_path, subset):
    run = execute(settings(tmp_path, lr=1e300, epochs=20))
    assert run["status"] == "diverged" and run["epochs_done"] < 20
    curves = pd.read_parquet(tmp_path / "results" / "curves")
    assert len(curves) == run["epochs_done"]
    assert not np.isfinite(curves.sort_values("epoch")["loss"].iloc[-1])
    assert set(curves["status"]) == {"diverged"}


def test_failed_run_is_written_then_raised(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise MemoryError("out of memory in the estimator")

    monkeypatch.setattr(backprop, "gradient", broken)
    with pytest.raises(MemoryError):
        execute(settings(tmp_path))
    runs = pd.read_parquet(tmp_path / "results" / "runs")
    assert list(runs["status"]) == ["failed"]
    assert runs["error"].iloc[0] == "MemoryError: out of memory in the estimator"
    assert runs["epochs_done"].iloc[0] == 0


def test_fidelity_is_measured_on_chosen_epochs_and_kept_out_of_timings(tmp_path):
    execute(settings(tmp_path, method=numerical.Config(), fidelity_every=2))
    execute(settings(tmp_path, method=backprop.Config(), fidelity_every=0))
    curves = pd.read_parquet(tmp_path / "results" / "curves").sort_values("epoch")
    runs = pd.read_parquet(tmp_path / "results" / "runs").set_index("method")
    num = curves[curves["method"] == "numerical"]
    measured = num.dropna(subset=["grad_cos"])
    assert list(measured["epoch"]) == [2, 4]
    assert (measured["grad_cos"] > 1 - 1e-12).all()
    assert (measured["grad_rel_err"] < 1e-6).all()
    assert num["fidelity_time_s"].iloc[-1] > 0
    assert (np.diff(num["fidelity_time_s"]) >= 0).all()
    assert curves.loc[curves["method"] == "backprop", "grad_cos"].isna().all()
    assert runs.loc["numerical", "fidelity_every"] == 2
    assert runs.loc["backprop", "fidelity_time_s"] == 0


def test_fidelity_does_not_change_training(tmp_path):
    execute(settings(tmp_path, method=numerical.Config(), fidelity_every=1))
    execute(settings(tmp_path, method=numerical.Config(), fidelity_every=0, force=True))
    curves = pd.read_parquet(tmp_path / "results" / "curves").sort_values(["attempt_id", "epoch"])
    a, b = (g for _, g in curves.groupby("attempt_id"))
    np.testing.assert_array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())


def test_run_ids_of_earlier_methods_are_unchanged_by_the_options_column(tmp_path, subset):
    """A results folder from before the options and network columns resumes instead of running
    twice."""
    import hashlib
    import json

    config = result_config(settings(tmp_path), subset)
    assert config["options"] is None
    before = {k: v for k, v in config.items() if k not in results.LATER_COLUMNS}
    old_id = hashlib.sha256(json.dumps(before, sort_keys=True, default=str).encode())
    assert results.run_id_for(config) == old_id.hexdigest()[:16]
    spsa_config = {**config, "method": "spsa", "options": "directions=1"}
    assert results.run_id_for(spsa_config) != results.run_id_for({**spsa_config, "options": None})


def test_the_seeds_network_keeps_the_run_ids_of_the_reference_results(tmp_path, subset):
    """784-50-10 sigmoid with the seed's init hashes as before networks were configurable."""
    reference = pd.read_parquet(REPO / "results" / "reference" / "seed_table" / "runs")
    row = reference.query("method == 'backprop' and seed == 0").iloc[0]
    config = result_config(settings(tmp_path, hidden_size=50, epochs=100, steps_per_epoch=1,
                                    batch_size=100, seed=0), subset)
    assert results.run_id_for(config) == row["run_id"]
    deeper = result_config(settings(tmp_path, hidden_size=64, hidden_sizes=(64, 32),
                                    activation="relu", init="he"), subset)
    assert (deeper["hidden_sizes"], deeper["activation"], deeper["init"]) == ("64-32", "relu", "he")
    assert deeper["init_std"] is None
