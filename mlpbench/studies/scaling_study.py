"""``python -m mlpbench.scaling``: how per-step gradient time grows with the network and the batch.

The seed compared one network at one batch size. Whether numerical differentiation could ever
replace backprop depends on how each method's cost grows, so this measures the time of one
gradient step for every hidden size x depth x batch size on a grid (784-H-10 with ``--depth``
hidden layers of H units; one by default), for three engines:

- ``backprop``: ``methods.backprop.gradient``, the reference;
- ``incremental``: ``numerical.gradient`` on the incremental engine, central differences,
  h = 1e-4;
- ``naive``: the seed's loop (central differences, h = 1e-4), two
  ``numerical.loss_with_moved`` calls per parameter entry. A whole step takes seconds to an
  hour, so it is timed on a seeded random sample of ``--naive-sample`` entries drawn uniformly
  from all parameter entries (so each of W1, b1, W2, b2 contributes in proportion to its size),
  and the mean time per entry is scaled by the parameter count. Those rows say so:
  ``extrapolated`` is true and ``sampled_params`` holds the sample size.

Every cell uses real digits from the embedded MNIST subset (a batch drawn with a fixed seed,
scaled by 1/255), the seed's init with a fixed seed, and float64. Each engine is called once to
warm up, then ``repeats`` times under ``time.perf_counter``; the median and the best call are
both recorded. Threads are whatever the environment gives (numba and the BLAS use every core
unless told otherwise); the thread settings and the load average are recorded with the times,
because another busy process can inflate multi-threaded timings many times over.

Output: one parquet file per invocation under ``--out`` (``<UTC timestamp>-<random>.parquet``),
written atomically with an explicit schema, readable as a whole with ``pd.read_parquet(out)``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from tabulate import tabulate
from threadpoolctl import threadpool_limits

from mlpbench import methods, results
from mlpbench.data import Dataset, fixed_batch, load_dataset
from mlpbench.errors import EXIT_USAGE, MlpbenchError
from mlpbench.methods import backprop, numerical
from mlpbench.model import Params, init_network, param_count, param_keys
from mlpbench.report.format import human_duration
from mlpbench.studies.cli import OneLineParser, int_at_least

PROG = "python -m mlpbench.scaling"

REFERENCE = methods.reference().NAME
"""The engine name of the reference gradient's rows."""
ENGINES: tuple[str, ...] = (REFERENCE, *numerical.ENGINES)
"""backprop, then the numerical engines: incremental and naive."""
ROLES_BY_ENGINE: dict[str, tuple[str | None, str | None]] = {
    REFERENCE: (results.ROLE_REFERENCE, None),
    **{engine: (None, numerical.Numerical().engine_role(numerical.Config(engine=engine)))
       for engine in numerical.ENGINES},
}
"""(``role``, ``engine_role``) of each engine's rows, what the report orders and styles them by:
backprop is the reference; each numerical engine's role is the one the method declares
(incremental the fast engine, naive the seed's loop)."""
DEFAULT_HIDDEN: tuple[int, ...] = (16, 32, 50, 100, 200)
DEFAULT_BATCH: tuple[int, ...] = (10, 100, 1000)
DEFAULT_OUT = Path("results/scaling")
DEFAULT_NAIVE_SAMPLE = 200

DEFAULT_REPEATS = 5
SLOW_REPEATS = 3
SLOW_CALL_S = 1.0
"""Without ``--repeats``, a cell whose warm-up call took longer than SLOW_CALL_S is timed
SLOW_REPEATS times instead of DEFAULT_REPEATS: the slow cells are the naive sample at large
networks and batches, and five calls of them would double the grid's runtime for little gain."""

DATASET = "mnist_subset"
DTYPE = "float64"
SCHEME = numerical.Config().scheme
"""The default scheme, central differences, as the seed computes them."""
H = 1e-4
LOG_EPS = 1e-7
SEED = 0

BLAS_THREAD_VARS: tuple[str, ...] = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

Entry = tuple[str, tuple[int, ...]]


# ---------------------------------------------------------------------------------------------
# The problem each cell times: pure functions of sizes and seeds.


def cell_params(hidden_size: int, seed: int = SEED, depth: int = 1) -> Params:
    """The seed's init for 784-H-10 (``depth`` hidden layers of H), seeded, so every engine
    times the same weights."""
    return init_network((hidden_size,) * depth, np.random.default_rng(seed))


def network_name(hidden_size: int, depth: int) -> str:
    """ "784-50-10", "784-50-50-10", ..."""
    return "784-" + "-".join([str(hidden_size)] * depth) + "-10"


