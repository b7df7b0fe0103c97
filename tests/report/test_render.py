"""Rendering and the command line: the section order, atomic writes, stale figures removed,
exit codes and one-line errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlpbench.report import ReportOutputs, render
from mlpbench.report.__main__ import EXIT_BAD_FILES, main
from mlpbench.report.document import SECTIONS, figure_names
from mlpbench.report.runs import PAIRED_FIGURE

from .helpers import BACKPROP, NUMERICAL, is_png, write


def test_every_figure_is_declared_once_by_its_section() -> None:
    names = figure_names()
    assert len(names) == len(set(names))
    assert set(names) == {"loss_vs_epoch.png", "test_acc_vs_epoch.png", "paired_seed.png",
                          "estimators.png", "scaling.png", "scaling_depth.png", "gradcheck.png",
                          "equal_budget.png", "quality.png"}
    assert len(SECTIONS) == len(set(SECTIONS))


def test_sections_appear_in_order(rendered: ReportOutputs) -> None:
    text = rendered.report_md.read_text()
    headings = [line for line in text.splitlines() if line.startswith("#")]
    assert headings == ["# backprop against numerical on mnist_subset, 784-50-10 sigmoid MLP",
                        "## Our results", "## Speed", "## Figures"]


def test_figures_are_written_atomically(rendered: ReportOutputs) -> None:
    assert list(rendered.figures) == ["loss_vs_epoch.png", "test_acc_vs_epoch.png",
                                      "paired_seed.png"]
    for path in rendered.figures.values():
        assert is_png(path)
    leftovers = [p.name for p in rendered.report_md.parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_paired_figure_skipped_without_shared_seed(tmp_path: Path) -> None:
    out = tmp_path / "report"
    out.mkdir()
    (out / "paired_seed.png").write_bytes(b"stale")
    write(tmp_path / "r", BACKPROP, 0, 1.6, 0.7, 0.3)
    write(tmp_path / "r", NUMERICAL, 1, 1.5, 0.6, 100.0)
    outputs = render(tmp_path / "r", out)
    assert PAIRED_FIGURE not in outputs.figures
    assert outputs.numbers["figures"]["paired_seed"] is None
    assert not (out / "paired_seed.png").exists()
    assert "Paired-seed figure skipped" in outputs.report_md.read_text()


def test_cli_prints_table_and_paths(results_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli-out"
    proc = subprocess.run(
        [sys.executable, "-m", "mlpbench.report", "--results-dir", str(results_dir),
         "--out", str(out)], capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no runpy warning about mlpbench.report.__main__
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
    assert main(["--results-dir", str(results_dir), "--out", str(blocker)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"mlpbench.report: error: cannot write the report to '{blocker}'")
    assert len(err.splitlines()) == 1


def test_bad_file_exits_1_and_is_named(
    results_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "results"
    shutil.copytree(results_dir, target)
    junk = target / "runs" / "junk.parquet"
    junk.write_bytes(b"not parquet")
    assert main(["--results-dir", str(target), "--out", str(tmp_path / "out")]) == EXIT_BAD_FILES
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and f"left out file '{junk}'" in err[0]
    assert "## Files left out" in (tmp_path / "out" / "report.md").read_text()
