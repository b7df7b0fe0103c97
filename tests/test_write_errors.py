"""Writes of the harness's own bookkeeping that the operating system refuses: one line, exit 2.

A claim, its owner file, a sweep's ``multirun.yaml`` and its record parquet are written before
any run computes; a full disk or a file where a folder must be used to end the program with an
OSError traceback. These tests simulate both (root ignores a read-only chmod, so a full disk is
simulated by making the write raise ENOSPC, and a blocked folder by a regular file in its place)
and check the one ``mlpbench: error: cannot write PATH: REASON (errno N)`` line, the exit code,
and that no half-written file is left.
"""

from __future__ import annotations

import errno
import os
import pickle
import re
import subprocess
import sys
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from hydra_plugins.mlpbench_sweeper.grids_sweeper import write_multirun_yaml
from mlpbench import results
from mlpbench.errors import EXIT_USAGE, ResultsError, WriteError
from mlpbench.results import claims

REPO = Path(__file__).resolve().parents[1]
TINY = ["dataset=mnist_subset", "model.hidden_size=4", "epochs=3", "batch_size=20",
        "progress=false"]
NO_SPACE = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def no_space(*args: object, **kwargs: object) -> None:
    """An fsync on a full disk: the data did not fit."""
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def files_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_write_error_names_the_path_and_the_reason_and_pickles():
    error = WriteError(Path("results/.claims/abc.owner"), NO_SPACE)
    assert str(error) == ("cannot write results/.claims/abc.owner: "
                          "No space left on device (errno 28)")
    assert isinstance(error, ResultsError)
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is WriteError and str(again) == str(error)


def test_a_full_disk_when_writing_the_owner_file_is_a_write_error(tmp_path, monkeypatch):
    monkeypatch.setattr("mlpbench.results.store.os.fsync", no_space)
    with pytest.raises(WriteError) as caught, claims.claim(tmp_path, "abc"):
        pass
    assert str(caught.value) == (f"cannot write {tmp_path / '.claims' / 'abc.owner'}: "
                                 "No space left on device (errno 28)")
    assert files_in(tmp_path) == ["abc.lock"]  # no owner file, no temp file
    monkeypatch.undo()
    with claims.claim(tmp_path, "abc") as mine:  # the failed claim was released
        assert mine


def test_a_file_where_the_claims_folder_must_be_is_a_write_error(tmp_path):
    (tmp_path / ".claims").write_text("")
    with (pytest.raises(WriteError, match=r"cannot write .*/\.claims: File exists \(errno 17\)"),
          claims.claim(tmp_path, "abc")):
        pass


