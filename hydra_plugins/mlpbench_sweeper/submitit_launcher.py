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
  cancelled with ``scancel``.

Submission, parameters and folders are the upstream launcher's own.
"""

import logging
import os
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

from mlpbench.errors import RunLost

log = logging.getLogger(__name__)

CANCEL_WAIT_S = 30.0
"""How long an interrupted sweep waits for its cancelled local jobs to end before it exits."""


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


class _LostRunsAtTheEnd(BaseSubmititLauncher):
    """The upstream launch, with per-job results and cancellation on interrupt."""

    cancel_wait_s = CANCEL_WAIT_S

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
        try:
            jobs = executor.map_array(self, *zip(*job_params, strict=True))
            return [result_or_lost(job, overrides)
                    for job, overrides in zip(jobs, job_overrides, strict=True)]
        except KeyboardInterrupt:
            cancel_all(jobs, self.cancel_wait_s if self._EXECUTOR == "local" else 0.0)
            raise


class SubmititLocalLauncher(_LostRunsAtTheEnd):
    """Jobs as local processes, under submitit's control (``hydra/launcher=submitit_local``)."""

    _EXECUTOR = "local"


class SubmititSlurmLauncher(_LostRunsAtTheEnd):
    """Jobs on a SLURM cluster (``hydra/launcher=slurm``)."""

    _EXECUTOR = "slurm"
