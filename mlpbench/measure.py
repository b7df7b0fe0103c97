"""What one step costs, measured in the run's own process before training: the time of one
forward pass (the unit of every cost ratio) and the peak memory of one loss evaluation and of one
gradient computation, all on the same batch at the initial weights."""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable

import numpy as np

from mlpbench.methods import GradientMethod
from mlpbench.model import Params, loss
from mlpbench.results.schemas import ENGINE_ROLE_SEED_LOOP
from mlpbench.settings import RunConfig

FORWARD_REPEATS = 25
"""Forward passes timed per run, of which the median is the run's unit of cost. Runs of a sweep
start together and share the cores, so a few of the first passes meet another run's start-up;
with 5, one of the six runs of the baydin2022 sweep measured a forward pass 1.6x too slow."""


def forward_seconds(params: Params, x: np.ndarray, t: np.ndarray, settings: RunConfig) -> float:
    """Median time of one evaluation of the training loss on the measurement batch, at the
    initial weights, in this process and under the run's thread limits: the unit of the cost
    ratios R = time per step / time of one forward pass (Baydin et al. 2022)."""
    times = []
    for _ in range(FORWARD_REPEATS):
        tick = time.perf_counter()
        loss(params, x, t, settings.log_eps, settings.model.activation)
        times.append(time.perf_counter() - tick)
    return statistics.median(times)


def traced_peak_bytes(compute: Callable[[], object]) -> int:
    """The peak of tracemalloc's traced memory while ``compute()`` runs, above the traced
    memory at its start, its result included (it is alive when the peak is read).

    tracemalloc sees what goes through Python's allocators: NumPy reports its array data there,
    and numba's runtime allocates through ``PyMem_RawMalloc``, so the arrays numba-compiled
    kernels create (the incremental engine's per-unit scratch, on whichever of numba's threads
    runs them) are counted too; a parallel kernel's figure therefore grows with the threads
    running at once. BLAS's internal workspace and memory a C library takes with plain malloc
    are not seen. When tracemalloc is already tracing (a caller's own measurement) it is left
    tracing, though its peak is reset; otherwise it is started and stopped around the call,
    so a run pays tracemalloc's overhead only here, never in training.
    """
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        baseline, _ = tracemalloc.get_traced_memory()
        result = compute()
        _, peak = tracemalloc.get_traced_memory()
        del result
    finally:
        if started:
            tracemalloc.stop()
    return max(peak - baseline, 0)


def forward_peak_bytes(params: Params, x: np.ndarray, t: np.ndarray,
                       settings: RunConfig) -> int:
    """Peak traced memory of one evaluation of the training loss on the measurement batch at
    the initial weights: inference memory, the reference for MeZO's claim that zeroth-order
    training needs only that (Malladi et al. 2023), here made a measured comparison with
    ``gradient_peak_bytes``. The parameters and the batch exist before the baseline, so
    neither figure counts them."""
    activation = settings.model.activation
    return traced_peak_bytes(lambda: loss(params, x, t, settings.log_eps, activation))


def gradient_peak_bytes(method: GradientMethod, params: Params, x: np.ndarray,
                        t: np.ndarray, settings: RunConfig) -> int | None:
    """Peak traced memory of one gradient computation on the measurement batch at the initial
    weights, its returned gradient arrays included (see ``traced_peak_bytes`` for what is seen):
    a step in steady state, so the estimator computes one gradient untraced first. What that
    first call sets up once per run (a noise table, compiled kernels) is not a step's memory.

    The estimator is built for this measurement alone, with a generator of its own, so the
    run's direction stream is untouched; it works on a copy of the parameters, made before the
    baseline so it is not counted. The seed's own loop (``engine=naive``) is not measured
    (None): two more of its steps would cost a run seconds to minutes, and what it holds is a
    forward pass's activations and one copied parameter array.
    """
    if method.engine_role(settings.method) == ENGINE_ROLE_SEED_LOOP:
        return None
    estimator = method.make_estimator(settings.method, settings.h, settings.log_eps,
                                      np.random.default_rng(0), settings.model.activation)
    start = {key: value.copy() for key, value in params.items()}
    estimator(start, x, t)
    return traced_peak_bytes(lambda: estimator(start, x, t))
