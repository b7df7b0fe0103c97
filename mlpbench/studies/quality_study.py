"""``python -m mlpbench.quality``: how good each random gradient estimate is, at fixed weights.

Training curves mix an estimator's variance with the learning rate and the path the weights
take. This measures the estimate itself, as DeepZero's users and the zeroth-order literature
do: at fixed weights and a fixed batch, R independent estimates of one estimator and setting,
each compared with backprop's exact gradient of the same batch, give

- ``cos_mean``: the mean cosine of one estimate with the gradient (``cos_se`` its standard
  error over the R estimates);
- ``mse_rel``: the mean squared relative error E||ĝ - g||² / ||g||² (``mse_rel_se``);
- ``bias_rel``: ||mean ĝ - g|| / ||g||, the bias, with ``bias_floor_rel`` = sqrt(variance / R),
  the size a bias of zero still shows after R estimates;
- ``variance_rel``: the mean squared deviation E||ĝ - mean ĝ||² / ||g||²;

per parameter tensor (``W1``, ``b1``, ...) and over all of them (``all``), against the number
of directions k, the step h (finite-difference estimators) and the kind of perturbation. Beside
them, theory for the ``all`` rows of the weight-perturbed estimators: the cosine of an average
of k Gaussian directions in P dimensions (``theory.expected_cosine_exact``; orthogonal blocks,
``theory.orthogonal_cosine``), and the mean squared relative error, (P + 1)/k for Gaussian, (P -
1)/k for Rademacher, P/k - 1 for orthogonal directions (``theory.relative_mse``). Activity
perturbation has no such closed form (its space is per example), so its theory is null.

The problem: ``--batches`` batches of ``--batch-size`` real training digits (drawn with seeds
``--seed``, ``--seed`` + 1, ...), and two sets of weights of each network ``--networks``:
``init`` (a run's initial weights for ``--seed``) and ``trained`` (after ``--trained-steps``
backprop steps of the seed's protocol, batch 100 and lr 0.1: the weights of a
``method=backprop`` run of that many epochs). R is ``--repeats`` for one direction and
``--repeats`` / sqrt(k) for k (at least ``--min-repeats``): the relative spread of one estimate's
squared error falls about as 1/sqrt(k), so every row's standard error is about the same share.
The k grid is ``--directions`` plus, for networks with at most ``--fraction-up-to``
parameters, the ``--fractions`` of P (for the orthogonal directions, which differ from
independent ones only there).

Everything runs in float64, BLAS on one thread. Output: one parquet file per invocation under
``--out`` (``results_dir/quality``), written atomically with an explicit schema.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate
from threadpoolctl import threadpool_limits

from mlpbench import results, theory
from mlpbench.data import DATASETS, Dataset, fixed_batch, load_dataset
from mlpbench.errors import ConfigError, MlpbenchError
from mlpbench.methods import backprop, es, forward_gradient, spsa
from mlpbench.methods.base import GradientMethod
from mlpbench.model import Params, param_count, param_keys
from mlpbench.studies.cli import (
    OneLineParser,
    int_at_least,
    positive_float,
    usage_error,
    written,
)
from mlpbench.studies.gradcheck_study import initial_weights, trained_weights

PROG = "python -m mlpbench.quality"
LOG_EPS = 1e-7
ALL = "all"
"""The ``tensor`` of the rows over every parameter together."""


@dataclass(frozen=True)
class Estimator:
    """One estimator of the study: a method, its options, and what theory applies to it."""

    name: str
    method: GradientMethod
    options: dict[str, Any] = field(default_factory=dict)
    count_key: str = "directions"  # the option that holds k
    kind: str | None = "gaussian"  # theory's kind of directions; None: no closed form

    def config(self, k: int) -> Any:
        return self.method.Config(**{**self.options, self.count_key: k})


FG, SPSA, ES = forward_gradient.ForwardGradient(), spsa.Spsa(), es.EvolutionStrategies()
ESTIMATORS: dict[str, Estimator] = {e.name: e for e in (
    Estimator("fg_weights", FG, {"noise": "fresh"}),
    Estimator("fg_weights_orthogonal", FG, {"noise": "fresh", "orthogonal": True},
              kind="orthogonal"),
    Estimator("fg_activations", FG, {"noise": "fresh", "perturb": "activations"}, kind=None),
    Estimator("fg_activations_orthogonal", FG, {"noise": "fresh", "perturb": "activations",
                                                "orthogonal": True}, kind=None),
    Estimator("spsa", SPSA, {"distribution": "rademacher"}, kind="rademacher"),
    Estimator("mezo", SPSA, {"distribution": "gaussian", "noise": "fresh"}),
    Estimator("mezo_orthogonal", SPSA, {"distribution": "gaussian", "noise": "fresh",
                                        "orthogonal": True}, kind="orthogonal"),
    Estimator("es", ES, {"noise": "fresh"}, count_key="population"),
)}
"""Every estimator the study knows, by the name ``--estimators`` takes. Directions are drawn
fresh (``noise=fresh``): a noise table's overlapping slices are as good as independent for
training, but here k is sometimes a sizeable share of P."""

DEFAULT_OUT = Path("results/quality")
DEFAULT_ESTIMATORS = ("fg_weights", "fg_weights_orthogonal", "fg_activations", "spsa", "mezo")
DEFAULT_NETWORKS = (50, 2)
DEFAULT_DIRECTIONS = (1, 10, 100)
DEFAULT_FRACTIONS = (0.25, 0.5)
DEFAULT_FRACTION_UP_TO = 5000
DEFAULT_STEPS = (1e-3,)
DEFAULT_REPEATS = 2000
DEFAULT_MIN_REPEATS = 100
DEFAULT_BATCHES = 2
DEFAULT_BATCH = 100
DEFAULT_TRAINED_STEPS = 100


def repeats_for(k: int, repeats: int, min_repeats: int) -> int:
    """R for k directions: ``repeats`` / sqrt(k), at least ``min_repeats``."""
    return max(min_repeats, math.ceil(repeats / math.sqrt(k)))


def directions_grid(p: int, directions: Sequence[int], fractions: Sequence[float],
                    fraction_up_to: int) -> list[int]:
    """The k values for a network of P parameters, ascending, each once."""
    ks = set(directions)
    if p <= fraction_up_to:
        ks |= {max(1, round(f * p)) for f in fractions}
    return sorted(ks)


def theory_of(estimator: Estimator, k: int, p: int) -> tuple[float | None, float | None]:
    """(cosine, mean squared relative error) theory gives for the ``all`` row, or Nones."""
    if estimator.kind is None or (estimator.kind == "orthogonal" and k > p):
        return None, None
    if estimator.kind == "orthogonal":
        cosine = theory.orthogonal_cosine(k, p)
    else:  # Gaussian exactly; Rademacher to O(1/P)
        cosine = theory.expected_cosine_exact(k, p)
    return cosine, theory.relative_mse(k, p, estimator.kind)


@dataclass
class Moments:
    """Per-estimate sums over one tensor's entries: its product with the gradient, its squared
    norm and its squared error, and the running total of the estimates. All three sums add up
    over tensors, so the ``all`` row is made from the tensors' (``joined``), not a second pass
    over every estimate."""

    total: np.ndarray
    dots: list[float] = field(default_factory=list)
    squares: list[float] = field(default_factory=list)
    errors: list[float] = field(default_factory=list)

    def add(self, estimate: np.ndarray, exact: np.ndarray) -> None:
        self.total += estimate
        self.dots.append(float(estimate @ exact))
        self.squares.append(float(estimate @ estimate))
        diff = estimate - exact
        self.errors.append(float(diff @ diff))

    @classmethod
    def joined(cls, parts: Sequence[Moments]) -> Moments:
        """The moments of the tensors ``parts`` taken together, in their order."""
        def summed(name: str) -> list[float]:
            return list(np.sum([getattr(part, name) for part in parts], axis=0))

        return cls(np.concatenate([part.total for part in parts]), summed("dots"),
                   summed("squares"), summed("errors"))

    def summary(self, exact: np.ndarray) -> dict[str, float]:
        exact_sq = float(exact @ exact)
        r = len(self.dots)
        dots, squares = np.array(self.dots), np.array(self.squares)
        norms = np.sqrt(squares * exact_sq)
        cosines = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
        errors = np.array(self.errors) / exact_sq
        mean = self.total / r
        bias = mean - exact
        variance = max(float(squares.sum()) / r - float(mean @ mean), 0.0) * r / max(r - 1, 1)
        return {
            "cos_mean": float(cosines.mean()),
            "cos_se": float(cosines.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "mse_rel": float(errors.mean()),
            "mse_rel_se": float(errors.std(ddof=1) / math.sqrt(r)) if r > 1 else math.nan,
            "bias_rel": math.sqrt(float(bias @ bias) / exact_sq),
            "bias_floor_rel": math.sqrt(variance / exact_sq / r),
            "variance_rel": variance / exact_sq,
        }


def measure_setting(
    params: Params, x: np.ndarray, t: np.ndarray, exact: Params, estimator: Estimator, k: int,
    h: float | None, repeats: int, rng: np.random.Generator,
) -> list[dict[str, Any]]:
    """R estimates of one setting: one row per tensor and one for ``all``."""
    keys = param_keys(params)
    estimate = estimator.method.make_estimator(estimator.config(k), h or 0.0, LOG_EPS, rng)
    exact_parts = {key: np.ravel(exact[key]) for key in keys}
    moments = {key: Moments(np.zeros_like(value)) for key, value in exact_parts.items()}
    seconds = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        grads = estimate(params, x, t).grads
        seconds += time.perf_counter() - start
        for key in keys:
            moments[key].add(np.ravel(grads[key]), exact_parts[key])
    moments[ALL] = Moments.joined([moments[key] for key in keys])
    exact_parts[ALL] = np.concatenate([exact_parts[key] for key in keys])
    p = param_count(params)
    cos_theory, mse_theory = theory_of(estimator, k, p)
    rows = []
    for key in (*keys, ALL):
        rows.append({
            "tensor": key, "n_params": int(exact_parts[key].size),
            **moments[key].summary(exact_parts[key]),
            "cos_theory": cos_theory if key == ALL else None,
            "mse_rel_theory": mse_theory if key == ALL else None,
            "grad_norm": float(np.linalg.norm(exact_parts[key])),
        })
    for row in rows:
        row.update({"seconds_per_estimate": seconds / repeats, "repeats": repeats})
    return rows


@dataclass(frozen=True)
class Plan:
    """What one invocation measures."""

    networks: tuple[int, ...]
    estimators: tuple[str, ...]
    directions: tuple[int, ...]
    fractions: tuple[float, ...]
    fraction_up_to: int
    steps: tuple[float, ...]
    repeats: int
    min_repeats: int
    batches: int
    batch_size: int
    trained_steps: int
    seed: int


def measure(
    data: Dataset, plan: Plan, progress: Callable[[str], None] = lambda line: None,
) -> list[dict[str, Any]]:
    """Every (network, weights, batch, estimator, k, h) of ``plan``: its rows."""
    rows: list[dict[str, Any]] = []
    batches = [fixed_batch(data, plan.batch_size, plan.seed + b) for b in range(plan.batches)]
    with threadpool_limits(limits=1, user_api="blas"):
        for n_net, hidden in enumerate(plan.networks):
            weights = {"init": initial_weights(hidden, plan.seed)}
            if plan.trained_steps > 0:
                weights["trained"] = trained_weights(data, hidden, plan.seed, plan.trained_steps)
            p = param_count(weights["init"])
            ks = directions_grid(p, plan.directions, plan.fractions, plan.fraction_up_to)
            for n_w, (name, params) in enumerate(weights.items()):
                for b, (x, t) in enumerate(batches):
                    exact = backprop.gradient(params, x, t, LOG_EPS)
                    for n_e, estimator_name in enumerate(plan.estimators):
                        estimator = ESTIMATORS[estimator_name]
                        steps = plan.steps if estimator.method.USES_H else (None,)
                        for k in ks:
                            if estimator.kind == "orthogonal" and k > p:
                                continue
                            for n_h, h in enumerate(steps):
                                r = repeats_for(k, plan.repeats, plan.min_repeats)
                                rng = np.random.default_rng(
                                    [plan.seed, n_net, n_w, b, n_e, k, n_h])
                                start = time.perf_counter()
                                found = measure_setting(params, x, t, exact, estimator, k, h,
                                                        r, rng)
                                top = found[-1]
                                progress(f"784-{hidden}-10 {name} batch {b} {estimator_name} "
                                         f"k={k}" + (f" h={h:g}" if h else "")
                                         + f": cos {top['cos_mean']:.4f}, mse_rel "
                                         f"{top['mse_rel']:.4g} (R={r}, "
                                         f"{time.perf_counter() - start:.1f} s)")
                                context = {
                                    "network": f"784-{hidden}-10", "hidden_size": hidden,
                                    "total_params": p, "weights": name,
                                    "trained_steps": plan.trained_steps if name == "trained"
                                    else 0, "batch": b, "estimator": estimator_name,
                                    "method": estimator.method.NAME,
                                    "perturb": estimator.options.get("perturb", "weights"),
                                    "orthogonal": bool(estimator.options.get("orthogonal")),
                                    "directions_kind": estimator.kind, "directions": k, "h": h,
                                }
                                rows += [{**context, **row} for row in found]
    return rows


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The stdout table: the ``all`` rows averaged over batches."""
    import pandas as pd

    frame = pd.DataFrame([r for r in rows if r["tensor"] == ALL])
    keys = ["network", "weights", "estimator", "directions", "h"]
    table = frame.groupby(keys, dropna=False, sort=False).agg(
        cos=("cos_mean", "mean"), cos_theory=("cos_theory", "first"),
        mse=("mse_rel", "mean"), mse_theory=("mse_rel_theory", "first")).reset_index()
    body = [(r["network"], r["weights"], r["estimator"], r["directions"],
             "" if pd.isna(r["h"]) else f"{r['h']:g}", f"{r['cos']:.4f}",
             "" if pd.isna(r["cos_theory"]) else f"{r['cos_theory']:.4f}", f"{r['mse']:.4g}",
             "" if pd.isna(r["mse_theory"]) else f"{r['mse_theory']:.4g}")
            for _, r in table.iterrows()]
    return tabulate(body, headers=["network", "weights", "estimator", "k", "h", "cos",
                                   "theory", "mse_rel", "theory"], disable_numparse=True)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = OneLineParser(
        prog=PROG,
        description="Cosine, relative error, bias and variance of random gradient estimates "
                    "against backprop at fixed weights, by estimator, directions k and step h, "
                    "beside theory.")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the parquet file (default: {DEFAULT_OUT})")
    parser.add_argument("--dataset", choices=DATASETS, default="mnist_subset",
                        help="training digits (default: %(default)s; others must be on disk)")
    parser.add_argument("--networks", type=int_at_least(1), nargs="+",
                        default=list(DEFAULT_NETWORKS), metavar="H",
                        help="hidden sizes of the 784-H-10 networks (default: 50 2)")
    parser.add_argument("--estimators", choices=list(ESTIMATORS), nargs="+",
                        default=list(DEFAULT_ESTIMATORS), metavar="NAME",
                        help=f"any of {', '.join(ESTIMATORS)} (default: "
                             f"{' '.join(DEFAULT_ESTIMATORS)})")
    parser.add_argument("--directions", type=int_at_least(1), nargs="+",
                        default=list(DEFAULT_DIRECTIONS), metavar="K",
                        help="directions k (default: 1 10 100)")
    parser.add_argument("--fractions", type=positive_float, nargs="*",
                        default=list(DEFAULT_FRACTIONS), metavar="F",
                        help="also k = F x P on small networks (default: 0.25 0.5)")
    parser.add_argument("--fraction-up-to", type=int_at_least(1),
                        default=DEFAULT_FRACTION_UP_TO, metavar="P",
                        help="networks with at most this many parameters take --fractions "
                             "(default: %(default)s)")
    parser.add_argument("--h", type=positive_float, nargs="+", default=list(DEFAULT_STEPS),
                        metavar="H", help="steps of SPSA/MeZO/ES (default: 1e-3)")
    parser.add_argument("--repeats", type=int_at_least(2), default=DEFAULT_REPEATS,
                        metavar="R", help="estimates at k = 1, R/sqrt(k) at k (default: "
                                          "%(default)s)")
    parser.add_argument("--min-repeats", type=int_at_least(2), default=DEFAULT_MIN_REPEATS,
                        metavar="R", help="estimates at least (default: %(default)s)")
    parser.add_argument("--batches", type=int_at_least(1), default=DEFAULT_BATCHES,
                        metavar="M", help="batches (default: %(default)s)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=DEFAULT_BATCH,
                        metavar="B", help="digits a batch (default: %(default)s)")
    parser.add_argument("--trained-steps", type=int_at_least(0),
                        default=DEFAULT_TRAINED_STEPS, metavar="N",
                        help="backprop steps of the trained weights; 0: initial weights only "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int_at_least(0), default=0, metavar="S",
                        help="seed of the weights, the batches and the estimates (default: 0)")
    args = parser.parse_args(argv)
    if any(f > 1 for f in args.fractions):
        parser.error(f"argument --fractions: each must be <= 1, got {max(args.fractions):g}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Measure, write the parquet, print the table; user errors are one line, exit 2, with
    nothing written."""
    args = parse_args(argv)
    started = time.perf_counter()
    plan = Plan(networks=tuple(dict.fromkeys(args.networks)),
                estimators=tuple(dict.fromkeys(args.estimators)),
                directions=tuple(sorted(set(args.directions))),
                fractions=tuple(args.fractions), fraction_up_to=args.fraction_up_to,
                steps=tuple(dict.fromkeys(args.h)), repeats=args.repeats,
                min_repeats=args.min_repeats, batches=args.batches,
                batch_size=args.batch_size, trained_steps=args.trained_steps, seed=args.seed)
    try:
        data = load_dataset(args.dataset, None, download=False)
        if args.batch_size > data.n_train:
            raise ConfigError(f"--batch-size: {args.batch_size} is larger than the training set "
                              f"({data.n_train:,} digits of {data.name})")
        results.ensure_writable(args.out, subfolders=(), key="--out")
        context = {"measurement_id": results.new_attempt_id(), "dataset": data.name,
                   "n_train": data.n_train, "batch_size": args.batch_size, "seed": args.seed,
                   "log_eps": LOG_EPS, "measured_at": datetime.now(UTC),
                   **results.environment()}
        rows = [{**row, **context} for row in measure(
            data, plan, progress=lambda line: print(line, file=sys.stderr, flush=True))]
        path = results.write_measurements(args.out, rows, results.QUALITY_SCHEMA)
    except MlpbenchError as ex:
        return usage_error(PROG, ex)
    return written(format_table(rows), len(rows), started, path)
