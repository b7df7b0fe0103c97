"""``hydra/launcher=submitit`` and ``slurm``: submitit's launchers, where a lost run costs
only itself and a stopped sweep stops its jobs.

hydra-submitit-launcher collects its jobs' results in order and lets the first job that ended
without one raise ``UncompletedJobError``: a long traceback, no lost-run line, and the sweep's
other results are dropped. And a sweep stopped by Ctrl-C or SIGTERM leaves its jobs running,
to commit runs after the sweep has said it stopped. These launchers change only that:

- a job that ends without a result (killed, out of memory, timed out) becomes a failed
  ``JobReturn`` that names its submitit log; the other jobs' results are kept, and the sweeper
  prints one lost-run line for it at the end (exit 1), as under ``hydra/launcher=local``;
- an interrupt of the sweep's process (SIGINT, SIGTERM; ``mlpbench`` turns both into
  ``KeyboardInterrupt``) cancels every job it submitted before the sweep exits (130). Local
  jobs are waited for, briefly, so none commits after the sweep has gone; SLURM jobs are
  cancelled with ``scancel``;
- a sweep's process that dies without a word (SIGKILL, a lost login node) cannot cancel
  anything, so every job watches it (``DriverBeacon``, ``watch_driver``) and ends itself,
  uncommitted, once it is gone: on the driver's own machine by its process (checked every
  ``POLL_S``), elsewhere by a file in the sweep folder the driver touches every ``BEAT_S``
  and that stops changing for ``STALE_S``.

Submission, parameters and folders are the upstream launcher's own.
"""

import contextlib
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from hydra_plugins.hydra_submitit_launcher.config import (
    BaseQueueConf,
    LocalQueueConf,
    SlurmQueueConf,
)
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import (
    BaseSubmititLauncher,
)
from omegaconf import OmegaConf

from mlpbench.errors import RunLost, WriteError
from mlpbench.results.store import write_atomic

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 30.0
"""How long an interrupted sweep waits for its cancelled local jobs to end before it exits."""
BEAT_S = 2.0
"""How often the driver touches its beacon file."""
STALE_S = 60.0
"""A beacon that has not changed for this long, seen from another machine, is a dead driver
(generous: a shared file system may show a change late)."""
POLL_S = 0.5
"""How often a job looks at its driver."""
BEACON = ".driver.json"


@dataclass
class SubmititLocalConf(LocalQueueConf):
    _target_: str = "hydra_plugins.mlpbench_sweeper.submitit_launcher.SubmititLocalLauncher"


@dataclass
class SubmititSlurmConf(SlurmQueueConf):
    _target_: str = "hydra_plugins.mlpbench_sweeper.submitit_launcher.SubmititSlurmLauncher"


# Own names: Hydra's plugin scan executes every plugin module again, so an entry stored under
# the upstream names would be replaced whenever hydra_submitit_launcher is scanned after us.
# hydra/launcher=submitit_local stays the plain upstream launcher, as joblib is beside local.
ConfigStore.instance().store(group="hydra/launcher", name="submitit",
                             node=SubmititLocalConf, provider="mlpbench")
ConfigStore.instance().store(group="hydra/launcher", name="mlpbench_submitit_slurm",
                             node=SubmititSlurmConf, provider="mlpbench")


def result_or_lost(job: Any, overrides: Sequence[str]) -> JobReturn:
    """The job's ``JobReturn``, or a failed one naming why it has none and where its log is."""
    from submitit.core.utils import UncompletedJobError

    try:
        result: JobReturn = job.results()[0]
        return result
    except UncompletedJobError:
        lost = RunLost(f"its submitit job {job.job_id} ended without a result (killed, out of "
                       f"memory or timed out); its log is in {job.paths.stderr}")
        return JobReturn(overrides=list(overrides), status=JobStatus.FAILED,
                         _return_value=lost)


def cancel_all(jobs: Sequence[Any], wait_s: float) -> None:
    """Cancel every job not yet done; wait up to ``wait_s`` seconds for them to end."""
    for job in jobs:
        try:
            if not job.done():
                job.cancel(check=False)
        except Exception as ex:  # one job's cancel failing must not spare the others
            log.warning(f"could not cancel submitit job {job.job_id}: {ex}")
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        try:
            if all(job.done() for job in jobs):
                return
        except Exception:  # a scheduler that cannot say: no point waiting
            return
        time.sleep(0.1)


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (``/proc/<pid>/stat``'s start time), or None when there is
    no such process or no ``/proc``: with the pid, it names one process even if pids are reused."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class DriverBeacon:
    """The sweep's process, made visible to its jobs: ``sweep_dir/.driver.json`` names the host,
    pid and start time, and a thread touches it every ``BEAT_S`` until ``stop``. ``identity``
    (those, and the beacon's path) travels to the jobs with the launcher."""

    def __init__(self, sweep_dir: Path) -> None:
        self.path = sweep_dir / BEACON
        self.identity = {"host": socket.gethostname(), "pid": os.getpid(),
                         "start": process_start(os.getpid()), "beacon": str(self.path)}
        text = json.dumps(self.identity).encode()
        try:
            write_atomic(self.path, lambda fh: fh.write(text), replace=True)
        except OSError as ex:
            raise WriteError(self.path, ex) from None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="mlpbench-driver-beacon",
                                        daemon=True)
        self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(BEAT_S):
            with contextlib.suppress(OSError):  # a missing beacon is dead only once stale
                os.utime(self.path)

    def stop(self) -> None:
        """Stop beating and remove the beacon: the sweep is over, its jobs with it."""
        self._stop.set()
        self._thread.join()
        self.path.unlink(missing_ok=True)


