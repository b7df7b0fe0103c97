"""``python -m mlpbench.gradcheck``: how far each finite-difference scheme is from backprop, by h.

A finite difference trades two errors against each other: truncation, which shrinks with h as
h (forward, backward), h^2 (central) or h^4 (Richardson), and round-off, which grows as eps / h
because two nearly equal losses are subtracted. The complex step subtracts nothing, so only its
O(h^2) truncation is left and it reaches rounding for any small h. Which h is best, and how good
the best is, decides whether a numerical gradient can stand in for backprop at all; this
measures it instead of assuming the seed's h = 1e-4.

The problem is fixed: one batch of ``--batch-size`` real training digits drawn with the seed
(scaled 1/255, one-hot targets) and two sets of weights of a 784-H-10 network:

- ``init``: the initial weights of a run with this seed (``train.streams(seed).init``);
- ``trained``: those weights after ``--trained-epochs`` epochs of backprop SGD under the seed's
  protocol (one step of 100 samples per epoch, lr 0.1), computed with ``train.train`` and the
  run's own batch stream, so they are exactly the weights of a ``method=backprop`` run of that
  length. ``--trained-epochs 0`` measures the initial weights only.

For every scheme, dtype and h on a log-spaced grid, the incremental engine's gradient
(``methods.numerical``) is compared with backprop's float64 gradient at the float64 weights on
the float64 batch: the reference is always the same, so a float32 row measures everything that
float32 costs, the rounding of the weights and the batch included. Errors are over all
parameters flattened together: rel_err = ||g - g_bp|| / ||g_bp||, the cosine, and the largest
absolute entry error. A gradient with a non-finite entry is recorded with NaN errors.

Output: one parquet file per invocation under ``--out`` (``<UTC timestamp>-<random>.parquet``),
written atomically with an explicit schema, readable as a whole with ``pd.read_parquet(out)``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tabulate import tabulate
from threadpoolctl import threadpool_limits

from mlpbench import methods, results, train
from mlpbench.data import DATASETS, Dataset, fixed_batch, load_dataset
from mlpbench.errors import ConfigError, MlpbenchError
from mlpbench.methods import backprop, numerical
from mlpbench.model import DTYPES, PARAM_KEYS, Params, init_network
from mlpbench.report.format import format_error, format_step, weights_text
from mlpbench.report.gradcheck_section import best_of, best_steps
from mlpbench.settings import DatasetConfig, ModelConfig, RunConfig
from mlpbench.studies.cli import (
    OneLineParser,
    int_at_least,
    positive_float,
    usage_error,
    written,
)

PROG = "python -m mlpbench.gradcheck"

SCHEMES: tuple[str, ...] = numerical.SCHEMES
"""Every scheme of ``method=numerical``."""
WEIGHTS: tuple[str, ...] = results.GRADCHECK_WEIGHTS

DEFAULT_OUT = Path("results/gradcheck")
DEFAULT_DATASET = "mnist_subset"
DEFAULT_HIDDEN = 50
DEFAULT_BATCH = 100
DEFAULT_SEED = 0
DEFAULT_TRAINED_EPOCHS = 100
DEFAULT_H_MAX = 1e-1
DEFAULT_H_MIN = 1e-14
DEFAULT_POINTS = 27
"""1e-1 down to 1e-14 in half decades."""

TRAIN_BATCH = 100
TRAIN_LR = 0.1
"""The seed's protocol, which the trained weights follow whatever ``--batch-size`` says."""
LOG_EPS = 1e-7


# ---------------------------------------------------------------------------------------------
# The problem: pure functions of sizes and seeds.


def h_grid(h_max: float, h_min: float, points: int) -> list[float]:
    """``points`` steps log-spaced from ``h_max`` down to ``h_min``, largest first.

    Rounded to 12 significant digits, so the decades are the exact decimals (1e-04, not
    1.0000000000000002e-04) and a row can be picked by ``h == 1e-4``.
    """
    exponents = np.linspace(math.log10(h_max), math.log10(h_min), points)
    return [float(f"{10.0 ** e:.12g}") for e in exponents]


def initial_weights(hidden_size: int, seed: int) -> Params:
    """The float64 initial weights of a run with ``seed`` (its ``init`` stream)."""
    return init_network(hidden_size, train.streams(seed).init)


def trained_weights(data: Dataset, hidden_size: int, seed: int, epochs: int) -> Params:
    """The weights of a ``method=backprop`` run with ``seed`` after ``epochs`` epochs.

    Same init stream, same batch stream, same loop as the run, in float64; training cannot
    diverge quietly here: a status other than ok is an error, since the measurement would be
    meaningless at non-finite weights.
    """
    streams = train.streams(seed)
    params = init_network(hidden_size, streams.init)
    reference = methods.reference()
    estimator = reference.make_estimator(reference.Config(), math.nan, LOG_EPS)  # h is unused
    protocol = RunConfig(method=reference.Config(), dataset=DatasetConfig(name=data.name),
                         model=ModelConfig(hidden_size=hidden_size), epochs=epochs,
                         steps_per_epoch=1, batch_size=TRAIN_BATCH, lr=TRAIN_LR, log_eps=LOG_EPS,
                         dtype="float64", fidelity_every=0)
    status = train.train(params, estimator, data, protocol, streams.batches)
    if status != "ok":
        raise ConfigError(f"--trained-epochs: backprop training {status} within {epochs} epochs")
    return params


