"""Shared fixtures: small slices of the embedded real MNIST digits, never synthetic images."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data import Dataset, fixed_batch, load_dataset
from mlpbench.model import init_network


@pytest.fixture(scope="session")
def subset() -> Dataset:
    return load_dataset("mnist_subset")


@pytest.fixture(scope="session")
def real_batch(subset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """20 real digits, scaled as the seed scales them, with one-hot targets."""
    return fixed_batch(subset, 20, seed=7)


@pytest.fixture
def small_params() -> dict[str, np.ndarray]:
    """A 784-6-10 network: small enough for the naive loop to finish in well under a second."""
    return init_network(6, np.random.default_rng(0))
