"""The report: numbers in its table equal numbers computed by hand from rows we wrote ourselves.

Every test builds a results dir with ``results.write_run`` (the same writer the trainer uses), so
the report is checked against the real parquet layout and schemas, not against a mock.
"""

from __future__ import annotations

import math
import shutil
import statistics
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlpbench import report, results, scaling

EPOCHS = 5
N_PARAMS = 784 * 50 + 50 + 50 * 10 + 10
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

BACKPROP = {"method": "backprop", "scheme": None, "engine": None, "h": None}
NUMERICAL = {"method": "numerical", "scheme": "central", "engine": "naive", "h": 1e-4}

# (method, seed, final loss, final test acc, elapsed s, status, minutes after T0)
BACKPROP_RUNS = [(0, 1.60, 0.70, 0.30), (1, 1.70, 0.66, 0.32), (2, 1.65, 0.68, 0.34)]
NUMERICAL_OK = (0, 1.55, 0.63, 3780.0)


def config(method: dict[str, Any], seed: int, epochs: int = EPOCHS) -> dict[str, Any]:
    """Config columns as ``train.result_config`` fills them, on the embedded subset."""
    return {
        **method, "dataset": "mnist_subset", "n_train": 4000, "n_test": 1000,
        "hidden_size": 50, "batch_size": 100, "lr": 0.1, "epochs": epochs,
        "steps_per_epoch": 1, "seed": seed, "dtype": "float64", "log_eps": 1e-7,
    }


def write(
    results_dir: Path, method: dict[str, Any], seed: int, final_loss: float, final_acc: float,
    elapsed: float, *, status: str = "ok", started_minutes: float = 0.0,
    attempt: str | None = None, epochs_done: int | None = None, epochs: int = EPOCHS,
    grad_per_step: float | None = None,
) -> str:
    """Write one run with a straight-line curve ending at the given final numbers.

    Gradient time is half the elapsed time unless ``grad_per_step`` says otherwise.
    """
    cfg = config(method, seed, epochs)
    epochs_done = epochs if epochs_done is None else epochs_done
    grad_total = elapsed / 2 if grad_per_step is None else grad_per_step * epochs_done
    run_id = results.run_id_for(cfg)
    attempt_id = attempt or f"{method['method']}-{seed}-{started_minutes}"
    results.ensure_writable(results_dir)
    evals = 1 if method["method"] == "backprop" else 2 * N_PARAMS
    ids = {"run_id": run_id, "attempt_id": attempt_id, **cfg}
    curves = []
    for epoch in range(1, epochs_done + 1):
        frac = epoch / epochs_done
        curves.append({
            **ids, "epoch": epoch, "step": epoch, "status": status,
            "loss": 2.3 + (final_loss - 2.3) * frac if math.isfinite(final_loss) or frac < 1
            else final_loss,
            "test_acc": 0.1 + (final_acc - 0.1) * frac, "elapsed_s": elapsed * frac,
            "grad_time_s": grad_total * frac, "loss_evals": evals * epoch,
        })
    run = {
        **ids, "param_count": N_PARAMS, "epochs_done": epochs_done, "final_loss": final_loss,
        "final_test_acc": final_acc, "elapsed_s": elapsed, "grad_time_s": grad_total,
        "loss_evals": evals * epochs_done,
        "grad_time_per_step_s": grad_total / epochs_done, "loss_evals_per_step": float(evals),
        "status": status, "error": None,
        "started_at": T0 + timedelta(minutes=started_minutes), **results.environment(),
    }
    results.write_run(results_dir, curves, run)
    return attempt_id


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Backprop seeds 0-2 (seed 0 also run earlier, worse), numerical seed 0 ok, seed 1 diverged.

    Module-scoped: the tests only read it, and writing it once keeps the file fast.
    """
    out = tmp_path_factory.mktemp("shared") / "results"
    write(out, BACKPROP, 0, 9.99, 0.11, 0.5, started_minutes=0)  # earlier duplicate
    for seed, loss, acc, elapsed in BACKPROP_RUNS:
        write(out, BACKPROP, seed, loss, acc, elapsed, started_minutes=10 + seed)
    seed, loss, acc, elapsed = NUMERICAL_OK
    write(out, NUMERICAL, seed, loss, acc, elapsed, started_minutes=20)
    write(out, NUMERICAL, 1, math.nan, 0.1, 900.0, status="diverged", started_minutes=21,
          epochs_done=3)
    return out


@pytest.fixture(scope="module")
def rendered(
    results_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> report.ReportOutputs:
    return report.render(results_dir, tmp_path_factory.mktemp("rendered") / "report")


def row_of(outputs: report.ReportOutputs, method: str) -> pd.Series:
    rows = outputs.summary[outputs.summary["method"] == method]
    assert len(rows) == 1
    return rows.iloc[0]


def test_group_mean_and_std_match_hand_computation(rendered: report.ReportOutputs) -> None:
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
    assert f"| {expected} |" in rendered.table
    assert "| backprop " in rendered.table


def test_single_seed_has_no_std_and_human_units(rendered: report.ReportOutputs) -> None:
    row = row_of(rendered, "numerical")
    assert row["n"] == 1
    assert row["loss_mean"] == pytest.approx(NUMERICAL_OK[1])
    line = next(ln for ln in rendered.table.splitlines() if "numerical" in ln)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells == ["numerical (central, h=1e-04, naive)", str(EPOCHS), "1 h 03 min",
                     "1.5500", "0.6300", "1", "6 min 18.0 s", f"{2 * N_PARAMS:,}"]


def test_diverged_run_is_reported_and_excluded(rendered: report.ReportOutputs) -> None:
    assert row_of(rendered, "numerical")["seeds"] == [0]
    assert list(rendered.excluded["Status"]) == ["diverged"]
    assert list(rendered.excluded["Seed"]) == [1]
    text = rendered.report_md.read_text()
    assert "1 run diverged: numerical (central, h=1e-04, naive) seed 1" in text
    assert "seed 1 (epoch 3 of 5, last loss nan)" in text


def test_duplicate_attempt_latest_wins(rendered: report.ReportOutputs) -> None:
    assert rendered.duplicates == 1
    assert row_of(rendered, "backprop")["loss_mean"] < 2  # the 9.99 attempt is not averaged in
    assert "1 duplicate attempt of 1 run set aside" in rendered.report_md.read_text()


def test_latest_ok_attempt_beats_a_later_failure(tmp_path: Path) -> None:
    write(tmp_path, BACKPROP, 0, 1.5, 0.7, 0.3, started_minutes=0, attempt="ok-early")
    write(tmp_path, BACKPROP, 0, 1.4, 0.7, 0.3, started_minutes=5, attempt="ok-late")
    write(tmp_path, BACKPROP, 0, math.nan, 0.1, 0.3, status="failed", started_minutes=9,
          attempt="failed-last")
    _, runs = results.read_results(tmp_path)
    attempts = report.select_attempts(runs)
    assert list(attempts.kept["attempt_id"]) == ["ok-late"]
    assert sorted(attempts.set_aside["attempt_id"]) == ["failed-last", "ok-early"]


def test_pngs_are_written_and_valid(rendered: report.ReportOutputs) -> None:
    assert rendered.paired_seed == 0
    for path in (rendered.loss_png, rendered.test_acc_png, rendered.paired_png):
        assert path is not None
        data = path.read_bytes()
        assert len(data) > 1000
        assert data.startswith(PNG_MAGIC)
    leftovers = [p.name for p in rendered.report_md.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_report_names_dataset_machine_and_post(rendered: report.ReportOutputs) -> None:
    text = rendered.report_md.read_text()
    env = results.environment()
    assert "mnist_subset (4,000 train / 1,000 test)" in text
    assert env["cpu_model"] in text
    assert f"NumPy {env['numpy_version']}" in text
    assert "141 min 55.3 s" in text and "0.6783" in text  # the post's own table
    for name in ("loss_vs_epoch.png", "test_acc_vs_epoch.png", "paired_seed.png"):
        assert f"({name})" in text


def test_curve_stats_band_is_min_max_over_seeds(results_dir: Path) -> None:
    curves, runs = results.read_results(results_dir)
    kept = report.label_configs(report.select_attempts(runs).kept)
    stats = report.curve_stats(curves, kept[kept["status"] == "ok"])
    last = stats[(stats["config"] == "backprop") & (stats["metric"] == "loss")
                 & (stats["epoch"] == EPOCHS)].iloc[0]
    losses = [r[1] for r in BACKPROP_RUNS]
    assert last["n"] == 3
    assert (last["min"], last["max"]) == pytest.approx((min(losses), max(losses)))
    assert last["mean"] == pytest.approx(statistics.mean(losses))


def test_paired_figure_skipped_without_shared_seed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "paired_seed.png").write_bytes(b"stale")
    write(tmp_path / "r", BACKPROP, 0, 1.6, 0.7, 0.3)
    write(tmp_path / "r", NUMERICAL, 1, 1.5, 0.6, 100.0)
    outputs = report.render(tmp_path / "r", out)
    assert outputs.paired_png is None
    assert not (out / "paired_seed.png").exists()
    assert "Paired-seed figure skipped" in outputs.report_md.read_text()


def test_no_ok_run_still_reports_the_failures(tmp_path: Path) -> None:
    write(tmp_path / "r", NUMERICAL, 0, math.inf, 0.1, 50.0, status="diverged", epochs_done=2)
    outputs = report.render(tmp_path / "r", tmp_path / "out")
    assert outputs.summary.empty
    assert (outputs.loss_png, outputs.test_acc_png, outputs.paired_png) == (None, None, None)
    text = outputs.report_md.read_text()
    assert "No run finished with status ok." in text
    assert "1 run diverged" in text and "last loss inf" in text


def test_varying_protocol_keys_appear_in_labels(tmp_path: Path) -> None:
    runs = pd.DataFrame([{**config(BACKPROP, 0), "dtype": "float64"},
                         {**config(BACKPROP, 0), "dtype": "float32"}])
    assert list(report.label_configs(runs)["config"]) == [
        "backprop [dtype=float64]", "backprop [dtype=float32]"]


@pytest.mark.parametrize(("seconds", "text"), [
    (0.31, "0.31 s"), (3.1, "3.10 s"), (8515.3, "2 h 22 min"), (1234.5, "20 min 34.5 s"),
    (3780.0, "1 h 03 min"),
    (0.0123, "12.3 ms"), (8.5e-5, "85 µs"), (59.999, "1 min 00.0 s"), (3599.99, "1 h 00 min"),
])
def test_human_duration(seconds: float, text: str) -> None:
    assert report.human_duration(seconds) == text


def test_cli_prints_table_and_paths(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-out"
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.report", "--results-dir", str(results_dir),
         "--out", str(out)], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "| backprop " in proc.stdout
    assert f"wrote {out / 'report.md'}" in proc.stdout
    assert (out / "report.md").is_file()


@pytest.mark.parametrize("layout", ["missing", "empty", "empty-subfolders"])
def test_cli_without_runs_exits_2_with_one_line(tmp_path: Path, layout: str) -> None:
    target = tmp_path / "results"
    if layout != "missing":
        target.mkdir()
    if layout == "empty-subfolders":
        (target / "curves").mkdir()
        (target / "runs").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.report", "--results-dir", str(target)],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"mlpbench.report: error: no runs in '{target}'; run `make sweep` first"]


def test_unwritable_out_dir_is_one_line(
    results_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    assert report.main(["--results-dir", str(results_dir), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlpbench.report: error: cannot write the report to '{blocker}'")
    assert len(err.splitlines()) == 1


# ---------------------------------------------------------------------------------------------
# Speed section: backprop and incremental at the protocol's length, naive timed for 2 epochs.

INCREMENTAL = {**NUMERICAL, "engine": "incremental"}
PROTOCOL = 100
NAIVE_EPOCHS = 2
# (seed, elapsed s, gradient s per step)
SPEED_BACKPROP = [(0, 3.0, 0.010), (1, 3.3, 0.011), (2, 3.6, 0.012)]
SPEED_INCREMENTAL = [(0, 12.0, 0.090), (1, 13.0, 0.100), (2, 14.0, 0.110)]
SPEED_NAIVE = (0, 60.0, 29.5)


@pytest.fixture(scope="module")
def speed_rendered(tmp_path_factory: pytest.TempPathFactory) -> report.ReportOutputs:
    out = tmp_path_factory.mktemp("speed") / "results"
    for method, runs in ((BACKPROP, SPEED_BACKPROP), (INCREMENTAL, SPEED_INCREMENTAL)):
        for seed, elapsed, grad in runs:
            write(out, method, seed, 1.6, 0.7, elapsed, epochs=PROTOCOL, grad_per_step=grad,
                  started_minutes=seed)
    seed, elapsed, grad = SPEED_NAIVE
    write(out, NUMERICAL, seed, 2.2, 0.2, elapsed, epochs=NAIVE_EPOCHS, grad_per_step=grad)
    return report.render(out, tmp_path_factory.mktemp("speed-report") / "report")


def speed_row(outputs: report.ReportOutputs, engine: str | None) -> pd.Series:
    speed = outputs.speed
    assert speed is not None
    rows = speed[speed["engine"].isna()] if engine is None else speed[speed["engine"] == engine]
    assert len(rows) == 1
    return rows.iloc[0]


def test_naive_protocol_time_is_extrapolated(speed_rendered: report.ReportOutputs) -> None:
    naive = speed_row(speed_rendered, "naive")
    assert naive["epochs_run"] == NAIVE_EPOCHS and naive["target_epochs"] == PROTOCOL
    assert bool(naive["extrapolated"])
    assert naive["target_time"] == pytest.approx(60.0 / 2 * 100)  # 3,000 s
    for engine, runs in ((None, SPEED_BACKPROP), ("incremental", SPEED_INCREMENTAL)):
        row = speed_row(speed_rendered, engine)
        assert not bool(row["extrapolated"])
        assert row["n"] == 3 and row["epochs_run"] == PROTOCOL
        assert row["target_time"] == pytest.approx(statistics.mean(r[1] for r in runs))
        assert row["grad_time_per_step_mean"] == pytest.approx(
            statistics.mean(r[2] for r in runs))


def test_speedups_match_hand_computation(speed_rendered: report.ReportOutputs) -> None:
    backprop_grad, backprop_time = 0.011, 3.3
    incremental_grad, incremental_time = 0.10, 13.0
    naive_grad, naive_time = 29.5, 3000.0
    naive = speed_row(speed_rendered, "naive")
    incremental = speed_row(speed_rendered, "incremental")
    assert naive["grad_vs_backprop"] == pytest.approx(naive_grad / backprop_grad)  # 2,681.8
    assert naive["target_vs_backprop"] == pytest.approx(naive_time / backprop_time)  # 909.1
    assert incremental["grad_vs_backprop"] == pytest.approx(incremental_grad / backprop_grad)
    assert incremental["target_vs_backprop"] == pytest.approx(incremental_time / backprop_time)
    pairs = report.engine_speedups(speed_rendered.speed)
    assert len(pairs) == 1
    assert pairs["grad_speedup"].iloc[0] == pytest.approx(naive_grad / incremental_grad)
    assert pairs["target_speedup"].iloc[0] == pytest.approx(naive_time / incremental_time)


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of every pipe-table row of ``text`` whose first cell is ``first_cell``."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if row[0] == first_cell]


def test_speed_section_text(speed_rendered: report.ReportOutputs) -> None:
    text = speed_rendered.report_md.read_text()
    speed_text = text[text.index("## Speed"):text.index("## The post's")]
    assert "(protocol length: 100 epochs)" in speed_text
    [naive] = table_rows(speed_text, "numerical (central, h=1e-04, naive)")
    assert naive == ["numerical (central, h=1e-04, naive)", "1", "29.50 s",
                     "1 min 00.0 s (2 epochs)", "50 min 00.0 s (extrapolated from 2 epochs)",
                     "2,682x", "909x"]  # 29.5 / 0.011 and 3,000 / 3.3
    [incremental] = table_rows(speed_text, "numerical (central, h=1e-04, incremental)")
    assert incremental == ["numerical (central, h=1e-04, incremental)", "3", "100 ms",
                           "13.00 s (100 epochs)", "13.00 s", "9.09x", "3.94x"]
    [backprop] = table_rows(speed_text, "backprop")
    assert backprop[2:] == ["11 ms", "3.30 s (100 epochs)", "3.30 s", "reference", "reference"]
    # naive / incremental: 29.5 / 0.1 per step, 3,000 / 13 for 100 epochs
    assert table_rows(speed_text, "central, h=1e-04") == [
        ["central, h=1e-04", "29.50 s", "100 ms", "295x", "231x"]]


def test_short_run_footnote_in_main_table(speed_rendered: report.ReportOutputs) -> None:
    line = next(ln for ln in speed_rendered.table.splitlines() if "naive" in ln)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == f"{NAIVE_EPOCHS} {report.SHORT_RUN_MARK}"
    backprop = next(ln for ln in speed_rendered.table.splitlines() if "| backprop" in ln)
    assert report.SHORT_RUN_MARK not in backprop
    text = speed_rendered.report_md.read_text()
    assert speed_rendered.footnote.startswith(report.SHORT_RUN_MARK)
    assert speed_rendered.footnote in text and "[Speed](#speed)" in text
    assert text.index(speed_rendered.footnote) < text.index("## Speed")


def test_no_footnote_when_every_run_has_the_same_length(
    rendered: report.ReportOutputs,
) -> None:
    assert rendered.footnote == ""
    assert report.SHORT_RUN_MARK not in rendered.report_md.read_text()
    assert rendered.speed is not None
    assert not rendered.speed["extrapolated"].any()


@pytest.mark.parametrize(("ratio", "text"), [
    (2681.8, "2,682x"), (268.18, "268x"), (10.0, "10.0x"), (9.0909, "9.09x"),
    (math.nan, "n/a"),
])
def test_format_ratio(ratio: float, text: str) -> None:
    assert report.format_ratio(ratio) == text


# ---------------------------------------------------------------------------------------------
# Scaling section: rows written by ``scaling.write_scaling``, times following exact power laws.

SCALING_HIDDEN = (16, 32, 50)
SCALING_BATCH = (10, 100)
EXPONENT = {"backprop": 1.0, "incremental": 1.5, "naive": 2.0}
NAIVE_K = 200


def power_law_seconds(engine: str, param_count: int, batch_size: int) -> float:
    return 1e-9 * batch_size * param_count ** EXPONENT[engine]


def scaling_rows(measurement_id: str, at: datetime, *, bad: bool = False) -> list[dict]:
    """One grid of rows; ``bad`` multiplies every time by 7 (an older, discarded measurement)."""
    rows = []
    for batch in SCALING_BATCH:
        for hidden in SCALING_HIDDEN:
            for engine in scaling.ENGINES:
                count = scaling.param_count_for(hidden)
                seconds = power_law_seconds(engine, count, batch) * (7 if bad else 1)
                naive = engine == "naive"
                rows.append({
                    "measurement_id": measurement_id, "engine": engine,
                    "method": "backprop" if engine == "backprop" else "numerical",
                    "scheme": None if engine == "backprop" else "central",
                    "h": None if engine == "backprop" else 1e-4, "dataset": "mnist_subset",
                    "hidden_size": hidden, "batch_size": batch, "param_count": count,
                    "dtype": "float64", "seed": 0, "seconds_per_step_median": seconds,
                    "seconds_per_step_min": seconds * 0.9, "repeats": 3,
                    "sampled_params": NAIVE_K if naive else None, "extrapolated": naive,
                    "measured_at": at, "numba_threads": 2, "blas_threads_env": None,
                    "load_avg_1m": 0.5, **results.environment(),
                })
    return rows


@pytest.fixture(scope="module")
def scaling_results(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared runs plus a scaling folder with an old (wrong) and a new measurement."""
    target = tmp_path_factory.mktemp("scaling-results") / "results"
    shutil.copytree(results_dir, target)
    (target / "scaling").mkdir()
    scaling.write_scaling(target / "scaling", scaling_rows("old", T0, bad=True))
    scaling.write_scaling(target / "scaling", scaling_rows("new", T0 + timedelta(days=1)))
    return target


@pytest.fixture(scope="module")
def scaling_rendered(scaling_results: Path) -> report.ReportOutputs:
    return report.render(scaling_results, scaling_results.parent / "report")


def test_scaling_slopes_recover_the_exponents(scaling_rendered: report.ReportOutputs) -> None:
    slopes = scaling_rendered.scaling_slopes
    assert slopes is not None
    assert len(slopes) == len(scaling.ENGINES) * len(SCALING_BATCH)
    for _, row in slopes.iterrows():
        assert row["slope"] == pytest.approx(EXPONENT[row["engine"]])
        assert row["points"] == len(SCALING_HIDDEN)


def test_latest_scaling_measurement_wins(scaling_results: Path) -> None:
    everything = report.read_scaling(scaling_results)
    assert set(everything["measurement_id"]) == {"old", "new"}
    latest = report.latest_scaling(everything)
    assert len(latest) == len(scaling.ENGINES) * len(SCALING_HIDDEN) * len(SCALING_BATCH)
    assert set(latest["measurement_id"]) == {"new"}
    row = latest[(latest["engine"] == "naive") & (latest["hidden_size"] == 50)
                 & (latest["batch_size"] == 100)].iloc[0]
    assert row["seconds_per_step_median"] == pytest.approx(
        power_law_seconds("naive", 39_760, 100))


