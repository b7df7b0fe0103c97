"""The runs table and curves: numbers in the table equal numbers computed by hand from rows we
wrote ourselves; diverged runs are listed, never averaged; a repeated attempt counts once."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pandas as pd
import pytest

from mlpbench import results
from mlpbench.report import ReportOutputs, render
from mlpbench.report.configs import label_configs
from mlpbench.report.describe import protocols_text
from mlpbench.report.runs import FIGURES, curve_stats

from .helpers import (
    BACKPROP,
    BACKPROP_RUNS,
    EPOCHS,
    N_PARAMS,
    NUMERICAL,
    NUMERICAL_OK,
    config,
    is_png,
    row_of,
    runs_numbers,
    write,
)


def test_group_mean_and_std_match_hand_computation(rendered: ReportOutputs) -> None:
    row = row_of(rendered, "backprop")
    losses = [r[1] for r in BACKPROP_RUNS]
    accs = [r[2] for r in BACKPROP_RUNS]
    elapsed = [r[3] for r in BACKPROP_RUNS]
    assert row["n"] == 3
    assert row["seeds"] == [0, 1, 2]
    assert row["loss_mean"] == pytest.approx(statistics.mean(losses))
    assert row["loss_std"] == pytest.approx(statistics.stdev(losses))
    assert row["acc_mean"] == pytest.approx(statistics.mean(accs))
    assert row["acc_std"] == pytest.approx(statistics.stdev(accs))
    assert row["elapsed_mean"] == pytest.approx(statistics.mean(elapsed))
    assert row["grad_time_per_step_mean"] == pytest.approx(statistics.mean(elapsed) / 2 / EPOCHS)
    expected = (f"{statistics.mean(losses):.4f} ± {statistics.stdev(losses):.4f}")
    table = runs_numbers(rendered)["table"]
    assert f"| {expected} |" in table
    assert "| backprop " in table


def test_single_seed_has_no_std_and_human_units(rendered: ReportOutputs) -> None:
    row = row_of(rendered, "numerical")
    assert row["n"] == 1
    assert row["loss_mean"] == pytest.approx(NUMERICAL_OK[1])
    line = next(ln for ln in runs_numbers(rendered)["table"].splitlines() if "numerical" in ln)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells == ["numerical (central, h=1e-04, naive)", str(EPOCHS), "1 h 03 min",
                     "1.5500", "0.6300", "1", "6 min 18.0 s", f"{2 * N_PARAMS:,}"]


def test_diverged_run_is_reported_and_excluded(rendered: ReportOutputs) -> None:
    assert row_of(rendered, "numerical")["seeds"] == [0]
    excluded = runs_numbers(rendered)["excluded"]
    assert list(excluded["Status"]) == ["diverged"]
    assert list(excluded["Seed"]) == [1]
    text = rendered.report_md.read_text()
    assert "1 run diverged: numerical (central, h=1e-04, naive) seed 1" in text
    assert "seed 1 (epoch 3 of 5, last loss nan)" in text


def test_duplicate_attempt_latest_wins(rendered: ReportOutputs) -> None:
    assert runs_numbers(rendered)["duplicates"] == 1
    assert row_of(rendered, "backprop")["loss_mean"] < 2  # the 9.99 attempt is not averaged in
    assert "1 duplicate attempt of 1 run set aside" in rendered.report_md.read_text()


def test_latest_ok_attempt_beats_a_later_failure(tmp_path: Path) -> None:
    write(tmp_path, BACKPROP, 0, 1.5, 0.7, 0.3, started_minutes=0, attempt="ok-early")
    write(tmp_path, BACKPROP, 0, 1.4, 0.7, 0.3, started_minutes=5, attempt="ok-late")
    write(tmp_path, BACKPROP, 0, math.nan, 0.1, 0.3, status="failed", started_minutes=9,
          attempt="failed-last")
    _, runs = results.read_results(tmp_path)
    attempts = results.select_attempts(runs)
    assert list(attempts.kept["attempt_id"]) == ["ok-late"]
    assert sorted(attempts.set_aside["attempt_id"]) == ["failed-last", "ok-early"]


def test_curves_are_drawn(rendered: ReportOutputs) -> None:
    assert rendered.numbers["figures"]["paired_seed"] == 0
    for name in FIGURES:
        assert is_png(rendered.figures.get(name)), name


def test_report_names_dataset_machine_and_figures(rendered: ReportOutputs) -> None:
    text = rendered.report_md.read_text()
    env = results.environment()
    assert "mnist_subset (4,000 train / 1,000 test)" in text
    assert env["cpu_model"] in text
    assert f"NumPy {env['numpy_version']}" in text
    assert "141 min 55.3 s" not in text  # 5 epochs: not the post's experiment, nor its table
    for name in ("loss_vs_epoch.png", "test_acc_vs_epoch.png", "paired_seed.png"):
        assert f"({name})" in text


def test_curve_stats_band_is_min_max_over_seeds(results_dir: Path) -> None:
    curves, runs = results.read_results(results_dir)
    kept = label_configs(results.select_attempts(runs).kept)
    stats = curve_stats(curves, kept[kept["status"] == "ok"])
    last = stats[(stats["config"] == "backprop") & (stats["metric"] == "loss")
                 & (stats["epoch"] == EPOCHS)].iloc[0]
    losses = [r[1] for r in BACKPROP_RUNS]
    assert last["n"] == 3
    assert (last["min"], last["max"]) == pytest.approx((min(losses), max(losses)))
    assert last["mean"] == pytest.approx(statistics.mean(losses))


def test_no_ok_run_still_reports_the_failures(tmp_path: Path) -> None:
    write(tmp_path / "r", NUMERICAL, 0, math.inf, 0.1, 50.0, status="diverged", epochs_done=2)
    outputs = render(tmp_path / "r", tmp_path / "out")
    assert runs_numbers(outputs)["summary"].empty
    assert not set(FIGURES) & set(outputs.figures)
    text = outputs.report_md.read_text()
    assert "No run finished with status ok." in text
    assert "1 run diverged" in text and "last loss inf" in text


def test_varying_protocol_keys_appear_in_labels() -> None:
    runs = pd.DataFrame([{**config(BACKPROP, 0), "dtype": "float64"},
                         {**config(BACKPROP, 0), "dtype": "float32"}])
    assert list(label_configs(runs)["config"]) == [
        "backprop [dtype=float64]", "backprop [dtype=float32]"]


def test_networks_that_differ_are_named_by_their_shape_in_labels_and_protocol() -> None:
    deep = {"hidden_size": 64, "hidden_sizes": "64-32", "activation": "relu", "init": "he"}
    runs = pd.DataFrame([config(BACKPROP, 0), {**config(BACKPROP, 0), **deep}])
    labelled = label_configs(runs)
    assert list(labelled["config"]) == [
        "backprop [784-50-10 sigmoid]", "backprop [784-64-32-10 relu (he init)]"]
    assert "784-64-32-10 relu (he init) MLP" in protocols_text(labelled.assign(lr=0.1))
    assert "784-50-10 sigmoid MLP" in protocols_text(labelled.assign(lr=0.1))
