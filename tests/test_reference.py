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


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
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


def test_readme_links_and_images_exist():
    readme = (REPO / "README.md").read_text()
    targets = re.findall(r"\]\((results/reference/[^)\s#]+)", readme)
    assert any(t.endswith(".png") for t in targets)
    missing = [t for t in targets if not (REPO / t).exists()]
    assert missing == []