def test_scaling_section_and_figure(scaling_rendered: report.ReportOutputs) -> None:
    png = scaling_rendered.scaling_png
    assert png is not None and png.name == "scaling.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
    text = scaling_rendered.report_md.read_text()
    assert "## Scaling" in text and "(scaling.png)" in text
    assert text.index("## Speed") < text.index("## Scaling")
    text = text[text.index("## Scaling"):]
    assert "**Naive times are extrapolated**" in text and f"K = {NAIVE_K}" in text
    assert results.environment()["cpu_model"] in text
    assert table_rows(text, "backprop") == [["backprop", "1.00", "1.00"]]
    assert table_rows(text, "incremental") == [["incremental", "1.50", "1.50"]]
    assert table_rows(text, "naive") == [["naive", "2.00", "2.00"]]
    assert table_rows(text, "100")[-1][:2] == ["100", "naive"]  # the times table


def test_no_scaling_folder_means_no_scaling_section(
    rendered: report.ReportOutputs,
) -> None:
    assert rendered.scaling_png is None and rendered.scaling_slopes is None
    assert "Scaling" not in rendered.report_md.read_text()
    assert not (rendered.report_md.parent / "scaling.png").exists()


def test_loglog_slope_needs_two_sizes() -> None:
    assert math.isnan(report.loglog_slope([100.0, 100.0], [1.0, 2.0]))
    assert report.loglog_slope([10.0, 100.0, 1000.0], [1.0, 100.0, 10_000.0]) == pytest.approx(2)


