"""A real sweep records its title and question in every results folder it writes to, for the
report's title; a plain ``--multirun`` records nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from hydra_plugins.mlpbench_sweeper.grids_sweeper import sweep_name
from mlpbench import results
from mlpbench.report import render

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=mnist_subset", "epochs=1", "batch_size=20", "model.hidden_size=4"]
TITLE = "Backprop against finite differences, tiny"
QUESTION = "Does a sweep's record reach the report?"


def sweep_file(conf: Path, first: Path, second: Path) -> None:
    """conf/sweep/tiny.yaml: one grid per results folder, titled like the shipped sweeps."""
    (conf / "sweep").mkdir(parents=True)
    (conf / "sweep" / "tiny.yaml").write_text(
        "# @package _global_\n"
        "hydra:\n"
        "  sweeper:\n"
        f"    title: {TITLE}\n"
        f"    question: {QUESTION}\n"
        "    grids:\n"
        f"      - method: backprop\n        results_dir: {first}\n"
        f"      - method: numerical\n        results_dir: {second}\n"
    )


def multirun(*args: str, conf: Path | None = None) -> subprocess.CompletedProcess:
    flags = ["--config-dir", str(conf)] if conf else []
    return subprocess.run([sys.executable, "-m", "mlpbench", "--multirun", *flags, *TINY, *args],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_a_sweep_records_its_title_in_each_folder_and_a_rerun_rewords_it(tmp_path):
    first, second = tmp_path / "first", tmp_path / "second"
    sweep_file(tmp_path / "conf", first, second)
    proc = multirun("+sweep=tiny", conf=tmp_path / "conf")
    assert proc.returncode == 0, proc.stderr
    for folder, method in ((first, "backprop"), (second, "numerical")):
        assert pd.read_parquet(folder / "sweeps").to_dict("records") == [
            {"sweep": "tiny", "title": TITLE, "question": QUESTION}]
        bad: list = []
        _, runs = results.read_results(folder, bad)
        assert bad == [] and list(runs["method"]) == [method]
        assert results.find_debris(folder) == []

    text = render(first, tmp_path / "report").report_md.read_text()
    assert text.startswith(f"# {TITLE}\n\n{QUESTION}\n\nWe trained ")
    assert text.count(QUESTION) == 1 and "## Files left out" not in text

    again = multirun("+sweep=tiny", "hydra.sweeper.title=Reworded", conf=tmp_path / "conf")
    assert again.returncode == 0, again.stderr
    assert again.stdout.count("skipped") == 2  # nothing trained again
    assert [p.name for p in (first / "sweeps").iterdir()] == ["tiny.parquet"]
    assert pd.read_parquet(first / "sweeps")["title"].tolist() == ["Reworded"]


@pytest.mark.slow
def test_a_plain_multirun_records_nothing(tmp_path):
    out = tmp_path / "results"
    proc = multirun("method=backprop,numerical", f"results_dir={out}")
    assert proc.returncode == 0, proc.stderr
    assert len(pd.read_parquet(out / "runs")) == 2
    assert not (out / "sweeps").exists()


def test_the_name_is_the_sweep_file_else_the_title_else_none():
    assert sweep_name("seed_table", "Anything") == "seed_table"
    assert sweep_name(None, "Forward gradients, again!") == "forward_gradients_again"
    assert sweep_name(None, None) is None and sweep_name("", "") is None
