"""``hydra/launcher=ray``: hydra-ray-launcher, where a lost run costs only itself.

The upstream launcher submits every job, then calls ``ray.get`` on each in turn; the first
task whose worker died (``WorkerCrashedError``, with ``max_retries=0``) raises out of the
launch, the sweep ends with a traceback, and Ray shuts down under the jobs still running, so
even runs that would have finished are lost. This launcher changes only that:

- each task's result is gathered on its own: a task that ends without one becomes a failed
  ``JobReturn``, the sweeper prints one lost-run line for it at the end (exit 1), and the
  other tasks run to their end and are committed;
- an interrupt of the sweep's process (SIGINT, SIGTERM) cancels its tasks before it exits.

Submission, ``ray.init`` and ``ray.remote`` options are the upstream launcher's own. The entry
replaces upstream's ``ray``: its config module is private (``_config``), which Hydra's plugin
scan does not execute again, so the entry stored here after importing it stays.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.core.singleton import Singleton
from hydra.core.utils import (
    JobReturn,
    JobStatus,
    configure_log,
    filter_overrides,
    setup_globals,
)
from omegaconf import open_dict

from mlpbench.errors import RunLost

log = logging.getLogger(__name__)

try:  # the optional extra (make install-ray)
    from hydra_plugins.hydra_ray_launcher._config import RayLauncherConf
    from hydra_plugins.hydra_ray_launcher.ray_launcher import RayLauncher as UpstreamRayLauncher
except ImportError:  # pragma: no cover - without Ray, hydra/launcher=ray does not exist
    RayLauncherConf = None  # type: ignore[assignment,misc]
    UpstreamRayLauncher = None  # type: ignore[assignment,misc]


def result_or_lost(ref: Any, overrides: Sequence[str]) -> JobReturn:
    """The task's ``JobReturn``, or a failed one saying why it has none."""
    import ray
    from ray.exceptions import RayError

    try:
        result: JobReturn = ray.get(ref)
        return result
    except RayError as ex:
        first = (str(ex).strip().splitlines() or [""])[0]
        lost = RunLost(f"its Ray task ended without a result ({type(ex).__name__}: {first})")
        return JobReturn(overrides=list(overrides), status=JobStatus.FAILED,
                         _return_value=lost)


if UpstreamRayLauncher is not None:

    @dataclass
    class MlpbenchRayLauncherConf(RayLauncherConf):  # type: ignore[valid-type,misc]
        _target_: str = "hydra_plugins.mlpbench_sweeper.ray_launcher.RayLauncher"

    ConfigStore.instance().store(group="hydra/launcher", name="ray",
                                 node=MlpbenchRayLauncherConf, provider="mlpbench")

    class RayLauncher(UpstreamRayLauncher):  # type: ignore[valid-type,misc]
        """The Ray launcher with per-task results and cancellation on interrupt."""

        def launch(
            self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int
        ) -> Sequence[JobReturn]:
            import ray
            from hydra_plugins.hydra_ray_launcher._launcher_util import (
                launch_job_on_ray,
                start_ray,
            )

            setup_globals()
            assert self.config is not None and self.hydra_context is not None
            assert self.task_function is not None
            configure_log(self.config.hydra.hydra_logging, self.config.hydra.verbose)
            sweep_dir = Path(str(self.config.hydra.sweep.dir))
            sweep_dir.mkdir(parents=True, exist_ok=True)
            log.info(f"Ray Launcher is launching {len(job_overrides)} jobs, "
                     f"sweep output dir: {sweep_dir}")
            self.ray_cfg.init.setdefault("object_store_memory", 78643200)  # as upstream
            start_ray(self.ray_cfg.init)
            refs: list[Any] = []
            try:
                for idx, overrides in enumerate(job_overrides, start=initial_job_idx):
                    log.info(f"\t#{idx} : {' '.join(filter_overrides(overrides))}")
                    sweep_config = self.hydra_context.config_loader.load_sweep_config(
                        self.config, list(overrides))
                    with open_dict(sweep_config):
                        sweep_config.hydra.job.id = f"job_id_for_{idx}"
                        sweep_config.hydra.job.num = idx
                    refs.append(launch_job_on_ray(self.hydra_context, self.ray_cfg.remote,
                                                  sweep_config, self.task_function,
                                                  Singleton.get_state()))
                return [result_or_lost(ref, overrides)
                        for ref, overrides in zip(refs, job_overrides, strict=True)]
            except KeyboardInterrupt:
                for ref in refs:
                    try:
                        ray.cancel(ref, force=True)
                    except Exception as ex:  # one failed cancel must not spare the others
                        log.warning(f"could not cancel a Ray task: {ex}")
                raise
