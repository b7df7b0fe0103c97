"""One rule for a committed attempt, shared by resume, the reader and the report.

Each test plants what a fault-injection run found (a stray copy of a curves file, a curves file
holding another attempt's rows, a duplicated runs row, cut or foreign files) and checks that the
report names it, that the next run moves it to .debris/ with a line and redoes the run, and that
a committed attempt beside it is never moved.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlpbench import report, results
from mlpbench.methods import backprop
from mlpbench.report.__main__ import EXIT_BAD_FILES
from mlpbench.report.__main__ import main as report_main
from mlpbench.run import execute
from mlpbench.settings import RunConfig
from tests.run_settings import run_settings

REPO = Path(__file__).resolve().parents[2]


def settings(results_dir: Path, **changes: object) -> RunConfig:
    """A tiny backprop run on the offline subset: two epochs of one step."""
    base: dict[str, object] = dict(
        method=backprop.Config(), dataset="mnist_subset", download=False, hidden_size=4,
        epochs=2, steps_per_epoch=1, batch_size=20, lr=0.1, h=1e-4, seed=0, dtype="float64",
        log_eps=1e-7, data_dir=None, results_dir=results_dir, progress=False,
    )
    return run_settings(**{**base, **changes})


def files(folder: Path) -> list[str]:
    """Every file under ``folder`` as "<subfolder>/<name>", sorted."""
    return sorted(f"{p.parent.name}/{p.name}" for p in folder.rglob("*.parquet"))


def attempt_files(out: Path, seed: int) -> tuple[Path, Path]:
    """The curves and runs file of the one attempt of ``seed`` in ``out``."""
    for path in (out / "runs").glob("*.parquet"):
        if pq.read_table(path).column("seed")[0].as_py() == seed:
            return out / "curves" / path.name, path
    raise AssertionError(f"no attempt of seed {seed}")


def report_err(out: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """Exit code and stderr lines of ``python -m mlpbench.report --results-dir out``."""
    code = report_main(["--results-dir", str(out)])
    return code, capsys.readouterr().err.splitlines()


def test_a_stray_copy_is_left_out_moved_and_the_run_redone(tmp_path, capsys):
    out = tmp_path / "results"
    execute(settings(out))
    curves, runs = attempt_files(out, 0)
    stray = curves.with_name(f"{curves.stem} (1).parquet")
    shutil.copy(curves, stray)

    code, err = report_err(out, capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"mlpbench.report: error: no readable runs in '{out}'; left out: ")
    assert f"curves/{stray.name} (not the name the writer gives" in err[0]
    scan = results.scan_attempts(out, curves.name[:16])
    assert scan.committed == [] and sorted(scan.broken[0][0]) == sorted([curves, runs, stray])

    said: list[str] = []
    again = execute(settings(out), say=said.append)
    assert "skipped" not in again  # resume agrees with the report: not committed, so redone
    assert len(said) == 1 and "is not a whole result" in said[0] and stray.name in said[0]
    assert files(out / results.DEBRIS) == sorted(
        [f"curves/{curves.name}", f"curves/{stray.name}", f"runs/{runs.name}"])
    assert report_err(out, capsys)[0] == 0
    assert "skipped" in execute(settings(out))


def test_a_stray_beside_other_runs_is_named_and_only_its_run_redone(tmp_path, capsys):
    out = tmp_path / "results"
    for seed in (0, 1):
        execute(settings(out, seed=seed))
    keep_curves, keep_runs = attempt_files(out, 1)
    curves, _ = attempt_files(out, 0)
    stray = curves.with_name(f"{curves.stem} (1).parquet")
    shutil.copy(curves, stray)

    outputs = report.render(out, tmp_path / "report")
    assert stray in [path for path, _ in outputs.bad_files]
    assert outputs.numbers["runs"]["left_out"] == 1
    text = outputs.report_md.read_text()
    assert "1 run left out" in text and f"`{stray}`" in text and "resume runs it again" in text

    said: list[str] = []
    redone = [execute(settings(out, seed=seed), say=said.append) for seed in (0, 1)]
    assert ["skipped" in row for row in redone] == [False, True]
    assert len(said) == 1 and stray.name in said[0]
    assert keep_curves.exists() and keep_runs.exists()  # the committed attempt is not moved
    assert stray.name in " ".join(files(out / results.DEBRIS))
    outputs = report.render(out, tmp_path / "report")
    assert outputs.bad_files == [] and outputs.numbers["runs"]["left_out"] == 0


def test_a_curves_file_holding_another_attempts_rows_commits_neither(tmp_path, capsys):
    out = tmp_path / "results"
    for seed in (0, 1):
        execute(settings(out, seed=seed))
    curves0, runs0 = attempt_files(out, 0)
    curves1, runs1 = attempt_files(out, 1)
    curves1.write_bytes(curves0.read_bytes())  # seed 1's curves now hold seed 0's rows

    found = results.committed(out)
    assert found.attempts == []
    reasons = {entry.path: entry.reason for entry in found.left_out}
    assert set(reasons) == {curves0, runs0, curves1, runs1}
    assert reasons[curves1].startswith(f"not the name the writer gives the attempt it holds "
                                       f"({curves0.name})")
    code, err = report_err(out, capsys)
    assert code == 2 and "no readable runs" in err[0] and " and 1 more" in err[0]

    said: list[str] = []
    redone = [execute(settings(out, seed=seed), say=said.append) for seed in (0, 1)]
    assert not any("skipped" in row for row in redone)
    assert len(said) == 2 and all("is not a whole result" in line for line in said)
    assert len(files(out / results.DEBRIS)) == 4
    assert report_err(out, capsys)[0] == 0


def test_a_duplicated_runs_row_is_flagged_moved_and_redone(tmp_path, capsys):
    out = tmp_path / "results"
    for seed in (0, 1):
        execute(settings(out, seed=seed))
    _, runs = attempt_files(out, 0)
    table = pq.read_table(runs)
    pq.write_table(pa.concat_tables([table, table]), runs)

    code, err = report_err(out, capsys)
    assert code == EXIT_BAD_FILES
    assert any(f"left out file '{runs}': holds 2 rows, where a runs file holds one" in line
               for line in err)
    said: list[str] = []
    assert "skipped" not in execute(settings(out, seed=0), say=said.append)
    assert len(said) == 1 and "holds 2 rows" in said[0]
    assert f"runs/{runs.name}" in files(out / results.DEBRIS)
    assert report_err(out, capsys)[0] == 0


def test_repeated_epochs_are_not_a_committed_curve(tmp_path):
    out = tmp_path / "results"
    execute(settings(out))
    curves, _ = attempt_files(out, 0)
    table = pq.read_table(curves)
    epochs = table.column_names.index("epoch")
    pq.write_table(table.set_column(epochs, "epoch", pa.array([1, 1], table.schema.field(
        "epoch").type)), curves)
    scan = results.scan_attempts(out, curves.name[:16])
    assert scan.committed == [] and "repeat an epoch" in scan.broken[0][1]


def test_a_cut_runs_file_is_named_when_nothing_is_readable(tmp_path, capsys):
    out = tmp_path / "results"
    execute(settings(out))
    _, runs = attempt_files(out, 0)
    with runs.open("r+b") as fh:
        fh.truncate(100)
    code, err = report_err(out, capsys)
    assert code == 2 and len(err) == 1
    assert err[0].startswith(f"mlpbench.report: error: no readable runs in '{out}'; left out: ")
    assert f"runs/{runs.name} (not a parquet file: " in err[0]


def test_a_folder_of_foreign_parquet_is_named_with_a_count(tmp_path, capsys):
    out = tmp_path / "results"
    for sub in ("curves", "runs"):
        (out / sub).mkdir(parents=True)
    for i in range(5):
        pq.write_table(pa.table({"x": [i]}), out / "runs" / f"other{i}.parquet")
    code, err = report_err(out, capsys)
    assert code == 2 and len(err) == 1
    assert "runs/other0.parquet (not an mlpbench results file (no column 'run_id'))" in err[0]
    assert err[0].endswith(" and 2 more")

    bare = tmp_path / "bare"
    bare.mkdir()
    pq.write_table(pa.table({"x": [1]}), bare / "a.parquet")
    code, err = report_err(bare, capsys)
    assert code == 2 and err == [f"mlpbench.report: error: no runs in '{bare}' (no curves/ and "
                                 "runs/ folders); left out: a.parquet (not in curves/ or runs/)"]


def test_committed_attempts_are_never_moved(tmp_path):
    out = tmp_path / "results"
    for seed in (0, 1):
        execute(settings(out, seed=seed))
    before = files(out)
    (out / "curves" / "notes.parquet").write_bytes(b"not parquet")
    said: list[str] = []
    execute(settings(out, seed=2), say=said.append)
    assert said == [f"mlpbench: curves/notes.parquet is not a result mlpbench wrote (not a "
                    f"parquet file: {said[0].split('not a parquet file: ')[1]}"]
    assert set(before) <= set(files(out)) and files(out / results.DEBRIS) == [
        "curves/notes.parquet"]
    assert len(results.committed(out).attempts) == 3 and results.committed(out).left_out == []


def test_the_command_line_redoes_a_run_whose_curves_were_copied(tmp_path):
    out = tmp_path / "results"
    env = {**os.environ, "MLPBENCH_DATA": str(tmp_path / "no-data-here")}
    command = [sys.executable, "-m", "mlpbench", "dataset=mnist_subset", "epochs=2",
               "progress=false", f"results_dir={out}"]
    first = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=300)
    assert first.returncode == 0, first.stderr
    curves = next((out / "curves").glob("*.parquet"))
    shutil.copy(curves, curves.with_name(f"{curves.stem} (1).parquet"))
    again = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True,
                           timeout=300)
    assert again.returncode == 0, again.stderr
    assert "skipped" not in again.stdout + again.stderr
    assert any(line.startswith("mlpbench: attempt ") and "(1).parquet" in line
               for line in again.stderr.splitlines())
    assert f"curves/{curves.stem} (1).parquet" in files(out / results.DEBRIS)
    assert len(results.committed(out).attempts) == 1


def test_a_write_that_commits_between_the_two_listings_is_left_to_its_claim(tmp_path,
                                                                             monkeypatch):
    """Another worker's commit can land after ``runs/`` is listed and before ``curves/`` is:
    its curves file then looks orphaned to this listing, though its runs file is now there.
    It must stay a write under way (only its claim may move it), never be set aside as debris,
    or a committed run loses its curves (what a joblib sweep of four runs once showed)."""
    out = tmp_path / "results"
    execute(settings(out, seed=0))
    curves, runs = attempt_files(out, 0)
    held = runs.read_bytes()
    runs.unlink()
    listed = results.store.result_files

    def runs_commit_after_listing(folder: Path) -> list[Path]:
        if folder.name == "curves" and not runs.exists():
            runs.write_bytes(held)  # the other worker renames its runs file into place now
        return listed(folder)

    monkeypatch.setattr(results.store, "result_files", runs_commit_after_listing)
    found = results.committed(out)
    assert [entry.in_flight for entry in found.left_out] == [True]
    assert results.set_aside(out, found, print) == []
    monkeypatch.setattr(results.store, "result_files", listed)
    assert curves.exists() and len(results.committed(out).attempts) == 1
