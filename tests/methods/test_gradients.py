"""Every gradient method against backprop on real digits, and backprop against its formula."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench import methods
from mlpbench.errors import ConfigError
from mlpbench.methods import backprop, numerical
from mlpbench.model import PARAM_KEYS, param_count


def max_rel_err(a: dict, b: dict) -> float:
    """max |a - b| / max |b| over all parameters: one figure for the whole gradient."""
    num = max(np.max(np.abs(a[k] - b[k])) for k in PARAM_KEYS)
    return float(num / max(np.max(np.abs(b[k])) for k in PARAM_KEYS))


def test_backprop_without_log_eps_is_textbook(small_params, real_batch):
    x, t = real_batch
    g = backprop.gradient(small_params, x, t, log_eps=0.0)
    from mlpbench.model import forward, hidden

    p = forward(small_params, x)
    d = (p - t) / x.shape[0]
    np.testing.assert_allclose(g["W2"], hidden(small_params, x).T @ d, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(g["b2"], d.sum(axis=0), rtol=1e-12, atol=1e-15)


def test_backprop_log_eps_scales_by_p_over_p_plus_eps(small_params, real_batch):
    x, t = real_batch
    from mlpbench.model import forward

    p = forward(small_params, x)
    eps = 1e-2  # large enough that the scaling is visible
    py = (p * t).sum(axis=1, keepdims=True)
    expected = (p - t) / x.shape[0] * py / (py + eps)
    g = backprop.gradient(small_params, x, t, log_eps=eps)
    np.testing.assert_allclose(g["b2"], expected.sum(axis=0), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(
    ("scheme", "h", "tolerance"),
    [("central", 1e-4, 1e-6), ("forward", 1e-6, 1e-3), ("backward", 1e-6, 1e-3)],
)
def test_naive_numerical_matches_backprop(small_params, real_batch, scheme, h, tolerance):
    x, t = real_batch
    exact = backprop.gradient(small_params, x, t, log_eps=1e-7)
    est = numerical.Numerical().make_estimator(numerical.Config(scheme=scheme), h, 1e-7)
    result = est(small_params, x, t)
    assert set(result.grads) == set(PARAM_KEYS)
    assert max_rel_err(result.grads, exact) < tolerance
    # per element, not only overall: the relative error of the largest entries is small too
    for k in PARAM_KEYS:
        assert result.grads[k].shape == small_params[k].shape
        assert result.grads[k].dtype == small_params[k].dtype


def test_central_is_far_more_accurate_than_forward(small_params, real_batch):
    x, t = real_batch
    exact = backprop.gradient(small_params, x, t, log_eps=1e-7)
    errs = {
        s: max_rel_err(numerical.naive_gradient(small_params, x, t, h=1e-4, scheme=s,
                                                log_eps=1e-7).grads, exact)
        for s in ("central", "forward")
    }
    assert errs["central"] < errs["forward"] / 10


def test_loss_eval_counts(small_params, real_batch):
    x, t = real_batch
    p = param_count(small_params)
    counts = {
        s: numerical.gradient(small_params, x, t, h=1e-4, scheme=s, log_eps=1e-7,
                              engine=numerical.NAIVE).loss_evals
        for s in numerical.SCHEMES
    }
    assert counts == {"central": 2 * p, "forward": p + 1, "backward": p + 1,
                      "richardson": 4 * p, "complex_step": p}
    estimate = backprop.Backprop().make_estimator(backprop.Config(), 1e-4, 1e-7)
    assert estimate(small_params, x, t).loss_evals == 1


def test_naive_does_not_modify_params(small_params, real_batch):
    x, t = real_batch
    before = {k: v.copy() for k, v in small_params.items()}
    numerical.naive_gradient(small_params, x, t, h=1e-4, scheme="central", log_eps=1e-7)
    for k in PARAM_KEYS:
        np.testing.assert_array_equal(small_params[k], before[k])


def test_registry_lists_methods_and_rejects_unknown():
    assert {"backprop", "numerical"} <= set(methods.available())
    with pytest.raises(ConfigError, match=r"^method: unknown 'nope'; allowed: backprop"):
        methods.get("nope")


@pytest.mark.parametrize(("field", "value"), [("scheme", "sideways"), ("engine", "turbo")])
def test_numerical_rejects_unknown_scheme_and_engine(field, value):
    with pytest.raises(ConfigError, match=rf"^method\.{field}: unknown '{value}'; allowed: "):
        numerical.Numerical().make_estimator(numerical.Config(**{field: value}), 1e-4, 1e-7)
