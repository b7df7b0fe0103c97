"""The Speed section: backprop and incremental at the protocol's length, naive timed for 2
epochs and extrapolated; ratios checked against hand computation."""

from __future__ import annotations

import statistics
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlpbench.report import ReportOutputs, render
from mlpbench.report.runs import SHORT_RUN_MARK
from mlpbench.report.speed import engine_speedups

from .helpers import BACKPROP, NUMERICAL, runs_numbers, table_rows, write

INCREMENTAL = {**NUMERICAL, "engine": "incremental"}
PROTOCOL = 100
NAIVE_EPOCHS = 2
# (seed, elapsed s, gradient s per step)
SPEED_BACKPROP = [(0, 3.0, 0.010), (1, 3.3, 0.011), (2, 3.6, 0.012)]
SPEED_INCREMENTAL = [(0, 12.0, 0.090), (1, 13.0, 0.100), (2, 14.0, 0.110)]
SPEED_NAIVE = (0, 60.0, 29.5)


def write_speed_runs(out: Path) -> None:
    """Backprop and the incremental engine over the protocol, the naive loop for a few epochs."""
    for method, runs in ((BACKPROP, SPEED_BACKPROP), (INCREMENTAL, SPEED_INCREMENTAL)):
        for seed, elapsed, grad in runs:
            write(out, method, seed, 1.6, 0.7, elapsed, epochs=PROTOCOL, grad_per_step=grad,
                  started_minutes=seed)
    seed, elapsed, grad = SPEED_NAIVE
    write(out, NUMERICAL, seed, 2.2, 0.2, elapsed, epochs=NAIVE_EPOCHS, grad_per_step=grad)


@pytest.fixture(scope="module")
def speed_rendered(tmp_path_factory: pytest.TempPathFactory) -> ReportOutputs:
    out = tmp_path_factory.mktemp("speed") / "results"
    write_speed_runs(out)
    return render(out, tmp_path_factory.mktemp("speed-report") / "report")


def speed_of(outputs: ReportOutputs) -> pd.DataFrame:
    return outputs.numbers["speed"]["speed"]


def speed_row(outputs: ReportOutputs, engine: str | None) -> pd.Series:
    speed = speed_of(outputs)
    rows = speed[speed["engine"].isna()] if engine is None else speed[speed["engine"] == engine]
    assert len(rows) == 1
    return rows.iloc[0]


def test_naive_protocol_time_is_extrapolated(speed_rendered: ReportOutputs) -> None:
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


def test_speedups_match_hand_computation(speed_rendered: ReportOutputs) -> None:
    backprop_grad, backprop_time = 0.011, 3.3
    incremental_grad, incremental_time = 0.10, 13.0
    naive_grad, naive_time = 29.5, 3000.0
    naive = speed_row(speed_rendered, "naive")
    incremental = speed_row(speed_rendered, "incremental")
    assert naive["grad_vs_backprop"] == pytest.approx(naive_grad / backprop_grad)  # 2,681.8
    assert naive["target_vs_backprop"] == pytest.approx(naive_time / backprop_time)  # 909.1
    assert incremental["grad_vs_backprop"] == pytest.approx(incremental_grad / backprop_grad)
    assert incremental["target_vs_backprop"] == pytest.approx(incremental_time / backprop_time)
    pairs = engine_speedups(speed_of(speed_rendered))
    assert len(pairs) == 1
    assert pairs["grad_speedup"].iloc[0] == pytest.approx(naive_grad / incremental_grad)
    assert pairs["target_speedup"].iloc[0] == pytest.approx(naive_time / incremental_time)
    pd.testing.assert_frame_equal(pairs, speed_rendered.numbers["speed"]["speedups"])


def test_speed_section_text(speed_rendered: ReportOutputs) -> None:
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


def test_short_run_footnote_in_main_table(speed_rendered: ReportOutputs) -> None:
    numbers = runs_numbers(speed_rendered)
    line = next(ln for ln in numbers["table"].splitlines() if "naive" in ln)
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert cells[1] == f"{NAIVE_EPOCHS} {SHORT_RUN_MARK}"
    backprop = next(ln for ln in numbers["table"].splitlines() if "| backprop" in ln)
    assert SHORT_RUN_MARK not in backprop
    text = speed_rendered.report_md.read_text()
    assert numbers["footnote"].startswith(SHORT_RUN_MARK)
    assert numbers["footnote"] in text and "[Speed](#speed)" in text
    assert text.index(numbers["footnote"]) < text.index("## Speed")


def test_no_footnote_when_every_run_has_the_same_length(rendered: ReportOutputs) -> None:
    assert runs_numbers(rendered)["footnote"] == ""
    assert SHORT_RUN_MARK not in rendered.report_md.read_text()
    assert not speed_of(rendered)["extrapolated"].any()


def test_no_speed_section_without_an_ok_run(tmp_path: Path) -> None:
    write(tmp_path / "r", NUMERICAL, 0, 2.4, 0.1, 50.0, status="failed", epochs_done=1)
    outputs = render(tmp_path / "r", tmp_path / "out")
    assert speed_of(outputs).empty and outputs.numbers["speed"]["speedups"].empty
    assert "## Speed" not in outputs.report_md.read_text()


def test_runs_written_before_the_role_columns_have_no_ratios(tmp_path: Path) -> None:
    """Nothing in such results says which run is the reference or which engines pair, so the
    ratios read n/a and no speedup table is drawn, rather than a guess from method names."""
    out = tmp_path / "r"
    write_speed_runs(out)
    for path in (out / "runs").glob("*.parquet"):
        table = pq.read_table(path)
        pq.write_table(table.drop_columns(["role", "engine_role"]), path)
    outputs = render(out, tmp_path / "report")
    speed = speed_of(outputs)
    assert len(speed) == 3 and speed["role"].isna().all()
    assert speed["grad_vs_backprop"].isna().all() and speed["target_vs_backprop"].isna().all()
    assert outputs.numbers["speed"]["speedups"].empty
    text = outputs.report_md.read_text()
    speed_text = text[text.index("## Speed"):]
    speed_text = speed_text[:speed_text.index("\n## ")]  # no role: not the post's, no table
    assert table_rows(speed_text, "backprop")[0][-2:] == ["n/a", "n/a"]
    assert "vs naive engine" not in speed_text
