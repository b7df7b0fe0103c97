"""Tests of ``mlpbench.data.idx``: reading raw and gzipped IDX files, and rejecting bad ones."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from mlpbench.data.idx import read_idx
from mlpbench.errors import DataError

from .helpers import idx_bytes


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
