"""Forward gradients: the exact directional derivative along a random direction, times it.

For v ~ N(0, I) over all parameters, (grad L . v) v is an unbiased estimate of grad L (Baydin et
al. 2022). The directional derivative grad L . v is computed exactly, without backpropagation,
in one of two ways (``jvp``):

- ``dual`` (the default): forward-mode differentiation, as practitioners run it (JAX's ``jvp``,
  PyTorch's forward AD). Every layer carries a tangent beside its activation, in the
  parameters' dtype: the first layer's tangent is x V1 + v_b1, every later one
  z' W + z V + v_b, the activation's derivative is taken from its output as backprop takes it,
  and the loss's tangent is the logits' tangent against the softmax cross-entropy's gradient at
  the logits. The primal pass is shared by every direction. Its multiply-adds are backprop's:
  for 784-50-10 about two forward passes (x V1 beside x W1, plus small terms); for deeper
  networks one more product per layer, as backprop's backward pass.
- ``complex_step``: one complex evaluation of the loss, Im L(theta + i s v) / s with s = 1e-20
  (every operation of the model is analytic, and with no subtraction there is nothing to
  cancel). Equal to ``dual`` to rounding, at about twice its arithmetic and a complex copy of
  every parameter.

The directions are slices of a Gaussian noise table drawn once per run (``noise=table``, see
``_directions.NoiseTable``: NumPy's Gaussians would cost more than the directional derivative
itself) or drawn afresh for every direction (``noise=fresh``). ``directions`` estimates are
averaged. Like SPSA's, one direction's estimate has a cosine of
about 1/sqrt(P) with the gradient, hence a smaller learning rate for one direction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import numpy as np

from mlpbench.methods import _directions, backprop
from mlpbench.methods.base import Estimator, GradientMethod, GradientResult, first_layer_share
from mlpbench.model import Params, back_through, loss_value, n_layers
from mlpbench.settings import at_least, one_of, positive, setting

JVPS = ("dual", "complex_step")
COMPLEX_STEP = 1e-20
"""The imaginary step of ``jvp=complex_step``: small enough that its O(s^2) error is far below
rounding, large enough to stay a normal number in float32 as well."""


@dataclass(frozen=True)
class Config:
    """``method=forward_gradient``."""

    name: str = "forward_gradient"
    directions: int = setting(1, "directions averaged per step; one forward-mode pass each",
                              check=at_least(1))
    jvp: str = setting("dual", "dual (forward mode, tangents beside activations) | "
                       "complex_step", check=one_of(*JVPS))
    noise: str = setting("table", "table (slices of a Gaussian table drawn once per run) | "
                         "fresh", check=one_of(*_directions.NOISES))
    clip_jvp: Optional[float] = setting(  # noqa: UP045  (OmegaConf 2.3 needs Optional)
        None, "clip each direction's derivative grad L . v to [-c, c] (the course re-run of "
        "Baydin et al. clips it to norm 1); null: no clipping",
        check=positive(" (or null: no clipping)"))


def complex_step_derivative(
    params: Params, v: Params, x: np.ndarray, t: np.ndarray, log_eps: float,
    activation: str = "sigmoid",
) -> float:
    """grad L . v, exact to rounding, from one complex evaluation of the loss."""
    complex_type = np.result_type(params["W1"].dtype, np.complex64)
    lifted = {key: value.astype(complex_type) for key, value in params.items()}
    value = loss_value(_directions.moved(lifted, v, 1j * COMPLEX_STEP), x, t, log_eps,
                       activation)
    return float(np.imag(value)) / COMPLEX_STEP


@dataclass(frozen=True)
class Primal:
    """What every direction's tangent pass needs from the forward pass: the input of every
    weight layer (x, then each hidden output) and the loss's gradient at the logits."""

    inputs: list[np.ndarray]
    logits_grad: np.ndarray


def primal(
    params: Params, x: np.ndarray, t: np.ndarray, log_eps: float, activation: str = "sigmoid"
) -> Primal:
    """The forward pass, once per step whatever the number of directions (backprop's own)."""
    return Primal(*backprop.forward_pass(params, x, t, log_eps, activation))


def dual_derivative(
    params: Params, v: Params, state: Primal, activation: str = "sigmoid"
) -> float:
    """grad L . v by forward mode from the primal pass ``state``: the tangent of every layer's
    pre-activation, then the loss's tangent sum(dL/dlogits * logits')."""
    inputs = state.inputs
    tangent = inputs[0] @ v["W1"] + v["b1"]  # the input itself does not move
    for layer in range(2, n_layers(params) + 1):
        moved = back_through(tangent, inputs[layer - 1], activation)  # z' = act'(a) a'
        tangent = moved @ params[f"W{layer}"] + inputs[layer - 1] @ v[f"W{layer}"] \
            + v[f"b{layer}"]
    return float(np.vdot(state.logits_grad, tangent))


def directional_derivative(
    params: Params, v: Params, x: np.ndarray, t: np.ndarray, log_eps: float,
    activation: str = "sigmoid", jvp: str = "dual",
) -> float:
    """grad L . v, exact to rounding, by forward mode (``dual``) or a complex step."""
    if jvp == "complex_step":
        return complex_step_derivative(params, v, x, t, log_eps, activation)
    return dual_derivative(params, v, primal(params, x, t, log_eps, activation), activation)


class ForwardGradient(GradientMethod):
    """(grad L . v) v for Gaussian v, the derivative by forward mode."""

    NAME = "forward_gradient"
    Config = Config

    def default_lr(self, cfg: Config) -> float:
        """0.1, or 0.03 for one direction (see ``_directions.learning_rate``)."""
        return _directions.learning_rate(cfg.directions)

    def forward_passes(self, cfg: Config, sizes: tuple[int, ...]) -> float:
        """``dual``: the primal pass once, then per direction the first layer's tangent product
        x V1 and two products for every later layer (z' W and z V), 1 + d (2 - s) with s the
        first layer's share: backprop's 3 - s for one direction. ``complex_step``: per direction
        one complex pass, real times complex in the first layer (2 real multiply-adds each) and
        complex times complex after it (4): d (2 s + 4 (1 - s))."""
        share = first_layer_share(sizes)
        if cfg.jvp == "complex_step":
            return cfg.directions * (2 * share + 4 * (1 - share))
        return 1 + cfg.directions * (2 - share)

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check the options and bind them and the run's random stream (h is not used)."""
        self.check(cfg)
        direction = _directions.sampler(cfg.noise, "gaussian", rng)

        def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
            if cfg.jvp == "complex_step":
                def slope(v: Params) -> float:
                    return complex_step_derivative(params, v, x, t, log_eps, activation)
            else:
                state = primal(params, x, t, log_eps, activation)

                def slope(v: Params) -> float:
                    return dual_derivative(params, v, state, activation)

            along = slope
            if cfg.clip_jvp is not None:
                def along(v: Params) -> float:
                    return min(max(slope(v), -cfg.clip_jvp), cfg.clip_jvp)

            grads = _directions.averaged(
                params, cfg.directions, lambda: direction(params), along)
            return GradientResult(grads, loss_evals=cfg.directions)

        return estimate
