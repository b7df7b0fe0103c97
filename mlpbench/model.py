"""The MLP: input -> hidden layers (sigmoid, tanh or ReLU) -> softmax, its init and its loss.

The seed's network is the default: 784 -> 50 (sigmoid) -> 10, initialised N(0, 1)/sqrt(fan_in).
Everything here is a pure function of explicit arguments, so that every gradient method
differentiates exactly the same ``loss(params, x, t)`` the model trains on. Parameters are a
dict with the keys ``W1, b1, W2, b2, ...`` in layer order (the seed's and "Deep Learning from
Scratch"'s layout); every gradient method returns the same keys. The number of layers is read
from the dict, the activation is an argument (default ``sigmoid``), and for the seed's network
every operation is the one the seed performs, in its order, so its results are bitwise the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

Params = dict[str, np.ndarray]
PARAM_KEYS: tuple[str, ...] = ("W1", "b1", "W2", "b2")
"""The keys of a network with one hidden layer (the seed's); ``param_keys`` for any depth."""

INPUT_SIZE = 784
"""Pixels of one 28 x 28 digit: every network's input width."""
N_CLASSES = 10
"""Digits 0 to 9: every network's output width."""
DTYPES: tuple[str, ...] = ("float64", "float32")
"""The floating-point types a network can be trained and differentiated in."""
ACTIVATIONS: tuple[str, ...] = ("sigmoid", "tanh", "relu")
INITS: tuple[str, ...] = ("seed", "he", "normal")
"""Weight initialisations: ``seed`` N(0, 1)/sqrt(fan_in) (the post's "Xavier"), ``he``
N(0, 1)*sqrt(2/fan_in) (for ReLU), ``normal`` N(0, init_std^2) ("Deep Learning from Scratch":
0.01). Biases start at zero in all three."""


def init_params(
    input_size: int,
    hidden_size: int | Sequence[int],
    output_size: int,
    rng: np.random.Generator,
    dtype=np.float64,
    *,
    init: str = "seed",
    init_std: float = 0.01,
) -> Params:
    """Weights of every layer drawn from ``rng`` in layer order (see ``INITS``), biases zero.

    ``hidden_size`` is one width or a list of widths, one per hidden layer.
    """
    widths = [hidden_size] if isinstance(hidden_size, int) else list(hidden_size)
    sizes = [input_size, *widths, output_size]
    params: Params = {}
    for layer, (fan_in, fan_out) in enumerate(pairwise(sizes), start=1):
        draw = rng.standard_normal((fan_in, fan_out))
        if init == "seed":
            weights = draw / np.sqrt(fan_in)
        elif init == "he":
            weights = draw * np.sqrt(2.0 / fan_in)
        elif init == "normal":
            weights = draw * init_std
        else:
            raise ValueError(f"unknown init {init!r}; allowed: {', '.join(INITS)}")
        params[f"W{layer}"] = weights.astype(dtype)
        params[f"b{layer}"] = np.zeros(fan_out, dtype=dtype)
    return params


def init_network(
    hidden_size: int | Sequence[int], rng: np.random.Generator, dtype=np.float64, *,
    init: str = "seed", init_std: float = 0.01,
) -> Params:
    """Initial weights for ``INPUT_SIZE``-``hidden_size``-``N_CLASSES`` (one width, or one per
    hidden layer) drawn from ``rng``; by default the seed's."""
    return init_params(INPUT_SIZE, hidden_size, N_CLASSES, rng, dtype, init=init,
                       init_std=init_std)


def n_layers(params: Params) -> int:
    """The number of weight layers (hidden layers + 1): 2 for the seed's network."""
    return len(params) // 2


def param_keys(params: Params) -> tuple[str, ...]:
    """``W1, b1, W2, b2, ...`` for the network ``params`` holds, in layer order."""
    return tuple(f"{kind}{layer}" for layer in range(1, n_layers(params) + 1) for kind in "Wb")


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, written as the seed writes it."""
    return 1.0 / (1.0 + np.exp(-a))


def activate(a: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """A hidden layer's activation of its pre-activation ``a``, real or complex.

    Every branch accepts complex input for the complex-step methods: sigmoid and tanh are
    analytic, so the complex step is exact to rounding through them; ReLU is taken on the real
    part's sign (z if Re z > 0, else 0), analytic everywhere but at its kink, a = 0.
    """
    if activation == "sigmoid":
        return sigmoid(a)
    if activation == "tanh":
        return np.tanh(a)
    if activation == "relu":
        return np.where(a.real > 0, a, 0)
    raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")


def back_through(grad_z: np.ndarray, z: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The gradient at a layer's pre-activation from the gradient at its output ``z``.

    Written from the output alone (sigmoid' = z(1 - z), tanh' = 1 - z^2, ReLU' = [z > 0], 0 at
    the kink), with the seed's order of operations for the sigmoid.
    """
    if activation == "sigmoid":
        return grad_z * z * (1.0 - z)
    if activation == "tanh":
        return grad_z * (1.0 - z * z)
    if activation == "relu":
        return grad_z * (z > 0)
    raise ValueError(f"unknown activation {activation!r}; allowed: {', '.join(ACTIVATIONS)}")


def softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over each row after subtracting the largest logit of the whole batch.

    The seed shifts by one scalar, the batch maximum, rather than per row; the shift cancels
    exactly in exact arithmetic, and keeping it reproduces the seed's rounding. The maximum is
    taken of the real part, so complex logits (the complex-step method) pass through with their
    imaginary parts untouched; for real logits that is the same maximum.
    """
    shifted = logits - np.max(logits.real)
    e = np.exp(shifted)
    return e / np.sum(e, axis=1, keepdims=True)


def hidden_layers(params: Params, x: np.ndarray, activation: str = "sigmoid") -> list[np.ndarray]:
    """The output of every hidden layer, z_l = act(z_{l-1} W_l + b_l) with z_0 = x."""
    outputs: list[np.ndarray] = []
    z = x
    for layer in range(1, n_layers(params)):
        z = activate(z @ params[f"W{layer}"] + params[f"b{layer}"], activation)
        outputs.append(z)
    return outputs


def hidden(params: Params, x: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """The last hidden layer's output (the seed's z = sigmoid(x W1 + b1))."""
    return hidden_layers(params, x, activation)[-1]


def forward(params: Params, x: np.ndarray, activation: str = "sigmoid") -> np.ndarray:
    """Class probabilities for a batch ``x`` of shape (batch, inputs)."""
    last = n_layers(params)
    return softmax(hidden(params, x, activation) @ params[f"W{last}"] + params[f"b{last}"])


def cross_entropy(probs: np.ndarray, t: np.ndarray, log_eps: float) -> np.number:
    """Mean over the batch of -sum(t * log(p + log_eps)), the seed's loss with its ``+1e-7``.

    A NumPy scalar of the probabilities' type: complex when they are (see ``loss_value``).
    """
    return -np.sum(t * np.log(probs + log_eps)) / probs.shape[0]


def loss_value(
    params: Params, x: np.ndarray, t: np.ndarray, log_eps: float = 1e-7,
    activation: str = "sigmoid",
) -> np.number:
    """The training loss as computed, real or complex.

    Every operation of the forward pass is analytic (ReLU away from its kink), so with complex
    parameters theta + i h v the imaginary part of this value is h times the directional
    derivative of the loss along v, to O(h^2): the complex-step derivative, with no subtraction
    to cancel.
    """
    return cross_entropy(forward(params, x, activation), t, log_eps)


def loss(
    params: Params, x: np.ndarray, t: np.ndarray, log_eps: float = 1e-7,
    activation: str = "sigmoid",
) -> float:
    """The training loss: cross-entropy of the forward pass on a batch with one-hot ``t``."""
    return float(loss_value(params, x, t, log_eps, activation))


def accuracy(
    params: Params, x: np.ndarray, labels: np.ndarray, activation: str = "sigmoid"
) -> float:
    """Fraction of rows whose most probable class equals the integer label."""
    return float(np.mean(np.argmax(forward(params, x, activation), axis=1) == labels))


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot rows for integer labels."""
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def param_count(params: Params) -> int:
    """Number of scalar parameters (39,760 for 784-50-10, 52,650 for 784-64-32-10)."""
    return sum(int(p.size) for p in params.values())
