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

import pandas as pd
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


def test_a_killed_submitit_job_is_one_lost_line_and_the_others_are_kept(tmp_path):
    out = tmp_path / "results"
    proc = start("--multirun", f"results_dir={out}", *SLOW, "seed=0,1,2",
                 "hydra/launcher=submitit", "hydra.launcher.timeout_min=5",
                 log=tmp_path / "log")
    wait_for(lambda: owners(out))
    run_id, pid = next(iter(owners(out).items()))
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=300)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 1, err
    assert "Traceback" not in err and "UncompletedJobError" not in err, err
    lost = [line for line in err.splitlines() if line.startswith("mlpbench: lost run")]
    assert len(lost) == 1 and "ended without a result" in lost[0], err
    assert Path(lost[0].split("its log is in ")[1].split(";")[0]).is_file()
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 2 and run_id not in set(runs["run_id"])


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_an_interrupted_submitit_sweep_cancels_its_jobs(tmp_path, signum):
    out = tmp_path / "results"
    slow = [*TINY, "method=numerical", "method.engine=naive", "epochs=20"]  # about 6 s a run
    proc = start("--multirun", f"results_dir={out}", *slow, "seed=0,1",
                 "hydra/launcher=submitit", "hydra.launcher.timeout_min=5",
                 log=tmp_path / "log")
    wait_for(lambda: owners(out))
    proc.send_signal(signum)
    proc.wait(timeout=120)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 130, err
    assert not any(alive(pid) for pid in owners(out).values()), "a job outlived its sweep"
    time.sleep(15)  # longer than the runs it interrupted had left to go
    assert committed(out) == [], "a run was committed after its sweep was interrupted"
