"""Results that survive: resume, retries, bad files next to good ones, full disks, interrupts."""

from __future__ import annotations

import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlpbench import results
from mlpbench.errors import ResultsError
from mlpbench.methods import backprop, numerical
from mlpbench.report.__main__ import EXIT_BAD_FILES
from mlpbench.report.__main__ import main as report_main
from mlpbench.run import execute
from mlpbench.settings import RunConfig
from tests.run_settings import run_settings

REPO = Path(__file__).resolve().parents[1]


def settings(tmp_path: Path, **changes) -> RunConfig:
    base = dict(
        method=backprop.Config(), dataset="mnist_subset", download=False, hidden_size=4,
        epochs=3, steps_per_epoch=1, batch_size=20, lr=0.1, h=1e-4, seed=0, dtype="float64",
        log_eps=1e-7, data_dir=None, results_dir=tmp_path / "results", progress=False,
    )
    return run_settings(**{**base, **changes})


def committed(tmp_path: Path) -> pd.DataFrame:
    return pd.read_parquet(tmp_path / "results" / "runs")


def test_resume_skips_a_finished_run(tmp_path):
    first = execute(settings(tmp_path))
    again = execute(settings(tmp_path))
    assert again["skipped"].startswith("already in results_dir with status ok")
    assert again["attempt_id"] == first["attempt_id"]
    assert len(committed(tmp_path)) == 1


def test_force_and_resume_false_run_again(tmp_path):
    execute(settings(tmp_path))
    execute(settings(tmp_path, force=True))
    execute(settings(tmp_path, resume=False))
    runs = committed(tmp_path)
    assert len(runs) == 3 and runs["run_id"].nunique() == 1


def test_diverged_run_is_not_a_success_and_reruns_only_when_asked(tmp_path):
    diverging = settings(tmp_path, lr=1e300, epochs=20)
    assert execute(diverging)["status"] == "diverged"
    skipped = execute(diverging)
    assert skipped["skipped"].startswith("its last attempt ended with status diverged")
    assert len(committed(tmp_path)) == 1
    assert execute(settings(tmp_path, lr=1e300, epochs=20, retry_failed=True))["status"] == (
        "diverged")
    assert list(committed(tmp_path)["status"]) == ["diverged", "diverged"]


def written_files(results_dir: Path) -> list[Path]:
    """Every file under ``results_dir`` but the claims (lock files stay, by design)."""
    return [p for p in results_dir.rglob("*") if p.is_file() and ".claims" not in p.parts]


def test_disk_full_while_writing_is_one_error_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(pq, "write_table", full)
    with pytest.raises(ResultsError, match="No space left on device"):
        execute(settings(tmp_path))
    assert written_files(tmp_path / "results") == []


def test_disk_full_on_the_second_file_removes_the_first(tmp_path, monkeypatch):
    real = pq.write_table
    calls = []

    def second_fails(table, where, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", second_fails)
    with pytest.raises(ResultsError):
        execute(settings(tmp_path))
    assert written_files(tmp_path / "results") == []


def plant_bad_files(results_dir: Path) -> list[Path]:
    corrupt = results_dir / "runs" / "corrupt.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    foreign = results_dir / "curves" / "foreign.parquet"
    pd.DataFrame({"x": [1, 2]}).to_parquet(foreign)
    notes = results_dir / "runs" / "notes.txt"
    notes.write_text("someone's notes")
    return [corrupt, foreign, notes]


def test_reader_names_bad_files_and_keeps_good_rows(tmp_path):
    for seed in (0, 1):
        execute(settings(tmp_path, seed=seed))
    planted = plant_bad_files(tmp_path / "results")
    with pytest.raises(ResultsError, match="cannot read results file"):
        results.read_results(tmp_path / "results")
    bad: list[tuple[Path, str]] = []
    curves, runs = results.read_results(tmp_path / "results", bad)
    assert sorted(p for p, _ in bad) == sorted(planted)
    assert len(runs) == 2 and len(curves) == 6


def test_report_with_a_planted_corrupt_file_exits_nonzero_and_keeps_going(tmp_path, capsys):
    for seed in (0, 1, 2):
        execute(settings(tmp_path, seed=seed))
    planted = plant_bad_files(tmp_path / "results")
    code = report_main(["--results-dir", str(tmp_path / "results")])
    assert code == EXIT_BAD_FILES
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 3 and all("left out file" in line for line in err)
    assert {str(p) for p in planted} == {line.split("'")[1] for line in err}
    text = (tmp_path / "results" / "report" / "report.md").read_text()
    assert "## Files left out" in text
    assert re.search(r"\| backprop \|.*\|\s+3 \|", text)  # n = 3 seeds still counted


def run_cli(*args: str, results: Path) -> subprocess.Popen:
    flags = [a for a in args if a.startswith("--")]
    overrides = [a for a in args if not a.startswith("--")]
    return subprocess.Popen(
        [sys.executable, "-m", "mlpbench", *flags, f"results_dir={results}",
         "dataset=mnist_subset", "progress=false", *overrides],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def readable_results(results: Path) -> list[Path]:
    return [p for p in results.rglob("*.parquet") if not p.name.startswith(".")]


SLOW_RUN = ["method=numerical", "method.engine=naive", "model.hidden_size=4", "epochs=8",
            "batch_size=50"]
"""About 4 s of training: long enough to be stopped 1.5 s in, short enough to resume twice."""


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL])
def test_interrupted_run_leaves_no_result_and_resume_completes(tmp_path, sig):
    results_dir = tmp_path / "results"
    proc = run_cli(*SLOW_RUN, results=results_dir)
    deadline = time.monotonic() + 60
    while not (results_dir / "runs").is_dir() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(1.5)  # training is under way
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode != 0
    if sig != signal.SIGKILL:
        assert "interrupted; finished runs are kept" in err and "Traceback" not in err
    assert readable_results(results_dir) == []
    done = run_cli(*SLOW_RUN, results=results_dir)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    runs = pd.read_parquet(results_dir / "runs")
    assert len(runs) == 1 and runs["epochs_done"].iloc[0] == 8


def test_numerical_settings_resume_too(tmp_path):
    cfg = settings(tmp_path, method=numerical.Config(), epochs=2)
    execute(cfg)
    assert execute(cfg)["skipped"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupted_sweep_keeps_finished_runs_and_resumes(tmp_path, sig):
    results_dir = tmp_path / "results"
    sweep = ["--multirun", "method=numerical", "method.engine=naive", "model.hidden_size=4",
             "epochs=4", "batch_size=40", "seed=range(0,4)", "hydra.launcher.n_jobs=2"]
    proc = run_cli(*sweep, results=results_dir)
    deadline = time.monotonic() + 120
    while len(readable_results(results_dir)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted; finished runs are kept" in err
    assert "Traceback" not in err
    runs_files = {p.name for p in (results_dir / "runs").glob("*.parquet")}
    curves_files = {p.name for p in (results_dir / "curves").glob("*.parquet")}
    assert runs_files and runs_files <= curves_files  # every committed run is complete
    done_before = len(pd.read_parquet(results_dir / "runs"))
    assert 1 <= done_before < 4
    resumed = run_cli(*sweep, results=results_dir)
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert out.count("skipped numerical") == done_before
    runs = pd.read_parquet(results_dir / "runs")
    assert sorted(runs["seed"]) == list(range(4)) and runs["run_id"].nunique() == 4
