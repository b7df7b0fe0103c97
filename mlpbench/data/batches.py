"""Digits as the network sees them: inputs are the uint8 pixels scaled to [0, 1] by 1/255, as the
seed scales them, and targets are one-hot rows. Everything that builds a batch goes through
here, so the scaling and the encoding exist once."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from mlpbench.model import N_CLASSES, one_hot

if TYPE_CHECKING:
    from mlpbench.data import Dataset


def inputs(pixels: np.ndarray, dtype=np.float64) -> np.ndarray:
    """uint8 pixels as the network's inputs: ``pixels / 255`` in ``dtype``."""
    return pixels.astype(dtype) / 255


def targets(labels: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Integer labels as one-hot rows in ``dtype``."""
    return one_hot(labels, N_CLASSES, dtype)


def fixed_batch(
    data: Dataset, batch_size: int, seed: int, dtype=np.float64
) -> tuple[np.ndarray, np.ndarray]:
    """``batch_size`` distinct training digits picked with ``seed``, scaled and one-hot.

    Real digits matter wherever a batch is fixed (a run's cost measurements, the studies,
    benchmarks and tests): the loss's curvature depends on the inputs, and the incremental
    engine's cost follows the number of distinct nonzero pixel values per image, which random
    inputs would misrepresent.
    """
    idx = np.random.default_rng(seed).choice(data.n_train, batch_size, replace=False)
    return inputs(data.x_train[idx], dtype), targets(data.y_train[idx], dtype)
