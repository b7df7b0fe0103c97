"""Tuned sweeps: the spec's checks, the lr grid's, the run length from the budget, the
validation split, and one small tuned sweep end to end on real digits, whose recorded choice is
what ``tuning.choose`` computes from its parquet and which a rerun resumes whole."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlpbench import results, tuning
from mlpbench.data import hold_out
from mlpbench.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

SPEC = {"seeds": [0, 1], "final_seeds": [10, 11, 12, 13, 14], "budget_seconds": 1.0,
        "budget_forward_passes": 2000, "targets": [0.8, 0.9]}


def test_a_complete_spec_is_read_with_its_defaults():
    spec = tuning.spec_from(SPEC)
    assert (spec.seeds, spec.final_seeds, spec.targets) == ((0, 1), (10, 11, 12, 13, 14),
                                                           (0.8, 0.9))
    assert (spec.evaluations, spec.margin, spec.max_steps, spec.select) == (
        40, 1.5, 20000, "val_loss")


@pytest.mark.parametrize(("change", "message"), [
    ({"budget_seconds": 0}, "hydra.sweeper.tune.budget_seconds: must be a finite number > 0"),
    ({"budget_forward_passes": -5}, "hydra.sweeper.tune.budget_forward_passes: must be a"),
    ({"budget_seconds": math.nan}, "hydra.sweeper.tune.budget_seconds: must be a finite"),
    ({"final_seeds": [10, 11]}, "hydra.sweeper.tune.final_seeds: must be a list of at least 5"),
    ({"final_seeds": [0, 11, 12, 13, 14]}, "hydra.sweeper.tune.final_seeds: must not repeat"),
    ({"seeds": []}, "hydra.sweeper.tune.seeds: must be a list of at least 1"),
    ({"targets": []}, "hydra.sweeper.tune.targets: must be a non-empty list"),
    ({"targets": [1.5]}, "hydra.sweeper.tune.targets: must be a non-empty list"),
    ({"evaluations": 0}, "hydra.sweeper.tune.evaluations: must be an integer >= 1"),
    ({"budget": 3}, "hydra.sweeper.tune.budget: unknown key"),
])
def test_a_bad_spec_names_its_key(change, message):
    with pytest.raises(ConfigError) as caught:
        tuning.spec_from({**SPEC, **change})
    assert str(caught.value).startswith(message)


def test_a_missing_budget_is_named():
    spec = {k: v for k, v in SPEC.items() if k != "budget_seconds"}
    with pytest.raises(ConfigError, match=r"hydra\.sweeper\.tune\.budget_seconds: must be given"):
        tuning.spec_from(spec)


@pytest.mark.parametrize("rates", [
    [0.1, 1],  # too few
    [1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2],  # six values over 1.7 decades
    [0, 1e-3, 1e-2, 0.1, 1, 10],  # not positive
    [],
])
def test_a_narrow_or_empty_grid_is_refused(rates):
    with pytest.raises(ConfigError, match=r"^lr: "):
        tuning.check_grid("method=backprop", rates)


def test_six_values_over_three_decades_pass():
    tuning.check_grid("method=backprop", [1e-3, 3e-3, 1e-2, 3e-2, 0.1, 1.0])


def test_step_counts_round_up_to_few_values():
    values = [tuning.round_up_preferred(v) for v in (0.3, 1, 2.5, 7, 11, 33, 75, 101, 999)]
    assert values == [1, 1, 3, 8, 15, 40, 80, 150, 1000]


def test_a_run_spends_both_budgets_and_no_more_than_the_cap():
    spec = tuning.spec_from({**SPEC, "evaluations": 10, "margin": 1.0, "max_steps": 5000})
    # seconds need 1.0 / 1e-3 = 1000 steps; passes need 2000 / 2 = 1000: 10 x 100
    assert tuning.steps_for_budget(spec, 1e-3, 2.0) == (10, 100)
    # passes dominate: 2000 / 0.5 = 4000 steps
    assert tuning.steps_for_budget(spec, 1e-3, 0.5) == (10, 400)
    # finite differences by count need under one step: the seconds decide (1.0 / 5e-3 = 200)
    assert tuning.steps_for_budget(spec, 5e-3, 79520.0) == (10, 20)
    # too slow for the budget within the cap: capped
    assert tuning.steps_for_budget(spec, 1e-5, 2.0) == (10, 500)


def test_the_validation_split_is_fixed_disjoint_and_off_by_default(subset):
    assert hold_out(subset, 0, 0) is subset
    split = hold_out(subset, 500, 0)
    assert (split.n_train, split.n_validation, split.n_test) == (3500, 500, 1000)
    assert np.array_equal(hold_out(subset, 500, 0).y_validation, split.y_validation)
    assert not np.array_equal(hold_out(subset, 500, 1).y_validation, split.y_validation)
    together = np.concatenate([split.y_train, split.y_validation])
    assert np.array_equal(np.bincount(together), np.bincount(subset.y_train))
    assert np.array_equal(split.x_train, subset.x_train[np.isin(
        np.arange(subset.n_train), np.flatnonzero(~held_mask(subset, split)))])
    with pytest.raises(ConfigError, match=r"^dataset\.validation: must be less than"):
        hold_out(subset, 4000, 0)


def held_mask(data, split) -> np.ndarray:
    """Which training rows of ``data`` the split held out, found by content (row by row)."""
    held = {bytes(r) for r in split.x_validation}
    return np.array([bytes(r) in held for r in data.x_train])


def multirun(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", "--multirun", "+sweep=compare", "progress=false",
         *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


GRID = '[{method:"backprop,spsa",optimizer:"sgd",lr:"1e-3,1e-2,0.1,0.3,1,3"}]'
"""Two configurations, six rates over 3.5 decades. The cap of 40 steps (10 evaluations of 4)
fixes the runs' length whatever this machine's timing, so a rerun resumes every run."""


@pytest.mark.slow
def test_a_tuned_sweep_chooses_on_validation_and_runs_fresh_seeds(tmp_path):
    out = tmp_path / "r"
    args = [f"hydra.sweeper.grids={GRID}", "hydra.sweeper.tune.seeds=[0]",
            "hydra.sweeper.tune.evaluations=10", "+hydra.sweeper.tune.max_steps=40",
            "hydra.sweeper.tune.budget_seconds=100", f"results_dir={out}",
            "hydra.launcher.n_jobs=2"]
    proc = multirun(*args)
    assert proc.returncode == 0, proc.stderr[-3000:]
    curves, runs = results.read_results(out)
    assert len(runs) == 2 * 6 + 2 * 5 and set(runs["status"]) == {"ok"}
    assert set(runs["epochs"]) == {10} and set(runs["steps_per_epoch"]) == {4}
    assert set(runs["n_validation"]) == {500} and set(runs["n_train"]) == {3500}
    assert curves["val_loss"].notna().all() and curves["val_acc"].between(0, 1).all()
    passes = curves.merge(runs[["attempt_id", "theory_forward_passes"]], on="attempt_id")
    assert np.allclose(passes["forward_passes"], passes["theory_forward_passes"] * passes["step"])

    record = pq.read_table(out / "tuning" / "compare.parquet").to_pandas()
    assert len(record) == 12 and record.groupby("configuration")["chosen"].sum().eq(1).all()
    again = tuning.choose(runs, curves, [0])
    mine = record.sort_values(["configuration", "lr"]).reset_index(drop=True)
    theirs = again.sort_values(["configuration", "lr"]).reset_index(drop=True)
    assert list(mine["chosen"]) == list(theirs["chosen"])
    assert np.allclose(mine["score"], theirs["score"])
    for _, chosen in record[record["chosen"]].iterrows():
        final = runs[np.isclose(runs["lr"], chosen["lr"]) & runs["method"].eq(chosen["method"])
                     & runs["seed"].isin([100, 101, 102, 103, 104])]
        assert len(final) == 5
        scores = tuning.run_scores(runs[runs["seed"].eq(0) & runs["method"].eq(
            chosen["method"])], curves)
        assert scores.min() == pytest.approx(chosen["score"])

    report = subprocess.run([sys.executable, "-m", "mlpbench.report", "--results-dir",
                             str(out)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr
    text = (out / "report" / "report.md").read_text()
    assert "## Equal budget, each method at its best learning rate" in text
    assert (out / "report" / "equal_budget.png").stat().st_size > 10_000
    assert text.count(" † |") == 4  # 40 steps cannot spend 100 s: marked on both methods

    rerun = multirun(*args)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert rerun.stdout.count("skipped ") == 22
    assert pd.read_parquet(out / "tuning" / "compare.parquet")["chosen"].tolist() == \
        record["chosen"].tolist()


def test_a_tuned_sweep_refuses_a_narrow_grid_and_a_seed_before_running(tmp_path):
    narrow = multirun('hydra.sweeper.grids=[{method:backprop,lr:"0.1,1"}]',
                      f"results_dir={tmp_path / 'a'}")
    assert narrow.returncode == 2 and narrow.stderr.strip().splitlines() == [
        narrow.stderr.strip().splitlines()[0]]
    assert "lr: a tuned grid needs at least 6 values over at least 3 decades" in narrow.stderr
    seeded = multirun('hydra.sweeper.grids=[{method:backprop,seed:"0,1",'
                      'lr:"1e-3,1e-2,0.1,0.3,1,3"}]', f"results_dir={tmp_path / 'b'}")
    assert seeded.returncode == 2 and "seed: a tuned sweep sets it itself" in seeded.stderr
    budget = multirun("hydra.sweeper.tune.budget_seconds=0", f"results_dir={tmp_path / 'c'}")
    assert budget.returncode == 2
    assert "hydra.sweeper.tune.budget_seconds: must be a finite number > 0" in budget.stderr
    assert not any((tmp_path / name).exists() for name in "abc")
