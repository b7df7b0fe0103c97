"""Benchmark fixtures: real MNIST batches, the seed's network, and a registry of medians.

Speed targets are ratios measured side by side in one session: each timing test records its
median under a name in ``MEDIANS``, and the ratio tests at the end of a file compare them.
Absolute times on a shared 2-core machine vary by 10-50%; ratios of times taken minutes apart
in the same process vary much less.
"""

from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from mlpbench.data import fixed_batch, load_dataset
from mlpbench.methods import backprop, numerical
from mlpbench.methods.incremental.driver import incremental_gradient, warm_up
from mlpbench.model import init_network

MEDIANS: dict[str, float] = {}
RATIOS: dict[str, dict[str, float]] = {}


def pytest_benchmark_update_json(config, benchmarks, output_json) -> None:
    """Keep the same-session ratios next to the raw timings in the saved JSON."""
    output_json["speed_ratios"] = RATIOS


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


def ratio(numerator: str, denominator: str) -> float:
    """Fastest median of the names starting with ``numerator`` over that of ``denominator``.

    Backprop is timed both with BLAS on all cores and on one; the faster counts, so a ratio
    to backprop never flatters the numerical engines.
    """
    def best(prefix: str) -> float:
        found = [value for name, value in MEDIANS.items() if name.startswith(prefix)]
        if not found:
            pytest.skip(f"needs {prefix} measured in this session")
        return min(found)

    return best(numerator) / best(denominator)


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


def complex_step_ratio(prefix: str, label: str) -> float:
    """The complex step's incremental step time over the central one's; recorded like the
    other ratios."""
    value = ratio(f"{prefix}complex_step", f"{prefix}incremental")
    RATIOS.setdefault(label, {})["complex_step_over_central"] = value
    print(f"\n[{label}] complex step / central (incremental engine): {value:.2f}x")
    return value


def speed_ratios(prefix: str, label: str) -> tuple[float, float]:
    """(incremental speedup over naive, incremental / backprop) for names under ``prefix``;
    printed, and written into the pytest-benchmark JSON under "speed_ratios"."""
    speedup = ratio(f"{prefix}naive", f"{prefix}incremental")
    vs_backprop = ratio(f"{prefix}incremental", f"{prefix}backprop")
    RATIOS.setdefault(label, {}).update({"incremental_speedup_over_naive": speedup,
                                         "incremental_over_backprop": vs_backprop})
    print(f"\n[{label}] incremental vs naive: {speedup:,.0f}x faster; "
          f"incremental / backprop: {vs_backprop:.1f}x")
    return speedup, vs_backprop
