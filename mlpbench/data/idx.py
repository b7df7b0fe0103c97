"""Reader of the IDX format that MNIST and Fashion-MNIST are distributed in.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of dimensions),
one big-endian uint32 per dimension, then the values in C order. Only the unsigned-byte type
(0x08) is accepted: both datasets use it, and silently widening another type would hide a wrong
file. Files may be gzip-compressed; that is decided by their first bytes, not their name, because
mirrors, browsers and package managers rename and recompress them freely.

Every problem is a ``DataError`` whose one-line message names the file, so the CLI can tell the
user which file to replace.
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path

import numpy as np

from mlpbench.errors import DataError

GZIP_MAGIC = b"\x1f\x8b"
UBYTE_CODE = 0x08
_HEADER = struct.Struct(">2sBB")


def is_gzip(data: bytes) -> bool:
    """True when ``data`` starts like a gzip stream (RFC 1952 magic bytes)."""
    return data[:2] == GZIP_MAGIC


def read_payload(path: str | Path) -> bytes:
    """Return the IDX bytes of ``path``, gunzipped first when its content is gzip.

    Kept separate from parsing so callers can checksum exactly the bytes they parse, which stay
    the same however the file was compressed.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise DataError(f"{path}: cannot read ({reason}); expected a readable IDX file") from None
    if not is_gzip(data):
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(
            f"{path}: corrupt gzip data ({exc}); expected a complete gzip-compressed IDX file"
        ) from None


def parse_idx(data: bytes, source: str) -> np.ndarray:
    """Decode IDX bytes into a read-only uint8 array shaped by the header's dimensions.

    ``source`` names the file in error messages. The payload must be exactly as long as the
    dimensions say: a short one is a truncated download, a long one is not the file we expect.
    """
    if len(data) < _HEADER.size:
        raise DataError(
            f"{source}: {len(data)} bytes is too short for an IDX header; expected at least 4"
        )
    zeros, code, ndim = _HEADER.unpack_from(data)
    if zeros != b"\x00\x00" or ndim == 0:
        magic = int.from_bytes(data[:4], "big")
        raise DataError(
            f"{source}: bad IDX magic number 0x{magic:08x}; expected 0x000008NN "
            "(unsigned bytes, NN >= 1 dimensions)"
        )
    if code != UBYTE_CODE:
        raise DataError(
            f"{source}: IDX type code 0x{code:02x} is not supported; only 0x08 (unsigned byte) "
            "is allowed"
        )
    offset = _HEADER.size + 4 * ndim
    if len(data) < offset:
        raise DataError(
            f"{source}: truncated IDX header ({len(data)} bytes); {ndim} dimensions need {offset}"
        )
    dims = struct.unpack_from(f">{ndim}I", data, _HEADER.size)
    expected = math.prod(dims)
    actual = len(data) - offset
    shape = "x".join(map(str, dims))
    if actual < expected:
        raise DataError(
            f"{source}: truncated IDX payload: {actual} bytes after the header, "
            f"but shape {shape} needs {expected}"
        )
    if actual > expected:
        raise DataError(
            f"{source}: {actual - expected} trailing bytes after the IDX payload; "
            f"shape {shape} allows exactly {expected}"
        )
    return np.frombuffer(data, dtype=np.uint8, count=expected, offset=offset).reshape(dims)


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, raw or gzip-compressed, into a read-only uint8 array."""
    return parse_idx(read_payload(path), str(path))
