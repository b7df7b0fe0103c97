"""Activity-perturbed forward gradients and orthogonal directions, on real digits.

Unbiasedness is a statistical test with a stated tolerance: N single estimates on a small
network, and every entry of their mean within 5 standard errors of backprop's (with about a
hundred entries, a correct estimator fails that bound with probability under 1e-4), plus the
mean's cosine. One activity tangent is also checked against a hand computation: each example's
derivative by a complex step through the loss with only that example's pre-activations moved.
"""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import methods
from mlpbench.errors import ConfigError
from mlpbench.methods import _directions, backprop, es, forward_gradient, spsa
from mlpbench.model import ACTIVATIONS, activate, init_params, n_layers, param_keys, softmax
from mlpbench.train import fidelity

FG, SPSA, ES = forward_gradient.ForwardGradient(), spsa.Spsa(), es.EvolutionStrategies()
LOG_EPS = 1e-7


@pytest.fixture(scope="module")
def pooled(subset):
    """20 real digits average-pooled to 4 x 4 pixels: a 16-input problem."""
    idx = np.random.default_rng(11).choice(subset.n_train, 20, replace=False)
    images = subset.x_train[idx].reshape(20, 4, 7, 4, 7).astype(np.float64) / 255
    return images.mean(axis=(2, 4)).reshape(20, 16), np.eye(10)[subset.y_train[idx]]


def tiny(widths=(3,), activation="sigmoid"):
    """16-3-10 (P = 91), or deeper."""
    init = "he" if activation == "relu" else "seed"
    return init_params(16, list(widths), 10, np.random.default_rng(5), init=init)


def flat(grads):
    return np.concatenate([np.ravel(grads[k]) for k in param_keys(grads)])


def assert_unbiased(estimates, exact, sigmas=5.0):
    samples = np.stack([flat(g) for g in estimates])
    mean, spread = samples.mean(axis=0), samples.std(axis=0, ddof=1)
    error = np.abs(mean - flat(exact))
    bound = sigmas * spread / np.sqrt(len(samples)) + 1e-12
    assert (error <= bound).all(), float(np.max(error / bound))
    assert fidelity({"all": mean}, {"all": flat(exact)})[0] > 0.97


def hand_loss(params, x, t, u, activation):
    """The seed's loss with the tangents ``u`` added at every pre-activation (complex allowed)."""
    z = x
    for layer in range(1, n_layers(params) + 1):
        a = z @ params[f"W{layer}"] + params[f"b{layer}"] + u[f"a{layer}"]
        z = a if layer == n_layers(params) else activate(a, activation)
    return -np.sum(t * np.log(softmax(z) + LOG_EPS)) / x.shape[0]