def weight_sets(data: Dataset, hidden_size: int, seed: int, epochs: int) -> dict[str, Params]:
    """``init``, and ``trained`` unless ``epochs`` is 0."""
    sets = {"init": initial_weights(hidden_size, seed)}
    if epochs > 0:
        sets["trained"] = trained_weights(data, hidden_size, seed, epochs)
    return sets


# ---------------------------------------------------------------------------------------------
# Measuring.


def _flat(grads: Params) -> np.ndarray:
    return np.concatenate([np.ravel(grads[key]).astype(np.float64) for key in PARAM_KEYS])


def gradient_errors(grads: Params, reference: Params) -> tuple[float, float, float]:
    """(rel_err, cos, max_abs_err) of ``grads`` against ``reference``, all parameters together.

    rel_err and cos are ``train.fidelity``'s, the same numbers the runs record as grad_rel_err
    and grad_cos. A non-finite entry anywhere makes all three NaN: an infinite gradient has no
    meaningful distance, and NaN keeps it out of every minimum taken later.
    """
    g = _flat(grads)
    if not np.all(np.isfinite(g)):
        return math.nan, math.nan, math.nan
    cos, rel_err = train.fidelity(grads, reference)
    return rel_err, cos, float(np.max(np.abs(g - _flat(reference))))


def cast(params: Params, dtype: str) -> Params:
    """Copies of the weights in ``dtype`` (float32 rounds them, which is part of what it costs)."""
    return {key: value.astype(dtype) for key, value in params.items()}


def measure_point(
    params: Params, x: np.ndarray, t: np.ndarray, reference: Params, *, scheme: str, h: float,
) -> dict[str, Any]:
    """One incremental-engine gradient at ``h`` (in the dtype of ``params``) and its errors."""
    estimator = numerical.Numerical().make_estimator(numerical.Config(scheme=scheme), h, LOG_EPS)
    with np.errstate(all="ignore"):
        start = time.perf_counter()
        result = estimator(params, x, t)
        seconds = time.perf_counter() - start
        rel_err, cos, max_abs_err = gradient_errors(result.grads, reference)
    return {"h": h, "rel_err": rel_err, "cos": cos, "max_abs_err": max_abs_err,
            "grad_time_s": seconds, "loss_evals": result.loss_evals}


def measure_curves(
    weights: dict[str, Params], batch: tuple[np.ndarray, np.ndarray], *,
    schemes: Sequence[str], dtypes: Sequence[str], steps: Sequence[float], trained_epochs: int,
    progress: Callable[[str], None] = lambda line: None,
) -> list[dict[str, Any]]:
    """Every (weights, dtype, scheme, h): the gradient's errors against float64 backprop.

    BLAS runs on one thread, as in runs (``run.BLAS_THREADS``).
    """
    x64, t64 = batch
    rows: list[dict[str, Any]] = []
    total = len(weights) * len(dtypes) * len(schemes)
    done = 0
    with threadpool_limits(limits=1, user_api="blas"):
        for name, params64 in weights.items():
            reference = backprop.gradient(params64, x64, t64, LOG_EPS)
            for dtype in dtypes:
                params, x, t = cast(params64, dtype), x64.astype(dtype), t64.astype(dtype)
                for scheme in schemes:
                    start = time.perf_counter()
                    curve = [measure_point(params, x, t, reference, scheme=scheme, h=h)
                             for h in steps]
                    rows += [{"weights": name, "trained_epochs": trained_epochs
                              if name == "trained" else 0, "scheme": scheme, "dtype": dtype,
                              **point} for point in curve]
                    done += 1
                    best = best_of(pd.DataFrame(curve))
                    progress(f"[{done}/{total}] {name} {dtype} {scheme}: best rel_err "
                             f"{format_error(best['rel_err'])} at h={format_step(best['h'])} "
                             f"({time.perf_counter() - start:.1f} s)")
    return rows


