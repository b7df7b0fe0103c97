"""Benchmark fixtures: real MNIST batches, the seed's network, and the side-by-side timer.

Each timing test records its median for the record (``MEDIANS``, and pytest-benchmark's JSON).
Speed targets are asserted on ratios whose two sides are timed together, in one measurement
(``interleaved``), in ``make bench`` and the CI check alike.

Those ratios must hold while other processes keep every core busy, which inflates the two sides
of a ratio unequally when they are timed minutes apart or use different numbers of threads: a
numba ``prange`` loop on two threads waits for its slower thread, which a busy core slows by
half, while one-threaded BLAS only shares its core. Nor is the fastest wall-clock repeat enough:
a busy core takes the CPU away every few milliseconds, so a repeat of 2 ms often runs
undisturbed while one of 6 ms (ES, the incremental engine) almost never does, and ratios of a
long step to a short one still grew by half. So the check times both sides of every ratio with
``interleaved``: on one thread each (numba and BLAS), in CPU time of the process (what the step
computed, not how long it waited for a core), one repeat of each side in turn (A, B, A, B, ...)
so that both see the same contention (a busy core still evicts caches), and the minimum over the
repeats of each side, the sample contention inflated least. ``make bench`` asserts its targets
on the same measurement, on the full problems. The 1-minute load average before and after and
the threads used go into the saved JSON (``timing_conditions``) beside the ratios.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlpbench.data import fixed_batch, load_dataset
from mlpbench.methods import backprop, numerical
from mlpbench.methods.incremental.driver import incremental_gradient, warm_up
from mlpbench.model import init_network, param_count
from mlpbench.studies import scaling_study

MEDIANS: dict[str, float] = {}
RATIOS: dict[str, dict[str, float]] = {}
CONDITIONS: dict[str, dict[str, float | int | str]] = {}
"""Per ratio group: the load average around its measurement and the threads it ran on."""

SAMPLE_SECONDS = 0.002
"""A timed sample repeats a call until it lasts about this long, so that the timer's own cost
and resolution do not count for calls of microseconds (a forward pass)."""


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    """Keep the same-session ratios, and how busy the machine was while they were measured,
    next to the raw timings in the saved JSON."""
    output_json["speed_ratios"] = RATIOS
    output_json["timing_conditions"] = CONDITIONS


def load_average() -> float:
    """The machine's 1-minute load average: about the number of cores busy, ours included."""
    return os.getloadavg()[0]


@contextmanager
def single_threaded() -> Iterator[None]:
    """numba and BLAS on one thread each for the block, as both sides of a checked ratio run:
    a multi-threaded side would lose far more than a one-threaded one to a busy core."""
    previous = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        numba.set_num_threads(previous)


def interleaved(sides: dict[str, Callable[[], object]], rounds: int, label: str,
                warmup: int = 1) -> dict[str, float]:
    """The least CPU time per call of each side over ``rounds`` rounds, single-threaded.

    Each round times every side once, in turn, the order reversed every other round, so that
    whatever else runs on the machine slows all sides alike; the minimum of each side is the
    sample that contention inflated least (it can only add time). The clock is the process's
    CPU time: with numba and BLAS on one thread, all of a step's work, and none of the time it
    spent waiting for a core. A sample repeats its call enough times to last about
    ``SAMPLE_SECONDS`` (found by doubling: a step too short for the CPU clock to see counts
    for nothing). The load average before and after and the threads used are recorded in
    ``CONDITIONS[label]``.
    """
    before = load_average()
    with single_threaded():
        repeats = {}
        for name, call in sides.items():
            for _ in range(warmup):
                call()
            number, spent = 1, 0.0
            while number < 1_000_000:  # double until the calls take a measurable fraction
                start = time.process_time()
                for _ in range(number):
                    call()
                spent = time.process_time() - start
                if spent >= SAMPLE_SECONDS / 4:
                    break
                number *= 2
            repeats[name] = max(1, math.ceil(number * SAMPLE_SECONDS / max(spent, 1e-9)))
        best = dict.fromkeys(sides, math.inf)
        names = list(sides)
        for index in range(rounds):
            for name in names if index % 2 == 0 else names[::-1]:
                call, number = sides[name], repeats[name]
                start = time.process_time()
                for _ in range(number):
                    call()
                best[name] = min(best[name], (time.process_time() - start) / number)
    CONDITIONS[label] = {"load_1min_before": before, "load_1min_after": load_average(),
                         "numba_threads": 1, "blas_threads": 1, "rounds": rounds,
                         "statistic": "minimum over rounds, sides interleaved",
                         "clock": "process CPU time",
                         "cores": os.cpu_count() or 1}
    return best


def measure(benchmark, sides: dict[str, Callable[[], object]], rounds: int, label: str,
            warmup: int = 1) -> dict[str, float]:
    """``interleaved`` as one benchmark entry (the time of the whole measurement), with each
    side's least CPU time and the timing conditions in its ``extra_info``."""
    best = benchmark.pedantic(interleaved, args=(sides, rounds, label),
                              kwargs={"warmup": warmup}, rounds=1, iterations=1)
    benchmark.extra_info.update({f"{name} CPU s/step": value for name, value in best.items()})
    benchmark.extra_info.update(CONDITIONS[label])
    return best