# ---------------------------------------------------------------------------------------------
# Estimators section: short real runs (``train.execute``, the run path without Hydra) of SPSA
# with two direction counts, and backprop, at 3 epochs; a forward-gradient run of 2 epochs is
# the odd length out.

EST_EPOCHS = 3
EST_SEEDS = (0, 1)
SPSA_1 = "spsa (h=1e-03, directions=1, distribution=rademacher)"
SPSA_10 = "spsa (h=1e-03, directions=10, distribution=rademacher)"


def execute_run(results_dir: Path, method_cfg: Any, seed: int, epochs: int) -> None:
    """One real run with the method's default h, lr and fidelity_every, as the CLI sets them."""
    from mlpbench import methods, train
    from mlpbench.config import RunSettings

    h, lr = methods.defaults(method_cfg)
    train.execute(RunSettings(
        method=method_cfg, dataset="mnist_subset", download=False, hidden_size=50,
        epochs=epochs, steps_per_epoch=1, batch_size=100, lr=lr, h=h, seed=seed,
        dtype="float64", log_eps=1e-7, data_dir=None, results_dir=results_dir, progress=False,
        fidelity_every=0 if method_cfg.name == "backprop" else 1,
    ))


@pytest.fixture(scope="module")
def estimator_results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mlpbench.methods import backprop, forward_gradient, spsa

    out = tmp_path_factory.mktemp("estimators") / "results"
    for cfg in (backprop.Config(), spsa.Config(directions=1), spsa.Config(directions=10)):
        for seed in EST_SEEDS:
            execute_run(out, cfg, seed, EST_EPOCHS)
    execute_run(out, forward_gradient.Config(), 0, EST_EPOCHS - 1)
    return out


