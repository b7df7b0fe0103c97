"""Finite-difference gradients: every entry a difference of real values of the training loss.

Two engines compute the same perturbed losses L(theta +- h e_k), so the same gradient to rounding:

- ``engine=incremental`` (default) evaluates each perturbed loss from the unperturbed
  activations plus what the one moved parameter changes (see ``_incremental``);
- ``engine=naive`` is the seed's algorithm: for every element of W1, b1, W2, b2 in turn it
  copies the parameter, moves that one element by h and runs the full forward pass on the
  batch. It is kept deliberately as slow as the seed's loop, because measuring that loop is
  the point.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.errors import ConfigError
from mlpbench.methods.base import Estimator, GradientResult
from mlpbench.model import PARAM_KEYS, Params, loss

NAME = "numerical"
USES_H = True
SINGLE_THREADED_BLAS = True
"""Runs keep BLAS on one thread: its tiny matrix products gain nothing from more, and idle
OpenBLAS threads spin on the cores the incremental engine's kernels run on."""
SCHEMES = ("central", "forward", "backward")
ENGINES = ("incremental", "naive")


@dataclass
class Config:
    """Schema of ``conf/method/numerical.yaml``; the step ``h`` is the top-level key."""

    name: str = NAME
    scheme: str = "central"
    engine: str = "incremental"


def _loss_with(
    params: Params, key: str, index: tuple[int, ...], delta: float, x, t, log_eps: float
) -> float:
    """Loss with one element moved by ``delta``, copying as the seed does (dict and array)."""
    moved = params.copy()
    param = params[key].copy()
    param[index] += delta
    moved[key] = param
    return loss(moved, x, t, log_eps)


def naive_gradient(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, scheme: str, log_eps: float
) -> GradientResult:
    """The seed's loop, generalised to the forward and backward schemes.

    Forward and backward differences share one evaluation of the unperturbed loss per call.
    """
    base = loss(params, x, t, log_eps) if scheme != "central" else None
    evals = 0 if base is None else 1
    grads: Params = {}
    for key in PARAM_KEYS:
        grad = np.zeros_like(params[key])
        for index in np.ndindex(params[key].shape):
            if scheme == "central":
                plus = _loss_with(params, key, index, h, x, t, log_eps)
                minus = _loss_with(params, key, index, -h, x, t, log_eps)
                grad[index] = (plus - minus) / (2 * h)
                evals += 2
            elif scheme == "forward":
                grad[index] = (_loss_with(params, key, index, h, x, t, log_eps) - base) / h
                evals += 1
            else:
                grad[index] = (base - _loss_with(params, key, index, -h, x, t, log_eps)) / h
                evals += 1
        grads[key] = grad
    return GradientResult(grads, loss_evals=evals)


def make_estimator(cfg: Config, h: float, log_eps: float) -> Estimator:
    """Check scheme and engine, then bind them with h to the chosen engine."""
    if cfg.scheme not in SCHEMES:
        raise ConfigError(
            f"method.scheme: unknown '{cfg.scheme}'; allowed: {', '.join(SCHEMES)}"
        )
    if cfg.engine not in ENGINES:
        raise ConfigError(
            f"method.engine: unknown '{cfg.engine}'; allowed: {', '.join(ENGINES)}"
        )

    engine = naive_gradient
    if cfg.engine == "incremental":
        from mlpbench.methods._incremental import incremental_gradient, warm_up

        warm_up()  # compile (or load from cache) now, outside any timed region
        engine = incremental_gradient

    def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
        return engine(params, x, t, h=h, scheme=cfg.scheme, log_eps=log_eps)

    return estimate
