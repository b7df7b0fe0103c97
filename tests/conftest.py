"""Shared fixtures: small slices of the embedded real MNIST digits, never synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data import Dataset, load_dataset
from mlpbench.model import init_params, one_hot


@pytest.fixture(scope="session")
def subset() -> Dataset:
    return load_dataset("mnist_subset")


@pytest.fixture(scope="session")
def real_batch(subset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """20 real digits, scaled as the seed scales them, with one-hot targets."""
    idx = np.random.default_rng(7).choice(subset.n_train, 20, replace=False)
    return subset.x_train[idx].astype(np.float64) / 255, one_hot(subset.y_train[idx], 10)


@pytest.fixture
def small_params() -> dict[str, np.ndarray]:
    """A 784-6-10 network: small enough for the naive loop to finish in well under a second."""
    return init_params(784, 6, 10, np.random.default_rng(0))
