"""A Hydra sweeper for a union of grids, each checked in full before any job starts.

Hydra's basic sweeper launches one cartesian product. A benchmark's sweep is often a union
of them: backprop for five seeds plus the slow numerical method for one. ``hydra/sweeper=grids``
takes ``hydra.sweeper.grids``, a list of parameter dicts each expanded exactly like the basic
sweeper's ``params`` (which, when given, is shared by every grid); identical jobs are launched
once. Jobs still go to whatever launcher is configured (joblib, Ray, submitit).
``hydra.sweeper.dry_run=true`` prints the job list instead of launching it.

Before anything is launched or written, every job's config is composed and passed to
mlpbench's range checks, so a bad value anywhere in a sweep stops it before any result exists.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override


@dataclass
class GridsSweeperConf:
    _target_: str = "hydra_plugins.mlpbench_sweeper.grids_sweeper.GridsSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf 2.3 needs Optional)
    params: Optional[dict[str, str]] = None  # noqa: UP045
    grids: Optional[list[dict[str, Any]]] = None  # noqa: UP045
    dry_run: bool = False


ConfigStore.instance().store(
    group="hydra/sweeper", name="grids", node=GridsSweeperConf, provider="mlpbench"
)


class GridsSweeper(BasicSweeper):
    """The basic sweeper over each grid in turn, launched as one de-duplicated job list."""

    def __init__(
        self,
        max_batch_size: int | None,
        params: dict[str, str] | None = None,
        grids: list[dict[str, Any]] | None = None,
        dry_run: bool = False,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.grids = [dict(g) for g in grids] if grids else [{}]
        self.dry_run = dry_run

    def sweep(self, arguments: list[str]) -> Any:
        """Launch the jobs; with ``dry_run``, check them and print one line per job instead."""
        if not self.dry_run:
            return super().sweep(arguments)
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        batches = self.split_arguments(parser.parse_overrides(arguments), self.max_batch_size)
        jobs = [job for batch in batches for job in batch]
        for job in jobs:
            print(" ".join(job))
        print(f"{len(jobs)} jobs (dry run: nothing launched)")
        return []

    def _parse_config(self) -> list[str]:
        # Shared params are merged into each grid in split_arguments instead.
        return []

    def split_arguments(  # type: ignore[override]
        self, overrides: list[Override], max_batch_size: int | None
    ) -> list[list[list[str]]]:
        """Expand every grid (shared params, then the grid, then the command line) and join."""
        assert self.hydra_context is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        jobs: list[list[str]] = []
        seen: set[tuple[str, ...]] = set()
        for grid in self.grids:
            merged = {**(self.params or {}), **grid}
            grid_overrides = parser.parse_overrides([f"{k}={v}" for k, v in merged.items()])
            for batch in BasicSweeper.split_arguments(grid_overrides + list(overrides), None):
                for job in batch:
                    if tuple(job) not in seen:
                        seen.add(tuple(job))
                        jobs.append(job)
        self._check_all(jobs)
        return list(BasicSweeper.split_overrides_to_chunks(jobs, max_batch_size))

    def _check_all(self, jobs: Sequence[Sequence[str]]) -> None:
        """Compose every job and run mlpbench's range checks on it, before anything is written."""
        from mlpbench.config import settings_from

        assert self.hydra_context is not None and self.config is not None
        for job in jobs:
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(job))
            settings_from(config)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Already done for the whole sweep in ``split_arguments``."""
