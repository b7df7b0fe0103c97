"""Equal-budget comparisons with each method at its best: the spec of a tuned sweep, the budget
of every run, and the learning rate chosen on validation.

A tuned sweep (``hydra.sweeper.tune`` in a sweep file, run by the grids sweeper) has two
stages. Tuning: every configuration of the sweep's grids (a method with its options, an
optimizer, a network) runs over its own log-spaced learning-rate grid on the tuning seeds.
Final: each configuration runs at its chosen rate on fresh seeds, which selection never saw.
Both stages run every configuration for the same number of steps, enough to spend the stated
budget on both axes (``steps_for_budget``): seconds of gradient computation, measured per
step before anything runs, and forward passes by count (the method's theoretical cost per
gradient). Selection (``choose``) is a pure function of the tuning runs' parquet, so the report
and the sweeper agree on it by construction, and the same results always give the same choice.

Selection reads the **final validation loss**, mean over the tuning seeds: unlike accuracy it
still tells two rates apart while a slow estimator is near chance (where a 500-sample accuracy
moves in steps of 0.2% and ties), and it is the quantity every method minimises. A run that
diverged, failed or ended with a non-finite loss scores +inf, so a rate that is unstable on any
tuning seed is never chosen over one that is stable on all.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from mlpbench.errors import ConfigError

SELECT = "val_loss"
"""What selection minimises: the final validation loss, mean over the tuning seeds."""

MIN_GRID_VALUES = 6
MIN_GRID_DECADES = 3.0
"""Every configuration's learning-rate grid: at least 6 values over at least 3 decades, so that
a best value at an edge is unlikely and, where it happens, flagged."""

MIN_FINAL_SEEDS = 5


@dataclass(frozen=True)
class TuneSpec:
    """``hydra.sweeper.tune``: the seeds of each stage, the budget and the targets.

    ``evaluations`` is every run's number of epochs (evaluation points); its steps per epoch
    follow from the budget (``steps_for_budget``). ``margin`` lengthens runs beyond the
    measured seconds of the budget, since a run's steps are timed while other runs compete for
    the cores; ``max_steps`` caps a configuration too slow to reach the budget (the report says
    so). ``targets`` are validation accuracies; the report gives the budget each method needed to
    reach them first.
    """

    seeds: tuple[int, ...]
    final_seeds: tuple[int, ...]
    budget_seconds: float
    budget_forward_passes: float
    targets: tuple[float, ...]
    evaluations: int = 40
    margin: float = 1.5
    max_steps: int = 20000
    select: str = SELECT
    grids: dict[str, tuple[float, ...]] = field(default_factory=dict)


def spec_from(tune: Any) -> TuneSpec:
    """A checked ``TuneSpec`` from the sweep file's ``tune`` mapping; ``ConfigError`` naming
    the key of a missing, empty or non-positive value."""
    known = {"seeds", "final_seeds", "budget_seconds", "budget_forward_passes", "targets",
             "evaluations", "margin", "max_steps"}
    for key in tune:
        _require(key in known, f"hydra.sweeper.tune.{key}: unknown key; known: "
                 f"{', '.join(sorted(known))}")
    for key in ("seeds", "final_seeds", "budget_seconds", "budget_forward_passes", "targets"):
        _require(tune.get(key) is not None, f"hydra.sweeper.tune.{key}: must be given")
    seeds = _int_list("seeds", tune["seeds"], 1)
    final = _int_list("final_seeds", tune["final_seeds"], MIN_FINAL_SEEDS)
    _require(not set(seeds) & set(final), "hydra.sweeper.tune.final_seeds: must not repeat a "
             f"tuning seed (selection must not see them), got {sorted(set(seeds) & set(final))}")
    targets = tuple(float(t) for t in tune["targets"]) if _is_list(tune["targets"]) else ()
    _require(len(targets) >= 1 and all(0 < t <= 1 for t in targets),
             f"hydra.sweeper.tune.targets: must be a non-empty list of validation accuracies "
             f"in (0, 1], got {_text(tune['targets'])}")
    values = {}
    for key in ("budget_seconds", "budget_forward_passes", "margin"):
        value = tune.get(key, 1.5)
        _require(isinstance(value, int | float) and not isinstance(value, bool)
                 and math.isfinite(value) and value > 0,
                 f"hydra.sweeper.tune.{key}: must be a finite number > 0, got {value}")
        values[key] = float(value)
    for key, default in (("evaluations", 40), ("max_steps", 20000)):
        value = tune.get(key, default)
        _require(isinstance(value, int) and not isinstance(value, bool) and value >= 1,
                 f"hydra.sweeper.tune.{key}: must be an integer >= 1, got {value}")
        values[key] = value
    return TuneSpec(seeds=seeds, final_seeds=final, targets=targets, **values)


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _text(value: Any) -> str:
    return str(list(value)) if _is_list(value) else str(value)


def _int_list(key: str, value: Any, at_least: int) -> tuple[int, ...]:
    items = list(value) if _is_list(value) else []
    _require(len(items) >= at_least and all(isinstance(v, int) and not isinstance(v, bool)
                                            and v >= 0 for v in items)
             and len(set(items)) == len(items),
             f"hydra.sweeper.tune.{key}: must be a list of at least {at_least} distinct "
             f"seeds >= 0, got {_text(value)}")
    return tuple(items)


def check_grid(where: str, rates: Sequence[float]) -> None:
    """A configuration's learning-rate grid: positive, finite, at least ``MIN_GRID_VALUES``
    distinct values spanning at least ``MIN_GRID_DECADES`` decades."""
    values = sorted(set(rates))
    _require(all(math.isfinite(r) and r > 0 for r in values),
             f"lr: every value of a tuned grid must be a finite number > 0 ({where}), got "
             f"{', '.join(f'{r:g}' for r in rates) or 'none'}")
    _require(len(values) >= MIN_GRID_VALUES
             and math.log10(values[-1] / values[0]) >= MIN_GRID_DECADES - 1e-9,
             f"lr: a tuned grid needs at least {MIN_GRID_VALUES} values over at least "
             f"{MIN_GRID_DECADES:g} decades ({where}), got "
             f"{', '.join(f'{r:g}' for r in values) or 'none'}")


PREFERRED_COUNTS = (1, 1.5, 2, 3, 4, 5, 6, 8)
"""Steps per epoch are rounded up to these times a power of ten: a few values, so that a
rerun's slightly different timing keeps its step counts (and run ids), never more than 1.5x
what the budget needs."""


def round_up_preferred(value: float) -> int:
    """The smallest of 1, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, ... at least ``value``."""
    decade = 1
    while True:
        for m in PREFERRED_COUNTS:
            if math.ceil(m * decade) >= value and float(m * decade).is_integer():
                return int(m * decade)
        decade *= 10


def steps_for_budget(spec: TuneSpec, seconds_per_step: float,
                     passes_per_step: float) -> tuple[int, int]:
    """(epochs, steps_per_epoch) of every run of a configuration: ``spec.evaluations`` epochs of
    enough steps to spend both budgets, seconds (times ``margin``, from ``seconds_per_step``)
    and forward passes by count, at most ``max_steps`` in all."""
    wanted = max(spec.margin * spec.budget_seconds / seconds_per_step,
                 spec.budget_forward_passes / passes_per_step, 1.0)
    per_epoch = round_up_preferred(min(wanted, spec.max_steps) / spec.evaluations)
    return spec.evaluations, per_epoch


def seconds_per_step(settings: Any, data: Any, least: int = 5, enough_s: float = 0.2) -> float:
    """The median seconds of one gradient of a configuration, timed here on a batch of the
    run's size with BLAS on one thread as in runs, after two untimed calls (numba's compile,
    cold caches): at least ``least`` calls and until ``enough_s`` seconds are spent."""
    from threadpoolctl import threadpool_limits

    from mlpbench import methods
    from mlpbench.data import fixed_batch
    from mlpbench.model import init_network
    from mlpbench.run import BLAS_THREADS
    from mlpbench.train import streams

    method = methods.get(settings.method.name)
    rng = streams(settings.seed)
    estimator = method.make_estimator(settings.method, settings.h, settings.log_eps, rng.method,
                                      settings.model.activation)
    params = init_network(settings.model.widths, rng.init, settings.dtype,
                          init=settings.model.init, init_std=settings.model.init_std)
    x, t = fixed_batch(data, settings.batch_size, 0, settings.dtype)
    times = []
    with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
        estimator(params, x, t)
        estimator(params, x, t)
        while len(times) < least or sum(times) < enough_s:
            tick = time.perf_counter()
            estimator(params, x, t)
            times.append(time.perf_counter() - tick)
    return float(np.median(times))


def plain(value: Any) -> Any:
    """A cell as JSON takes it: null for NaN, None and NA; Python numbers for NumPy's."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return value.item() if isinstance(value, np.generic) else value


