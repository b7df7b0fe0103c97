"""``hydra/launcher=local``: Hydra's joblib launcher, where a lost run costs only itself.

joblib's process pool (loky) treats a worker that dies (SIGKILL, the out-of-memory killer, a
segfault) as a broken pool: every job still in flight or not yet started fails with
``TerminatedWorkerError``, and the whole sweep stops. joblib has no option to tolerate it (its
maintainers suggest running the work in a subprocess and handling the crash there, joblib issue
#1249), so this launcher does just that, and nothing more:

- each job runs in a child process forked by its pool worker; the worker waits for it and turns
  a child that died into a failed ``JobReturn`` naming the signal or exit code. The pool never
  sees the death, and the other jobs go on. The sweeper reports the lost runs at the end.
- should a pool worker itself die, the jobs that did not return are handed to a new pool; their
  runs are claimed in the results folder, so none is computed twice.
- a run that crashes (a segfault in native code) writes its crash dump (Python's faulthandler,
  which loky turns on in its workers) to ``<sweep dir>/job-<n>.crash.log`` rather than the
  terminal, and its lost-run line names that file: the terminal gets one line, the dump is kept.
- should the sweep's own process die (SIGKILL, a closed terminal), each pool worker notices
  within a fraction of a second and exits, and its run, which dies with its worker, commits
  nothing: no orphan goes on computing and writing after the sweep is gone.

Everything else (``n_jobs`` and joblib's other options, logging, the sweep folder) is the joblib
launcher's own.
"""


import contextlib
import ctypes
import faulthandler
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, configure_log, filter_overrides, setup_globals
from hydra_plugins.hydra_joblib_launcher._core import execute_job, process_joblib_cfg
from hydra_plugins.hydra_joblib_launcher.config import JobLibLauncherConf
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher
from joblib import Parallel, delayed
from joblib.externals.loky.process_executor import BrokenProcessPool

from mlpbench.errors import RunLost

log = logging.getLogger(__name__)

MAX_IDLE_BREAKDOWNS = 3
"""Pools that may break in a row without a single job returning before the launcher gives up."""

DRIVER_POLL_S = 0.1
"""How often a pool worker checks that the sweep's process is still its parent."""

_watched_driver: int | None = None


@dataclass
class LocalLauncherConf(JobLibLauncherConf):
    _target_: str = "hydra_plugins.mlpbench_sweeper.local_launcher.LocalLauncher"


ConfigStore.instance().store(
    group="hydra/launcher", name="local", node=LocalLauncherConf, provider="mlpbench"
)


def exit_text(exitcode: int | None) -> str:
    """How a process ended, in words: "killed by SIGKILL", "exited with code 2"."""
    if exitcode is None:
        return "ended without an exit status"
    if exitcode < 0:
        name = signal.Signals(-exitcode).name
        hint = " (out of memory, or killed by a user)" if -exitcode == signal.SIGKILL else ""
        return f"was killed by {name}{hint}"
    return f"exited with code {exitcode} before returning its result"


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent (the pool worker) dies.

    A run whose pool worker is gone has nobody to return to; without this it would go on as an
    orphan and could even commit after the sweep itself was stopped. Elsewhere, a no-op.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


def crash_log(sweep_dir: Path, idx: int) -> Path:
    """Where job ``idx``'s crash dump goes: next to the sweep's other records, not the terminal."""
    return sweep_dir / f"job-{idx}.crash.log"


