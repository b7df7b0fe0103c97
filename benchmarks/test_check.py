"""CI timing regression check (`make bench-check`): ratios on a reduced problem, under 2 min.

784-16-10 on 50 real digits keeps the naive loop at about a second per step. The check fails
when a ratio measured in this session falls well below what a 2-core machine gives, with
thresholds loose enough for a noisy shared 2-core machine (see README, "Benchmarks").
"""

from __future__ import annotations

from benchmarks.conftest import (
    complex_step_ratio,
    real_batch,
    seed_network,
    speed_ratios,
    time_backprop,
    time_incremental,
    time_naive,
)

X, T = real_batch(50, seed=1)
PARAMS = seed_network(16)

MIN_SPEEDUP_OVER_NAIVE = 300.0
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
