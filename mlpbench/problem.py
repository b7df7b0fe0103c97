"""The fixed problem every run, study, benchmark and test shares: MNIST digits in, ten classes out.

A network is ``INPUT_SIZE``-H-``N_CLASSES``; its inputs are the digits' uint8 pixels scaled to
[0, 1] by 1/255, as the seed scales them, and its targets are one-hot rows. Everything that
builds a batch or a network goes through here, so the scaling, the one-hot encoding and the
shapes exist once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from mlpbench.model import Params, init_params, one_hot

if TYPE_CHECKING:  # the data package itself reads the shapes from here
    from mlpbench.data import Dataset

INPUT_SIZE = 784
"""Pixels of one 28 x 28 digit."""
N_CLASSES = 10
"""Digits 0 to 9."""


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

    Real digits matter wherever a batch is fixed (the studies, benchmarks and tests): the loss's
    curvature depends on the inputs, and the incremental engine's cost follows the number of
    distinct nonzero pixel values per image, which random inputs would misrepresent.
    """
    idx = np.random.default_rng(seed).choice(data.n_train, batch_size, replace=False)
    return inputs(data.x_train[idx], dtype), targets(data.y_train[idx], dtype)


def init_network(
    hidden_size: int | Sequence[int], rng: np.random.Generator, dtype=np.float64, *,
    init: str = "seed", init_std: float = 0.01,
) -> Params:
    """Initial weights for 784-``hidden_size``-10 (one width, or one per hidden layer) drawn
    from ``rng``; by default the seed's."""
    return init_params(INPUT_SIZE, hidden_size, N_CLASSES, rng, dtype, init=init,
                       init_std=init_std)