def sample_entries(params: Params, k: int, rng: np.random.Generator) -> list[Entry]:
    """``k`` distinct parameter entries drawn uniformly from all of W1, b1, W2, b2 (... for a
    deeper network) together.

    Uniform over entries means each block is represented in proportion to its size, so the
    sample's mean per-entry time times the parameter count is an unbiased estimate of a full
    step, although an entry of W1 (whose copy is large) costs more than one of b2. ``k`` is
    capped at the parameter count.
    """
    keys = param_keys(params)
    sizes = [params[key].size for key in keys]
    flat = np.sort(rng.choice(sum(sizes), size=min(k, sum(sizes)), replace=False))
    starts = np.cumsum([0, *sizes])
    entries = []
    for position in flat:
        block = int(np.searchsorted(starts, position, side="right")) - 1
        key = keys[block]
        index = np.unravel_index(int(position - starts[block]), params[key].shape)
        entries.append((key, tuple(int(i) for i in index)))
    return entries


# ---------------------------------------------------------------------------------------------
# Timing.


def naive_sample_step(
    params: Params, x: np.ndarray, t: np.ndarray, entries: Sequence[Entry]
) -> Callable[[], None]:
    """The seed's loop restricted to ``entries``: per entry, L(+h) and L(-h) and their quotient."""

    def step() -> None:
        for key, index in entries:
            plus = numerical.loss_with_moved(params, key, index, H, x, t, LOG_EPS)
            minus = numerical.loss_with_moved(params, key, index, -H, x, t, LOG_EPS)
            _ = (plus - minus) / (2 * H)

    return step


def engine_call(
    engine: str, params: Params, x: np.ndarray, t: np.ndarray, entries: Sequence[Entry]
) -> Callable[[], object]:
    """A zero-argument call computing one step of ``engine`` (the naive one on its sample)."""
    if engine == REFERENCE:
        return lambda: backprop.gradient(params, x, t, LOG_EPS)
    if engine == numerical.NAIVE:
        return naive_sample_step(params, x, t, entries)
    if engine in numerical.ENGINES:
        return lambda: numerical.gradient(params, x, t, h=H, scheme=SCHEME, log_eps=LOG_EPS,
                                          engine=engine)
    raise ValueError(f"unknown engine {engine!r}")


def time_call(call: Callable[[], object]) -> float:
    """Wall time of one call, in seconds."""
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def repeats_for(warm_up_s: float, requested: int | None) -> int:
    """The number of timed calls: as requested, else fewer for cells slower than SLOW_CALL_S."""
    if requested is not None:
        return requested
    return SLOW_REPEATS if warm_up_s > SLOW_CALL_S else DEFAULT_REPEATS


def step_seconds(call_seconds: Sequence[float], scale: float) -> tuple[float, float]:
    """(median, min) seconds per step from timed calls, each multiplied by ``scale``.

    ``scale`` is P / K for the naive sample (per-entry mean times all entries), 1 otherwise.
    """
    return statistics.median(call_seconds) * scale, min(call_seconds) * scale


def _blas_threads_env() -> str | None:
    for name in BLAS_THREAD_VARS:
        if os.environ.get(name):
            return f"{name}={os.environ[name]}"
    return None


def _numba_threads() -> int | None:
    try:
        import numba

        return int(numba.get_num_threads())
    except Exception:  # informational only: a missing or unconfigured numba must not stop timing
        return None


def measure_cell(
    engine: str, hidden_size: int, batch: tuple[np.ndarray, np.ndarray], *,
    repeats: int | None, naive_sample: int, depth: int = 1,
) -> dict[str, Any]:
    """Time one engine on one (network, batch): a warm-up call, then the timed calls."""
    params = cell_params(hidden_size, depth=depth)
    x, t = batch
    n_params = param_count(params)
    entries = sample_entries(params, naive_sample, np.random.default_rng(SEED))
    sampled = engine == numerical.NAIVE
    reference = engine == REFERENCE
    call = engine_call(engine, params, x, t, entries)
    # BLAS on one thread for the numerical engines, as in runs (run.BLAS_THREADS); backprop is
    # timed at its best on this machine, whatever BLAS threads that takes.
    with threadpool_limits(limits=None if reference else 1, user_api="blas"):
        n_calls = repeats_for(time_call(call), repeats)
        times = [time_call(call) for _ in range(n_calls)]
    median, best = step_seconds(times, n_params / len(entries) if sampled else 1.0)
    role, engine_role = ROLES_BY_ENGINE[engine]
    return {
        "engine": engine,
        "method": engine if reference else numerical.Numerical.NAME,
        "scheme": None if reference else SCHEME,
        "h": None if reference else H,
        "role": role,
        "engine_role": engine_role,
        "dataset": DATASET,
        "hidden_size": hidden_size,
        "hidden_layers": depth,
        "batch_size": int(x.shape[0]),
        "param_count": n_params,
        "dtype": DTYPE,
        "seed": SEED,
        "seconds_per_step_median": median,
        "seconds_per_step_min": best,
        "repeats": n_calls,
        "sampled_params": len(entries) if sampled else None,
        "extrapolated": sampled and len(entries) < n_params,
        "measured_at": datetime.now(UTC),
    }


