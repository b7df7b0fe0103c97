"""Finite-difference gradients: every entry computed from values of the training loss.

Five schemes, one parameter element at a time, with the top-level step h:

- ``central``: (L(theta + h e_k) - L(theta - h e_k)) / 2h, error O(h^2), 2P loss evaluations
  for P parameters; ``forward`` and ``backward``: one-sided, error O(h), P + 1 evaluations;
- ``richardson``: Richardson extrapolation of the central difference D, (4 D(h/2) - D(h)) / 3,
  which cancels D's h^2 error term, leaving O(h^4); 4P evaluations (two central gradients);
- ``complex_step``: Im L(theta + i h e_k) / h, the loss evaluated at a complex parameter.
  Every operation of the forward pass is analytic, so the imaginary part is h times the
  derivative, to O(h^2), and nothing is subtracted: no cancellation, so h can be tiny (it
  defaults to 1e-20, see ``default_h``) and the gradient is exact to rounding. P evaluations,
  each of one complex loss.

Two engines compute the same perturbed losses, so the same gradient to rounding:

- ``engine=incremental`` (default) evaluates each perturbed loss from the unperturbed
  activations plus what the one moved parameter changes (see ``incremental``);
- ``engine=naive`` is the seed's algorithm: for every element of W1, b1, W2, b2 in turn it
  copies the parameter, moves that one element by h and runs the full forward pass on the
  batch (for ``complex_step``, copies every parameter to complex arrays and moves the element
  by i h). It is kept deliberately as slow as the seed's loop, because measuring that loop is
  the point.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from itertools import pairwise

import numpy as np
from threadpoolctl import threadpool_limits

from mlpbench.methods.base import (
    DEFAULT_H,
    Estimator,
    GradientMethod,
    GradientResult,
    first_layer_share,
)
from mlpbench.model import Params, loss, loss_value, n_layers, param_count, param_keys
from mlpbench.results.schemas import (
    ENGINE_ROLE_FAST,
    ENGINE_ROLE_SEED_LOOP,
    ROLE_SEED_KIND,
)
from mlpbench.settings import one_of, setting

PLAIN_SCHEMES = ("central", "forward", "backward")
"""The post's kind of finite differences."""
SCHEMES = (*PLAIN_SCHEMES, "richardson", "complex_step")
ENGINES = ("incremental", "naive")
INCREMENTAL, NAIVE = ENGINES
COMPLEX_STEP_H = 1e-20
"""The complex step's default h: far below any cancellation, far above underflow."""


@dataclass(frozen=True)
class Config:
    """``method=numerical``; the step ``h`` is the top-level key."""

    name: str = "numerical"
    scheme: str = setting("central", "central | forward | backward | richardson | "
                          "complex_step", check=one_of(*SCHEMES))
    engine: str = setting("incremental", "incremental | naive: the seed's loop (copy, "
                          "perturb, full pass)", check=one_of(*ENGINES))


def loss_with_moved(
    params: Params, key: str, index: tuple[int, ...], delta: float, x, t, log_eps: float,
    activation: str = "sigmoid",
) -> float:
    """Loss with one element moved by ``delta``, copying as the seed does (dict and array)."""
    moved = params.copy()
    param = params[key].copy()
    param[index] += delta
    moved[key] = param
    return loss(moved, x, t, log_eps, activation)


def complex_loss_with_moved(
    params: Params, key: str, index: tuple[int, ...], h: float, x, t, log_eps: float,
    activation: str = "sigmoid",
) -> np.number:
    """Complex loss with one element moved by i h, every parameter copied to complex arrays.

    Copying matters: adding 1j * h to an element of a real array would silently drop the
    imaginary part. complex128 for float64 parameters, complex64 for float32 ones.
    """
    moved = {k: v.astype(np.result_type(v.dtype, np.complex64)) for k, v in params.items()}
    moved[key][index] += 1j * h
    return loss_value(moved, x, t, log_eps, activation)


def _naive_complex_step(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, log_eps: float,
    activation: str = "sigmoid",
) -> GradientResult:
    """Im L(theta + i h e_k) / h for every element in turn: P complex loss evaluations.

    BLAS stays on one thread here even outside runs (which limit it anyway, see
    ``run.BLAS_THREADS``): OpenBLAS threads its complex products of these tiny shapes, and
    on a busy machine that makes each one ten to a hundred times slower.
    """
    grads: Params = {}
    with threadpool_limits(1, user_api="blas"):
        for key in param_keys(params):
            grad = np.zeros_like(params[key])
            for index in np.ndindex(params[key].shape):
                grad[index] = complex_loss_with_moved(params, key, index, h, x, t,
                                                      log_eps, activation).imag / h
            grads[key] = grad
    return GradientResult(grads, loss_evals=param_count(params))


def richardson(coarse: GradientResult, fine: GradientResult) -> GradientResult:
    """(4 D(h/2) - D(h)) / 3 from the central gradients at h (coarse) and h/2 (fine)."""
    grads = {k: (4 * fine.grads[k] - coarse.grads[k]) / 3 for k in coarse.grads}
    return GradientResult(grads, loss_evals=coarse.loss_evals + fine.loss_evals)


