"""The seed's network: 784 -> hidden (sigmoid) -> 10 (softmax), its init and its loss.

Everything here is a pure function of explicit arguments, so that every gradient method
differentiates exactly the same ``loss(params, x, t)`` the model trains on. Parameters are a
dict with the keys ``W1, b1, W2, b2`` (the seed's and "Deep Learning from Scratch"'s layout);
every gradient method returns the same keys.
"""

from __future__ import annotations

import numpy as np

Params = dict[str, np.ndarray]
PARAM_KEYS: tuple[str, ...] = ("W1", "b1", "W2", "b2")


def init_params(
    input_size: int, hidden_size: int, output_size: int, rng: np.random.Generator, dtype=np.float64
) -> Params:
    """Weights drawn N(0, 1) / sqrt(fan_in) ("Xavier" as the seed calls it), biases zero."""
    w1 = rng.standard_normal((input_size, hidden_size)) / np.sqrt(input_size)
    w2 = rng.standard_normal((hidden_size, output_size)) / np.sqrt(hidden_size)
    return {
        "W1": w1.astype(dtype),
        "b1": np.zeros(hidden_size, dtype=dtype),
        "W2": w2.astype(dtype),
        "b2": np.zeros(output_size, dtype=dtype),
    }


def sigmoid(a: np.ndarray) -> np.ndarray:
    """Logistic function, written as the seed writes it."""
    return 1.0 / (1.0 + np.exp(-a))


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


def hidden(params: Params, x: np.ndarray) -> np.ndarray:
    """Hidden activations z = sigmoid(x W1 + b1)."""
    return sigmoid(x @ params["W1"] + params["b1"])


def forward(params: Params, x: np.ndarray) -> np.ndarray:
    """Class probabilities for a batch ``x`` of shape (batch, 784)."""
    return softmax(hidden(params, x) @ params["W2"] + params["b2"])


def cross_entropy(probs: np.ndarray, t: np.ndarray, log_eps: float) -> np.number:
    """Mean over the batch of -sum(t * log(p + log_eps)), the seed's loss with its ``+1e-7``.

    A NumPy scalar of the probabilities' type: complex when they are (see ``loss_value``).
    """
    return -np.sum(t * np.log(probs + log_eps)) / probs.shape[0]


def loss_value(params: Params, x: np.ndarray, t: np.ndarray, log_eps: float = 1e-7) -> np.number:
    """The training loss as computed, real or complex.

    Every operation of the forward pass is analytic, so with complex parameters
    theta + i h v the imaginary part of this value is h times the directional derivative of the
    loss along v, to O(h^2): the complex-step derivative, with no subtraction to cancel.
    """
    return cross_entropy(forward(params, x), t, log_eps)


def loss(params: Params, x: np.ndarray, t: np.ndarray, log_eps: float = 1e-7) -> float:
    """The training loss: cross-entropy of the forward pass on a batch with one-hot ``t``."""
    return float(loss_value(params, x, t, log_eps))


def accuracy(params: Params, x: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of rows whose most probable class equals the integer label."""
    return float(np.mean(np.argmax(forward(params, x), axis=1) == labels))


def one_hot(labels: np.ndarray, n_classes: int, dtype=np.float64) -> np.ndarray:
    """One-hot rows for integer labels."""
    out = np.zeros((labels.shape[0], n_classes), dtype=dtype)
    out[np.arange(labels.shape[0]), labels] = 1
    return out


def param_count(params: Params) -> int:
    """Number of scalar parameters (39,760 for 784-50-10)."""
    return sum(int(p.size) for p in params.values())