def measure_grid(
    hidden_sizes: Sequence[int], batch_sizes: Sequence[int], *, repeats: int | None,
    naive_sample: int, data: Dataset, progress: Callable[[str], None] = lambda line: None,
    depths: Sequence[int] = (1,),
) -> list[dict[str, Any]]:
    """Every engine at every (hidden size, depth, batch size), with the environment on each
    row."""
    # Building an incremental estimator compiles numba's kernels (or loads its cache) here,
    # never inside a timed call.
    numerical.Numerical().make_estimator(numerical.Config(engine=numerical.INCREMENTAL), H,
                                         LOG_EPS)
    measurement_id = results.new_attempt_id()
    context = {"measurement_id": measurement_id, "numba_threads": _numba_threads(),
               "blas_threads_env": _blas_threads_env(), "load_avg_1m": os.getloadavg()[0],
               **results.environment()}
    rows = []
    total = len(hidden_sizes) * len(depths) * len(batch_sizes) * len(ENGINES)
    for batch_size in batch_sizes:
        batch = fixed_batch(data, batch_size, SEED)
        for depth in depths:
            for hidden_size in hidden_sizes:
                for engine in ENGINES:
                    row = {**measure_cell(engine, hidden_size, batch, repeats=repeats,
                                          naive_sample=naive_sample, depth=depth), **context}
                    if engine != REFERENCE:
                        row["blas_threads_env"] = "1"  # limited in-process, as in runs
                    rows.append(row)
                    note = " (extrapolated)" if row["extrapolated"] else ""
                    progress(f"[{len(rows)}/{total}] {engine} {network_name(hidden_size, depth)}"
                             f" batch {batch_size}: "
                             f"{human_duration(row['seconds_per_step_median'])}/step{note}")
    return rows


# ---------------------------------------------------------------------------------------------
# Output.


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    """The compact stdout table: one line per cell and engine."""
    body = [
        (row["engine"], network_name(row["hidden_size"], row["hidden_layers"]),
         row["batch_size"], f"{row['param_count']:,}",
         human_duration(row["seconds_per_step_median"]),
         human_duration(row["seconds_per_step_min"]), row["repeats"],
         f"extrapolated from {row['sampled_params']} entries" if row["extrapolated"] else "")
        for row in rows
    ]
    headers = ["engine", "network", "batch", "params", "median/step", "min/step", "repeats",
               "note"]
    return tabulate(body, headers=headers, tablefmt="simple", disable_numparse=True,
                    colalign=("left", "right", "right", "right", "right", "right", "right",
                              "left"))


# ---------------------------------------------------------------------------------------------
# Command line.


def parse_args(argv: Sequence[str] | None) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = OneLineParser(
        prog=PROG,
        description="Per-step gradient time of backprop, incremental and naive numerical "
                    "differentiation over a grid of hidden sizes and batch sizes.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"folder for the parquet file (default: {DEFAULT_OUT})")
    parser.add_argument("--hidden", type=int_at_least(1), nargs="+", default=list(DEFAULT_HIDDEN),
                        metavar="H", help="hidden sizes (default: %(default)s)")
    parser.add_argument("--batch", type=int_at_least(1), nargs="+", default=list(DEFAULT_BATCH),
                        metavar="B", help="batch sizes (default: %(default)s)")
    parser.add_argument("--depth", type=int_at_least(1), nargs="+", default=[1], metavar="D",
                        help="numbers of hidden layers, each of H units (default: %(default)s)")
    parser.add_argument("--repeats", type=int_at_least(1), default=None, metavar="N",
                        help=f"timed calls per cell after one warm-up (default: "
                             f"{DEFAULT_REPEATS}, or {SLOW_REPEATS} for cells slower than "
                             f"{SLOW_CALL_S:g} s)")
    parser.add_argument("--naive-sample", type=int_at_least(1), default=DEFAULT_NAIVE_SAMPLE,
                        metavar="K", help="parameter entries the naive loop is timed on "
                                          "(default: %(default)s)")
    return parser, parser.parse_args(argv)


def _unique(values: Sequence[int]) -> list[int]:
    """Sorted without duplicates: a grid axis."""
    return sorted(set(values))


def main(argv: Sequence[str] | None = None) -> int:
    """Measure the grid, write the parquet, print the table; user errors are one line, exit 2."""
    parser, args = parse_args(argv)
    started = time.perf_counter()
    try:
        data = load_dataset(DATASET)
        too_big = [b for b in args.batch if b > data.n_train]
        if too_big:
            parser.error(f"argument --batch: {too_big[0]} is larger than the training set "
                         f"({data.n_train:,} digits of {DATASET})")
        results.ensure_writable(args.out, subfolders=(), key="--out")
        rows = measure_grid(
            _unique(args.hidden), _unique(args.batch), repeats=args.repeats,
            naive_sample=args.naive_sample, data=data,
            progress=lambda line: print(line, file=sys.stderr, flush=True),
            depths=_unique(args.depth),
        )
        path = results.write_measurements(args.out, rows, results.SCALING_SCHEMA)
    except MlpbenchError as ex:
        print(f"{PROG}: error: {ex}", file=sys.stderr)
        return EXIT_USAGE
    print(format_table(rows))
    print(f"\ntotal {time.perf_counter() - started:.1f} s; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
