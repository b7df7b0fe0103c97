"""The Scaling section: rows in the scaling study's schema, times following exact power laws,
so the fitted slopes must recover the exponents."""

from __future__ import annotations

import math
import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from mlpbench import results
from mlpbench.report import ReportOutputs, render
from mlpbench.report.scaling_section import FIGURE, latest_scaling, loglog_slope, read_scaling

from .helpers import T0, is_png, table_rows

ENGINES = ("backprop", "incremental", "naive")
SCALING_HIDDEN = (16, 32, 50)
SCALING_BATCH = (10, 100)
EXPONENT = {"backprop": 1.0, "incremental": 1.5, "naive": 2.0}
NAIVE_K = 200
ENGINE_ROLES = {"backprop": {"role": "reference", "engine_role": None},
                "incremental": {"role": None, "engine_role": "fast"},
                "naive": {"role": None, "engine_role": "seed_loop"}}
"""What the scaling study writes for each engine: the report orders and styles by these."""


def param_count(hidden: int) -> int:
    """Weights and biases of a 784-H-10 network."""
    return 784 * hidden + hidden + 10 * hidden + 10


def power_law_seconds(engine: str, param_count: int, batch_size: int) -> float:
    return 1e-9 * batch_size * param_count ** EXPONENT[engine]


