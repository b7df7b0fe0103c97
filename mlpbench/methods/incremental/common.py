"""What the compiled kernels share: numba's decorators, the constants array, the grouped
arguments, and the power series both the real and the complex kernels sum.

Every kernel uses NumPy's error model: a division by zero gives inf or nan instead of raising,
which keeps the inner loops free of a branch per division, so that the compiler vectorises them
(under Python's error model no inner loop vectorises). Kernels are compiled once per dtype and
cached on disk.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

jit = numba.njit(cache=True, error_model="numpy")
inline = numba.njit(cache=True, error_model="numpy", inline="always")
parallel = numba.njit(cache=True, error_model="numpy", parallel=True)
# In ``parallel`` kernels (and the ``inline`` helpers their loops call) an array that is written
# is never taken from a tuple by unpacking (``a, b = pair``): numba's alias analysis does not
# follow unpacking, so it may take the array for a local one and drop its writes as dead code
# (numba 0.68 drops them). Arrays come out of a tuple by index (``pair[0]``) or out of a named
# tuple by attribute (``batch.z``), which it follows; read-only ones may be unpacked.

CENTRAL, FORWARD, BACKWARD = 0, 1, 2
SCHEME_CODES = {"central": CENTRAL, "forward": FORWARD, "backward": BACKWARD}

SERIES_LIMIT = 1e-3
"""|d| up to which exp(d) is summed as 1 + d + ... + d^5/120: the rest is below 1.4e-21."""

QUOTIENT_LIMIT = 2.0**-50
"""|Im w| / Re w up to which Im log(w) = atan2(Im w, Re w) is taken as the quotient Im w / Re w:
atan(q) = q (1 - q^2/3 + ...), and q^2/3 < 2^-101 is far below rounding."""

# Indices into the constants array. Constants travel in an array of the parameters' dtype, so
# that float32 kernels stay float32.
(ONE, HALF, SIXTH, TH24, TH120, LIMIT, LOG_EPS, H, SCALE, QUOTIENT, SIX, TWENTY_FOUR,
 ONE_TWENTY, TABLE_LOG) = range(14)


def constants(dtype: np.dtype, h: float, log_eps: float, scale: float,
              table_log: bool) -> np.ndarray:
    """The constants array; ``scale`` multiplies the summed differences (1 / (batch * step)),
    ``table_log`` says whether the kernels may use ``log.table_log``."""
    return np.array([1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, SERIES_LIMIT, log_eps, h, scale,
                     QUOTIENT_LIMIT, 6.0, 24.0, 120.0, table_log], dtype=dtype)


# Indices into the complex constants array, of the complex dtype for the same reason.
CZERO, IH = range(2)


def complex_dtype(dtype: np.dtype) -> np.dtype:
    """complex128 for float64, complex64 for float32."""
    return np.result_type(dtype, np.complex64)


def complex_constants(dtype: np.dtype, h: float) -> np.ndarray:
    """Zero and the step i h, of the complex dtype matching ``dtype``."""
    return np.array([0, 1j * h], dtype=complex_dtype(dtype))


class Batch(NamedTuple):
    """The unperturbed forward pass of a batch of n samples through a network with m hidden
    units and K outputs, as the kernels read it. The logits are shifted by the batch maximum."""

    ex: np.ndarray  # (n, m): exp(-a), a the hidden pre-activations
    z: np.ndarray  # (n, m): sigmoid(a) = 1 / (1 + ex)
    e: np.ndarray  # (n, K): exp of the shifted logits
    e_t: np.ndarray  # (K, n): e transposed, contiguous
    totals: np.ndarray  # (n,): the softmax denominators, sum_k e[b, k]
    t: np.ndarray  # (n, K): the targets
    target: np.ndarray  # (n,): the class of a one-hot row (one nonzero, equal to 1), else -1
    ey: np.ndarray  # (n,): e of the target class (of class 0 where target is -1)
    ty: np.ndarray  # (n,): t of the target class (likewise)
    w2: np.ndarray  # (m, K): W2, contiguous
    moments: np.ndarray  # (6, n, m): sum_k e[b, k] W2[j, k]^p for p = 0..5
    wmax: np.ndarray  # (m,): max_k |W2[j, k]|


@inline
def exp_series(d, c):
    """1 + d + d^2/2 + ... + d^5/120: exp(d) to full precision for |d| <= SERIES_LIMIT, real or
    complex."""
    return c[ONE] + d * (c[ONE] + d * (c[HALF] + d * (c[SIXTH] + d * (c[TH24]
                                                                   + d * c[TH120]))))


@inline
def denominator_series(moments, b, j, dz, c):
    """sum_p dz^p / p! * M_p for p <= 5: sample b's softmax denominator after hidden unit j
    moved by dz, when every |dz W2[j, k]| is within the series limit.

    The denominator is sum_k e_k exp(dz w_k); summing each exp(dz w_k) as its series and
    collecting powers of dz gives this, with M_p = sum_k e_k w_k^p: the same sum, reordered,
    in five multiply-adds instead of fifty. Real or complex dz.
    """
    m0, m1, m2 = moments[0, b, j], moments[1, b, j], moments[2, b, j]
    m3, m4, m5 = moments[3, b, j], moments[4, b, j], moments[5, b, j]
    return m0 + dz * (m1 + dz * (c[HALF] * m2 + dz * (c[SIXTH] * m3 + dz * (
        c[TH24] * m4 + dz * c[TH120] * m5))))


@inline
def scaled_moments(moments, b, j, c):
    """(M_0, M_1, M_2 / 2, M_3 / 6, M_4 / 24, M_5 / 120) of sample b and unit j: the
    coefficients of the denominator's series in powers of dz, for a loop over many dz."""
    return (moments[0, b, j], moments[1, b, j], moments[2, b, j] * c[HALF],
            moments[3, b, j] / c[SIX], moments[4, b, j] / c[TWENTY_FOUR],
            moments[5, b, j] / c[ONE_TWENTY])
