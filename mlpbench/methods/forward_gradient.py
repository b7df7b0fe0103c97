"""Forward gradients: the exact directional derivative along a random direction, times it.

For v ~ N(0, I) over all parameters, (grad L . v) v is an unbiased estimate of grad L (Baydin et
al. 2022). The directional derivative is computed exactly without backpropagation: one
complex-step pass, Im L(theta + i s v) / s with s = 1e-20, which is forward-mode
differentiation carried by complex numbers (every operation of the model is analytic, and with
no subtraction there is nothing to cancel). Each direction costs one complex loss evaluation.
``directions`` estimates are averaged. Like SPSA's, one direction's estimate has a cosine of
about 1/sqrt(P) with the gradient, hence a smaller learning rate for one direction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.methods import _directions
from mlpbench.methods.base import DEFAULT_H, Estimator, GradientResult
from mlpbench.model import Params, loss_value

NAME = "forward_gradient"
USES_H = False
COMPLEX_STEP = 1e-20
"""The imaginary step of the directional derivative: small enough that its O(s^2) error is far
below rounding, large enough to stay a normal number in float32 as well."""


@dataclass
class Config:
    """Schema of ``conf/method/forward_gradient.yaml``."""

    name: str = NAME
    directions: int = 1


def directional_derivative(
    params: Params, v: Params, x: np.ndarray, t: np.ndarray, log_eps: float,
    activation: str = "sigmoid",
) -> float:
    """grad L . v, exact to rounding, from one complex evaluation of the loss."""
    complex_type = np.result_type(params["W1"].dtype, np.complex64)
    lifted = {key: value.astype(complex_type) for key, value in params.items()}
    value = loss_value(_directions.moved(lifted, v, 1j * COMPLEX_STEP), x, t, log_eps,
                       activation)
    return float(np.imag(value)) / COMPLEX_STEP


def default_h(cfg: Config) -> float:
    """Unused (``USES_H`` is false; the complex step is ``COMPLEX_STEP``): the seed's step, so
    settings always hold a number."""
    return DEFAULT_H


def default_lr(cfg: Config) -> float:
    """0.1, or 0.03 for one direction (see ``_directions.learning_rate``)."""
    return _directions.learning_rate(cfg.directions)


def check(cfg: Config) -> None:
    """Raise ``ConfigError`` naming the first option out of range."""
    _directions.check_count("method.directions", cfg.directions)


def check_network(cfg: Config, hidden_sizes: tuple[int, ...], activation: str) -> None:
    """Every network: this method needs nothing but the loss (and backprop its own pass)."""


def make_estimator(
    cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
    activation: str = "sigmoid",
) -> Estimator:
    """Check the options and bind them and the run's random stream (h is not used)."""
    check(cfg)
    stream = rng if rng is not None else np.random.default_rng()

    def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
        grads = _directions.averaged(
            params, cfg.directions, lambda: _directions.draw(params, stream, "gaussian"),
            lambda v: directional_derivative(params, v, x, t, log_eps, activation))
        return GradientResult(grads, loss_evals=cfg.directions)

    return estimate
