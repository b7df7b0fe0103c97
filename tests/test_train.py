"""The SGD loop and its random streams, without the run pipeline around them."""

from __future__ import annotations

import numpy as np

from mlpbench.methods import backprop, numerical
from mlpbench.model import init_network
from mlpbench.train import batch_indices, streams, train
from tests.run_settings import run_settings


def test_streams_are_independent_of_each_other_and_reproducible():
    a, b = streams(3), streams(3)
    assert (a.batches.integers(1 << 30, size=5) == b.batches.integers(1 << 30, size=5)).all()
    assert not (streams(3).init.integers(1 << 30, size=5)
                == streams(3).batches.integers(1 << 30, size=5)).all()


def test_train_float32_keeps_dtype(subset):
    params = init_network(4, np.random.default_rng(0), np.float32)
    est = numerical.Numerical().make_estimator(numerical.Config(), 1e-2, 1e-7)
    protocol = run_settings(method=numerical.Config(), epochs=1, batch_size=10, lr=0.1,
                            dtype="float32")
    status = train(params, est, subset, protocol, np.random.default_rng(0))
    assert status == "ok"
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}


def test_exp_decay_scales_step_t_by_exp_minus_k_t_and_sampling_may_repeat(subset):
    """Step 0 is taken at the full rate (bitwise the constant run's), later ones are smaller."""

    def curve(**schedule):
        rng = streams(0)
        params = init_network(8, rng.init)
        records = []
        protocol = run_settings(method=backprop.Config(), epochs=3, batch_size=50, lr=0.5,
                                **schedule)
        train(params, backprop.Backprop().make_estimator(backprop.Config(), 1e-4, 1e-7), subset,
              protocol, rng.batches, records.append)
        return [(r.loss, r.test_acc) for r in records]

    constant, decayed = curve(), curve(lr_schedule="exp_decay", lr_decay=2.0)
    assert decayed[0] == constant[0] and decayed[1:] != constant[1:]
    # every step after the first moves by lr * e^-1e9 = 0
    frozen = curve(lr_schedule="exp_decay", lr_decay=1e9)
    assert frozen[0][1] == frozen[1][1] == frozen[2][1]  # the same weights: the same accuracy
    draws = batch_indices(np.random.default_rng(0), 5, 5, replace=True)
    assert any(len(set(next(draws))) < 5 for _ in range(20))
    distinct = batch_indices(np.random.default_rng(0), 5, 5)
    assert all(len(set(next(distinct))) == 5 for _ in range(20))
