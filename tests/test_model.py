"""The forward pass and loss on values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.methods import backprop
from mlpbench.model import (
    ACTIVATIONS,
    accuracy,
    activate,
    back_through,
    cross_entropy,
    forward,
    init_network,
    init_params,
    loss,
    loss_value,
    n_layers,
    one_hot,
    param_count,
    param_keys,
    sigmoid,
    softmax,
)


def test_sigmoid_known_values():
    np.testing.assert_allclose(sigmoid(np.array([0.0, np.log(3.0)])), [0.5, 0.75])


def test_softmax_rows_sum_to_one():
    p = softmax(np.array([[0.0, np.log(3.0)], [2.0, 2.0]]))
    np.testing.assert_allclose(p, [[0.25, 0.75], [0.5, 0.5]])


def test_softmax_shift_is_the_batch_maximum():
    logits = np.array([[1.0, 2.0], [3.0, 5.0]])
    expected = np.exp(logits - 5.0) / np.exp(logits - 5.0).sum(axis=1, keepdims=True)
    np.testing.assert_array_equal(softmax(logits), expected)


def test_forward_on_hand_computed_network():
    params = {
        "W1": np.array([[1.0], [0.0]]),  # 2 inputs -> 1 hidden unit
        "b1": np.array([0.0]),
        "W2": np.array([[np.log(3.0), 0.0]]),  # 1 hidden -> 2 classes
        "b2": np.array([0.0, 0.0]),
    }
    x = np.array([[0.0, 5.0]])  # hidden pre-activation 0 -> z = 0.5
    # logits: [0.5 log 3, 0] -> p = [sqrt3 / (sqrt3 + 1), 1 / (sqrt3 + 1)]
    s3 = np.sqrt(3.0)
    np.testing.assert_allclose(forward(params, x), [[s3 / (s3 + 1), 1 / (s3 + 1)]])
    t = np.array([[0.0, 1.0]])
    assert loss(params, x, t, log_eps=0.0) == pytest.approx(np.log(s3 + 1))
    assert loss(params, x, t) == pytest.approx(-np.log(1 / (s3 + 1) + 1e-7))


def test_cross_entropy_is_batch_mean_with_log_eps():
    p = np.array([[1.0, 0.0], [0.5, 0.5]])
    t = np.array([[1.0, 0.0], [0.0, 1.0]])
    assert cross_entropy(p, t, 1e-7) == pytest.approx(-(np.log(1 + 1e-7) + np.log(0.5 + 1e-7)) / 2)


def test_init_scale_biases_and_count():
    params = init_network(50, np.random.default_rng(0))
    assert param_count(params) == 39_760
    assert not params["b1"].any() and not params["b2"].any()
    assert params["W1"].std() == pytest.approx(1 / np.sqrt(784), rel=0.02)
    assert params["W2"].std() == pytest.approx(1 / np.sqrt(50), rel=0.1)


def test_init_float32():
    params = init_network(5, np.random.default_rng(0), np.float32)
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_accuracy_and_one_hot():
    t = one_hot(np.array([2, 0]), 3)
    np.testing.assert_array_equal(t, [[0, 0, 1], [1, 0, 0]])
    params = {"W1": np.zeros((1, 1)), "b1": np.zeros(1), "W2": np.zeros((1, 3)),
              "b2": np.array([0.0, 0.0, 1.0])}
    assert accuracy(params, np.zeros((2, 1)), np.array([2, 0])) == 0.5


# Networks of any depth, activation and init (the seed's network is the default case).

WIDTHS = {1: [5], 2: [5, 4], 3: [6, 5, 4]}


def tiny_problem(depth: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    params = init_params(7, WIDTHS[depth], 3, rng)
    for key in params:  # nonzero biases, so every term of the gradient is exercised
        params[key] = params[key] + 0.1 * rng.standard_normal(params[key].shape)
    x = rng.standard_normal((8, 7))
    t = one_hot(rng.integers(0, 3, 8), 3)
    return params, x, t


def complex_step_gradient(params, x, t, activation, log_eps=1e-7, h=1e-20):
    """Im L(theta + i h e_k) / h for every entry: exact to rounding where L is analytic."""
    lifted = {k: v.astype(np.complex128) for k, v in params.items()}
    grads = {}
    for key, value in params.items():
        grad = np.empty_like(value)
        for index in np.ndindex(value.shape):
            lifted[key][index] += 1j * h
            grad[index] = loss_value(lifted, x, t, log_eps, activation).imag / h
            lifted[key][index] -= 1j * h
        grads[key] = grad
    return grads


@pytest.mark.parametrize("depth", [1, 2, 3])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_backprop_of_any_depth_is_the_complex_step_gradient(depth, activation):
    params, x, t = tiny_problem(depth)
    want = complex_step_gradient(params, x, t, activation)
    got = backprop.gradient(params, x, t, 1e-7, activation)
    assert list(got) == list(param_keys(params)) == [
        f"{kind}{layer}" for layer in range(1, depth + 2) for kind in "Wb"]
    scale = max(np.max(np.abs(g)) for g in want.values())
    worst = max(np.max(np.abs(got[k] - want[k])) for k in want) / scale
    assert worst <= 1e-12, worst


def test_relu_is_its_real_part_sign_and_its_derivative_is_zero_at_the_kink():
    a = np.array([-1.0 + 2j, 0.0 + 1j, 2.0 - 1j])
    np.testing.assert_array_equal(activate(a, "relu"), [0, 0, 2.0 - 1j])
    z = activate(np.array([-1.0, 0.0, 3.0]), "relu")
    np.testing.assert_array_equal(back_through(np.ones(3), z, "relu"), [0.0, 0.0, 1.0])
    np.testing.assert_allclose(back_through(np.ones(1), np.tanh(np.array([0.5])), "tanh"),
                               1 - np.tanh(0.5) ** 2)


def test_init_draws_layer_by_layer_and_the_seed_init_is_the_posts():
    rng = np.random.default_rng(3)
    expected_w1 = rng.standard_normal((784, 50)) / np.sqrt(784)
    expected_w2 = rng.standard_normal((50, 10)) / np.sqrt(50)
    params = init_params(784, 50, 10, np.random.default_rng(3))
    np.testing.assert_array_equal(params["W1"], expected_w1)
    np.testing.assert_array_equal(params["W2"], expected_w2)
    deep = init_params(784, [64, 32], 10, np.random.default_rng(0))
    assert param_count(deep) == 52_650 and n_layers(deep) == 3
    he = init_params(1000, [400], 10, np.random.default_rng(0), init="he")
    assert he["W1"].std() == pytest.approx(np.sqrt(2 / 1000), rel=0.01)
    normal = init_params(784, [50], 10, np.random.default_rng(0), init="normal", init_std=0.01)
    assert normal["W1"].std() == pytest.approx(0.01, rel=0.01)
    assert all(not params[f"b{layer}"].any() for layer in (1, 2))
    with pytest.raises(ValueError, match="unknown init"):
        init_params(4, 3, 2, np.random.default_rng(0), init="xavier")
    with pytest.raises(ValueError, match="unknown activation"):
        activate(np.zeros(2), "gelu")


def test_accuracy_and_forward_follow_the_activation():
    params, x, _ = tiny_problem(2)
    probs = {a: forward(params, x, a) for a in ACTIVATIONS}
    assert not np.allclose(probs["sigmoid"], probs["tanh"])
    labels = np.argmax(probs["relu"], axis=1)
    assert accuracy(params, x, labels, "relu") == 1.0