def real_batch(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` real digits from the embedded subset, scaled and one-hot as in training."""
    return fixed_batch(load_dataset("mnist_subset"), size, seed)


def seed_network(hidden: int = 50) -> dict[str, np.ndarray]:
    """784-hidden-10 at the seed's init."""
    return init_network(hidden, np.random.default_rng(0))


def record(name: str, benchmark) -> float:
    """Keep a benchmark's median for the ratio checks; returns it."""
    if benchmark.stats is None:  # --benchmark-disable: nothing was timed
        pytest.skip("benchmarks disabled")
    MEDIANS[name] = benchmark.stats.stats.median
    return MEDIANS[name]


@pytest.fixture
def one_blas_thread():
    """BLAS on one thread, as mlpbench runs the numerical methods (see numerical.py)."""
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def time_backprop(benchmark, name: str, params, x, t) -> None:
    """One backprop gradient step, recorded as ``name``."""
    benchmark(backprop.gradient, params, x, t, 1e-7)
    record(name, benchmark)


def time_incremental(benchmark, name: str, params, x, t, scheme: str = "central",
                     h: float = 1e-4):
    """One incremental-engine step (compiled beforehand), recorded as ``name``."""
    warm_up()
    result = benchmark(incremental_gradient, params, x, t, h=h, scheme=scheme, log_eps=1e-7)
    record(name, benchmark)
    return result


def time_naive(benchmark, name: str, params, x, t, rounds: int):
    """Whole steps of the seed's loop (slow: few rounds), recorded as ``name``."""
    result = benchmark.pedantic(numerical.naive_gradient, args=(params, x, t),
                                kwargs={"h": 1e-4, "scheme": "central", "log_eps": 1e-7},
                                rounds=rounds, iterations=1)
    record(name, benchmark)
    return result


# ------------------------------------------------- the ratios make bench and bench-check assert


def central_step(params, x, t) -> object:
    """One incremental-engine step of central differences, the engine's default."""
    return incremental_gradient(params, x, t, h=1e-4, scheme="central", log_eps=1e-7)


def engine_ratios(benchmark, params, x, t, rounds: int, label: str) -> tuple[float, float]:
    """(incremental / backprop, complex step / central) on one problem, the three timed
    together; recorded under ``label`` in ``RATIOS`` and the benchmark's ``extra_info``."""
    warm_up()
    best = measure(benchmark, {
        "backprop": lambda: backprop.gradient(params, x, t, 1e-7),
        "incremental": lambda: central_step(params, x, t),
        "complex_step": lambda: incremental_gradient(params, x, t, h=1e-20,
                                                     scheme="complex_step", log_eps=1e-7),
    }, rounds, label)
    vs_backprop = best["incremental"] / best["backprop"]
    complex_step = best["complex_step"] / best["incremental"]
    RATIOS.setdefault(label, {}).update({"incremental_over_backprop": vs_backprop,
                                         "complex_step_over_central": complex_step})
    benchmark.extra_info.update(RATIOS[label])
    print(f"\n[{label}] incremental / backprop: {vs_backprop:.1f}x; "
          f"complex step / central: {complex_step:.2f}x")
    return vs_backprop, complex_step


def naive_speedup(benchmark, params, x, t, rounds: int, label: str) -> float:
    """How many times faster the incremental engine's step is than the naive loop's, whole
    steps of both timed together; recorded under ``label``."""
    warm_up()
    best = measure(benchmark, {
        "naive": lambda: numerical.naive_gradient(params, x, t, h=1e-4, scheme="central",
                                                  log_eps=1e-7),
        "incremental": lambda: central_step(params, x, t),
    }, rounds, f"{label}, naive", warmup=0)
    speedup = best["naive"] / best["incremental"]
    RATIOS.setdefault(label, {})["incremental_speedup_over_naive"] = speedup
    benchmark.extra_info["incremental_speedup_over_naive"] = speedup
    print(f"\n[{label}] incremental vs naive: {speedup:,.0f}x faster")
    return speedup


def sampled_naive_speedup(benchmark, params, x, t, entries: np.ndarray, rounds: int,
                          label: str) -> float:
    """The any-depth engine's step against the naive loop timed on the sampled ``entries`` and
    scaled to all parameters (``scaling_study``), one thread each, timed together; recorded
    under ``label`` as ``incremental_vs_naive_per_core``."""
    best = measure(benchmark, {
        "incremental": lambda: numerical.gradient(params, x, t, h=1e-4, scheme="central",
                                                  log_eps=1e-7, engine="incremental"),
        "naive sample": scaling_study.naive_sample_step(params, x, t, entries),
    }, rounds, label)
    naive = best["naive sample"] * param_count(params) / len(entries)
    speedup = naive / best["incremental"]
    RATIOS.setdefault(label, {})["incremental_vs_naive_per_core"] = speedup
    benchmark.extra_info.update(RATIOS[label])
    print(f"\n[{label}] incremental {best['incremental']:.3f} CPU s per step, naive "
          f"{naive:.1f} (from {len(entries)} sampled entries): {speedup:.0f}x per core")
    return speedup
