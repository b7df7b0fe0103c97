"""A Hydra sweeper for a union of grids, each checked in full before any job starts.

Hydra's basic sweeper launches one cartesian product. A benchmark's sweep is often a union
of them: backprop for five seeds plus the slow numerical method for one. ``hydra/sweeper=grids``
takes ``hydra.sweeper.grids``, a list of parameter dicts each expanded exactly like the basic
sweeper's ``params`` (which, when given, is shared by every grid); identical jobs are launched
once. Jobs still go to whatever launcher is configured (joblib, Ray, submitit).
``hydra.sweeper.dry_run=true`` prints the job list instead of launching it.
``hydra.sweeper.tune`` makes it a tuned sweep (``tuned.py``, ``mlpbench.tuning``): each
configuration's lr grid on tuning seeds, the rate chosen on validation, then final runs on fresh
seeds, every run as long as the stated budget needs.
``hydra.sweeper.title`` and ``question`` say what a sweep file measures; the report reads only
parquet, so once the checks below pass they are recorded in each results folder
(``results_dir/sweeps/<sweep>.parquet``, ``mlpbench.results.write_sweep``) for its title.

Before anything is launched or written, every job's config is composed and passed to
mlpbench's range checks, ``hydra.launcher.n_jobs`` is checked, every results folder is checked
writable, and every dataset is found (or downloaded) once, so a bad value anywhere in a sweep
stops it before any result exists and the offline-data warning is printed once per sweep.

A job that fails (a crash, or a process killed: see the ``local`` launcher) does not stop the
sweep: the other jobs go on, and at the end ``RunsLost`` names every lost run. A job skipped
because another process was computing its run (a second copy of the sweep) is launched again at
the end with ``claim_wait=true``, so it waits for that process and takes the run over if the
process died.
"""

import os
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus, filter_overrides
from omegaconf import OmegaConf

from mlpbench.errors import ConfigError, RunLost, RunsLost


@dataclass
class GridsSweeperConf:
    _target_: str = "hydra_plugins.mlpbench_sweeper.grids_sweeper.GridsSweeper"
    max_batch_size: Optional[int] = None  # noqa: UP045 (OmegaConf 2.3 needs Optional)
    params: Optional[dict[str, str]] = None  # noqa: UP045
    grids: Optional[list[dict[str, Any]]] = None  # noqa: UP045
    dry_run: bool = False
    # What the sweep measures, in words: recorded in each results folder for the report's title.
    title: Optional[str] = None  # noqa: UP045
    question: Optional[str] = None  # noqa: UP045
    # A tuned sweep (mlpbench.tuning): lr grids run on tuning seeds, the choice on final seeds.
    tune: Optional[dict[str, Any]] = None  # noqa: UP045


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
        title: str | None = None,
        question: str | None = None,
        tune: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(max_batch_size=max_batch_size, params=params)
        self.grids = [dict(g) for g in grids] if grids else [{}]
        self.dry_run = dry_run
        self.title, self.question = title, question
        self.results_dirs: list[str] = []
        self.tune = tune
        self.settings: list[Any] = []

    def sweep(self, arguments: list[str]) -> Any:
        """Launch the jobs batch by batch, then the busy ones again; raise ``RunsLost`` at the end
        when any job failed. With ``dry_run``, check them and print one line per job instead."""
        assert self.hydra_context is not None and self.config is not None
        assert self.launcher is not None
        parser = OverridesParser.create(config_loader=self.hydra_context.config_loader)
        if self.tune is not None:
            from hydra_plugins.mlpbench_sweeper.tuned import TunedSweep

            return TunedSweep(self, parser.parse_overrides(arguments)).run()
        batches = self.split_arguments(parser.parse_overrides(arguments), self.max_batch_size)
        if self.dry_run:
            jobs = [job for batch in batches for job in batch]
            for job in jobs:
                print(" ".join(job))
            print(f"{len(jobs)} jobs (dry run: nothing launched)")
            return []
        self.record_sweep()
        write_multirun_yaml(self.config, Path(self.config.hydra.sweep.dir))
        returns = self.launch_all(batches, 0)
        raise_lost(returns)
        return [returns]

    def launch_all(self, batches: list[list[list[str]]], next_idx: int) -> list[JobReturn]:
        """Launch the jobs batch by batch, then the busy ones again (with ``claim_wait``);
        every job's return, lost ones included."""
        assert self.launcher is not None
        self.overrides, self.batch_index = batches, 0
        returns: list[JobReturn] = []
        while not self.is_done():
            batch = self.get_job_batch()
            returns += self.launcher.launch(batch, initial_job_idx=next_idx)
            next_idx += len(batch)
        busy = [list(r.overrides or []) for r in returns if _is_busy(r)]
        if busy:
            print(f"mlpbench: waiting for {len(busy)} run(s) another process was computing",
                  file=sys.stderr, flush=True)
            waiting = [[*(o for o in job if not o.startswith("claim_wait=")), "claim_wait=true"]
                       for job in busy]
            returns = [r for r in returns if not _is_busy(r)]
            returns += self.launcher.launch(waiting, initial_job_idx=next_idx)
        return returns

    def _parse_config(self) -> list[str]:
        # Shared params are merged into each grid in split_arguments instead.
        return []

    def split_arguments(  # type: ignore[override]
        self, overrides: list[Override], max_batch_size: int | None
    ) -> list[list[list[str]]]:
        """Expand every grid (shared params, then the grid, then the command line) and join."""
        jobs = self.expand(overrides)
        self._check_all(jobs)
        return list(BasicSweeper.split_overrides_to_chunks(jobs, max_batch_size))

    def expand(self, overrides: list[Override]) -> list[list[str]]:
        """Every job of the union of grids, each once, in order."""
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
        return jobs

    def _check_all(self, jobs: Sequence[Sequence[str]]) -> None:
        """Compose every job and run mlpbench's checks on it, before anything is written: the
        ranges, ``n_jobs`` and the memory of that many runs at once, every results folder
        writable, every dataset found once and every
        batch no larger than its training set (else each job would fail alone). A method
        key given to a job whose method lacks it is named with the swept methods that have it."""
        from mlpbench import memory_estimate
        from mlpbench.config import check_method_keys, settings_from
        from mlpbench.data import load_dataset
        from mlpbench.results import ensure_writable
        from mlpbench.run import split_checked

        assert self.hydra_context is not None and self.config is not None
        n_jobs = self.config.hydra.launcher.get("n_jobs", None)
        check_n_jobs(n_jobs)
        check_method_keys(jobs, self.config.method.name)
        settings = []
        for job in jobs:
            config = self.hydra_context.config_loader.load_sweep_config(self.config, list(job))
            settings.append(settings_from(config))
        self.settings = settings
        if n_jobs is not None:  # the local launchers: that many runs side by side on this machine
            memory_estimate.check_at_once(settings, jobs_at_once(n_jobs), "hydra.launcher.n_jobs")
        if self.dry_run:
            return
        loaded: dict[tuple[str, str | None, bool], Any] = {}
        for dataset, data_dir, download in dict.fromkeys(
            (s.dataset.name, s.data_dir, s.dataset.download) for s in settings
        ):
            # a fallback warns here, once
            loaded[dataset, data_dir, download] = load_dataset(
                dataset, Path(data_dir) if data_dir else None, download=download)
        for s in settings:  # as ``run.execute`` checks a single run, but before any job starts
            split_checked(loaded[s.dataset.name, s.data_dir, s.dataset.download], s)
        # last: it makes the results folders, which a rejected sweep should not leave behind
        self.results_dirs = list(dict.fromkeys(s.results_dir for s in settings))
        for results_dir in self.results_dirs:
            ensure_writable(Path(results_dir))

    def record_sweep(self) -> None:
        """Record the sweep's name, title and question in every results folder it writes to
        (``results.write_sweep``), since the report reads only parquet; nothing for a plain
        ``--multirun`` (no ``+sweep=`` and no title)."""
        from mlpbench.results import write_sweep

        assert self.config is not None
        name = sweep_name(self.config.hydra.runtime.choices.get("sweep"), self.title)
        if name is None:
            return
        for results_dir in self.results_dirs:
            write_sweep(Path(results_dir), name, self.title, self.question)

    def validate_batch_is_legal(self, batch: Sequence[Sequence[str]]) -> None:
        """Already done for the whole sweep in ``split_arguments``."""