@pytest.fixture(scope="module")
def estimator_rendered(
    estimator_results: Path, tmp_path_factory: pytest.TempPathFactory
) -> report.ReportOutputs:
    return report.render(estimator_results, tmp_path_factory.mktemp("est-report") / "report")


def test_method_label_names_options_and_tiny_h() -> None:
    spsa = {"method": "spsa", "scheme": None, "engine": None, "h": 1e-3,
            "options": "directions=10, distribution=gaussian"}
    assert report.method_label(spsa) == "spsa (h=1e-03, directions=10, distribution=gaussian)"
    assert report.method_label({**spsa, "options": "directions=1, distribution=gaussian"}) != (
        report.method_label(spsa))
    complex_step = {"method": "numerical", "scheme": "complex_step", "engine": "incremental",
                    "h": 1e-20, "options": None}
    assert report.method_label(complex_step) == "numerical (complex_step, h=1e-20, incremental)"
    assert report.method_label({"method": "forward_gradient", "scheme": None, "engine": None,
                                "h": None, "options": "directions=1"}) == (
        "forward_gradient (directions=1)")


def test_estimator_rows_at_equal_epochs(
    estimator_rendered: report.ReportOutputs, estimator_results: Path
) -> None:
    estimators = estimator_rendered.estimators
    assert estimators is not None
    assert list(estimators["config"]) == ["backprop", SPSA_1, SPSA_10]
    assert list(estimators["n"]) == [2, 2, 2]
    assert list(estimators["epochs"]) == [EST_EPOCHS] * 3
    curves, runs = results.read_results(estimator_results)
    for config, options in ((SPSA_1, "directions=1, distribution=rademacher"),
                            (SPSA_10, "directions=10, distribution=rademacher")):
        mine = runs[runs["options"] == options]
        row = estimators[estimators["config"] == config].iloc[0]
        assert row["loss_mean"] == pytest.approx(mine["final_loss"].mean())
        assert row["loss_std"] == pytest.approx(mine["final_loss"].std(ddof=1))
        measured = curves[curves["attempt_id"].isin(mine["attempt_id"])]
        assert measured["grad_cos"].notna().all() and len(measured) == 2 * EST_EPOCHS
        assert row["cos_mean"] == pytest.approx(measured["grad_cos"].mean())
        assert row["rel_err_mean"] == pytest.approx(measured["grad_rel_err"].mean())
        assert row["measured"] == 2 * EST_EPOCHS
        assert 0 < row["cos_mean"] < 0.1  # random directions: about sqrt(k / 39,760)
        assert row["rel_err_mean"] > 1
    backprop = estimators[estimators["config"] == "backprop"].iloc[0]
    assert math.isnan(backprop["cos_mean"]) and backprop["measured"] == 0


