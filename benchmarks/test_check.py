"""CI timing regression check (`make bench-check`): ratios on a reduced problem, under 2 min.

784-16-10 on 50 real digits keeps the naive loop at about a second per step; 784-16-16-10
checks the incremental engine for deeper networks against a sample of the naive loop. The
costs of the other methods (``test_costs.py``'s targets) are checked on the seed's own problem,
784-50-10 with a batch of 100, where a step takes milliseconds. The check fails when a ratio
measured in this session is well past what a 2-core machine gives, with thresholds loose
enough for a noisy shared 2-core machine (see docs/benchmarks.md).

Both sides of every ratio are timed together by ``conftest.interleaved``: one thread each,
repeats alternated, the least CPU time of each side. That keeps the ratios within their limits
while every core also runs another CPU-bound process (``make bench-check-busy``), where timing
the sides minutes apart with numba on every thread did not; ``test_check_catches_a_slowed_
engine`` shows the same comparison still fails for an engine that does its work three times.
Each measurement is one pytest-benchmark entry (its time is that of the whole measurement)
whose ``extra_info`` holds the least CPU time of each side, the ratios, the load average around
it and the threads used.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from benchmarks.conftest import (
    RATIOS,
    central_step,
    engine_ratios,
    measure,
    naive_speedup,
    real_batch,
    sampled_naive_speedup,
    seed_network,
)
from mlpbench.methods import backprop, es, forward_gradient, spsa
from mlpbench.methods.incremental.driver import warm_up
from mlpbench.model import init_network, loss
from mlpbench.studies import scaling_study

X, T = real_batch(50, seed=1)
PARAMS = seed_network(16)
REDUCED = "reduced 784-16-10, batch 50"

MIN_SPEEDUP_OVER_NAIVE = 300.0
MAX_RATIO_TO_BACKPROP = 60.0
MAX_COMPLEX_STEP_OVER_CENTRAL = 2.0
"""On one thread a complex step costs about what a central one does; a complex step doing its
work three times must fail."""

ROUNDS = 60
"""Interleaved rounds for steps of milliseconds: about a second per group, and enough repeats
that some of them run while the other processes wait."""
SLOW_ROUNDS = 3
"""Rounds for the naive loop, about a second a step."""


def deep_network(widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    return init_network(widths, np.random.default_rng(0))


def slowed(call: Callable[[], object], factor: int) -> Callable[[], object]:
    """``call`` doing its work ``factor`` times: a regression the check must catch."""
    def slow() -> object:
        for _ in range(factor - 1):
            call()
        return call()
    return slow


def test_check_ratios(benchmark):
    """784-16-10: the incremental engine against backprop, the complex step against central."""
    vs_backprop, complex_step = engine_ratios(benchmark, PARAMS, X, T, ROUNDS, REDUCED)
    assert vs_backprop <= MAX_RATIO_TO_BACKPROP
    assert complex_step <= MAX_COMPLEX_STEP_OVER_CENTRAL


def test_check_speedup_over_naive(benchmark):
    """784-16-10: the incremental engine against the seed's naive loop, a few whole steps."""
    speedup = naive_speedup(benchmark, PARAMS, X, T, SLOW_ROUNDS, REDUCED)
    assert speedup >= MIN_SPEEDUP_OVER_NAIVE


DEEP_WIDTHS = (16, 16)
MIN_DEEP_SPEEDUP_OVER_NAIVE = 20.0  # 784-16-16-10, batch 50: 50-57x here


def test_check_deep_ratio(benchmark):
    """The any-depth incremental engine against the naive loop on 784-16-16-10, the naive loop
    timed on 200 sampled entries and scaled to all parameters."""
    params = deep_network(DEEP_WIDTHS)
    entries = scaling_study.sample_entries(params, 200, np.random.default_rng(1))
    speedup = sampled_naive_speedup(benchmark, params, X, T, entries, SLOW_ROUNDS,
                                    "reduced 784-16-16-10, batch 50")
    assert speedup >= MIN_DEEP_SPEEDUP_OVER_NAIVE


