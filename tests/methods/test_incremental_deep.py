"""The incremental engine on networks beyond the seed's: the naive loop's numbers, to rounding."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.methods import backprop, numerical
from mlpbench.methods.incremental.deep import deep_incremental_gradient
from mlpbench.model import init_network
from mlpbench.train import streams, train
from tests.run_settings import run_settings

NETWORKS = {"784-8-6-10 sigmoid": ((8, 6), "sigmoid"), "784-6-5-4-10 tanh": ((6, 5, 4), "tanh"),
            "784-8-6-10 relu": ((8, 6), "relu"), "784-7-10 tanh": ((7,), "tanh")}


def worst_difference(a: dict, b: dict) -> float:
    scale = max(np.abs(v).max() for v in b.values())
    return float(max(np.abs(a[k] - b[k]).max() for k in b) / scale)


@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.parametrize("scheme", ["central", "forward", "complex_step"])
def test_engines_agree_on_deeper_networks(name, scheme, real_batch):
    widths, activation = NETWORKS[name]
    params = init_network(widths, np.random.default_rng(0))
    x, t = real_batch[0][:10], real_batch[1][:10]
    h = 1e-20 if scheme == "complex_step" else 1e-4
    kwargs = dict(h=h, scheme=scheme, log_eps=1e-7, activation=activation)
    naive = numerical.gradient(params, x, t, engine="naive", **kwargs)
    fast = numerical.gradient(params, x, t, engine="incremental", **kwargs)
    assert fast.loss_evals == naive.loss_evals
    assert worst_difference(fast.grads, naive.grads) <= (1e-14 if scheme == "complex_step"
                                                         else 1e-9)
    if scheme == "complex_step":  # and both are backprop's gradient to rounding
        exact = backprop.gradient(params, x, t, 1e-7, activation)
        assert worst_difference(fast.grads, exact) <= 1e-12


def test_backward_differences_and_float32(real_batch):
    params = init_network((6, 5), np.random.default_rng(1), np.float32)
    x, t = (a[:8].astype(np.float32) for a in real_batch)
    kwargs = dict(h=1e-2, scheme="backward", log_eps=1e-7, activation="tanh")
    fast = deep_incremental_gradient(params, x, t, **kwargs)
    naive = numerical.naive_gradient(params, x, t, **kwargs)
    assert all(g.dtype == np.float32 for g in fast.grads.values())
    assert worst_difference(fast.grads, naive.grads) <= 1e-3


@pytest.mark.parametrize("name", ["784-8-6-10 sigmoid", "784-6-5-4-10 tanh"])
def test_training_curves_of_the_two_engines_agree(name, subset):
    widths, activation = NETWORKS[name]

    def curve(engine: str) -> list[float]:
        rng = streams(0)
        params = init_network(widths, rng.init)
        estimator = numerical.Numerical().make_estimator(
            numerical.Config(engine=engine), 1e-4, 1e-7, rng.method, activation)
        losses: list[float] = []
        protocol = run_settings(method=numerical.Config(engine=engine), hidden_sizes=widths,
                                activation=activation, epochs=3, batch_size=10, lr=0.1)
        train(params, estimator, subset, protocol, rng.batches,
              lambda record: losses.append(record.loss))
        return losses

    assert np.max(np.abs(np.array(curve("incremental")) - curve("naive"))) <= 1e-9


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_every_scheme_on_two_and_three_layers_approaches_backprop(activation, real_batch):
    """Each finite-difference scheme's known error against the exact gradient: forward and
    backward O(h), central O(h^2), Richardson O(h^4), the complex step rounding only."""
    x, t = real_batch[0][:10], real_batch[1][:10]
    bounds = {"forward": 1e-3, "backward": 1e-3, "central": 1e-6, "richardson": 1e-8,
              "complex_step": 1e-12}
    for widths in ((8, 6), (6, 5, 4)):
        params = init_network(widths, np.random.default_rng(2))
        exact = backprop.gradient(params, x, t, 1e-7, activation)
        for scheme, bound in bounds.items():
            h = 1e-20 if scheme == "complex_step" else 1e-4
            grads = numerical.gradient(params, x, t, h=h, scheme=scheme, log_eps=1e-7,
                                       engine="incremental", activation=activation).grads
            assert worst_difference(grads, exact) <= bound, (widths, scheme)