def gradient(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, scheme: str, log_eps: float,
    engine: str = INCREMENTAL, activation: str = "sigmoid",
) -> GradientResult:
    """The finite-difference gradient of any scheme by either engine.

    Richardson is two central gradients, at h and h/2, combined here for both engines; every
    other scheme is the engine's own. The incremental engine is the compiled one-layer engine
    for the seed's kind of network (one sigmoid hidden layer) and the NumPy one of
    ``incremental.deep`` for every other; the naive loop covers every network.
    """
    if engine == INCREMENTAL and seeds_kind(n_layers(params) - 1, activation):
        from mlpbench.methods.incremental.driver import incremental_gradient as compute
    elif engine == INCREMENTAL:
        from mlpbench.methods.incremental.deep import deep_incremental_gradient

        compute = partial(deep_incremental_gradient, activation=activation)
    else:
        compute = partial(naive_gradient, activation=activation)
    if scheme == "richardson":
        return richardson(compute(params, x, t, h=h, scheme="central", log_eps=log_eps),
                          compute(params, x, t, h=h / 2, scheme="central", log_eps=log_eps))
    return compute(params, x, t, h=h, scheme=scheme, log_eps=log_eps)


def seeds_kind(hidden_layers: int, activation: str) -> bool:
    """Whether a network is the seed's kind (one sigmoid hidden layer): the compiled engine's."""
    return hidden_layers == 1 and activation == "sigmoid"


def naive_gradient(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, scheme: str, log_eps: float,
    activation: str = "sigmoid",
) -> GradientResult:
    """The seed's loop, generalised to the forward, backward and complex-step schemes.

    Forward and backward differences share one evaluation of the unperturbed loss per call;
    the complex step has its own loop. Richardson is ``gradient``'s.
    """
    if scheme == "complex_step":
        return _naive_complex_step(params, x, t, h=h, log_eps=log_eps, activation=activation)
    base = loss(params, x, t, log_eps, activation) if scheme != "central" else None
    evals = 0 if base is None else 1
    grads: Params = {}
    for key in param_keys(params):
        grad = np.zeros_like(params[key])
        for index in np.ndindex(params[key].shape):
            if scheme == "central":
                plus = loss_with_moved(params, key, index, h, x, t, log_eps, activation)
                minus = loss_with_moved(params, key, index, -h, x, t, log_eps, activation)
                grad[index] = (plus - minus) / (2 * h)
                evals += 2
            elif scheme == "forward":
                moved = loss_with_moved(params, key, index, h, x, t, log_eps, activation)
                grad[index] = (moved - base) / h
                evals += 1
            else:
                moved = loss_with_moved(params, key, index, -h, x, t, log_eps, activation)
                grad[index] = (base - moved) / h
                evals += 1
        grads[key] = grad
    return GradientResult(grads, loss_evals=evals)


class Numerical(GradientMethod):
    """Finite differences of the training loss, one parameter at a time, by either engine."""

    NAME = "numerical"
    Config = Config
    USES_H = True

    def default_h(self, cfg: Config) -> float:
        """The step h for ``cfg`` when the user sets none: 1e-20 for the complex step, else 1e-4."""
        return COMPLEX_STEP_H if cfg.scheme == "complex_step" else DEFAULT_H

    def role(self, cfg: Config) -> str | None:
        """The post's kind of gradient: its plain differences, central, forward or backward."""
        return ROLE_SEED_KIND if cfg.scheme in PLAIN_SCHEMES else None

    def engine_role(self, cfg: Config) -> str:
        """The naive engine is the post's loop; the incremental one computes the same
        differences fast."""
        return ENGINE_ROLE_SEED_LOOP if cfg.engine == NAIVE else ENGINE_ROLE_FAST

    def forward_passes(self, cfg: Config, sizes: tuple[int, ...]) -> float:
        """The loss evaluations of the scheme, as the naive loop makes them: P + 1 one-sided, 2P
        central, 4P Richardson, P complex ones for the complex step (2 real multiply-adds per
        product in the first layer, 4 after it). The incremental engine computes the same
        differences without re-running what a move leaves unchanged; how far below this count it
        gets is what the cost table shows."""
        p = sum(a * b + b for a, b in pairwise(sizes))
        share = first_layer_share(sizes)
        return {"central": 2.0 * p, "forward": p + 1.0, "backward": p + 1.0,
                "richardson": 4.0 * p,
                "complex_step": p * (2 * share + 4 * (1 - share))}[cfg.scheme]

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check scheme and engine, then bind them with h to the chosen engine."""
        self.check(cfg)
        if cfg.engine == INCREMENTAL:
            from mlpbench.methods.incremental.driver import warm_up

            warm_up()  # compile (or load from cache) now, outside any timed region

        def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
            return gradient(params, x, t, h=h, scheme=cfg.scheme, log_eps=log_eps,
                            engine=cfg.engine, activation=activation)

        return estimate
