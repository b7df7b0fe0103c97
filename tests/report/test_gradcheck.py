"""The gradient-error-against-h section: parquet written by the gradcheck study itself."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlpbench import results
from mlpbench.report import ReportOutputs, render
from mlpbench.report.gradcheck_section import (
    FIGURE,
    SCHEMES,
    best_of,
    latest_gradcheck,
    read_gradcheck,
)

from .helpers import is_png, table_rows

GC_STEPS = (1e-2, 1e-4, 1e-6)


@pytest.fixture(scope="module")
def gradcheck_results(results_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared runs plus a gradcheck folder: one small invocation, and an older copy of its
    complex-step rows with every error times 7 (which must lose to the newer one)."""
    from mlpbench.studies import gradcheck_study

    target = tmp_path_factory.mktemp("gradcheck-results") / "results"
    shutil.copytree(results_dir, target)
    folder = target / "gradcheck"
    argv = ["--out", str(folder), "--hidden", "4", "--batch-size", "10", "--trained-epochs",
            "2", "--h-max", "1e-2", "--h-min", "1e-6", "--points", str(len(GC_STEPS))]
    assert gradcheck_study.main(argv) == 0
    new = pd.read_parquet(folder)
    old = new[new["scheme"] == "complex_step"].assign(
        measurement_id="old", rel_err=lambda f: f["rel_err"] * 7,
        measured_at=lambda f: f["measured_at"] - timedelta(days=1))
    results.write_measurements(folder, old.to_dict("records"), results.GRADCHECK_SCHEMA)
    return target


@pytest.fixture(scope="module")
def gradcheck_rendered(gradcheck_results: Path) -> ReportOutputs:
    return render(gradcheck_results, gradcheck_results.parent / "report")


def test_latest_gradcheck_point_wins(gradcheck_results: Path) -> None:
    everything = read_gradcheck(gradcheck_results, [])
    assert len(everything) == 20 * len(GC_STEPS) + 4 * len(GC_STEPS)
    latest = latest_gradcheck(everything)
    assert len(latest) == 20 * len(GC_STEPS)
    assert "old" not in set(latest["measurement_id"])
    assert list(latest["weights"].iloc[[0, -1]]) == ["init", "trained"]
    assert list(latest["h"].iloc[:3]) == list(GC_STEPS)  # largest h first within a curve


def test_best_of_prefers_the_larger_h_on_a_tie() -> None:
    curve = pd.DataFrame({"h": [1e-2, 1e-4, 1e-6], "rel_err": [3e-5, 1e-9, 1e-9]})
    assert best_of(curve) == {"h": 1e-4, "rel_err": 1e-9}
    nan = best_of(curve.assign(rel_err=float("nan")))
    assert pd.isna(nan["h"]) and pd.isna(nan["rel_err"])


def test_gradcheck_section_table_and_figure(gradcheck_rendered: ReportOutputs,
                                            gradcheck_results: Path) -> None:
    png = gradcheck_rendered.figures.get(FIGURE)
    assert png is not None and png.name == "gradcheck.png" and is_png(png)
    text = gradcheck_rendered.report_md.read_text()
    assert text.index("## Figures") < text.index("## Gradient error against h")
    section = text[text.index("## Gradient error against h"):]
    assert "(gradcheck.png)" in section and "`python -m mlpbench.gradcheck`" in section
    assert "10 real digits of mnist_subset" in section and "784-4-10" in section
    assert "after 2 epochs" in section and results.environment()["cpu_model"] in section
    rows = [row for scheme in SCHEMES for row in table_rows(section, scheme)]
    assert len(rows) == 20  # 5 schemes x 2 dtypes x 2 weights
    assert len(gradcheck_rendered.numbers["gradcheck"]["best"]) == 20
    latest = latest_gradcheck(read_gradcheck(gradcheck_results, []))
    central = latest[(latest["scheme"] == "central") & (latest["dtype"] == "float64")
                     & (latest["weights"] == "init")]
    best = central.loc[central["rel_err"].idxmin()]
    at_post_h = float(central.loc[central["h"] == 1e-4, "rel_err"].iloc[0])
    [init_row] = [r for r in table_rows(section, "central") if r[1:3] == ["float64", "init"]]
    assert init_row[3:] == [f"{best['h']:.1e}", f"{best['rel_err']:.1e}", f"{at_post_h:.1e}"]
    assert at_post_h < 1e-6
    [trained_row] = [r for r in table_rows(section, "complex_step")
                     if r[1:3] == ["float64", "trained (2 epochs)"]]
    assert float(trained_row[4]) < 1e-13


def test_gradcheck_render_is_deterministic(
    gradcheck_results: Path, gradcheck_rendered: ReportOutputs, tmp_path: Path
) -> None:
    again = render(gradcheck_results, tmp_path / "again")
    assert again.report_md.read_bytes() == gradcheck_rendered.report_md.read_bytes()


def test_no_gradcheck_folder_means_no_section(rendered: ReportOutputs) -> None:
    assert FIGURE not in rendered.figures and rendered.numbers["gradcheck"] == {}
    assert "Gradient error against h" not in rendered.report_md.read_text()


def test_bad_gradcheck_file_is_left_out_not_fatal(
    gradcheck_results: Path, tmp_path: Path
) -> None:
    target = tmp_path / "results"
    shutil.copytree(gradcheck_results, target)
    junk = target / "gradcheck" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    outputs = render(target, tmp_path / "report")
    assert [path for path, _ in outputs.bad_files] == [junk]
    text = outputs.report_md.read_text()
    assert "## Gradient error against h" in text and "## Files left out" in text
