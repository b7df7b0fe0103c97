"""Random-direction estimators (SPSA/MeZO, forward gradient, ES) against backprop on real digits.

Unbiasedness is checked on a small network, where averaging thousands of directions is cheap:
the mean of N estimates has a cosine of about 1 / sqrt(1 + P / N) with the gradient.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from mlpbench import methods
from mlpbench.errors import ConfigError
from mlpbench.methods import _directions, backprop, es, forward_gradient, spsa
from mlpbench.model import PARAM_KEYS, init_params
from mlpbench.train import fidelity, streams

SPSA, FG, ES = spsa.Spsa(), forward_gradient.ForwardGradient(), es.EvolutionStrategies()


@pytest.fixture(scope="module")
def pooled_batch(subset):
    """20 real digits average-pooled from 28 x 28 to 4 x 4 pixels: a 16-input problem."""
    idx = np.random.default_rng(11).choice(subset.n_train, 20, replace=False)
    images = subset.x_train[idx].reshape(20, 4, 7, 4, 7).astype(np.float64) / 255
    x = images.mean(axis=(2, 4)).reshape(20, 16)
    t = np.eye(10)[subset.y_train[idx]]
    return x, t


@pytest.fixture
def tiny_params():
    """16-3-10: P = 91 parameters."""
    return init_params(16, 3, 10, np.random.default_rng(5))


def cosine(grads, reference) -> float:
    return fidelity(grads, reference)[0]


@pytest.mark.parametrize(
    ("module", "cfg", "h"),
    [
        (SPSA, spsa.Config(directions=20_000), 1e-3),
        (SPSA, spsa.Config(directions=20_000, distribution="gaussian"), 1e-3),
        (FG, forward_gradient.Config(directions=20_000), 0.0),
    ],
    ids=["spsa-rademacher", "spsa-gaussian", "forward-gradient"],
)
def test_mean_of_many_estimates_reaches_the_gradient(module, cfg, h, tiny_params, pooled_batch):
    x, t = pooled_batch
    exact = backprop.gradient(tiny_params, x, t, 1e-7)
    estimate = module.make_estimator(cfg, h, 1e-7, np.random.default_rng(0))
    mean = estimate(tiny_params, x, t).grads
    assert cosine(mean, exact) > 0.99


@pytest.mark.parametrize("module", [SPSA, FG])
def test_one_estimate_has_cosine_about_one_over_sqrt_p(module, small_params, real_batch):
    """784-6-10 (P = 4,780): E|cos| = sqrt(2 / (pi P)) for a Gaussian direction, about the
    same for Rademacher; the mean of 200 single-direction cosines lands within 25% of it."""
    x, t = real_batch
    exact = backprop.gradient(small_params, x, t, 1e-7)
    estimate = module.make_estimator(module.Config(), 1e-3, 1e-7, np.random.default_rng(1))
    cosines = [cosine(estimate(small_params, x, t).grads, exact) for _ in range(200)]
    p = sum(v.size for v in small_params.values())
    assert np.mean(cosines) == pytest.approx(math.sqrt(2 / (math.pi * p)), rel=0.25)
    assert min(cosines) >= 0  # (g . z) z . g = (g . z)^2: never against the gradient


def test_forward_gradient_directional_derivative_is_exact(small_params, real_batch):
    x, t = real_batch
    exact = backprop.gradient(small_params, x, t, 1e-7)
    v = _directions.draw(small_params, np.random.default_rng(2), "gaussian")
    expected = sum(float(np.sum(exact[k] * v[k])) for k in PARAM_KEYS)
    got = forward_gradient.directional_derivative(small_params, v, x, t, 1e-7)
    assert got == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("noise", ["fresh", "table"])
def test_es_on_raw_losses_is_gaussian_spsa(small_params, real_batch, noise):
    """Same stream, same draws: ES without shaping and MeZO with as many directions agree
    (ES evaluates its population in one batch, MeZO one direction at a time)."""
    x, t = real_batch
    a = ES.make_estimator(es.Config(population=5, noise=noise), 1e-3, 1e-7,
                          np.random.default_rng(4))
    b = SPSA.make_estimator(spsa.Config(directions=5, distribution="gaussian", noise=noise),
                            1e-3, 1e-7, np.random.default_rng(4))
    ga, gb = a(small_params, x, t), b(small_params, x, t)
    assert ga.loss_evals == gb.loss_evals == 10
    for key in PARAM_KEYS:
        np.testing.assert_allclose(ga.grads[key], gb.grads[key], rtol=1e-10, atol=1e-14)


def test_es_rank_shaping_descends(tiny_params, pooled_batch):
    x, t = pooled_batch
    exact = backprop.gradient(tiny_params, x, t, 1e-7)
    estimate = ES.make_estimator(
        es.Config(population=5000, rank_shaping=True), 1e-2, 1e-7, np.random.default_rng(0))
    assert cosine(estimate(tiny_params, x, t).grads, exact) > 0.9


def test_centred_ranks():
    np.testing.assert_allclose(es.centred_ranks(np.array([3.0, 1.0, 2.0, 10.0])),
                               [1 / 6, -0.5, -1 / 6, 0.5])


@pytest.mark.parametrize(
    ("module", "cfg", "evals"),
    [(SPSA, spsa.Config(directions=3), 6), (FG, forward_gradient.Config(
        directions=3), 3), (ES, es.Config(population=3), 6)],
)
def test_same_stream_same_estimate_and_eval_counts(module, cfg, evals, small_params, real_batch):
    x, t = real_batch
    first = module.make_estimator(cfg, 1e-3, 1e-7, np.random.default_rng(9))(small_params, x, t)
    again = module.make_estimator(cfg, 1e-3, 1e-7, np.random.default_rng(9))(small_params, x, t)
    other = module.make_estimator(cfg, 1e-3, 1e-7, np.random.default_rng(10))(small_params, x, t)
    assert first.loss_evals == evals
    for key in PARAM_KEYS:
        np.testing.assert_array_equal(first.grads[key], again.grads[key])
        assert first.grads[key].dtype == small_params[key].dtype
    assert not np.array_equal(first.grads["W2"], other.grads["W2"])


def test_float32_estimates_stay_float32(small_params, real_batch):
    x, t = (a.astype(np.float32) for a in real_batch)
    p32 = {k: v.astype(np.float32) for k, v in small_params.items()}
    for module in (SPSA, FG,
                   ES):
        grads = module.make_estimator(module.Config(), 1e-2, 1e-7,
                                      np.random.default_rng(0))(p32, x, t).grads
        assert all(grads[k].dtype == np.float32 for k in PARAM_KEYS)
        assert all(np.isfinite(grads[k]).all() for k in PARAM_KEYS)


def test_method_stream_leaves_init_and_batches_as_before():
    """Adding the method's stream must not change the streams every earlier result used."""
    old_init, old_batches = np.random.SeedSequence(3).spawn(2)
    s = streams(3)
    assert (s.init.integers(1 << 30, size=5)
            == np.random.default_rng(old_init).integers(1 << 30, size=5)).all()
    assert (s.batches.integers(1 << 30, size=5)
            == np.random.default_rng(old_batches).integers(1 << 30, size=5)).all()