# ---------------------------------------------------------------------------------------------
# Output.


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The stdout table: best h and best relative error per weights x dtype x scheme."""
    best = best_steps(pd.DataFrame(list(rows)))
    body = [(weights_text(r["weights"], int(r["trained_epochs"])), r["dtype"], r["scheme"],
             format_step(r["best_h"]), format_error(r["best_rel_err"]))
            for _, r in best.iterrows()]
    return tabulate(body, headers=["weights", "dtype", "scheme", "best h", "best rel_err"],
                    tablefmt="simple", disable_numparse=True,
                    colalign=("left", "left", "left", "right", "right"))


# ---------------------------------------------------------------------------------------------
# Command line.


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = OneLineParser(
        prog=PROG,
        description="Relative error of each finite-difference scheme's gradient against "
                    "backprop, as a function of the step h, at initial and trained weights.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the parquet file (default: {DEFAULT_OUT})")
    parser.add_argument("--dataset", choices=DATASETS, default=DEFAULT_DATASET,
                        help="training digits to draw the batch from and train on (default: "
                             "%(default)s; others must already be on disk)")
    parser.add_argument("--hidden", type=int_at_least(1), default=DEFAULT_HIDDEN, metavar="H",
                        help="hidden size of the 784-H-10 network (default: %(default)s)")
    parser.add_argument("--batch-size", type=int_at_least(1), default=DEFAULT_BATCH,
                        metavar="B", help="digits in the fixed batch (default: %(default)s)")
    parser.add_argument("--seed", type=int_at_least(0), default=DEFAULT_SEED, metavar="S",
                        help="seed of the init, the batch and the training (default: "
                             "%(default)s)")
    parser.add_argument("--trained-epochs", type=int_at_least(0),
                        default=DEFAULT_TRAINED_EPOCHS, metavar="N",
                        help="backprop epochs of the trained weights; 0 measures the initial "
                             "weights only (default: %(default)s)")
    parser.add_argument("--schemes", choices=SCHEMES, nargs="+", default=list(SCHEMES),
                        metavar="SCHEME", help=f"any of {', '.join(SCHEMES)} (default: all)")
    parser.add_argument("--dtypes", choices=DTYPES, nargs="+", default=list(DTYPES),
                        metavar="DTYPE", help=f"any of {', '.join(DTYPES)} (default: both)")
    parser.add_argument("--h-min", type=positive_float, default=DEFAULT_H_MIN, metavar="H",
                        help="smallest step (default: %(default)g)")
    parser.add_argument("--h-max", type=positive_float, default=DEFAULT_H_MAX, metavar="H",
                        help="largest step (default: %(default)g)")
    parser.add_argument("--points", type=int_at_least(1), default=DEFAULT_POINTS, metavar="N",
                        help="steps, log-spaced from --h-max to --h-min (default: %(default)s, "
                             "half decades)")
    args = parser.parse_args(argv)
    if args.h_min > args.h_max:
        parser.error(f"argument --h-min: {args.h_min:g} is larger than --h-max {args.h_max:g}")
    if args.h_min == args.h_max and args.points > 1:
        parser.error(f"argument --points: --h-min equals --h-max, so 1 point, got {args.points}")
    if args.h_min < args.h_max and args.points == 1:
        parser.error("argument --points: must be >= 2 to span --h-min to --h-max, got 1")
    return parser, args


def _in_order(chosen: Sequence[str], order: Sequence[str]) -> list[str]:
    """The chosen names once each, in the canonical order."""
    return [name for name in order if name in set(chosen)]


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the curves, write the parquet, print the best h per scheme; user errors are one
    line, exit 2, with nothing written."""
    parser, args = parse_args(argv)
    started = time.perf_counter()
    try:
        data = load_dataset(args.dataset, None, download=False)
        if args.batch_size > data.n_train:
            parser.error(f"argument --batch-size: {args.batch_size} is larger than the training "
                         f"set ({data.n_train:,} digits of {data.name})")
        if data.n_train < TRAIN_BATCH and args.trained_epochs > 0:
            parser.error(f"argument --trained-epochs: training needs {TRAIN_BATCH} digits, "
                         f"{data.name} has {data.n_train:,}")
        results.ensure_writable(args.out, subfolders=(), key="--out")
        weights = weight_sets(data, args.hidden, args.seed, args.trained_epochs)
        context = {
            "measurement_id": results.new_attempt_id(), "dataset": data.name,
            "n_train": data.n_train, "batch_size": args.batch_size, "hidden_size": args.hidden,
            "seed": args.seed, "log_eps": LOG_EPS, "measured_at": datetime.now(UTC),
            **results.environment(),
        }
        rows = [{**row, **context} for row in measure_curves(
            weights, fixed_batch(data, args.batch_size, args.seed),
            schemes=_in_order(args.schemes, SCHEMES), dtypes=_in_order(args.dtypes, DTYPES),
            steps=h_grid(args.h_max, args.h_min, args.points),
            trained_epochs=args.trained_epochs,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
        )]
        path = results.write_measurements(args.out, rows, results.GRADCHECK_SCHEMA)
    except MlpbenchError as ex:
        return usage_error(PROG, ex)
    return written(format_table(rows), len(rows), started, path)


if __name__ == "__main__":
    sys.exit(main())