def _dump_crashes_to(path: Path) -> None:
    """Send faulthandler's dump of a fatal signal to ``path`` instead of the inherited stderr.

    loky turns faulthandler on in its workers, so a segfault in a run would print some fifty
    lines of thread stacks and module names to the sweep's terminal above the lost-run line.
    The file is opened for the life of the process, as faulthandler requires.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = path.open("w")
    except OSError:
        faulthandler.disable()  # no file: rather no dump than fifty lines on the terminal
        return
    faulthandler.enable(file=handle, all_threads=True)


def _child(writer: Connection, parent: int, log_path: Path, args: tuple[Any, ...]) -> None:
    die_with_parent()
    if os.getppid() != parent:  # the worker died before the request above took effect
        os._exit(1)
    _dump_crashes_to(log_path)
    result = execute_job(*args)
    # Hydra's own config is not needed past this point, and its nodes refer to plugin classes
    # that Hydra's plugin scan may have loaded twice in this process, which pickle refuses.
    result.hydra_cfg = None
    try:
        writer.send(result)
    except Exception as ex:  # an unpicklable return value: the run is written, say so
        lost = RunLost(f"its result could not be sent back ({type(ex).__name__}: {ex})")
        writer.send(JobReturn(overrides=result.overrides, status=JobStatus.FAILED,
                              _return_value=lost))
    writer.close()


def _watch_driver(driver: int) -> None:
    """Exit this worker once the sweep's process ``driver`` is no longer its parent.

    loky's workers outlive a driver killed by SIGKILL and would go on running the jobs already
    handed to them, committing runs of a sweep that is gone. ``PR_SET_PDEATHSIG`` is not used
    here: it fires when the *thread* that forked the worker ends, and loky may start workers
    from a thread of its own. The worker's run child dies with it (``die_with_parent``).
    """
    while os.getppid() == driver:
        time.sleep(DRIVER_POLL_S)
    os._exit(1)


def watch_driver(driver: int) -> None:
    """Start, once per pool worker, the thread that ends the worker when ``driver`` dies."""
    global _watched_driver
    if _watched_driver == driver or os.getpid() == driver:  # n_jobs=1 runs in the driver
        return
    if os.getppid() != driver:  # already gone before the first job arrived
        os._exit(1)
    _watched_driver = driver
    threading.Thread(target=_watch_driver, args=(driver,), name="mlpbench-driver-watch",
                     daemon=True).start()


def isolated_job(idx: int, driver: int, sweep_dir: Path, *args: Any) -> tuple[int, JobReturn]:
    """Run one Hydra job in a forked child of this worker; a child that dies is a failed job.

    Forking keeps the worker's imports, so a job starts in milliseconds; the worker itself only
    waits, so it holds no BLAS or numba threads that a fork could break. Where there is no fork
    (Windows), the job runs in the worker, as under the plain joblib launcher.
    """
    watch_driver(driver)
    if "fork" not in multiprocessing.get_all_start_methods():
        return idx, execute_job(idx, *args)
    context = multiprocessing.get_context("fork")
    reader, writer = context.Pipe(duplex=False)
    log_path = crash_log(sweep_dir, idx)
    child = context.Process(target=_child, args=(writer, os.getpid(), log_path, (idx, *args)),
                            name=f"mlpbench-job-{idx}")
    child.start()
    writer.close()
    try:
        result: JobReturn | None = reader.recv()
    except EOFError:
        result = None
    finally:
        reader.close()
        child.join()
    dumped = _keep_if_written(log_path)
    if result is not None:
        return idx, result
    overrides = list(args[0])
    where = f"; its crash dump is in {dumped}" if dumped else ""
    lost = RunLost(f"its process {exit_text(child.exitcode)}{where}")
    return idx, JobReturn(overrides=overrides, status=JobStatus.FAILED, _return_value=lost)


def _keep_if_written(path: Path) -> Path | None:
    """``path`` if the run's crash dump is in it; an empty one (no crash) is removed."""
    try:
        if path.stat().st_size > 0:
            return path
        path.unlink()
    except OSError:
        pass
    return None


class LocalLauncher(JoblibLauncher):
    """The joblib launcher with each job in a child process and a new pool after a breakdown."""

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        setup_globals()
        assert self.config is not None and self.task_function is not None
        assert self.hydra_context is not None
        configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        joblib_cfg = dict(self.joblib)
        joblib_cfg["backend"] = "loky"
        joblib_cfg["return_as"] = "generator_unordered"
        process_joblib_cfg(joblib_cfg)
        log.info(f"Launching {len(job_overrides)} jobs locally (joblib, one process per run), "
                 f"sweep output dir: {sweep_dir}")
        for idx, overrides in enumerate(job_overrides):
            log.info(f"\t#{initial_job_idx + idx} : {' '.join(filter_overrides(overrides))}")

        state = Singleton.get_state()
        driver = os.getpid()
        pending = {initial_job_idx + i: list(o) for i, o in enumerate(job_overrides)}
        returns: dict[int, JobReturn] = {}
        idle_breakdowns = 0
        while pending:
            done_before = len(returns)
            try:
                for idx, result in Parallel(**joblib_cfg)(
                    delayed(isolated_job)(idx, driver, sweep_dir, overrides, self.hydra_context,
                                          self.config, self.task_function, state)
                    for idx, overrides in list(pending.items())
                ):
                    returns[idx] = result
                    pending.pop(idx, None)
            except BrokenProcessPool as ex:  # TerminatedWorkerError is one
                idle_breakdowns = 0 if len(returns) > done_before else idle_breakdowns + 1
                codes = str(ex).split("The exit codes of the workers are ")[-1].split("\n")[0]
                if idle_breakdowns >= MAX_IDLE_BREAKDOWNS:
                    for idx, overrides in pending.items():
                        lost = RunLost(f"never returned: the pool's workers kept dying ({codes})")
                        returns[idx] = JobReturn(overrides=overrides, status=JobStatus.FAILED,
                                                 _return_value=lost)
                    break
                print(f"mlpbench: a pool worker died ({codes}); the {len(pending)} run(s) that "
                      "had not returned start again in a new pool", file=sys.stderr, flush=True)
        for path in sweep_dir.glob("job-*.crash.log"):  # runs killed with their worker
            _keep_if_written(path)
        return [returns[idx] for idx in sorted(returns)]
