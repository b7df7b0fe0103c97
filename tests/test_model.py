"""The forward pass and loss on values worked out by hand."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import problem
from mlpbench.model import (
    accuracy,
    cross_entropy,
    forward,
    loss,
    one_hot,
    param_count,
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
    params = problem.init_network(50, np.random.default_rng(0))
    assert param_count(params) == 39_760
    assert not params["b1"].any() and not params["b2"].any()
    assert params["W1"].std() == pytest.approx(1 / np.sqrt(784), rel=0.02)
    assert params["W2"].std() == pytest.approx(1 / np.sqrt(50), rel=0.1)


def test_init_float32():
    params = problem.init_network(5, np.random.default_rng(0), np.float32)
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_accuracy_and_one_hot():
    t = one_hot(np.array([2, 0]), 3)
    np.testing.assert_array_equal(t, [[0, 0, 1], [1, 0, 0]])
    params = {"W1": np.zeros((1, 1)), "b1": np.zeros(1), "W2": np.zeros((1, 3)),
              "b2": np.array([0.0, 0.0, 1.0])}
    assert accuracy(params, np.zeros((2, 1)), np.array([2, 0])) == 0.5
