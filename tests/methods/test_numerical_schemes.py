"""The Richardson and complex-step schemes of ``method=numerical``, both engines, real digits."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data import inputs, targets
from mlpbench.errors import ConfigError
from mlpbench.methods import backprop, numerical
from mlpbench.model import PARAM_KEYS, init_network, loss, param_count

from .test_gradients import max_rel_err

LOG_EPS = 1e-7


@pytest.fixture(scope="module")
def seed_params() -> dict[str, np.ndarray]:
    """784-50-10, the seed's architecture."""
    return init_network(50, np.random.default_rng(0))


def inc(params, x, t, scheme, h):
    return numerical.gradient(params, x, t, h=h, scheme=scheme, log_eps=LOG_EPS)


def naive(params, x, t, scheme, h):
    return numerical.gradient(params, x, t, h=h, scheme=scheme, log_eps=LOG_EPS,
                              engine=numerical.NAIVE)


@pytest.mark.parametrize("h", [1e-20, 1e-14, 1e-8])
def test_complex_step_incremental_is_exact_on_the_seed_architecture(seed_params, real_batch, h):
    x, t = real_batch
    exact = backprop.gradient(seed_params, x, t, LOG_EPS)
    result = inc(seed_params, x, t, "complex_step", h)
    assert {k: g.dtype for k, g in result.grads.items()} == {k: np.float64 for k in PARAM_KEYS}
    assert max_rel_err(result.grads, exact) <= 1e-12  # measured: about 4e-16


def test_complex_step_naive_is_exact_and_leaves_params_alone(small_params, real_batch):
    x, t = real_batch
    before = {k: v.copy() for k, v in small_params.items()}
    result = naive(small_params, x, t, "complex_step", 1e-20)
    assert max_rel_err(result.grads, backprop.gradient(small_params, x, t, LOG_EPS)) <= 1e-12
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(small_params[k], before[k])
        assert result.grads[k].dtype == np.float64
        assert result.grads[k].shape == small_params[k].shape


@pytest.mark.parametrize("h", [1e-20, 1e-8, 1e-1, 1.0])
def test_complex_step_engines_agree(small_params, real_batch, h):
    """Tiny h: the series paths; h = 0.1 and 1: the library exp (the O(h^2) error is then
    large, but both engines compute the same complex losses)."""
    x, t = real_batch
    got = inc(small_params, x, t, "complex_step", h).grads
    assert max_rel_err(got, naive(small_params, x, t, "complex_step", h).grads) <= 1e-13


@pytest.mark.parametrize("h", [1e-20, 1.0])
def test_complex_step_non_one_hot_targets(small_params, real_batch, h):
    """Rows that are not one-hot take the general path; mix them with one-hot rows."""
    x, t = real_batch
    soft = t.copy()
    soft[::2] = 0.8 * t[::2] + 0.02
    got = inc(small_params, x, soft, "complex_step", h).grads
    assert max_rel_err(got, naive(small_params, x, soft, "complex_step", h).grads) <= 1e-13
    if h == 1e-20:
        assert max_rel_err(got, backprop.gradient(small_params, x, soft, LOG_EPS)) <= 1e-12


@pytest.mark.parametrize("scheme", ["richardson", "complex_step"])
@pytest.mark.parametrize(("hidden", "batch", "blank"), [(1, 1, False), (2, 3, False), (3, 2, True)])
def test_edge_shapes_and_blank_images(subset, scheme, hidden, batch, blank):
    """One unit, one sample, and images with no ink at all (no W1 entry can move the loss)."""
    x = np.zeros((batch, 784)) if blank else inputs(subset.x_train[:batch])
    t = targets(subset.y_train[:batch])
    params = init_network(hidden, np.random.default_rng(hidden))
    h = numerical.Numerical().default_h(numerical.Config(scheme=scheme))
    got = inc(params, x, t, scheme, h).grads
    want = naive(params, x, t, scheme, h).grads
    assert max(np.abs(got[k] - want[k]).max() for k in PARAM_KEYS) < 1e-10
    if blank:
        assert not got["W1"].any()