def configuration_id(row: Any) -> str:
    """A short stable id of a row's configuration (``results.TUNING_KEYS``), the same for its
    run rows and its tuning record, so the report finds a configuration's final runs."""
    from mlpbench.results import TUNING_KEYS

    text = json.dumps({k: plain(row[k]) for k in TUNING_KEYS}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def run_scores(runs: pd.DataFrame, curves: pd.DataFrame) -> pd.Series:
    """Each run's selection score (indexed like ``runs``): its last evaluation's validation
    loss; +inf for a run that did not end ok or ended non-finite."""
    last = (curves.sort_values("epoch").groupby("attempt_id")[SELECT].last()
            if not curves.empty else pd.Series(dtype=float))
    scores = runs["attempt_id"].map(last).astype(float)
    ok = (runs["status"] == "ok") & np.isfinite(scores)
    return scores.where(ok, math.inf)


def choose(runs: pd.DataFrame, curves: pd.DataFrame, seeds: Sequence[int]) -> pd.DataFrame:
    """One row per (configuration, lr) of the tuning runs (``seeds``): the mean score over
    the seeds, how many diverged, whether it is the configuration's choice (the least mean
    score; the smaller rate on a tie) and, for the choice, whether it sits at an edge of the
    grid ("lowest" or "highest": the best rate may lie beyond it)."""
    tuning = runs[runs["seed"].isin(list(seeds))].copy()
    if tuning.empty:
        return pd.DataFrame()
    tuning["score"] = run_scores(tuning, curves)
    tuning["configuration"] = [configuration_id(row) for _, row in tuning.iterrows()]
    from mlpbench.results import TUNING_KEYS

    rows = []
    for _, group in tuning.groupby("configuration", sort=False):
        by_lr = group.groupby("lr", sort=True)
        table = pd.DataFrame({
            "score": by_lr["score"].mean(),
            "scored_seeds": by_lr["seed"].nunique(),
            "unstable_seeds": by_lr["score"].apply(lambda s: int(np.isinf(s).sum())),
        }).reset_index()
        finite = table[np.isfinite(table["score"])]
        chosen = None if finite.empty else finite.sort_values(["score", "lr"]).iloc[0]["lr"]
        first = group.iloc[0]
        for _, row in table.iterrows():
            is_chosen = chosen is not None and row["lr"] == chosen
            edge = None
            if is_chosen and row["lr"] == table["lr"].min():
                edge = "lowest"
            elif is_chosen and row["lr"] == table["lr"].max():
                edge = "highest"
            rows.append({"configuration": first["configuration"],
                         **{k: plain(first[k]) for k in TUNING_KEYS},
                         "epochs": int(first["epochs"]),
                         "steps_per_epoch": int(first["steps_per_epoch"]), "lr": float(row["lr"]),
                         "score": float(row["score"]), "scored_seeds": int(row["scored_seeds"]),
                         "unstable_seeds": int(row["unstable_seeds"]), "chosen": is_chosen,
                         "edge": edge})
    return pd.DataFrame(rows)


def chosen_rates(choice: pd.DataFrame) -> pd.DataFrame:
    """The chosen rows of ``choose``: one per configuration that had a stable rate."""
    return choice[choice["chosen"]].reset_index(drop=True) if not choice.empty else choice


@dataclass(frozen=True)
class Length:
    """A configuration's identity (``tuning.configuration_id``) and key columns, its seconds
    and forward passes per step, and the run length that spends the budget."""

    identity: str
    columns: dict[str, Any]
    seconds: float
    passes: float
    epochs: int
    steps_per_epoch: int

    @property
    def overrides(self) -> list[str]:
        return [f"epochs={self.epochs}", f"steps_per_epoch={self.steps_per_epoch}"]