def test_estimators_section_text(estimator_rendered: report.ReportOutputs) -> None:
    text = estimator_rendered.report_md.read_text()
    assert text.index("## Estimators") < text.index("## Speed")
    section = text[text.index("## Estimators"):text.index("## Speed")]
    [spsa_1] = table_rows(section, SPSA_1)
    [spsa_10] = table_rows(section, SPSA_10)
    [backprop] = table_rows(section, "backprop")
    assert (spsa_1[1], spsa_1[2], spsa_1[3]) == ("0.03", "2", "2")  # lr, n, loss evals
    assert (spsa_10[1], spsa_10[2], spsa_10[3]) == ("0.1", "2", "20")
    assert (backprop[1], backprop[3]) == ("0.1", "1")
    assert backprop[-2:] == ["n/a", "n/a"]
    row = estimator_rendered.estimators.set_index("config").loc[SPSA_10]
    assert spsa_10[5] == f"{row['loss_mean']:.4f} ± {row['loss_std']:.4f}"
    assert spsa_10[-2:] == [f"{row['cos_mean']:.4f}", f"{row['rel_err_mean']:.2e}"]
    assert f"only configurations run for {EST_EPOCHS} epochs" in section
    assert "Left out, run for another number of epochs: forward_gradient (directions=1) " \
           "(2 epochs)." in section
    assert "Seeds: 0, 1." in section and results.environment()["cpu_model"] in section
    assert "lr per method (0.03 or 0.1)" in section
    assert "(estimators.png)" in section
    png = estimator_rendered.estimators_png
    assert png is not None and png.name == "estimators.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
    # the two direction counts are two rows of the Speed table too, never one mean
    speed = text[text.index("## Speed"):]
    assert len(table_rows(speed, SPSA_1)) == 1 and len(table_rows(speed, SPSA_10)) == 1


def test_estimator_curves_band_over_seeds(estimator_results: Path) -> None:
    curves, runs = results.read_results(estimator_results)
    kept = report.label_configs(report.select_attempts(runs).kept)
    stats = report.estimator_curves(curves, kept[kept["epochs"] == EST_EPOCHS])
    last = stats[(stats["config"] == SPSA_10) & (stats["epoch"] == EST_EPOCHS)].iloc[0]
    mine = curves[curves["attempt_id"].isin(kept.loc[kept["config"] == SPSA_10, "attempt_id"])
                  & (curves["epoch"] == EST_EPOCHS)]
    assert last["n"] == 2 and last["cos_n"] == 2
    assert (last["acc_min"], last["acc_max"]) == pytest.approx(
        (mine["test_acc"].min(), mine["test_acc"].max()))
    assert last["evals_mean"] == 20 * EST_EPOCHS
    assert last["cos_mean"] == pytest.approx(mine["grad_cos"].mean())


def test_no_estimators_section_for_the_seeds_comparison(
    rendered: report.ReportOutputs,
) -> None:
    assert rendered.estimators is None and rendered.estimators_png is None
    assert "## Estimators" not in rendered.report_md.read_text()
    assert not (rendered.report_md.parent / "estimators.png").exists()


def test_report_markdown_is_deterministic(
    estimator_results: Path, estimator_rendered: report.ReportOutputs, tmp_path: Path
) -> None:
    again = report.render(estimator_results, tmp_path / "again")
    assert again.report_md.read_bytes() == estimator_rendered.report_md.read_bytes()


# ---------------------------------------------------------------------------------------------
# Gradient error against h: parquet written by ``python -m mlpbench.gradcheck`` itself.

GC_STEPS = (1e-2, 1e-4, 1e-6)