def sweep_name(choice: str | None, title: str | None) -> str | None:
    """The name a sweep is recorded under: its sweep file (``+sweep=NAME``); for a titled sweep
    given on the command line alone, its title in lower case with "_" between words (so two
    such sweeps into one folder keep two records); None when it has neither."""
    if choice:
        return choice
    if not title:
        return None
    return "_".join(re.findall(r"[a-z0-9]+", title.lower())) or None


def write_multirun_yaml(config: Any, sweep_dir: Path) -> None:
    """Save the sweep's config as ``sweep_dir/multirun.yaml``, as Hydra's basic sweeper does, but
    atomically (temp file, fsync, rename): a full disk leaves no half-written file, and a folder or
    file that cannot be written is a ``WriteError`` naming it, one line instead of a traceback."""
    from mlpbench.errors import WriteError
    from mlpbench.results.store import write_atomic

    try:
        sweep_dir.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise WriteError(sweep_dir, ex) from None
    path = sweep_dir / "multirun.yaml"
    text = OmegaConf.to_yaml(config)
    try:
        write_atomic(path, lambda fh: fh.write(text.encode("utf-8")), replace=True)
    except OSError as ex:
        raise WriteError(path, ex) from None


def check_n_jobs(n_jobs: Any) -> None:
    """joblib's ``n_jobs``: a positive count, or -1 for every core (-2 all but one, ...)."""
    cores = os.cpu_count() or 1
    if n_jobs is None or (isinstance(n_jobs, int) and (n_jobs >= 1 or -cores <= n_jobs <= -1)):
        return
    raise ConfigError(f"hydra.launcher.n_jobs: must be a number of processes >= 1, or -1 for "
                      f"every core ({cores} here), got {n_jobs}")


def jobs_at_once(n_jobs: int) -> int:
    """How many processes joblib's ``n_jobs`` runs at once here (-1 every core, -2 all but one)."""
    cores = os.cpu_count() or 1
    return n_jobs if n_jobs >= 1 else max(1, cores + 1 + n_jobs)


def raise_lost(returns: Sequence[JobReturn]) -> None:
    """``RunsLost`` naming every failed job, when any failed."""
    lost = [r for r in returns if r.status == JobStatus.FAILED]
    if lost:
        raise RunsLost([lost_line(r) for r in lost])


def _is_busy(result: JobReturn) -> bool:
    """A job skipped because another process held its run's claim."""
    if result.status != JobStatus.COMPLETED:
        return False
    value = result.return_value
    return isinstance(value, dict) and bool(value.get("busy"))


def lost_line(result: JobReturn) -> str:
    """One line naming a failed job's overrides and why it was lost."""
    error = result._return_value
    job = " ".join(filter_overrides(list(result.overrides or [])))
    if isinstance(error, RunLost):
        what = f"{error}; nothing was written, the same command runs it again"
    else:
        what = (f"{type(error).__name__}: {error}; recorded as failed, retry_failed=true runs "
                "it again")
    return f"mlpbench: lost run {job}: {what}"
