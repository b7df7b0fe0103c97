"""One claim per run id: a process computes a run only while it holds the run's lock file.

Two copies of one sweep into one results folder (two terminals, a SLURM array, two Ray drivers
over a shared file system) would otherwise both compute every run. Before computing, a run takes
``results_dir/.claims/<run_id>.lock`` with ``filelock`` (``flock`` on POSIX, a lock the kernel
releases when its holder dies, however it dies; filelock falls back to a marker file with a
stale-lock rule on file systems without ``flock``). A run whose claim is held elsewhere is
skipped with one line, or waited for; a dead holder's claim is simply free again.

The holder writes who it is (``<run_id>.owner``: pid, host, since when) beside the lock, so the
skip line can say who has the run.

Every write here (the ``.claims`` folder, a lock file, an owner file) that the operating system
refuses (a full disk, a file where the folder must be) is a ``WriteError``: one line naming the
path and the reason, exit code 2, rather than a traceback. It is raised before the run computes
anything, even for a run that would only be skipped, since the lock file must exist to find out
who holds the run; the owner file is written atomically, so a failed write leaves no half file.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from filelock import FileLock, Timeout

from mlpbench.errors import WriteError
from mlpbench.results.store import find_debris, is_debris, quarantine, run_id_of, write_atomic

CLAIMS = ".claims"


def lock_path(results_dir: Path, run_id: str) -> Path:
    """The lock file of ``run_id`` (its folder is created when missing; ``WriteError`` when it
    cannot be)."""
    folder = Path(results_dir) / CLAIMS
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise WriteError(folder, ex) from None
    return folder / f"{run_id}.lock"


def holder(results_dir: Path, run_id: str) -> str:
    """Who holds ``run_id`` as the holder wrote it, e.g. "pid 4242 on node7 since 10:42:05Z"."""
    try:
        text = lock_path(results_dir, run_id).with_suffix(".owner").read_text().strip()
    except (OSError, WriteError):
        text = ""
    return text or "another process"


@contextmanager
def claim(results_dir: Path, run_id: str, *, wait: bool = False) -> Iterator[bool]:
    """Hold ``run_id``'s claim for the ``with`` block; yields False when another process has it.

    With ``wait`` the call blocks until the holder releases or dies, and then always yields True.
    """
    path = lock_path(results_dir, run_id)
    lock = try_lock(path, wait=wait)
    if lock is None:
        yield False
        return
    try:
        since = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        owner = f"pid {os.getpid()} on {socket.gethostname()} since {since}"
        owner_path = path.with_suffix(".owner")
        try:
            write_atomic(owner_path, lambda fh: fh.write(owner.encode()), replace=True)
        except OSError as ex:  # the claim is released below; the temp file is already gone
            raise WriteError(owner_path, ex) from None
        yield True
    finally:
        lock.release()


def try_lock(path: Path, *, wait: bool = False) -> FileLock | None:
    """The lock at ``path``, acquired; None when another holder has it and ``wait`` is False.

    A lock file that cannot be created is a ``WriteError`` (filelock's ``Timeout`` is an OSError
    too, so it is told apart first).
    """
    lock = FileLock(path, timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        return None
    except OSError as ex:
        raise WriteError(path, ex) from None
    return lock


def clear_debris(
    results_dir: Path, own_run_id: str, say: Callable[[str], None]
) -> list[Path]:
    """Move what killed writes left in ``results_dir`` to ``.debris/``; say so in one line.

    Only files of runs nobody is computing now are touched: each candidate's run is claimed
    first (a claimed run may be between its two renames) and the candidate looked at again
    while the claim is held, since its writer may have committed in the meantime.
    ``own_run_id`` is the caller's own run, already claimed by the caller and not yet written.
    """
    moved: list[Path] = []
    for path in find_debris(results_dir):
        run_id = run_id_of(path)
        lock = None if run_id == own_run_id else try_lock(lock_path(results_dir, run_id))
        if lock is None and run_id != own_run_id:
            continue
        try:
            if is_debris(path):
                moved += quarantine(results_dir, [path])
        finally:
            if lock is not None:
                lock.release()
    if moved:
        names = ", ".join(f"{path.parent.name}/{path.name}" for path in moved)
        say(f"mlpbench: moved {len(moved)} file(s) left by an interrupted write to "
            f"{Path(results_dir) / '.debris'}: {names}")
    return moved
