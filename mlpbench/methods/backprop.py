"""Backpropagation: the exact gradient of the loss the model trains on, the reference.

The loss keeps the seed's ``+log_eps`` inside the log, so the gradient with respect to the
logits is not the textbook (p - t) / B: with s = t * p / (p + log_eps) it is
(p * sum(s) - s) / B, which for one-hot t is (p - t) / B scaled by p_y / (p_y + log_eps).
At ``log_eps = 0`` it reduces to (p - t) / B exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.methods.base import (
    Estimator,
    GradientMethod,
    GradientResult,
    first_layer_share,
)
from mlpbench.model import Params, back_through, hidden_layers, n_layers, param_keys, softmax
from mlpbench.results.schemas import ROLE_REFERENCE


@dataclass(frozen=True)
class Config:
    """``method=backprop``: nothing to configure."""

    name: str = "backprop"


def forward_pass(
    params: Params, x: np.ndarray, t: np.ndarray, log_eps: float, activation: str = "sigmoid"
) -> tuple[list[np.ndarray], np.ndarray]:
    """The forward pass as backprop keeps it: the input of every weight layer (x, then each
    hidden output), and the gradient of the batch-mean loss -sum t log(p + log_eps) / B at the
    logits, where the backward pass starts (and where forward mode's tangent ends)."""
    last = n_layers(params)
    inputs = [x, *hidden_layers(params, x, activation)]
    p = softmax(inputs[-1] @ params[f"W{last}"] + params[f"b{last}"])
    s = t * p / (p + log_eps)
    return inputs, (p * np.sum(s, axis=1, keepdims=True) - s) / x.shape[0]


def gradient(
    params: Params, x: np.ndarray, t: np.ndarray, log_eps: float, activation: str = "sigmoid"
) -> Params:
    """Reverse-mode gradient of ``model.loss`` at ``params`` on the batch (x, t), any depth.

    For the seed's network the operations are the seed's, in its order, so the gradient is
    bitwise what it was before networks of other depths existed.
    """
    last = n_layers(params)
    inputs, delta = forward_pass(params, x, t, log_eps, activation)
    grads: Params = {}
    for layer in range(last, 0, -1):
        grads[f"W{layer}"] = inputs[layer - 1].T @ delta
        grads[f"b{layer}"] = np.sum(delta, axis=0)
        if layer > 1:
            delta = back_through(delta @ params[f"W{layer}"].T, inputs[layer - 1], activation)
    return {key: grads[key] for key in param_keys(params)}


class Backprop(GradientMethod):
    """The exact gradient, every other method's reference."""

    NAME = "backprop"
    Config = Config

    def role(self, cfg: Config) -> str:
        return ROLE_REFERENCE

    def forward_passes(self, cfg: Config, sizes: tuple[int, ...]) -> float:
        """The forward pass, then per layer the weight gradient's product and (but for the
        first layer) the product carrying the gradient back: 3 - first_layer_share, 2.01 for
        784-50-10."""
        return 3 - first_layer_share(sizes)

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Backprop evaluates the loss's forward pass once per step (plus one backward pass)."""

        def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
            return GradientResult(gradient(params, x, t, log_eps, activation), loss_evals=1)

        return estimate