COST_LIMITS = {  # make bench's targets (test_costs.py) with room for a noisy shared machine
    ("forward_gradient", "backprop"): 2.0,
    ("forward_gradient", "forward"): 3.2,
    ("forward_gradient activations", "backprop"): 2.0,
    ("spsa", "forward"): 3.3,
    ("es 10 pairs", "forward"): 30.0,
    ("incremental", "backprop"): 16.0,
}
COSTED = {
    "forward_gradient": (forward_gradient.ForwardGradient(), forward_gradient.Config()),
    "forward_gradient activations": (forward_gradient.ForwardGradient(),
                                     forward_gradient.Config(perturb="activations")),
    "spsa": (spsa.Spsa(), spsa.Config()),
    "es 10 pairs": (es.EvolutionStrategies(), es.Config()),
}
SEED_PARAMS = seed_network(50)
SEED_X, SEED_T = real_batch(100)
COSTS = "costs 784-50-10, batch 100"


def cost_sides(slow: str | None = None, factor: int = 3) -> dict[str, Callable[[], object]]:
    """One step of each costed method on the seed's problem; ``slow`` names one to slow down
    ``factor`` times, as a regression would."""
    warm_up()
    sides: dict[str, Callable[[], object]] = {
        "forward": lambda: loss(SEED_PARAMS, SEED_X, SEED_T, 1e-7),
        "backprop": lambda: backprop.gradient(SEED_PARAMS, SEED_X, SEED_T, 1e-7),
        "incremental": lambda: central_step(SEED_PARAMS, SEED_X, SEED_T),
    }
    for name, (method, cfg) in COSTED.items():
        estimate = method.make_estimator(cfg, method.default_h(cfg), 1e-7,
                                         np.random.default_rng(0))
        sides[name] = lambda estimate=estimate: estimate(SEED_PARAMS, SEED_X, SEED_T)
    if slow is not None:
        sides[slow] = slowed(sides[slow], factor)
    return sides


def cost_ratios(best: dict[str, float]) -> dict[tuple[str, str], float]:
    """Each limited pair's ratio of fastest times."""
    return {(a, b): best[a] / best[b] for a, b in COST_LIMITS}


def over_limit(measured: dict[tuple[str, str], float]) -> list[tuple[str, str]]:
    """The pairs whose ratio is past its limit: the check fails when there is any."""
    return [pair for pair, value in measured.items() if value > COST_LIMITS[pair]]


def test_check_cost_ratios(benchmark):
    """784-50-10, batch 100: each method's step in forward passes or backprop steps."""
    measured = cost_ratios(measure(benchmark, cost_sides(), ROUNDS, COSTS))
    for (numerator, denominator), value in measured.items():
        print(f"\n784-50-10, batch 100: {numerator} / {denominator} = {value:.2f} "
              f"(limit {COST_LIMITS[numerator, denominator]})", end="")
    RATIOS[COSTS] = {f"{a} / {b}": v for (a, b), v in measured.items()}
    benchmark.extra_info.update(RATIOS[COSTS])
    assert not over_limit(measured), measured


@pytest.mark.parametrize("slow", ["incremental", "es 10 pairs", "forward_gradient"])
def test_check_catches_a_slowed_engine(benchmark, slow):
    """The cost comparison, with one method doing its work three times: it must fail, on the
    slowed method's pairs only (the others see the same contention and stay within limits)."""
    label = f"{COSTS}, {slow} slowed 3x"
    measured = cost_ratios(measure(benchmark, cost_sides(slow, 3), ROUNDS, label))
    failed = over_limit(measured)
    print(f"\n{slow} slowed 3x: over the limit: {failed}", end="")
    assert failed, measured
    assert all(slow in pair for pair in failed), measured
