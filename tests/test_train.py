"""The SGD loop and its random streams, without the run pipeline around them."""

from __future__ import annotations

import numpy as np

from mlpbench import problem
from mlpbench.methods import numerical
from mlpbench.train import streams, train


def test_streams_are_independent_of_each_other_and_reproducible():
    a, b = streams(3), streams(3)
    assert (a.batches.integers(1 << 30, size=5) == b.batches.integers(1 << 30, size=5)).all()
    assert not (streams(3).init.integers(1 << 30, size=5)
                == streams(3).batches.integers(1 << 30, size=5)).all()


def test_train_float32_keeps_dtype(subset):
    params = problem.init_network(4, np.random.default_rng(0), np.float32)
    est = numerical.make_estimator(numerical.Config(), 1e-2, 1e-7)
    status = train(params, est, subset, epochs=1, steps_per_epoch=1, batch_size=10, lr=0.1,
                   log_eps=1e-7, dtype="float32", batch_rng=np.random.default_rng(0))
    assert status == "ok"
    assert {p.dtype for p in params.values()} == {np.dtype(np.float32)}
