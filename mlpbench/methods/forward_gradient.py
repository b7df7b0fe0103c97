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

With ``perturb=activations`` the random tangent is not on the weights but on every hidden and
output pre-activation of every example (Ren, Kornblith, Liao and Hinton, ICLR 2023, "activity
perturbation"; ``activity_estimate``): forward mode carries it through the network, giving each
example's directional derivative d_i = sum_l dL/da_(l,i) . u_(l,i), and d_i u_(l,i) estimates the
gradient at layer l's pre-activation without bias. Each layer's weight gradient is then the local
outer product of its input with that estimate, as backprop forms it, with no backward pass across
layers. The perturbed space has sum(units) dimensions per example (60 for 784-50-10) instead of
P (39,760), so the variance falls by orders of magnitude at the cost of backprop's arithmetic.

The directions are slices of a Gaussian noise table drawn once per run (``noise=table``, see
``_directions.NoiseTable``: NumPy's Gaussians would cost more than the directional derivative
itself) or drawn afresh for every direction (``noise=fresh``). ``directions`` estimates are
averaged; with ``orthogonal=true`` each block of up to P of them (for activations, of each
example's up to sum(units)) is orthogonalised (``_directions.orthogonalised``). Like SPSA's, one
weight direction's estimate has a cosine of about 1/sqrt(P) with the gradient, hence a smaller
learning rate for one direction.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

import numpy as np

from mlpbench.errors import ConfigError
from mlpbench.methods import _directions, backprop
from mlpbench.methods.base import Estimator, GradientMethod, GradientResult, first_layer_share
from mlpbench.model import Params, back_through, loss_value, n_layers, param_keys
from mlpbench.settings import Column, at_least, one_of, positive, setting

JVPS = ("dual", "complex_step")
PERTURBATIONS = ("weights", "activations")
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
    perturb: str = setting("weights", "weights (a tangent on every parameter) | activations (a "
                           "tangent on every pre-activation of every example; Ren et al. 2023)",
                           check=one_of(*PERTURBATIONS), column=Column(null_at="weights"))
    orthogonal: bool = setting(False, "true: each block of directions orthogonalised, rows of "
                               "norm sqrt(dimension)", column=Column(null_at=False))


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


def pre_activations(params: Params, batch: int) -> Params:
    """Empty arrays shaped like every layer's pre-activation for ``batch`` examples, keyed
    ``a1, a2, ...``: what a tangent of ``perturb=activations`` is drawn like."""
    dtype = params["W1"].dtype
    return {f"a{layer}": np.empty((batch, params[f"b{layer}"].size), dtype=dtype)
            for layer in range(1, n_layers(params) + 1)}


def example_derivatives(
    params: Params, u: Params, state: Primal, activation: str = "sigmoid"
) -> np.ndarray:
    """Each example's d_i = sum_l dL/da_(l,i) . u_(l,i), by forward mode from the primal pass:
    the tangent u_l is added at layer l's pre-activation and carried on through the later
    layers (z' = act'(a) a', then z' W), and the logits' tangent meets the loss's gradient
    there, row by row. The input does not move, so the first layer's tangent is u_1 itself."""
    inputs = state.inputs
    tangent = u["a1"]
    for layer in range(2, n_layers(params) + 1):
        moved = back_through(tangent, inputs[layer - 1], activation)
        tangent = moved @ params[f"W{layer}"] + u[f"a{layer}"]
    return np.sum(state.logits_grad * tangent, axis=1)


def activity_estimate(
    params: Params, state: Primal, tangents: Iterable[Params], count: int,
    activation: str = "sigmoid",
) -> Params:
    """The weights' gradient from ``count`` activity tangents: each pre-activation's gradient
    estimated as the mean of d_i u_(l,i) over the tangents (``example_derivatives``), then
    every layer's weights as its input's outer product with it and its bias as its sum over the
    batch: backprop's last step, done locally per layer."""
    at = {key: np.zeros_like(value)
          for key, value in pre_activations(params, state.logits_grad.shape[0]).items()}
    for u in tangents:
        d = example_derivatives(params, u, state, activation)[:, None]
        for key, value in u.items():
            at[key] += d * value
    grads: Params = {}
    for layer in range(1, n_layers(params) + 1):
        delta = at[f"a{layer}"] / count
        grads[f"W{layer}"] = state.inputs[layer - 1].T @ delta
        grads[f"b{layer}"] = np.sum(delta, axis=0)
    return {key: grads[key] for key in param_keys(params)}


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
        complex times complex after it (4): d (2 s + 4 (1 - s)). ``perturb=activations``: the
        primal pass, per direction the tangent's products z' W of the layers after the first
        (the input never moves), and once the outer products of every layer's input with the
        pre-activations' estimate, a forward pass's worth: 2 + d (1 - s), 2.01 for one
        direction on 784-50-10, backprop's cost."""
        share = first_layer_share(sizes)
        if cfg.perturb == "activations":
            return 2 + cfg.directions * (1 - share)
        if cfg.jvp == "complex_step":
            return cfg.directions * (2 * share + 4 * (1 - share))
        return 1 + cfg.directions * (2 - share)

    def check(self, cfg: Config) -> None:
        """The declared checks, then: activity perturbation runs forward mode, unclipped."""
        super().check(cfg)
        if cfg.perturb == "activations" and cfg.jvp != "dual":
            raise ConfigError("method.jvp: perturb=activations takes each example's derivative "
                              "by forward mode; allowed: dual")
        if cfg.perturb == "activations" and cfg.clip_jvp is not None:
            raise ConfigError("method.clip_jvp: clips one derivative per weight direction; "
                              "allowed with perturb=weights only (null with activations)")

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check the options and bind them and the run's random stream (h is not used)."""
        self.check(cfg)
        direction = _directions.sampler(cfg.noise, "gaussian", rng)
        if cfg.perturb == "activations":
            def estimate_activity(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
                state = primal(params, x, t, log_eps, activation)
                shapes = pre_activations(params, x.shape[0])
                tangents = _directions.directions_of(
                    cfg.directions, lambda: direction(shapes), cfg.orthogonal, per_example=True)
                return GradientResult(activity_estimate(params, state, tangents, cfg.directions,
                                                        activation), loss_evals=cfg.directions)

            return estimate_activity

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

            drawn = _directions.directions_of(cfg.directions, lambda: direction(params),
                                              cfg.orthogonal)
            grads = _directions.averaged(params, cfg.directions, drawn.__next__, along)
            return GradientResult(grads, loss_evals=cfg.directions)

        return estimate