@pytest.fixture(scope="module")
def gradcheck_results(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared runs plus a gradcheck folder: one small invocation, and an older copy of its
    complex-step rows with every error times 7 (which must lose to the newer one)."""
    from mlpbench import gradcheck

    target = tmp_path_factory.mktemp("gradcheck-results") / "results"
    shutil.copytree(results_dir, target)
    folder = target / "gradcheck"
    argv = ["--out", str(folder), "--hidden", "4", "--batch-size", "10", "--trained-epochs",
            "2", "--h-max", "1e-2", "--h-min", "1e-6", "--points", str(len(GC_STEPS))]
    assert gradcheck.main(argv) == 0
    new = pd.read_parquet(folder)
    old = new[new["scheme"] == "complex_step"].assign(
        measurement_id="old", rel_err=lambda f: f["rel_err"] * 7,
        measured_at=lambda f: f["measured_at"] - timedelta(days=1))
    gradcheck.write_gradcheck(folder, old.to_dict("records"))
    return target


@pytest.fixture(scope="module")
def gradcheck_rendered(gradcheck_results: Path) -> report.ReportOutputs:
    return report.render(gradcheck_results, gradcheck_results.parent / "report")


def test_latest_gradcheck_point_wins(gradcheck_results: Path) -> None:
    everything = report.read_gradcheck(gradcheck_results, [])
    assert len(everything) == 20 * len(GC_STEPS) + 4 * len(GC_STEPS)
    latest = report.latest_gradcheck(everything)
    assert len(latest) == 20 * len(GC_STEPS)
    assert "old" not in set(latest["measurement_id"])
    assert list(latest["weights"].iloc[[0, -1]]) == ["init", "trained"]
    assert list(latest["h"].iloc[:3]) == list(GC_STEPS)  # largest h first within a curve


def test_gradcheck_section_table_and_figure(gradcheck_rendered: report.ReportOutputs,
                                            gradcheck_results: Path) -> None:
    png = gradcheck_rendered.gradcheck_png
    assert png is not None and png.name == "gradcheck.png"
    assert png.read_bytes().startswith(PNG_MAGIC) and png.stat().st_size > 1000
    text = gradcheck_rendered.report_md.read_text()
    assert text.index("## Figures") < text.index("## Gradient error against h")
    section = text[text.index("## Gradient error against h"):]
    assert "(gradcheck.png)" in section and "`python -m mlpbench.gradcheck`" in section
    assert "10 real digits of mnist_subset" in section and "784-4-10" in section
    assert "after 2 epochs" in section and results.environment()["cpu_model"] in section
    rows = [row for scheme in report.gradcheck.SCHEMES for row in table_rows(section, scheme)]
    assert len(rows) == 20  # 5 schemes x 2 dtypes x 2 weights
    latest = report.latest_gradcheck(report.read_gradcheck(gradcheck_results, []))
    central = latest[(latest["scheme"] == "central") & (latest["dtype"] == "float64")
                     & (latest["weights"] == "init")]
    best = central.loc[central["rel_err"].idxmin()]
    at_seed_h = float(central.loc[central["h"] == 1e-4, "rel_err"].iloc[0])
    [init_row] = [r for r in table_rows(section, "central") if r[1:3] == ["float64", "init"]]
    assert init_row[3:] == [f"{best['h']:.1e}", f"{best['rel_err']:.1e}", f"{at_seed_h:.1e}"]
    assert at_seed_h < 1e-6
    [trained_row] = [r for r in table_rows(section, "complex_step")
                     if r[1:3] == ["float64", "trained (2 epochs)"]]
    assert float(trained_row[4]) < 1e-13


def test_gradcheck_render_is_deterministic(
    gradcheck_results: Path, gradcheck_rendered: report.ReportOutputs, tmp_path: Path
) -> None:
    again = report.render(gradcheck_results, tmp_path / "again")
    assert again.report_md.read_bytes() == gradcheck_rendered.report_md.read_bytes()


def test_no_gradcheck_folder_means_no_section(rendered: report.ReportOutputs) -> None:
    assert rendered.gradcheck_png is None and rendered.gradcheck_best is None
    assert "Gradient error against h" not in rendered.report_md.read_text()


def test_bad_gradcheck_file_is_left_out_not_fatal(
    gradcheck_results: Path, tmp_path: Path
) -> None:
    target = tmp_path / "results"
    shutil.copytree(gradcheck_results, target)
    junk = target / "gradcheck" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    outputs = report.render(target, tmp_path / "report")
    assert [path for path, _ in outputs.bad_files] == [junk]
    text = outputs.report_md.read_text()
    assert "## Gradient error against h" in text and "## Files left out" in text
