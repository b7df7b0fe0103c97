"""Random directions over all parameters, shared by the estimators that probe the loss along them.

A direction is a dict of arrays shaped like the parameters, so one draw moves every parameter
at once. Directions come from the run's own random stream (``Streams.method``), in a fixed
order, so a run is reproducible from its seed.
"""

from __future__ import annotations

import numpy as np

from mlpbench.model import Params

DISTRIBUTIONS = ("rademacher", "gaussian")


def draw(params: Params, rng: np.random.Generator, distribution: str) -> Params:
    """One direction: entries +-1 with equal probability (Rademacher) or N(0, 1) (Gaussian).

    Either way E[z z^T] = I, which is what makes (grad . z) z an unbiased gradient estimate.
    """
    if distribution == "rademacher":
        return {key: (2.0 * rng.integers(0, 2, size=value.shape) - 1.0).astype(value.dtype)
                for key, value in params.items()}
    return {key: rng.standard_normal(value.shape).astype(value.dtype)
            for key, value in params.items()}


def moved(params: Params, direction: Params, step: float | complex) -> Params:
    """theta + step * z, as new arrays (complex when ``step`` is)."""
    return {key: value + step * direction[key] for key, value in params.items()}


def combine(coefficients: list[float], directions: list[Params], scale: float) -> Params:
    """scale * sum_j c_j z_j, in the parameters' dtype."""
    total = {key: np.zeros_like(value) for key, value in directions[0].items()}
    for c, direction in zip(coefficients, directions, strict=True):
        for key, value in direction.items():
            total[key] += c * value
    for key, value in total.items():
        total[key] = (value * scale).astype(value.dtype)
    return total
