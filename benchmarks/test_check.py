"""CI timing regression check (`make bench-check`): ratios on a reduced problem, under 2 min.

784-16-10 on 50 real digits keeps the naive loop at about a second per step. The check fails
when a ratio measured in this session falls well below what this machine kind gives, with
thresholds loose enough for a noisy shared 2-core machine (see README, "Benchmarks").
"""

from __future__ import annotations

from benchmarks.conftest import ratio, real_batch, record, seed_network
from mlpbench.methods import backprop, numerical
from mlpbench.methods._incremental import incremental_gradient, warm_up

X, T = real_batch(50, seed=1)
PARAMS = seed_network(16)

MIN_SPEEDUP_OVER_NAIVE = 300.0
MAX_RATIO_TO_BACKPROP = 60.0


def test_check_backprop(benchmark):
    benchmark(backprop.gradient, PARAMS, X, T, 1e-7)
    record("check_backprop_blas_default", benchmark)


def test_check_backprop_one_blas_thread(benchmark, one_blas_thread):
    benchmark(backprop.gradient, PARAMS, X, T, 1e-7)
    record("check_backprop_blas_1", benchmark)


def test_check_incremental(benchmark, one_blas_thread):
    warm_up()
    benchmark(incremental_gradient, PARAMS, X, T, h=1e-4, scheme="central", log_eps=1e-7)
    record("check_incremental", benchmark)


def test_check_naive(benchmark, one_blas_thread):
    benchmark.pedantic(numerical.naive_gradient, args=(PARAMS, X, T),
                       kwargs={"h": 1e-4, "scheme": "central", "log_eps": 1e-7},
                       rounds=3, iterations=1)
    record("check_naive", benchmark)


def test_check_ratios(benchmark):
    benchmark(lambda: None)
    speedup = ratio("check_naive", "check_incremental")
    vs_backprop = ratio("check_incremental", "check_backprop")
    benchmark.extra_info.update(incremental_speedup_over_naive=speedup,
                                incremental_over_backprop=vs_backprop)
    print(f"\n[reduced 784-16-10, batch 50] incremental vs naive: {speedup:,.0f}x; "
          f"incremental / backprop: {vs_backprop:.1f}x")
    assert speedup >= MIN_SPEEDUP_OVER_NAIVE
    assert vs_backprop <= MAX_RATIO_TO_BACKPROP
