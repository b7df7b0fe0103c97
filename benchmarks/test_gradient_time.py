"""Per-step gradient time on the seed's problem: 784-50-10, a batch of 100 real digits, float64.

The naive loop costs about 20-40 s per step, so it is timed on a sample: the first 10 rows of W1
(500 parameters; W1 holds 98.6% of the 39,760 parameters and copying it dominates the loop), and
``extra_info`` carries the per-parameter time and its extrapolation to a whole step. Compare
results within one session: absolute times vary by 10-50% on a shared machine, ratios less.
"""

from __future__ import annotations

import numpy as np

from mlpbench.methods import backprop, numerical
from mlpbench.model import loss, param_count


def test_backprop_step(benchmark, seed_params, seed_batch):
    x, t = seed_batch
    estimate = backprop.make_estimator(backprop.Config(), 1e-4, 1e-7)
    result = benchmark(estimate, seed_params, x, t)
    assert result.loss_evals == 1


def test_naive_central_per_parameter(benchmark, seed_params, seed_batch):
    """The seed's loop over a sample of W1; scaled to all parameters in extra_info."""
    x, t = seed_batch
    sample = [(i, j) for i in range(10) for j in range(seed_params["W1"].shape[1])]

    def w1_sample() -> int:
        for index in sample:
            numerical._loss_with(seed_params, "W1", index, 1e-4, x, t, 1e-7)
            numerical._loss_with(seed_params, "W1", index, -1e-4, x, t, 1e-7)
        return 2 * len(sample)

    evals = benchmark.pedantic(w1_sample, rounds=3, iterations=1, warmup_rounds=1)
    n = len(sample)
    assert evals == 2 * n
    per_param = benchmark.stats.stats.median / n
    benchmark.extra_info["seconds_per_parameter"] = per_param
    benchmark.extra_info["extrapolated_step_s"] = per_param * param_count(seed_params)


def test_forward_pass(benchmark, seed_params, seed_batch):
    """One loss evaluation: the unit the naive loop repeats 2P times."""
    x, t = seed_batch
    value = benchmark(loss, seed_params, x, t, 1e-7)
    assert np.isfinite(value)