def driver_gone(identity: dict[str, Any], last: list[float]) -> bool:
    """Whether the sweep's process named by ``identity`` is gone, seen from this job.

    On the driver's machine: its pid no longer names the process that started then. Elsewhere:
    the beacon file's modification time has not changed for ``STALE_S`` (``last`` holds the
    time last seen and when, on this machine's monotonic clock, so clocks need not agree).
    """
    if identity.get("host") == socket.gethostname() and identity.get("start") is not None:
        return process_start(int(identity["pid"])) != identity["start"]
    try:
        mtime = Path(identity["beacon"]).stat().st_mtime
    except OSError:
        mtime = -1.0
    now = time.monotonic()
    if not last or mtime != last[0]:
        last[:] = [mtime, now]
        return False
    return now - last[1] > STALE_S


def _watch(identity: dict[str, Any]) -> None:
    last: list[float] = []
    while not driver_gone(identity, last):
        time.sleep(POLL_S)
    log.error("mlpbench: the sweep's process is gone; this job stops without committing")
    os._exit(1)


def watch_driver(identity: dict[str, Any] | None) -> None:
    """In a job: end this process once the sweep that launched it is gone (see ``driver_gone``),
    so that a run of a killed sweep never commits; a no-op without a driver to watch."""
    if identity is None:
        return
    if driver_gone(identity, []):
        os._exit(1)
    threading.Thread(target=_watch, args=(identity,), name="mlpbench-driver-watch",
                     daemon=True).start()


class _LostRunsAtTheEnd(BaseSubmititLauncher):
    """The upstream launch, with per-job results and cancellation on interrupt."""

    cancel_wait_s = CANCEL_WAIT_S
    driver: dict[str, Any] | None = None
    """The sweep's process (``DriverBeacon.identity``), pickled with the launcher into each job."""

    def __call__(self, sweep_overrides: list[str], job_dir_key: str, job_num: int, job_id: str,
                 singleton_state: dict[type, Singleton]) -> JobReturn:
        """In the job: watch the driver, then run the job as upstream does."""
        watch_driver(self.driver)
        return super().__call__(sweep_overrides, job_dir_key, job_num, job_id, singleton_state)

    def launch(
        self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
    ) -> Sequence[JobReturn]:
        import submitit

        assert self.config is not None
        assert len(job_overrides) > 0
        init_keys = {"max_num_timeout"}
        init_params = {"folder": self.params["submitit_folder"]}
        init_params.update({f"{self._EXECUTOR}_{k}": v for k, v in self.params.items()
                            if k in init_keys})
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, **init_params)
        base = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{
            k if k in base else f"{self._EXECUTOR}_{k}": v
            for k, v in self.params.items() if k not in init_keys | {"submitit_folder"}
        })
        log.info(f"Submitit '{self._EXECUTOR}' sweep output dir : {self.config.hydra.sweep.dir}")
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if "mode" in self.config.hydra.sweep:
            os.chmod(sweep_dir, mode=int(str(self.config.hydra.sweep.mode), 8))
        job_params: list[Any] = []
        for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
            log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
            job_params.append((list(overrides), "hydra.sweep.dir", idx, f"job_id_for_{idx}",
                               Singleton.get_state()))
        jobs: list[Any] = []
        beacon = DriverBeacon(sweep_dir)
        self.driver = beacon.identity
        try:
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
            return [result_or_lost(job, overrides)
                    for job, overrides in zip(jobs, job_overrides, strict=True)]
        except KeyboardInterrupt:
            cancel_all(jobs, self.cancel_wait_s if self._EXECUTOR == "local" else 0.0)
            raise
        finally:
            beacon.stop()


class SubmititLocalLauncher(_LostRunsAtTheEnd):
    """Jobs as local processes, under submitit's control (``hydra/launcher=submitit_local``)."""

    _EXECUTOR = "local"


class SubmititSlurmLauncher(_LostRunsAtTheEnd):
    """Jobs on a SLURM cluster (``hydra/launcher=slurm``)."""

    _EXECUTOR = "slurm"