def test_complex_step_float32(seed_params, small_params, real_batch):
    x, t = real_batch
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    for params, engine in ((seed_params, inc), (small_params, naive)):
        p32 = {k: v.astype(np.float32) for k, v in params.items()}
        result = engine(p32, x32, t32, "complex_step", 1e-20)
        assert {g.dtype for g in result.grads.values()} == {np.dtype(np.float32)}
        exact = backprop.gradient({k: v.astype(np.float64) for k, v in p32.items()},
                                  x32.astype(np.float64), t, LOG_EPS)
        assert max_rel_err(result.grads, exact) <= 1e-5  # measured: about 2e-7


def test_complex_step_training_matches_backprop(subset):
    """The seed's protocol, 100 steps: SGD at lr 0.1 on batches of 100, from the same init and
    batches; the batch loss after every step equals backprop's within 1e-10."""
    x_train = inputs(subset.x_train)
    t_train = targets(subset.y_train)
    runs = {}
    for name in ("backprop", "complex_step"):
        params = init_network(50, np.random.default_rng(0))
        batch_rng = np.random.default_rng(1)
        losses = []
        for _ in range(100):
            idx = batch_rng.choice(subset.n_train, 100, replace=False)
            x, t = x_train[idx], t_train[idx]
            if name == "backprop":
                grads = backprop.gradient(params, x, t, LOG_EPS)
            else:
                grads = inc(params, x, t, "complex_step", 1e-20).grads
            for key, grad in grads.items():
                params[key] -= 0.1 * grad
            losses.append(loss(params, x, t, LOG_EPS))
        runs[name] = np.array(losses)
    assert runs["backprop"][-1] < runs["backprop"][0]  # it trains
    np.testing.assert_allclose(runs["complex_step"], runs["backprop"], atol=1e-10, rtol=0)


def test_richardson_beats_central_at_the_best_h(seed_params, real_batch):
    x, t = real_batch
    exact = backprop.gradient(seed_params, x, t, LOG_EPS)
    best = {
        scheme: min(max_rel_err(inc(seed_params, x, t, scheme, h).grads, exact)
                    for h in np.logspace(-1, -8, 15))
        for scheme in ("central", "richardson")
    }
    assert best["richardson"] * 10 <= best["central"]  # measured: 6e-13 and 8e-11


@pytest.mark.parametrize("h", [1e-2, 1e-4])
def test_richardson_engines_agree(small_params, real_batch, h):
    x, t = real_batch
    got = inc(small_params, x, t, "richardson", h)
    want = naive(small_params, x, t, "richardson", h)
    # both carry round-off of about eps * loss / h, tripled by (4 D(h/2) - D(h)) / 3 (central's
    # bound is 1e-14 / h); measured: about 2e-14 / h
    assert max_rel_err(got.grads, want.grads) <= max(1e-12, 5e-14 / h)
    assert got.loss_evals == want.loss_evals


def test_richardson_is_the_extrapolation_of_central(small_params, real_batch):
    x, t = real_batch
    coarse = inc(small_params, x, t, "central", 1e-3).grads
    fine = inc(small_params, x, t, "central", 5e-4).grads
    got = inc(small_params, x, t, "richardson", 1e-3).grads
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(got[k], (4 * fine[k] - coarse[k]) / 3)


@pytest.mark.parametrize("engine", numerical.ENGINES)
def test_loss_eval_counts(small_params, real_batch, engine):
    x, t = real_batch
    p = param_count(small_params)
    counts = {}
    for scheme, h in (("richardson", 1e-4), ("complex_step", 1e-20)):
        estimate = numerical.Numerical().make_estimator(
            numerical.Config(scheme=scheme, engine=engine), h, LOG_EPS)
        counts[scheme] = estimate(small_params, x, t).loss_evals
    assert counts == {"richardson": 4 * p, "complex_step": p}


def test_default_h_depends_on_the_scheme():
    assert numerical.Numerical().default_h(numerical.Config(scheme="complex_step")) == 1e-20
    for scheme in ("central", "forward", "backward", "richardson"):
        assert numerical.Numerical().default_h(numerical.Config(scheme=scheme)) == 1e-4


def test_unknown_scheme_lists_all_five():
    with pytest.raises(ConfigError) as raised:
        numerical.Numerical().make_estimator(numerical.Config(scheme="sideways"), 1e-4, LOG_EPS)
    assert str(raised.value) == ("method.scheme: unknown 'sideways'; allowed: "
                                 "central, forward, backward, richardson, complex_step")
