"""Tests of ``mlpbench.data.download``: checksum-verified fetches from mirrors, and the pins."""

from __future__ import annotations

import pytest

from mlpbench.data import download as remote
from mlpbench.data import load_dataset
from mlpbench.data.download import DownloadUnavailable, RemoteFile
from mlpbench.errors import DataError

from .helpers import NAMES, assert_same, closed_port, fake_arrays, write_files


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
