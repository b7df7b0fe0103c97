"""A tuned sweep (``hydra.sweeper.tune``): learning rates chosen on validation, then final runs
on fresh seeds, every run as long as the budget needs (``mlpbench.tuning``).

Each grid of the sweep file gives one or more configurations and an ``lr`` grid for each. The
grids sweeper's checks run on every job of both stages before anything is launched. Then each
configuration's gradient is timed here, which with its theoretical forward passes sets the
length of all its runs; the tuning runs go to the launcher; the choice is computed from their
parquet (``tuning.choose``) and recorded in ``results_dir/tuning/<sweep>.parquet``; and the
final runs go to the launcher at the chosen rates. Every stage resumes by run id, so a sweep
cut short and started again redoes only what is missing (a changed timing can change a
configuration's step count, and with it its run ids: the counts are rounded to 1-2-5 steps to
make that rare).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
from hydra.core.override_parser.types import Override
from hydra.core.utils import JobReturn, JobStatus
from omegaconf import OmegaConf

from mlpbench.errors import ConfigError

if TYPE_CHECKING:
    from mlpbench import tuning

LENGTH_KEYS = ("seed", "epochs", "steps_per_epoch")
"""What a tuned sweep sets itself, and a grid must not: the stages' seeds and the runs' length."""


def recorded_timings(results_dir: Path) -> dict[str, float]:
    """Each configuration's seconds per step as a tuned sweep recorded it in ``results_dir``
    (by ``tuning.configuration_id`` of the record's columns): a rerun reuses them, so its runs
    have the lengths, and the run ids, the first run gave them, and it resumes."""
    from mlpbench import results, tuning

    records = results.read_tunings(results_dir, [])
    return {tuning.configuration_id(row): float(row["seconds_per_step"])
            for _, row in records.iterrows() if row["seconds_per_step"] > 0}


NOT_SHOWN = ("+sweep=", "results_dir=", "hydra.", "hydra/", "progress=")
"""Overrides every job of a sweep shares, left out of the lines that name a configuration."""


def _say(line: str) -> None:
    print(f"mlpbench: {line}", file=sys.stderr, flush=True)


def _rate(text: str, base: tuple[str, ...]) -> float:
    """One value of a tuned lr grid, or the grid's one-line refusal."""
    try:
        return float(text)
    except ValueError:
        raise ConfigError(f"lr: every value of a tuned grid must be a finite number > 0 "
                          f"({' '.join(base) or 'the defaults'}), got '{text}'") from None


def _base(overrides: Any) -> tuple[str, ...]:
    """A job's configuration: its overrides without the rate, the seed and the length."""
    return tuple(o for o in overrides or [] if o.partition("=")[0] not in (*LENGTH_KEYS, "lr"))


class TunedSweep:
    """The two stages of a tuned sweep, on the grids sweeper's checks and launcher."""

    def __init__(self, sweeper: Any, overrides: list[Override]) -> None:
        from mlpbench import tuning

        self.sweeper = sweeper
        self.spec = tuning.spec_from(OmegaConf.to_container(sweeper.tune, resolve=True))
        self.configurations = self._configurations(sweeper.expand(overrides))

    def _configurations(self, jobs: list[list[str]]) -> dict[tuple[str, ...], list[float]]:
        """Each configuration (a job's overrides but lr) with its checked lr grid."""
        from mlpbench import tuning

        found: dict[tuple[str, ...], list[float]] = {}
        for job in jobs:
            for text in job:
                key = text.partition("=")[0].lstrip("+")
                if key in LENGTH_KEYS:
                    raise ConfigError(f"{key}: a tuned sweep sets it itself (seeds from "
                                      "hydra.sweeper.tune, run length from its budget); "
                                      f"remove {text}")
            base = tuple(o for o in job if not o.startswith("lr="))
            rates = [_rate(o.partition("=")[2], base) for o in job if o.startswith("lr=")]
            if not rates:
                raise ConfigError(f"lr: a tuned sweep needs an lr grid for every configuration "
                                  f"(none for {' '.join(base) or 'the defaults'})")
            found.setdefault(base, []).extend(rates)
        for base, rates in found.items():
            tuning.check_grid(" ".join(base) or "the defaults", rates)
        return found

    def run(self) -> list[list[JobReturn]]:
        """Check every job, time each configuration, tune, choose, record, run the finals."""
        from dataclasses import replace

        from mlpbench import results, tuning
        from mlpbench.settings import check as check_settings

        sweeper, spec = self.sweeper, self.spec
        tuning_jobs = {base: [[*base, f"lr={lr!r}", f"seed={seed}"] for lr in rates
                              for seed in spec.seeds]
                       for base, rates in self.configurations.items()}
        every = [job for jobs in tuning_jobs.values() for job in jobs]
        # One job per configuration is composed and checked whole (data, memory, folders); its
        # other jobs differ only in lr and seed, whose values are checked here one by one.
        firsts = [jobs[0] for jobs in tuning_jobs.values()]
        sweeper._check_all(firsts)
        settings_of = dict(zip(self.configurations, sweeper.settings, strict=True))
        for base, rates in self.configurations.items():
            for lr in rates:
                check_settings(replace(settings_of[base], lr=lr))
            for seed in (*spec.seeds, *spec.final_seeds):
                check_settings(replace(settings_of[base], seed=seed))
        if sweeper.dry_run:
            for job in every:
                print(" ".join(job))
            print(f"# then {len(self.configurations)} configuration(s) x "
                  f"{len(spec.final_seeds)} final seeds, each at the rate its tuning runs "
                  "choose, every run as long as the budget needs")
            print(f"{len(every)} jobs (dry run: nothing launched)")
            return []
        if len(sweeper.results_dirs) != 1:
            raise ConfigError("results_dir: a tuned sweep writes all its runs to one folder, "
                              f"got {len(sweeper.results_dirs)}")
        results_dir = Path(sweeper.results_dirs[0])
        sweeper.record_sweep()
        from hydra_plugins.mlpbench_sweeper.grids_sweeper import (
            raise_lost,
            sweep_name,
            write_multirun_yaml,
        )

        write_multirun_yaml(sweeper.config, Path(sweeper.config.hydra.sweep.dir))
        name = sweep_name(sweeper.config.hydra.runtime.choices.get("sweep"),
                          sweeper.title) or "tuned"
        timed = recorded_timings(results_dir)
        lengths = {base: self._length(settings_of[base], timed) for base in tuning_jobs}
        # recorded before the tuning runs, so that a sweep cut short reuses these timings
        results.write_tuning(results_dir, name, [
            self._record(lengths[base], {"lr": lr}, name)
            for base, rates in self.configurations.items() for lr in rates])
        launched = [[*job, *lengths[base].overrides] for base, jobs in tuning_jobs.items()
                    for job in jobs]
        tune_returns = sweeper.launch_all(self._batches(launched), 0)
        curves, runs = results.read_results(results_dir, bad_files=[])
        records, finals = [], []
        for base in tuning_jobs:
            mine = [r for r in tune_returns if _base(r.overrides) == base]
            label = " ".join(o for o in base if not o.startswith(NOT_SHOWN)) or "the defaults"
            if any(r.status != JobStatus.COMPLETED for r in mine):
                records += [self._record(lengths[base], {"lr": lr}, name)
                            for lr in self.configurations[base]]
                _say(f"not tuned {label}: a tuning run was lost (named at the end); no final "
                     "runs until the same command completes its grid")
                continue
            run_ids = {r.return_value["run_id"] for r in mine}
            choice = tuning.choose(runs[runs["run_id"].isin(run_ids)], curves, spec.seeds)
            records += [self._record(lengths[base], row, name)
                        for row in choice.to_dict("records")]
            chosen = tuning.chosen_rates(choice)
            if chosen.empty:
                _say(f"tuned {label}: no rate of its grid was stable on every tuning seed; "
                     "no final runs")
                continue
            lr, edge = float(chosen.iloc[0]["lr"]), tuning.plain(chosen.iloc[0]["edge"])
            _say(f"tuned {label}: lr={lr:g} (mean final validation loss "
                 f"{chosen.iloc[0]['score']:.4f})"
                 + (f", at the {edge} edge of its grid" if edge else ""))
            finals += [[*base, f"lr={lr!r}", f"seed={seed}", *lengths[base].overrides]
                       for seed in spec.final_seeds]
        results.write_tuning(results_dir, name, records)
        final_returns = sweeper.launch_all(self._batches(finals), len(launched))
        raise_lost([*tune_returns, *final_returns])
        return [tune_returns, final_returns]

    def _record(self, length: tuning.Length, row: dict[str, Any], name: str) -> dict[str, Any]:
        """One row of the tuning record: the configuration's columns and timing, the budget
        and seeds, and ``row``'s rate with its score and choice (none yet before tuning)."""
        from mlpbench import tuning

        spec = self.spec
        return {**length.columns, "configuration": length.identity, "score": None,
                "scored_seeds": 0, "unstable_seeds": 0, "chosen": False, "edge": None,
                **{k: tuning.plain(v) for k, v in row.items()},
                "sweep": name, "select": spec.select, "seconds_per_step": length.seconds,
                "forward_passes_per_step": length.passes, "epochs": length.epochs,
                "steps_per_epoch": length.steps_per_epoch,
                "budget_seconds": spec.budget_seconds,
                "budget_forward_passes": spec.budget_forward_passes,
                "targets": list(spec.targets), "tuning_seeds": list(spec.seeds),
                "final_seeds": list(spec.final_seeds)}

    def _length(self, settings: Any, timed: dict[str, float]) -> tuning.Length:
        """A configuration's identity, its seconds per step (as recorded by an earlier run of
        the sweep into the same folder, else measured now), forward passes per step, and the
        run length that spends the budget."""
        from mlpbench import methods, results, tuning
        from mlpbench.data import load_dataset
        from mlpbench.model import INPUT_SIZE, N_CLASSES
        from mlpbench.run import result_config, split_checked

        data = split_checked(load_dataset(settings.dataset.name, settings.data_dir,
                                          download=settings.dataset.download,
                                          warn=lambda line: None), settings)
        columns = result_config(settings, data)
        identity = tuning.configuration_id(columns)
        seconds = timed.get(identity)
        if seconds is None:
            seconds = tuning.seconds_per_step(settings, data)
        passes = methods.get(settings.method.name).forward_passes(
            settings.method, (INPUT_SIZE, *settings.model.widths, N_CLASSES))
        epochs, per_epoch = tuning.steps_for_budget(self.spec, seconds, passes)
        return tuning.Length(identity, {k: columns[k] for k in results.TUNING_KEYS}, seconds,
                             passes, epochs, per_epoch)

    def _batches(self, jobs: list[list[str]]) -> list[list[list[str]]]:
        if not jobs:
            return []
        return list(BasicSweeper.split_overrides_to_chunks(jobs, self.sweeper.max_batch_size))
