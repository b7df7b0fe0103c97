"""Forward mode, the losses along directions and how directions are drawn, on real digits.

The forward gradient's directional derivative must be backprop's gradient dotted with the
direction to rounding at every depth and activation; the zeroth-order losses must be the
model's loss at the moved parameters to rounding, with the parameters untouched; the fast
Rademacher draw must be the draw it replaces, value for value and state for state.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.methods import _directions, backprop, forward_gradient
from mlpbench.model import ACTIVATIONS, init_network, loss, param_keys

NETWORKS = [(6,), (7, 5), (6, 5, 4)]


def network(widths: tuple[int, ...], activation: str) -> dict[str, np.ndarray]:
    init = "he" if activation == "relu" else "seed"
    return init_network(widths, np.random.default_rng(len(widths)), init=init)


def dot(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    return sum(float(np.vdot(a[k], b[k])) for k in a)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("widths", NETWORKS, ids=lambda w: "784-" + "-".join(map(str, w)) + "-10")
def test_dual_and_complex_step_are_backprop_dotted_with_v(widths, activation, real_batch):
    x, t = real_batch
    params = network(widths, activation)
    v = _directions.draw(params, np.random.default_rng(3), "gaussian")
    exact = dot(backprop.gradient(params, x, t, 1e-7, activation), v)
    dual = forward_gradient.directional_derivative(params, v, x, t, 1e-7, activation, "dual")
    step = forward_gradient.directional_derivative(params, v, x, t, 1e-7, activation,
                                                   "complex_step")
    assert dual == pytest.approx(exact, rel=1e-12, abs=0)
    assert step == pytest.approx(dual, rel=1e-12, abs=0)


def test_forward_gradient_estimate_is_v_times_its_slope(real_batch):
    """One direction: the estimate is (grad . v) v with v the table slice the stream picks."""
    x, t = real_batch
    params = network((7, 5), "tanh")
    for jvp in forward_gradient.JVPS:
        cfg = forward_gradient.Config(jvp=jvp)
        got = forward_gradient.ForwardGradient().make_estimator(
            cfg, 0.0, 1e-7, np.random.default_rng(8), "tanh")(params, x, t)
        v = _directions.NoiseTable(np.random.default_rng(8)).draw(params)
        slope = dot(backprop.gradient(params, x, t, 1e-7, "tanh"), v)
        assert got.loss_evals == 1
        for key in param_keys(params):
            np.testing.assert_allclose(got.grads[key], slope * v[key], rtol=1e-11, atol=0)


@pytest.mark.parametrize("widths", NETWORKS, ids=str)
def test_losses_along_are_the_loss_at_moved_parameters(widths, real_batch):
    x, t = real_batch
    params = network(widths, "sigmoid")
    before = {k: v.copy() for k, v in params.items()}
    rng = np.random.default_rng(2)
    directions = [_directions.draw(params, rng, "gaussian") for _ in range(3)]
    got = _directions.losses_along(params, directions, 1e-3, x, t, 1e-7)
    expected = [[loss(_directions.moved(params, z, step), x, t, 1e-7) for step in (1e-3, -1e-3)]
                for z in directions]
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])


@pytest.mark.parametrize("sizes", [(39_760,), (5, 4, 7), (1, 1, 1, 2), (0, 3), (8, 0, 1)])
@pytest.mark.parametrize("warm", [0, 1, 2])
def test_rademacher_signs_are_integers_draws_faster(sizes, warm):
    """Same values and the same stream afterwards as 2 * integers(0, 2) - 1, from any state
    (``warm`` odd leaves half a word over from an earlier draw)."""
    fast, slow = np.random.default_rng(21), np.random.default_rng(21)
    fast.integers(0, 2, size=warm)
    slow.integers(0, 2, size=warm)
    for size in sizes:
        np.testing.assert_array_equal(
            _directions.rademacher_signs(fast, size, np.float64),
            2.0 * slow.integers(0, 2, size=size) - 1.0)
    assert fast.integers(0, 2, size=9).tolist() == slow.integers(0, 2, size=9).tolist()
    assert fast.standard_normal() == slow.standard_normal()


def test_rademacher_draw_is_the_per_key_draw(small_params):
    """One draw of every key at once, split: the values drawing key by key gave."""
    got = _directions.draw(small_params, np.random.default_rng(4), "rademacher")
    rng = np.random.default_rng(4)
    for key, value in small_params.items():
        expected = (2.0 * rng.integers(0, 2, size=value.shape) - 1.0).astype(value.dtype)
        np.testing.assert_array_equal(got[key], expected)


def test_noise_table_slices_are_gaussian_read_only_and_reproducible(small_params):
    table = _directions.NoiseTable(np.random.default_rng(5))
    first = table.draw(small_params)
    second = table.draw(small_params)
    assert table.values is not None and table.values.size == _directions.TABLE_MIN
    flat = np.concatenate([first[k].ravel() for k in small_params])
    assert abs(flat.mean()) < 0.05 and flat.std() == pytest.approx(1.0, abs=0.05)
    assert not first["W1"].flags.writeable
    assert not np.array_equal(first["W1"], second["W1"])
    again = _directions.NoiseTable(np.random.default_rng(5))
    again.draw(small_params)
    repeated = again.draw(small_params)
    for key in small_params:
        np.testing.assert_array_equal(repeated[key], second[key])
