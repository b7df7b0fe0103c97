"""CI timing regression check (`make bench-check`): ratios on a reduced problem, under 2 min.

784-16-10 on 50 real digits keeps the naive loop at about a second per step; 784-16-16-10
checks the incremental engine for deeper networks against a sample of the naive loop. The
costs of the other methods (``test_costs.py``'s targets) are checked on the seed's own problem,
784-50-10 with a batch of 100, where a step takes milliseconds. The check fails when a ratio
measured in this session is well past what a 2-core machine gives, with thresholds loose
enough for a noisy shared 2-core machine (see docs/benchmarks.md).
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import (
    MEDIANS,
    RATIOS,
    complex_step_ratio,
    real_batch,
    record,
    seed_network,
    speed_ratios,
    time_backprop,
    time_incremental,
    time_naive,
)
from mlpbench.methods import backprop, es, forward_gradient, numerical, spsa
from mlpbench.methods.incremental.driver import incremental_gradient, warm_up
from mlpbench.model import init_network, loss, param_count
from mlpbench.studies import scaling_study

X, T = real_batch(50, seed=1)
PARAMS = seed_network(16)

MIN_SPEEDUP_OVER_NAIVE = 300.0


def deep_network(widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    return init_network(widths, np.random.default_rng(0))


MAX_RATIO_TO_BACKPROP = 60.0
MAX_COMPLEX_STEP_OVER_CENTRAL = 4.0


def test_check_backprop(benchmark):
    time_backprop(benchmark, "check_backprop_blas_default", PARAMS, X, T)


def test_check_backprop_one_blas_thread(benchmark, one_blas_thread):
    time_backprop(benchmark, "check_backprop_blas_1", PARAMS, X, T)


def test_check_incremental(benchmark, one_blas_thread):
    time_incremental(benchmark, "check_incremental", PARAMS, X, T)


def test_check_complex_step(benchmark, one_blas_thread):
    time_incremental(benchmark, "check_complex_step", PARAMS, X, T, scheme="complex_step",
                     h=1e-20)


def test_check_naive(benchmark, one_blas_thread):
    time_naive(benchmark, "check_naive", PARAMS, X, T, rounds=3)


def test_check_ratios():
    speedup, vs_backprop = speed_ratios("check_", "reduced 784-16-10, batch 50")
    assert speedup >= MIN_SPEEDUP_OVER_NAIVE
    assert vs_backprop <= MAX_RATIO_TO_BACKPROP
    label = "reduced 784-16-10, batch 50"
    assert complex_step_ratio("check_", label) <= MAX_COMPLEX_STEP_OVER_CENTRAL


DEEP_WIDTHS = (16, 16)
MIN_DEEP_SPEEDUP_OVER_NAIVE = 20.0  # 784-16-16-10, batch 50: 50-57x here


def test_check_deep_incremental(benchmark, one_blas_thread):
    params = deep_network(DEEP_WIDTHS)
    benchmark.pedantic(lambda: numerical.gradient(params, X, T, h=1e-4, scheme="central",
                                                  log_eps=1e-7, engine="incremental"),
                       rounds=3, warmup_rounds=1)
    record("check_deep_incremental", benchmark)


def test_check_deep_naive(benchmark, one_blas_thread):
    params = deep_network(DEEP_WIDTHS)
    entries = scaling_study.sample_entries(params, 200, np.random.default_rng(1))
    benchmark.pedantic(scaling_study.naive_sample_step(params, X, T, entries), rounds=3)
    record("check_deep_naive_sample", benchmark)
    MEDIANS["check_deep_naive"] = MEDIANS["check_deep_naive_sample"] * (
        param_count(params) / len(entries))


def test_check_deep_ratio():
    """The any-depth incremental engine against the naive loop on 784-16-16-10."""
    if "check_deep_naive" not in MEDIANS or "check_deep_incremental" not in MEDIANS:
        pytest.skip("needs both engines measured in this session")
    speedup = MEDIANS["check_deep_naive"] / MEDIANS["check_deep_incremental"]
    RATIOS["reduced 784-16-16-10, batch 50"] = {"incremental_vs_naive": speedup}
    print(f"\n784-16-16-10, batch 50: incremental {speedup:.0f}x the naive loop")
    assert speedup >= MIN_DEEP_SPEEDUP_OVER_NAIVE


COST_LIMITS = {  # make bench's targets (test_costs.py) with room for a noisy shared machine
    ("forward_gradient", "backprop"): 2.0,
    ("forward_gradient", "forward"): 3.2,
    ("spsa", "forward"): 3.3,
    ("es 10 pairs", "forward"): 30.0,
    ("incremental", "backprop"): 16.0,
}
COSTED = {
    "forward_gradient": (forward_gradient.ForwardGradient(), forward_gradient.Config()),
    "spsa": (spsa.Spsa(), spsa.Config()),
    "es 10 pairs": (es.EvolutionStrategies(), es.Config()),
}
SEED_PARAMS = seed_network(50)
SEED_X, SEED_T = real_batch(100)


def test_check_cost_forward(benchmark, one_blas_thread):
    benchmark.pedantic(loss, args=(SEED_PARAMS, SEED_X, SEED_T, 1e-7), rounds=200,
                       warmup_rounds=5)
    record("cost forward", benchmark)


def test_check_cost_backprop(benchmark, one_blas_thread):
    benchmark.pedantic(backprop.gradient, args=(SEED_PARAMS, SEED_X, SEED_T, 1e-7), rounds=200,
                       warmup_rounds=5)
    record("cost backprop", benchmark)


def test_check_cost_incremental(benchmark, one_blas_thread):
    warm_up()
    benchmark.pedantic(incremental_gradient, args=(SEED_PARAMS, SEED_X, SEED_T),
                       kwargs={"h": 1e-4, "scheme": "central", "log_eps": 1e-7}, rounds=30,
                       warmup_rounds=2)
    record("cost incremental", benchmark)


@pytest.mark.parametrize("name", COSTED)
def test_check_cost_estimator(benchmark, name, one_blas_thread):
    method, cfg = COSTED[name]
    estimate = method.make_estimator(cfg, method.default_h(cfg), 1e-7, np.random.default_rng(0))
    benchmark.pedantic(estimate, args=(SEED_PARAMS, SEED_X, SEED_T), rounds=100,
                       warmup_rounds=5)
    record(f"cost {name}", benchmark)


def test_check_cost_ratios():
    """784-50-10, batch 100: each method's step in forward passes or backprop steps."""
    measured = {}
    for (numerator, denominator), limit in COST_LIMITS.items():
        if f"cost {numerator}" not in MEDIANS or f"cost {denominator}" not in MEDIANS:
            pytest.skip("needs every method measured in this session")
        measured[(numerator, denominator)] = value = (
            MEDIANS[f"cost {numerator}"] / MEDIANS[f"cost {denominator}"])
        print(f"\n784-50-10, batch 100: {numerator} / {denominator} = {value:.2f} "
              f"(limit {limit})", end="")
    RATIOS["costs 784-50-10, batch 100"] = {f"{a} / {b}": v for (a, b), v in measured.items()}
    assert all(measured[key] <= limit for key, limit in COST_LIMITS.items()), measured
