"""Lost runs cost only themselves, and a sweep that is gone leaves nothing running behind it.

Real processes are crashed and killed, as in ``tests/test_faults.py`` (whose helpers these
reuse): a run that segfaults is one line on the terminal with its dump kept in a file, and a
sweep whose main process is SIGKILLed takes its pool workers and their runs with it, so no
run is committed after it is gone.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest

from tests.test_faults import SLOW, TINY, alive, children, owners, start, wait_for

pytestmark = pytest.mark.slow


def test_a_segfaulting_run_is_one_line_naming_its_crash_dump(tmp_path):
    out = tmp_path / "results"
    proc = start("--multirun", f"results_dir={out}", *SLOW, "seed=0,1",
                 "hydra.launcher.n_jobs=2", log=tmp_path / "log")
    wait_for(lambda: owners(out))
    _, pid = next(iter(owners(out).items()))
    os.kill(pid, signal.SIGSEGV)
    proc.wait(timeout=300)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 1, err
    assert "Fatal Python error" not in err and "Thread 0x" not in err, err
    lost = [line for line in err.splitlines() if line.startswith("mlpbench: lost run")]
    assert len(lost) == 1 and "killed by SIGSEGV" in lost[0], err
    found = re.search(r"its crash dump is in (\S+\.crash\.log);", lost[0])
    assert found, lost[0]
    dump = Path(found.group(1))
    assert dump.parent.parent == out / ".sweeps"
    assert "Segmentation fault" in dump.read_text()
    assert len(list(dump.parent.glob("*.crash.log"))) == 1  # the run that finished left none


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""


def committed(results_dir: Path) -> list[Path]:
    """Every parquet file under the runs and curves tables (none until a run commits)."""
    return [path for table in ("runs", "curves") for path in (results_dir / table).glob("**/*")
            if path.is_file()]


def test_a_killed_sweep_takes_its_workers_and_runs_with_it(tmp_path):
    out = tmp_path / "results"
    slow = [*TINY, "method=numerical", "method.engine=naive", "epochs=20"]  # about 6 s a run
    proc = start("--multirun", f"results_dir={out}", *slow, "seed=0,1,2,3",
                 "hydra.launcher.n_jobs=2", log=tmp_path / "log")
    wait_for(lambda: owners(out))
    workers = [pid for pid in children(proc.pid) if "popen_loky" in cmdline(pid)]
    runs = [run for worker in workers for run in children(worker)]
    assert workers and runs, "no run had started in a pool worker"
    proc.kill()
    proc.wait(timeout=60)
    wait_for(lambda: not any(alive(pid) for pid in [*workers, *runs]), timeout=60)
    time.sleep(15)  # longer than the runs it interrupted had left to go
    assert committed(out) == [], "a run was committed after its sweep was killed"
