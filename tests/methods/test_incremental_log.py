"""The engine's log is the library's, bit for bit, on every kind of double the kernels can meet."""

from __future__ import annotations

import math
import sys

import numba
import numpy as np
import pytest

from mlpbench.methods.incremental.log import (
    needs_library_log,
    split_log,
    table_log_is_the_librarys,
    table_log_mismatches,
)


@numba.njit(error_model="numpy")
def kernel_logs(xs, table):
    """log(x) as the kernels take it: ``split_log``, then math.log where ``needs_library_log``
    says so; and how often the two disagreed on which log to take."""
    out = np.empty_like(xs)
    disagreements = 0
    for q in range(xs.shape[0]):
        value, library = split_log(xs[q], table)
        if library != needs_library_log(xs[q], table):
            disagreements += 1
        out[q] = math.log(xs[q]) if needs_library_log(xs[q], table) else value
    return out, disagreements


def neighbours(values, count: int = 8) -> np.ndarray:
    """Each value and its ``count`` nearest doubles on either side (positive ones only)."""
    values = np.asarray(values, dtype=np.float64)
    out = [values]
    below = above = values
    with np.errstate(over="ignore"):  # above the largest double: inf, a case of its own
        for _ in range(count):
            below, above = np.nextafter(below, 0.0), np.nextafter(above, np.inf)
            out += [below, above]
    found = np.concatenate(out)
    return found[found > 0]


def sweep() -> np.ndarray:
    """A dense sweep of positive doubles: subnormals, the smallest normal, 1 and everything within
    1/16 of it (where glibc leaves the table), the largest double, every table interval over many
    binades, and random doubles across the whole exponent range."""
    rng = np.random.default_rng(0)
    near_one_edges = [1 - 2.0**-4, 1 + float.fromhex("0x1.09p-4")]  # glibc's near-1 interval
    parts = [
        # subnormals: the extremes and random bit patterns below the smallest normal
        neighbours([5e-324, sys.float_info.min * (1 - 2.0**-52)]),
        rng.integers(1, 2**52, 100_000, dtype=np.int64).view(np.float64),
        neighbours([sys.float_info.min, 2 * sys.float_info.min]),
        # 1 and around it: within 1/16, the edges of glibc's near-1 interval, and beyond
        neighbours([1.0, *near_one_edges], count=64),
        np.linspace(1 - 1 / 16, 1 + 1 / 16, 100_001),
        1.0 + rng.uniform(-1 / 16, 1 / 16, 100_000),
        1.0 + rng.uniform(-2.0**-20, 2.0**-20, 10_000),
        np.linspace(0.5, 2.0, 100_001),
        # the largest doubles
        neighbours([sys.float_info.max, sys.float_info.max / 2]),
        # every table interval (z in [0x1.6p-1, 0x1.6p+0), 128 of them) in binades from the
        # smallest normal to the largest
        np.ldexp.outer(np.linspace(0.6875, 1.375, 4097)[:-1],
                       np.arange(-1022, 1024, 31)).ravel(),
        # random doubles: uniform exponent field and mantissa, every normal binade
        ((rng.integers(1, 2047, 200_000, dtype=np.int64) << 52)
         | rng.integers(0, 2**52, 200_000, dtype=np.int64)).view(np.float64),
        # and log-uniform ones, as the engine's own check draws them
        np.exp(rng.uniform(-745.0, 709.0, 100_000)),
        np.array([np.inf]),
    ]
    xs = np.concatenate(parts)
    assert np.all(xs > 0)
    return xs


@pytest.fixture(scope="module")
def xs() -> np.ndarray:
    return sweep()


def bits(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).view(np.int64)


def test_the_kernels_log_is_math_log_bit_for_bit(xs):
    """What the kernels compute, table path or fallback, against math.log."""
    got, disagreements = kernel_logs(xs, table_log_is_the_librarys())
    want = np.array([math.log(x) for x in xs.tolist()])
    assert disagreements == 0
    differing = np.flatnonzero(bits(got) != bits(want))
    assert differing.size == 0, [(float(xs[i]).hex(), got[i], want[i]) for i in differing[:5]]


def test_without_the_table_every_log_is_the_librarys(xs):
    """Where the table path is not the library's, the kernels take math.log for everything."""
    got, disagreements = kernel_logs(xs[:10_000], False)
    assert disagreements == 0
    assert np.array_equal(bits(got), bits([math.log(x) for x in xs[:10_000].tolist()]))


def test_the_table_path_itself(xs):
    """On glibc (2.28 or later, x86-64 with FMA) the table path matches math.log wherever it
    is taken, so the kernels use it: the sweep's inputs outside its exceptions included."""
    if not table_log_is_the_librarys():
        pytest.skip("this machine's log is not glibc's table algorithm; the kernels use math.log")
    assert table_log_mismatches(xs) == 0


def test_float32_logs_are_never_left_to_the_library():
    """For float32 ``split_log`` is math.log itself (the float32 log) and never replaced."""
    xs = np.array([1e-40, 1.17549435e-38, 0.5, 1.0, 1.01, 3.4e38], dtype=np.float32)
    got, disagreements = kernel_logs(xs, True)
    assert disagreements == 0
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, np.log(xs.astype(np.float64)), rtol=1e-6)
