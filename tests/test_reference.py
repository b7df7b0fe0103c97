"""The committed reference results: complete, from one clean revision, and the committed report is
exactly what the committed code renders from the committed parquet, so they cannot drift apart.

When a change to the report alters its output, ``make report RESULTS=results/reference/<name>``
renders the new one from the same parquet; nothing is remeasured.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlpbench import report, results

REPO = Path(__file__).resolve().parents[1]
REFERENCE = REPO / "results" / "reference"
EXPECTED = {"seed_table", "h_scan", "estimators", "dlfs", "baydin2022", "tuned", "fg_tuned"}
FOLDERS = sorted(p for p in REFERENCE.glob("*") if (p / "runs").is_dir())
RENDERED = [*FOLDERS, REFERENCE / "quality"]
"""Every folder with a committed report: the sweeps, and the gradient-quality study alone."""
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def linked_images(markdown: str) -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", markdown)


def test_every_reference_sweep_is_committed():
    assert {p.name for p in FOLDERS} == EXPECTED


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_reference_runs_are_complete_ok_and_from_one_clean_revision(folder):
    bad: list[tuple[Path, str]] = []
    curves, runs = results.read_results(folder, bad)
    assert bad == []
    # A tuned sweep's learning-rate grid may diverge at its high end on a tuning seed (that is
    # what the grid finds out); every other run, its final runs included, finished ok.
    records = results.read_tunings(folder, bad)
    tuning_seeds = {int(s) for seeds in records.get("tuning_seeds", []) for s in seeds}
    may_diverge = runs["seed"].isin(tuning_seeds) & runs["status"].eq("diverged")
    assert len(runs) > 0 and (runs["status"].eq("ok") | may_diverge).all()
    assert (runs["epochs_done"].eq(runs["epochs"]) | may_diverge).all()
    revisions = set(runs["git_revision"])
    assert len(revisions) == 1 and not next(iter(revisions)).endswith("-dirty")
    assert len(curves) == runs["epochs_done"].sum()


@pytest.mark.parametrize("folder", RENDERED, ids=lambda p: p.name)
def test_committed_report_is_the_render_of_the_committed_parquet(folder, tmp_path):
    out = tmp_path / "report"
    report.render(folder, out)
    committed = (folder / "report" / "report.md").read_text()
    assert (out / "report.md").read_text() == committed
    images = linked_images(committed)
    assert images, "the reference report links no figure"
    for name in images:
        assert (out / name).read_bytes()[:8] == PNG_MAGIC, name
        assert (folder / "report" / name).read_bytes()[:8] == PNG_MAGIC, name


def test_reference_reports_have_their_sections():
    text = {p.name: (p / "report" / "report.md").read_text() for p in FOLDERS}
    assert "## Scaling" in text["seed_table"]
    assert "## Gradient error against h" in text["h_scan"]
    assert "## Estimators" in text["estimators"]
    quality = (REFERENCE / "quality" / "report" / "report.md").read_text()
    assert "## Gradient quality at fixed weights" in quality


def test_reference_quality_study_meets_its_acceptance():
    """At the seed's network's initial weights one activity tangent beats one weight direction
    by at least 10x in mean cosine over at least 100 estimates; the weight perturbations agree
    with theory within three standard errors, each standard error under 3% of its value."""
    from mlpbench.report import quality_section

    rows = quality_section.latest_quality(quality_section.read_quality(REFERENCE / "quality", []))
    summary = quality_section.summarise(rows)
    gain = quality_section.activity_gain(summary)
    assert gain is not None and gain["network"] == "784-50-10"
    assert gain["factor"] >= 10 and gain["repeats"] >= 100
    init = summary[summary["weights"] == "init"]
    checked = init[init["cos_theory"].notna() & init["estimator"].str.startswith("fg_weights")]
    big = checked[checked["network"] == "784-50-10"]
    small = checked[checked["total_params"] == checked["total_params"].min()]
    assert {1, 10, 100} <= set(big["directions"])
    assert {"fg_weights", "fg_weights_orthogonal"} <= set(small["estimator"])
    assert (small["directions"] >= small["total_params"] / 4 - 1).sum() >= 4
    assert (checked["cos_se"] < 0.03 * checked["cos"]).all()
    assert (checked["mse_se"] < 0.03 * checked["mse"]).all()
    assert checked["cos_z"].abs().max() <= 3
    assert checked["mse_z"].abs().max() <= 3


def test_readme_links_and_images_exist():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\((results/reference/[^)\s#]+)", readme)
    assert any(t.endswith(".png") for t in targets)
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []
