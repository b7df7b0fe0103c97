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
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from tests.test_faults import REPO, SLOW, TINY, alive, children, owners, start, wait_for

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
    time.sleep(2)  # no process that could run a job is left; a moment for any stray write
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


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_an_interrupted_submitit_sweep_cancels_its_jobs(tmp_path, signum):
    out = tmp_path / "results"
    slow = [*TINY, "method=numerical", "method.engine=naive", "epochs=20"]  # about 6 s a run
    proc = start("--multirun", f"results_dir={out}", *slow, "seed=0,1",
                 "hydra/launcher=submitit", "hydra.launcher.timeout_min=5",
                 log=tmp_path / "log")
    wait_for(lambda: len(owners(out)) == 2)  # every job under way: none is left to start later
    proc.send_signal(signum)
    proc.wait(timeout=120)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 130, err
    assert not any(alive(pid) for pid in owners(out).values()), "a job outlived its sweep"
    time.sleep(2)  # no job is left that could commit; a moment for any stray write
    assert committed(out) == [], "a run was committed after its sweep was interrupted"


def start_in(*args: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    """``start``, in ``env`` (the Ray head's loopback settings)."""
    env = {**env, "MLPBENCH_DATA": str(log.parent / "no-data-here")}
    return subprocess.Popen([sys.executable, "-m", "mlpbench", *args], cwd=REPO, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, text=True)


def test_a_crashed_ray_task_is_one_lost_line_and_the_others_are_kept(tmp_path, ray_head):
    address, env = ray_head
    out = tmp_path / "results"
    proc = start_in("--multirun", f"results_dir={out}", *SLOW, "seed=0,1,2,3",
                    "hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}",
                    "+hydra.launcher.ray.init.object_store_memory=null",
                    "+hydra.launcher.ray.remote.max_retries=0", log=tmp_path / "log", env=env)
    wait_for(lambda: owners(out), timeout=180)
    run_id, pid = next(iter(owners(out).items()))
    os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=300)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 1, err[-3000:]
    lost = [line for line in err.splitlines() if line.startswith("mlpbench: lost run")]
    assert len(lost) == 1 and "its Ray task ended without a result" in lost[0], err[-3000:]
    assert "Traceback" not in err, err[-3000:]
    runs = pd.read_parquet(out / "runs")
    assert len(runs) == 3 and run_id not in set(runs["run_id"])


def test_an_interrupted_ray_sweep_cancels_its_tasks(tmp_path, ray_head):
    address, env = ray_head
    out = tmp_path / "results"
    slow = [*TINY, "method=numerical", "method.engine=naive", "epochs=20"]  # about 6 s a run
    proc = start_in("--multirun", f"results_dir={out}", *slow, "seed=0,1",
                    "hydra/launcher=ray", f"hydra.launcher.ray.init.address={address}",
                    "+hydra.launcher.ray.init.object_store_memory=null",
                    log=tmp_path / "log", env=env)
    wait_for(lambda: len(owners(out)) == 2, timeout=180)  # both under way: none starts later
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    err = (tmp_path / "log").read_text()
    assert proc.returncode == 130, err[-3000:]
    wait_for(lambda: not any(alive(pid) for pid in owners(out).values()), timeout=60)
    time.sleep(2)  # no task is left that could commit; a moment for any stray write
    assert committed(out) == [], "a run was committed after its sweep was interrupted"


def test_a_killed_submitit_sweep_takes_its_jobs_with_it(tmp_path):
    out = tmp_path / "results"
    slow = [*TINY, "method=numerical", "method.engine=naive", "epochs=20"]  # about 6 s a run
    proc = start("--multirun", f"results_dir={out}", *slow, "seed=0,1",
                 "hydra/launcher=submitit", "hydra.launcher.timeout_min=5",
                 log=tmp_path / "log")
    wait_for(lambda: len(owners(out)) == 2)
    jobs = list(owners(out).values())
    proc.kill()  # SIGKILL: the driver cancels nothing, its jobs must notice it is gone
    proc.wait(timeout=60)
    wait_for(lambda: not any(alive(pid) for pid in jobs), timeout=10)
    assert committed(out) == [], "a run was committed after its sweep was killed"


def test_a_driver_on_another_machine_is_gone_once_its_beacon_stops_changing(tmp_path,
                                                                          monkeypatch):
    from hydra_plugins.mlpbench_sweeper import submitit_launcher as launcher

    beacon = launcher.DriverBeacon(tmp_path)
    here = dict(beacon.identity)
    assert not launcher.driver_gone(here, [])
    assert launcher.driver_gone({**here, "pid": 2**22 + 1}, [])  # no such process here
    remote = {**here, "host": "another-node"}
    monkeypatch.setattr(launcher, "STALE_S", 0.3)
    monkeypatch.setattr(launcher, "BEAT_S", 0.05)
    last: list[float] = []
    assert not launcher.driver_gone(remote, last)
    os.utime(beacon.path, (1, 1))  # a beat: the time changed, so the driver is alive
    time.sleep(0.4)
    assert not launcher.driver_gone(remote, last)
    beacon.stop()
    assert not beacon.path.exists()
    time.sleep(0.4)
    assert not launcher.driver_gone(remote, last)  # missing: seen once, not yet stale
    time.sleep(0.4)
    assert launcher.driver_gone(remote, last)
