"""Helpers for the data tests: IDX bytes, small MNIST-shaped files and their pins, a dead port."""

from __future__ import annotations

import gzip
import hashlib
import socket
import struct
from pathlib import Path

import numpy as np

from mlpbench.data import Dataset
from mlpbench.data.download import RemoteFile

NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


# Written independently of the reader under test.


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def sha256(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def fake_arrays(n_train: int = 30, n_test: int = 10, seed: int = 0) -> dict[str, np.ndarray]:
    """Small MNIST-shaped arrays: random pixels, labels cycling through 0..9."""
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": (np.arange(n_train) % 10).astype(np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": (np.arange(n_test)[::-1] % 10).astype(np.uint8),
    }


def write_files(directory: Path, arrays: dict[str, np.ndarray], gz: bool = True) -> dict:
    """Write the four IDX files; return a RemoteFile table pinning exactly these bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    table = {}
    for key, name in NAMES.items():
        raw = idx_bytes(arrays[key])
        blob = gzip.compress(raw, mtime=0) if gz else raw
        (directory / (f"{name}.gz" if gz else name)).write_bytes(blob)
        table[key] = RemoteFile(name, sha256(gzip.compress(raw, mtime=0)), sha256(raw))
    return table


def closed_port() -> int:
    """A loopback port nothing listens on: connections to it are refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_same(dataset: Dataset, arrays: dict[str, np.ndarray]) -> None:
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    np.testing.assert_array_equal(dataset.x_train, arrays["x_train"].reshape(-1, 784))
    np.testing.assert_array_equal(dataset.y_train, arrays["y_train"])
    np.testing.assert_array_equal(dataset.x_test, arrays["x_test"].reshape(-1, 784))
    np.testing.assert_array_equal(dataset.y_test, arrays["y_test"])