@pytest.mark.parametrize(
    ("module", "cfg", "key"),
    [
        (SPSA, spsa.Config(directions=0), "method.directions"),
        (SPSA, spsa.Config(distribution="uniform"), "method.distribution"),
        (FG, forward_gradient.Config(directions=-1), "method.directions"),
        (ES, es.Config(population=0), "method.population"),
        (FG, forward_gradient.Config(jvp="reverse"), "method.jvp"),
        (FG, forward_gradient.Config(noise="cached"), "method.noise"),
        (ES, es.Config(noise="shared"), "method.noise"),
        (SPSA, spsa.Config(noise="table"), "method.noise"),
    ],
)
def test_bad_options_name_the_key(module, cfg, key):
    with pytest.raises(ConfigError, match=f"^{key}: "):
        module.make_estimator(cfg, 1e-3, 1e-7, np.random.default_rng(0))


@pytest.mark.parametrize(
    ("cfg", "h", "lr"),
    [
        ({"name": "backprop"}, 1e-4, 0.1),
        ({"name": "numerical"}, 1e-4, 0.1),
        ({"name": "numerical", "scheme": "complex_step"}, 1e-20, 0.1),
        ({"name": "spsa"}, 1e-3, 0.03),
        ({"name": "spsa", "directions": 10}, 1e-3, 0.1),
        ({"name": "forward_gradient"}, 1e-4, 0.03),
        ({"name": "es", "rank_shaping": True}, 1e-2, 0.003),
    ],
)
def test_method_defaults_for_h_and_lr(cfg, h, lr):
    method = methods.get(cfg["name"])
    config = method.Config(**cfg)
    assert (method.default_h(config), method.default_lr(config)) == (h, lr)


def test_options_text_is_stable():
    assert methods.options_text(spsa.Config(directions=4)) == (
        "directions=4, distribution=rademacher, noise=fresh")
    assert methods.options_text(es.Config(rank_shaping=True)) == (
        "population=10, rank_shaping=true, noise=table")
    assert methods.options_text(forward_gradient.Config()) == (
        "directions=1, jvp=dual, noise=table")
    assert methods.options_text(backprop.Config()) is None


def test_settings_use_method_defaults_unless_given():
    from mlpbench.config import RunConfig, settings_from, writable_node

    def settings(**changes):
        cfg = OmegaConf.merge(writable_node(RunConfig), {
            "dataset": {"name": "mnist_subset"}, **changes})
        return settings_from(cfg)

    s = settings(method={"name": "numerical", "scheme": "complex_step", "engine": "incremental"})
    assert (s.h, s.lr, s.fidelity_every) == (1e-20, 0.1, 1)
    s = settings(method={"name": "spsa", "directions": 1, "distribution": "gaussian"}, h=0.5,
                 lr=0.2)
    assert (s.h, s.lr) == (0.5, 0.2)
    assert settings(method={"name": "backprop"}).fidelity_every == 0
    assert settings(method={"name": "backprop"}, fidelity_every=3).fidelity_every == 3
    with pytest.raises(ConfigError, match=r"^fidelity_every: "):
        settings(method={"name": "backprop"}, fidelity_every=-1)