def test_a_lock_file_that_cannot_be_created_is_a_write_error(tmp_path, monkeypatch):
    def refuse(self: object, *args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(claims.FileLock, "acquire", refuse)
    with (pytest.raises(WriteError, match=r"abc\.lock: No space left on device \(errno 28\)"),
          claims.claim(tmp_path, "abc")):
        pass


def test_a_full_disk_when_recording_a_sweep_keeps_the_earlier_record(tmp_path, monkeypatch):
    path = results.write_sweep(tmp_path, "seed_table", "old title", None)
    monkeypatch.setattr("mlpbench.results.store.os.fsync", no_space)
    with pytest.raises(WriteError) as caught:
        results.write_sweep(tmp_path, "seed_table", "new title", None)
    assert str(caught.value) == f"cannot write {path}: No space left on device (errno 28)"
    monkeypatch.undo()
    assert files_in(tmp_path) == ["seed_table.parquet"]
    assert results.read_sweeps(tmp_path, [])["title"].tolist() == ["old title"]


def test_a_full_disk_when_writing_multirun_yaml_leaves_no_file(tmp_path, monkeypatch):
    monkeypatch.setattr("mlpbench.results.store.os.fsync", no_space)
    with pytest.raises(WriteError) as caught:
        write_multirun_yaml(OmegaConf.create({"a": 1}), tmp_path / "sweep")
    path = tmp_path / "sweep" / "multirun.yaml"
    assert str(caught.value) == f"cannot write {path}: No space left on device (errno 28)"
    assert files_in(tmp_path) == []
    monkeypatch.undo()
    write_multirun_yaml(OmegaConf.create({"a": 1}), tmp_path / "sweep")
    assert OmegaConf.load(path) == {"a": 1}


# The command line, in a subprocess. ``FULL_DISK`` makes every atomic write of a file named
# ``FULL_DISK_NAME`` (an owner file, multirun.yaml) fail as on a full disk, in this process only.
PRELUDE = """
import errno, os, sys
from pathlib import Path
import mlpbench.results.store as store
write_atomic = store.write_atomic
def full(path, *args, **kwargs):
    if Path(path).name.endswith(os.environ["FULL_DISK_NAME"]):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return write_atomic(path, *args, **kwargs)
store.write_atomic = full
import mlpbench.results.claims as claims
claims.write_atomic = full
import runpy
runpy.run_module("mlpbench", run_name="__main__", alter_sys=True)  # as `python -m mlpbench`
"""


def mlpbench(tmp_path: Path, *args: str, full_disk: str | None = None
             ) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLPBENCH_DATA": str(tmp_path / "no-data-here")}
    command = [sys.executable, "-m", "mlpbench"]
    if full_disk:
        env["FULL_DISK_NAME"] = full_disk
        command = [sys.executable, "-c", PRELUDE]
    dirs = [f"hydra.run.dir={tmp_path / 'out'}"]
    if not any(a.startswith("hydra.sweep.dir=") for a in args):
        dirs.append(f"hydra.sweep.dir={tmp_path / 'multirun'}")
    return subprocess.run(
        [*command, *(a for a in args if a.startswith("--")), *TINY, *dirs,
         *(a for a in args if not a.startswith("--"))],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )


def assert_one_line(proc: subprocess.CompletedProcess, path: Path | str, reason: str) -> None:
    """Exit 2 and exactly one error line on stderr; ``path`` as a str is a regular expression."""
    assert proc.returncode == EXIT_USAGE, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    assert len(errors) == 1, proc.stderr
    pattern = path if isinstance(path, str) else re.escape(str(path))
    assert re.fullmatch(f"mlpbench: error: cannot write {pattern}: {re.escape(reason)}",
                        errors[0]), proc.stderr


@pytest.mark.slow
def test_a_run_whose_claims_folder_is_a_file_fails_in_one_line(tmp_path):
    res = tmp_path / "res"
    res.mkdir()
    (res / ".claims").write_text("")
    proc = mlpbench(tmp_path, f"results_dir={res}")
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"mlpbench: error: results_dir: cannot write to '{res / '.claims'}': not a folder"]
    assert files_in(res) == [".claims"]


@pytest.mark.slow
def test_a_run_on_a_full_disk_fails_in_one_line_without_an_owner_file(tmp_path):
    res = tmp_path / "res"
    proc = mlpbench(tmp_path, f"results_dir={res}", full_disk=".owner")
    owner = re.escape(str(res / ".claims")) + r"/[0-9a-f]+\.owner"
    assert_one_line(proc, owner, "No space left on device (errno 28)")
    assert not list((res / "runs").iterdir())
    assert not list((res / ".claims").glob("*.owner"))


@pytest.mark.slow
def test_a_sweep_whose_folder_is_under_a_file_fails_in_one_line(tmp_path):
    (tmp_path / "blocker").write_text("")
    sweep_dir = tmp_path / "blocker" / "sweep"
    proc = mlpbench(tmp_path, "--multirun", "seed=0,1", f"results_dir={tmp_path / 'res'}",
                    f"hydra.sweep.dir={sweep_dir}")
    assert_one_line(proc, sweep_dir, "Not a directory (errno 20)")
    assert not list((tmp_path / "res" / "runs").iterdir())


@pytest.mark.slow
def test_a_sweep_on_a_full_disk_fails_in_one_line_before_any_run(tmp_path):
    res = tmp_path / "res"
    proc = mlpbench(tmp_path, "--multirun", "seed=0,1", f"results_dir={res}",
                    full_disk="multirun.yaml")
    assert_one_line(proc, tmp_path / "multirun" / "multirun.yaml",
                    "No space left on device (errno 28)")
    assert files_in(tmp_path / "multirun") == []
    assert not list((res / "runs").iterdir())