def scaling_rows(measurement_id: str, at: datetime, *, bad: bool = False) -> list[dict[str, Any]]:
    """One grid of rows; ``bad`` multiplies every time by 7 (an older, discarded measurement)."""
    rows = []
    for batch in SCALING_BATCH:
        for hidden in SCALING_HIDDEN:
            for engine in ENGINES:
                count = param_count(hidden)
                seconds = power_law_seconds(engine, count, batch) * (7 if bad else 1)
                naive = engine == "naive"
                rows.append({
                    "measurement_id": measurement_id, "engine": engine,
                    "method": "backprop" if engine == "backprop" else "numerical",
                    "scheme": None if engine == "backprop" else "central",
                    "h": None if engine == "backprop" else 1e-4, **ENGINE_ROLES[engine],
                    "dataset": "mnist_subset",
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
    folder = target / "scaling"
    folder.mkdir()
    results.write_measurements(folder, scaling_rows("old", T0, bad=True), results.SCALING_SCHEMA)
    results.write_measurements(folder, scaling_rows("new", T0 + timedelta(days=1)),
                               results.SCALING_SCHEMA)
    return target


@pytest.fixture(scope="module")
def scaling_rendered(scaling_results: Path) -> ReportOutputs:
    return render(scaling_results, scaling_results.parent / "report")


def test_scaling_slopes_recover_the_exponents(scaling_rendered: ReportOutputs) -> None:
    slopes = scaling_rendered.numbers["scaling"]["slopes"]
    assert len(slopes) == len(ENGINES) * len(SCALING_BATCH)
    for _, row in slopes.iterrows():
        assert row["slope"] == pytest.approx(EXPONENT[row["engine"]])
        assert row["points"] == len(SCALING_HIDDEN)


def test_latest_scaling_measurement_wins(scaling_results: Path) -> None:
    bad: list[tuple[Path, str]] = []
    everything = read_scaling(scaling_results, bad)
    assert bad == []
    assert set(everything["measurement_id"]) == {"old", "new"}
    latest = latest_scaling(everything)
    assert len(latest) == len(ENGINES) * len(SCALING_HIDDEN) * len(SCALING_BATCH)
    assert set(latest["measurement_id"]) == {"new"}
    row = latest[(latest["engine"] == "naive") & (latest["hidden_size"] == 50)
                 & (latest["batch_size"] == 100)].iloc[0]
    assert row["seconds_per_step_median"] == pytest.approx(
        power_law_seconds("naive", 39_760, 100))


def test_scaling_section_and_figure(scaling_rendered: ReportOutputs) -> None:
    png = scaling_rendered.figures.get(FIGURE)
    assert png is not None and png.name == "scaling.png" and is_png(png)
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


def test_no_scaling_folder_means_no_scaling_section(rendered: ReportOutputs) -> None:
    assert FIGURE not in rendered.figures and rendered.numbers["scaling"] == {}
    assert "Scaling" not in rendered.report_md.read_text()
    assert not (rendered.report_md.parent / "scaling.png").exists()


def test_bad_scaling_file_is_left_out_not_fatal(scaling_results: Path, tmp_path: Path) -> None:
    target = tmp_path / "results"
    shutil.copytree(scaling_results, target)
    junk = target / "scaling" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    outputs = render(target, tmp_path / "report")
    assert [path for path, _ in outputs.bad_files] == [junk]
    text = outputs.report_md.read_text()
    assert "## Scaling" in text and "## Files left out" in text and str(junk) in text
    assert len(outputs.numbers["scaling"]["slopes"]) == len(ENGINES) * len(SCALING_BATCH)


def test_loglog_slope_needs_two_sizes() -> None:
    assert math.isnan(loglog_slope([100.0, 100.0], [1.0, 2.0]))
    assert loglog_slope([10.0, 100.0, 1000.0], [1.0, 100.0, 10_000.0]) == pytest.approx(2)


def test_depth_cells_get_their_own_table_and_figure(scaling_results: Path, tmp_path: Path,
                                                    subset) -> None:
    """The study measured for real at three depths (tiny sizes): a "### Depth" subsection with
    times, ratios to backprop and slopes, and its figure; the width section is unchanged."""
    from mlpbench.studies import scaling_study as study

    target = tmp_path / "results"
    shutil.copytree(scaling_results, target)
    rows = study.measure_grid([4], [10], repeats=1, naive_sample=20, data=subset,
                              depths=[1, 2, 3])
    assert [row["hidden_layers"] for row in rows] == [1, 1, 1, 2, 2, 2, 3, 3, 3]
    results.write_measurements(target / "scaling", rows, results.SCALING_SCHEMA)
    outputs = render(target, tmp_path / "report")
    depth = outputs.numbers["scaling"]["depth"]
    assert len(depth) == 9 and sorted(set(depth["hidden_layers"])) == [1, 2, 3]
    text = outputs.report_md.read_text()
    assert "### Depth" in text and "![per-step gradient time vs depth](scaling_depth.png)" in text
    table = text.split("### Depth")[1]
    incremental = next(line for line in table.splitlines() if "| incremental " in line)
    assert incremental.startswith("| H = 4 ") and incremental.count("x) |") == 3
    assert is_png(outputs.figures["scaling_depth.png"])
    width = outputs.numbers["scaling"]["latest"]
    assert set(width["hidden_layers"]) == {1}


def test_rows_written_before_the_role_columns_still_render(results_dir: Path,
                                                           tmp_path: Path) -> None:
    """Such rows say nothing of what each engine is to the comparison: the section still
    renders, the engines in name order, each in a style of its own."""
    target = tmp_path / "results"
    shutil.copytree(results_dir, target)
    (target / "scaling").mkdir()
    old = pa.schema([f for f in results.SCALING_SCHEMA if f.name not in ("role", "engine_role")])
    results.write_measurements(target / "scaling", scaling_rows("old", T0), old)
    outputs = render(target, tmp_path / "report")
    latest = outputs.numbers["scaling"]["latest"]
    assert latest["role"].isna().all() and latest["engine_role"].isna().all()
    text = outputs.report_md.read_text()
    text = text[text.index("## Scaling"):]
    slopes = [row for row in (table_rows(text, e) for e in ENGINES) if row]
    assert slopes == [[["backprop", "1.00", "1.00"]], [["incremental", "1.50", "1.50"]],
                      [["naive", "2.00", "2.00"]]]
    assert is_png(outputs.figures.get(FIGURE))