@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("widths", [(3,), (4, 3)], ids=["16-3-10", "16-4-3-10"])
def test_one_activity_tangent_is_the_hand_computation(widths, activation, pooled):
    x, t = pooled
    params = tiny(widths, activation)
    u = _directions.draw(forward_gradient.pre_activations(params, len(x)),
                         np.random.default_rng(2), "gaussian")
    step = 1e-20
    d = np.empty(len(x))
    for i in range(len(x)):  # example i's pre-activations alone moved by i s u_i
        moved = {key: np.zeros(value.shape, complex) for key, value in u.items()}
        for key in u:
            moved[key][i] = 1j * step * u[key][i]
        d[i] = np.imag(hand_loss(params, x, t, moved, activation)) / step
    inputs = [x]
    for layer in range(1, n_layers(params)):
        inputs.append(activate(inputs[-1] @ params[f"W{layer}"] + params[f"b{layer}"],
                               activation))
    state = forward_gradient.primal(params, x, t, LOG_EPS, activation)
    got = forward_gradient.activity_estimate(params, state, [u], 1, activation)
    for layer in range(1, n_layers(params) + 1):
        delta = d[:, None] * u[f"a{layer}"]
        np.testing.assert_allclose(got[f"W{layer}"], inputs[layer - 1].T @ delta, rtol=1e-9,
                                   atol=1e-15)
        np.testing.assert_allclose(got[f"b{layer}"], delta.sum(axis=0), rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("activation", ["sigmoid", "relu"])
@pytest.mark.parametrize("orthogonal", [False, True])
def test_activity_perturbation_is_unbiased(activation, orthogonal, pooled):
    x, t = pooled
    params = tiny((4, 3), activation)
    exact = backprop.gradient(params, x, t, LOG_EPS, activation)
    cfg = forward_gradient.Config(perturb="activations", directions=4, orthogonal=orthogonal,
                                  noise="fresh")
    estimate = FG.make_estimator(cfg, 0.0, LOG_EPS, np.random.default_rng(0), activation)
    assert_unbiased([estimate(params, x, t).grads for _ in range(1500)], exact)


@pytest.mark.parametrize(
    ("module", "cfg", "h"),
    [
        (FG, forward_gradient.Config(directions=30, orthogonal=True), 0.0),
        (SPSA, spsa.Config(directions=30, distribution="gaussian", orthogonal=True), 1e-4),
        (ES, es.Config(population=30, orthogonal=True), 1e-4),
    ],
    ids=["forward-gradient", "mezo", "es"],
)
def test_orthogonal_directions_stay_unbiased(module, cfg, h, pooled):
    x, t = pooled
    params = tiny()
    exact = backprop.gradient(params, x, t, LOG_EPS)
    estimate = module.make_estimator(cfg, h, LOG_EPS, np.random.default_rng(1))
    assert_unbiased([estimate(params, x, t).grads for _ in range(400)], exact)


def test_orthogonal_blocks_are_orthogonal_with_norm_sqrt_p():
    params = tiny()  # P = 91: 200 directions are blocks of 91, 91 and 18
    draw = _directions.sampler("table", "gaussian", np.random.default_rng(3))
    rows = np.stack([flat(d) for d in _directions.directions_of(
        200, lambda: draw(params), True)])
    assert rows.shape == (200, 91)
    for block in (rows[:91], rows[91:182], rows[182:]):
        np.testing.assert_allclose(block @ block.T, 91 * np.eye(len(block)), atol=1e-10)
    assert abs(rows[0] @ rows[91]) > 1e-3  # blocks are drawn apart, not one basis repeated


def test_per_example_blocks_are_orthogonal_example_by_example():
    like = forward_gradient.pre_activations(tiny((4, 3)), 5)  # 17 units an example
    draw = _directions.sampler("fresh", "gaussian", np.random.default_rng(4))
    tangents = list(_directions.directions_of(10, lambda: draw(like), True, per_example=True))
    stacked = np.stack([np.concatenate([u[k] for k in like], axis=1) for u in tangents], axis=1)
    assert stacked.shape == (5, 10, 17)
    for example in stacked:
        np.testing.assert_allclose(example @ example.T, 17 * np.eye(10), atol=1e-10)


def test_activity_tangents_cut_the_variance_on_the_seeds_network(real_batch):
    """784-50-10 at its initial weights: one activity tangent's cosine is many times one weight
    direction's (the quality study measures the factor; here a floor of 5 over 30 draws)."""
    x, t = real_batch
    params = init_params(784, 50, 10, np.random.default_rng(0))
    exact = backprop.gradient(params, x, t, LOG_EPS)

    def mean_cosine(cfg):
        estimate = FG.make_estimator(cfg, 0.0, LOG_EPS, np.random.default_rng(6))
        return np.mean([fidelity(estimate(params, x, t).grads, exact)[0] for _ in range(30)])

    weights = mean_cosine(forward_gradient.Config())
    activations = mean_cosine(forward_gradient.Config(perturb="activations"))
    assert activations > 5 * weights > 0


def test_activity_cost_is_backprops_for_one_tangent():
    sizes = (784, 50, 10)
    one = FG.forward_passes(forward_gradient.Config(perturb="activations"), sizes)
    ten = FG.forward_passes(forward_gradient.Config(perturb="activations", directions=10), sizes)
    assert one == pytest.approx(backprop.Backprop().forward_passes(backprop.Config(), sizes))
    assert ten - one == pytest.approx(9 * 500 / 39_700)


@pytest.mark.parametrize(
    ("module", "cfg", "key"),
    [
        (FG, forward_gradient.Config(perturb="units"), "method.perturb"),
        (FG, forward_gradient.Config(perturb="activations", jvp="complex_step"), "method.jvp"),
        (FG, forward_gradient.Config(perturb="activations", clip_jvp=1.0), "method.clip_jvp"),
        (SPSA, spsa.Config(orthogonal=True), "method.orthogonal"),
    ],
)
def test_bad_combinations_name_the_key(module, cfg, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        module.make_estimator(cfg, 1e-3, LOG_EPS, np.random.default_rng(0))


def test_new_options_leave_earlier_labels_alone():
    assert methods.options_text(forward_gradient.Config()) == "directions=1, jvp=dual, noise=table"
    assert methods.options_text(es.Config()) == "population=10, rank_shaping=false, noise=table"
    assert methods.options_text(forward_gradient.Config(perturb="activations", orthogonal=True)) \
        == "directions=1, jvp=dual, noise=table, perturb=activations, orthogonal=true"
