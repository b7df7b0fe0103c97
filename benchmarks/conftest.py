"""Benchmark fixtures: a real MNIST batch of the seed's size and the seed's network."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data import load_dataset
from mlpbench.model import init_params, one_hot


@pytest.fixture(scope="session")
def seed_batch() -> tuple[np.ndarray, np.ndarray]:
    """100 real digits from the embedded subset, scaled and one-hot as in training."""
    data = load_dataset("mnist_subset")
    idx = np.random.default_rng(0).choice(data.n_train, 100, replace=False)
    return data.x_train[idx].astype(np.float64) / 255, one_hot(data.y_train[idx], 10)


@pytest.fixture(scope="session")
def seed_params() -> dict[str, np.ndarray]:
    """784-50-10 at the seed's init."""
    return init_params(784, 50, 10, np.random.default_rng(0))
