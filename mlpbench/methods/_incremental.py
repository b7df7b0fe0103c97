"""The incremental finite-difference engine: the naive loop's losses, without its redundant work.

Moving one parameter by h changes little of the forward pass. Moving W1[i, j] changes only
hidden unit j's pre-activation, by h * x[b, i], and only for the samples whose pixel i is not 0;
moving W2[j, k] changes only logit k, by h * z[b, j]. This engine evaluates every perturbed
per-sample loss -sum_c t_c log(p_c + log_eps) from the unperturbed activations plus that change,
so it computes the same finite differences of the same training loss as ``engine=naive`` (to
rounding), at a cost proportional to what actually changes:

- the sigmoid of the moved pre-activation is 1 / (1 + exp(-a) * exp(-h x)), where exp(-a) is
  computed once per (sample, unit) and exp(-h x) once per distinct pixel value;
- a sample's perturbed losses depend on pixel i only through its value, so they are computed
  once per distinct nonzero value of that sample (about 66 of its 157 nonzero pixels on MNIST)
  and added to every pixel holding that value;
- the changed exponentials exp(o_k + d - m) are exp(o_k - m) * exp(d) with |d| tiny; exp(d) is
  evaluated by its power series to full precision when |d| <= 1e-3 (the omitted terms are below
  1.4e-21 relative, far under rounding) and by the library exp otherwise.

Nothing here is a Taylor expansion of the loss in h: every perturbed loss is computed in full
from the perturbed logits, and every real-step gradient entry is a difference of two such
losses (or of one and the unperturbed loss) divided by h or 2h, as in the naive loop. The
softmax keeps the unperturbed batch maximum as its shift; the shift cancels exactly in the
softmax, so this differs from the naive loop (which re-takes the maximum of the perturbed
logits) only by rounding. Arithmetic stays in the parameters' dtype up to each loss; for float32
parameters numba carries the loss differences, the sums over samples and the output kernel's
steps in float64 (a float32 times an integer is a float64 to it).

Richardson extrapolation, two central gradients D at h and h/2 combined as
(4 D(h/2) - D(h)) / 3, is done once for both engines by ``numerical.gradient``.

How the kernels run. They are compiled by numba once per dtype (cached on disk), run their
outer loops in parallel over hidden units, and use NumPy's error model (a division by zero
gives inf or nan instead of raising), which keeps their inner loops free of branches so that
the compiler vectorises them (eight float64 lanes with AVX-512). For one sample and unit, one
loop computes the argument p_y + log_eps of the log after every step of that sample, and a
second one the losses: their log is glibc's own algorithm (Arm's Optimized Routines, as glibc
2.28 and later computes it on x86-64 with FMA: a table of 128 intervals and a polynomial),
written out so that it vectorises too. It gives the library's log bit for bit; that is checked
against ``math.log`` once per process, and where it fails the kernels call ``math.log``, as
they do for arguments within about 1/16 of 1 (where glibc uses another polynomial) and for
ones that are not positive, normal and finite. Each unit sums its column of W1's gradient in a
row of its own, from a flat list of the sample's pixels and their steps, and writes it once,
scaled. Every result is bitwise that of the scalar loops these replaced. The per-sample
distinct values are grouped without a sort per sample (``distinct_values``).

The complex step (``scheme=complex_step``) has kernels of its own with the same structure: the
unperturbed state (pre-activations, z, the exponentials, their totals and moments) stays real
and only the steps are imaginary. Moving W1[i, j] by i h moves the pre-activation by i h x, so
the sigmoid becomes 1 / (1 + exp(-a) * exp(-i h x)), with exp(-i h v) = cos(h v) - i sin(h v)
computed once per distinct pixel value v; moving W2[j, k] moves logit k by i h z. The moved
hidden unit's change dz is complex, and the softmax denominator, the series and the loss follow
as above in complex arithmetic (every power series is as valid for a complex argument; its limit
is checked on the modulus). Each gradient entry is the sum over samples of the imaginary part of
the perturbed loss, divided by batch * h: the unperturbed loss is real, so nothing is subtracted.
No imaginary part is computed by subtracting values that agree up to O(h) terms (as
L(theta + h) - L(theta) does): reciprocals are conj(w) / |w|^2, whose imaginary part is a
quotient, and the imaginary part of a log is atan2(Im, Re), so even h = 1e-20 loses nothing to
cancellation. Where |Im w| <= 2^-50 Re w (at h = 1e-20, always) atan2(Im w, Re w) is the
quotient Im w / Re w to rounding, since atan(q) = q (1 - q^2 / 3 + ...), and the kernels divide
(a vectorised division instead of a call); they call atan2 otherwise. The complex kernels keep
real and imaginary parts in separate arrays, which is what lets their loops vectorise. Complex
arithmetic is in complex128 for float64 parameters and complex64 for float32 ones.
"""

from __future__ import annotations

import cmath
import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from mlpbench.methods.base import GradientResult
from mlpbench.model import Params

CENTRAL, FORWARD, BACKWARD = 0, 1, 2
SCHEME_CODES = {"central": CENTRAL, "forward": FORWARD, "backward": BACKWARD}
SERIES_LIMIT = 1e-3
"""|d| up to which exp(d) is summed as 1 + d + ... + d^5/120: the rest is below 1.4e-21."""

QUOTIENT_LIMIT = 2.0**-50
"""|Im w| / Re w up to which Im log(w) = atan2(Im w, Re w) is taken as the quotient Im w / Re w:
atan(q) = q (1 - q^2/3 + ...), and q^2/3 < 2^-101 is far below rounding."""

# Constants travel in an array of the parameters' dtype, so float32 kernels stay float32.
(_ONE, _HALF, _SIXTH, _24TH, _120TH, _LIMIT, _LOG_EPS, _H, _SCALE, _QUOTIENT, _SIX, _24,
 _120, _TABLE_LOG) = range(14)


def _constants(dtype: np.dtype, h: float, log_eps: float, scale: float) -> np.ndarray:
    return np.array([1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, SERIES_LIMIT, log_eps, h, scale,
                     QUOTIENT_LIMIT, 6.0, 24.0, 120.0, _table_log_is_the_librarys()],
                    dtype=dtype)


# Complex constants of the complex dtype, for the same reason: zero and the step i h.
_CZERO, _IH = range(2)


def _complex_constants(dtype: np.dtype, h: float) -> np.ndarray:
    return np.array([0, 1j * h], dtype=_complex_dtype(dtype))


def _complex_dtype(dtype: np.dtype) -> np.dtype:
    """complex128 for float64, complex64 for float32."""
    return np.result_type(dtype, np.complex64)


# Every kernel uses NumPy's error model: a division by zero gives inf or nan instead of raising,
# which frees the loops of a branch per division, so that the compiler can vectorise them (with
# Python's, nothing in an inner loop vectorised).
_jit = numba.njit(cache=True, error_model="numpy")
_inline = numba.njit(cache=True, error_model="numpy", inline="always")
_parallel = numba.njit(cache=True, error_model="numpy", parallel=True)


# The natural log of glibc (2.28 and later; Arm's Optimized Routines), as its x86-64 build with
# FMA computes it, written out so that the compiler can vectorise it: log(x) = k ln 2 + log(c) +
# log1p(z / c - 1) for x = 2^k z, with 1 / c and log(c) from a table of 128 intervals of z and a
# degree-5 polynomial for log1p. It is bitwise the library's for every x outside
# [1 - 2^-4, 1 + 0x1.09p-4) (where the library uses another polynomial) that is positive, normal
# and finite; those others are left to math.log. ``_table_log_is_the_librarys`` checks the
# equality on this machine before any kernel relies on it. The table and the polynomial's
# coefficients are Arm's Optimized Routines' (math/log_data.c; Copyright (c) 2018, Arm Limited;
# MIT license, which asks that this notice be kept with them).
_LOG_TABLE = """
0x1.734f0c3e0de9fp+0 -0x1.7cc7f79e69000p-2
0x1.713786a2ce91fp+0 -0x1.76feec20d0000p-2
0x1.6f26008fab5a0p+0 -0x1.713e31351e000p-2
0x1.6d1a61f138c7dp+0 -0x1.6b85b38287800p-2
0x1.6b1490bc5b4d1p+0 -0x1.65d5590807800p-2
0x1.69147332f0cbap+0 -0x1.602d076180000p-2
0x1.6719f18224223p+0 -0x1.5a8ca86909000p-2
0x1.6524f99a51ed9p+0 -0x1.54f4356035000p-2
0x1.63356aa8f24c4p+0 -0x1.4f637c36b4000p-2
0x1.614b36b9ddc14p+0 -0x1.49da7fda85000p-2
0x1.5f66452c65c4cp+0 -0x1.445923989a800p-2
0x1.5d867b5912c4fp+0 -0x1.3edf439b0b800p-2
0x1.5babccb5b90dep+0 -0x1.396ce448f7000p-2
0x1.59d61f2d91a78p+0 -0x1.3401e17bda000p-2
0x1.5805612465687p+0 -0x1.2e9e2ef468000p-2
0x1.56397cee76bd3p+0 -0x1.2941b3830e000p-2
0x1.54725e2a77f93p+0 -0x1.23ec58cda8800p-2
0x1.52aff42064583p+0 -0x1.1e9e129279000p-2
0x1.50f22dbb2bddfp+0 -0x1.1956d2b48f800p-2
0x1.4f38f4734ded7p+0 -0x1.141679ab9f800p-2
0x1.4d843cfde2840p+0 -0x1.0edd094ef9800p-2
0x1.4bd3ec078a3c8p+0 -0x1.09aa518db1000p-2
0x1.4a27fc3e0258ap+0 -0x1.047e65263b800p-2
0x1.4880524d48434p+0 -0x1.feb224586f000p-3
0x1.46dce1b192d0bp+0 -0x1.f474a7517b000p-3
0x1.453d9d3391854p+0 -0x1.ea4443d103000p-3
0x1.43a2744b4845ap+0 -0x1.e020d44e9b000p-3
0x1.420b54115f8fbp+0 -0x1.d60a22977f000p-3
0x1.40782da3ef4b1p+0 -0x1.cc00104959000p-3
0x1.3ee8f5d57fe8fp+0 -0x1.c202956891000p-3
0x1.3d5d9a00b4ce9p+0 -0x1.b81178d811000p-3
0x1.3bd60c010c12bp+0 -0x1.ae2c9ccd3d000p-3
0x1.3a5242b75dab8p+0 -0x1.a45402e129000p-3
0x1.38d22cd9fd002p+0 -0x1.9a877681df000p-3
0x1.3755bc5847a1cp+0 -0x1.90c6d69483000p-3
0x1.35dce49ad36e2p+0 -0x1.87120a645c000p-3
0x1.34679984dd440p+0 -0x1.7d68fb4143000p-3
0x1.32f5cceffcb24p+0 -0x1.73cb83c627000p-3
0x1.3187775a10d49p+0 -0x1.6a39a9b376000p-3
0x1.301c8373e3990p+0 -0x1.60b3154b7a000p-3
0x1.2eb4ebb95f841p+0 -0x1.5737d76243000p-3
0x1.2d50a0219a9d1p+0 -0x1.4dc7b8fc23000p-3
0x1.2bef9a8b7fd2ap+0 -0x1.4462c51d20000p-3
0x1.2a91c7a0c1babp+0 -0x1.3b08abc830000p-3
0x1.293726014b530p+0 -0x1.31b996b490000p-3
0x1.27dfa5757a1f5p+0 -0x1.2875490a44000p-3
0x1.268b39b1d3bbfp+0 -0x1.1f3b9f879a000p-3
0x1.2539d838ff5bdp+0 -0x1.160c8252ca000p-3
0x1.23eb7aac9083bp+0 -0x1.0ce7f57f72000p-3
0x1.22a012ba940b6p+0 -0x1.03cdc49fea000p-3
0x1.2157996cc4132p+0 -0x1.f57bdbc4b8000p-4
0x1.201201dd2fc9bp+0 -0x1.e370896404000p-4
0x1.1ecf4494d480bp+0 -0x1.d17983ef94000p-4
0x1.1d8f5528f6569p+0 -0x1.bf9674ed8a000p-4
0x1.1c52311577e7cp+0 -0x1.adc79202f6000p-4
0x1.1b17c74cb26e9p+0 -0x1.9c0c3e7288000p-4
0x1.19e010c2c1ab6p+0 -0x1.8a646b372c000p-4
0x1.18ab07bb670bdp+0 -0x1.78d01b3ac0000p-4
0x1.1778a25efbcb6p+0 -0x1.674f145380000p-4
0x1.1648d354c31dap+0 -0x1.55e0e6d878000p-4
0x1.151b990275fddp+0 -0x1.4485cdea1e000p-4
0x1.13f0ea432d24cp+0 -0x1.333d94d6aa000p-4
0x1.12c8b7210f9dap+0 -0x1.22079f8c56000p-4
0x1.11a3028ecb531p+0 -0x1.10e4698622000p-4
0x1.107fbda8434afp+0 -0x1.ffa6c6ad20000p-5
0x1.0f5ee0f4e6bb3p+0 -0x1.dda8d4a774000p-5
0x1.0e4065d2a9fcep+0 -0x1.bbcece4850000p-5
0x1.0d244632ca521p+0 -0x1.9a1894012c000p-5
0x1.0c0a77ce2981ap+0 -0x1.788583302c000p-5
0x1.0af2f83c636d1p+0 -0x1.5715e67d68000p-5
0x1.09ddb98a01339p+0 -0x1.35c8a49658000p-5
0x1.08cabaf52e7dfp+0 -0x1.149e364154000p-5
0x1.07b9f2f4e28fbp+0 -0x1.e72c082eb8000p-6
0x1.06ab58c358f19p+0 -0x1.a55f152528000p-6
0x1.059eea5ecf92cp+0 -0x1.63d62cf818000p-6
0x1.04949cdd12c90p+0 -0x1.228fb8caa0000p-6
0x1.038c6c6f0ada9p+0 -0x1.c317b20f90000p-7
0x1.02865137932a9p+0 -0x1.419355daa0000p-7
0x1.0182427ea7348p+0 -0x1.81203c2ec0000p-8
0x1.008040614b195p+0 -0x1.0040979240000p-9
0x1.fe01ff726fa1ap-1 0x1.feff384900000p-9
0x1.fa11cc261ea74p-1 0x1.7dc41353d0000p-7
0x1.f6310b081992ep-1 0x1.3cea3c4c28000p-6
0x1.f25f63ceeadcdp-1 0x1.b9fc114890000p-6
0x1.ee9c8039113e7p-1 0x1.1b0d8ce110000p-5
0x1.eae8078cbb1abp-1 0x1.58a5bd001c000p-5
0x1.e741aa29d0c9bp-1 0x1.95c8340d88000p-5
0x1.e3a91830a99b5p-1 0x1.d276aef578000p-5
0x1.e01e009609a56p-1 0x1.07598e598c000p-4
0x1.dca01e577bb98p-1 0x1.253f5e30d2000p-4
0x1.d92f20b7c9103p-1 0x1.42edd8b380000p-4
0x1.d5cac66fb5ccep-1 0x1.606598757c000p-4
0x1.d272caa5ede9dp-1 0x1.7da76356a0000p-4
0x1.cf26e3e6b2ccdp-1 0x1.9ab434e1c6000p-4
0x1.cbe6da2a77902p-1 0x1.b78c7bb0d6000p-4
0x1.c8b266d37086dp-1 0x1.d431332e72000p-4
0x1.c5894bd5d5804p-1 0x1.f0a3171de6000p-4
0x1.c26b533bb9f8cp-1 0x1.067152b914000p-3
0x1.bf583eeece73fp-1 0x1.147858292b000p-3
0x1.bc4fd75db96c1p-1 0x1.2266ecdca3000p-3
0x1.b951e0c864a28p-1 0x1.303d7a6c55000p-3
0x1.b65e2c5ef3e2cp-1 0x1.3dfc33c331000p-3
0x1.b374867c9888bp-1 0x1.4ba366b7a8000p-3
0x1.b094b211d304ap-1 0x1.5933928d1f000p-3
0x1.adbe885f2ef7ep-1 0x1.66acd2418f000p-3
0x1.aaf1d31603da2p-1 0x1.740f8ec669000p-3
0x1.a82e63fd358a7p-1 0x1.815c0f51af000p-3
0x1.a5740ef09738bp-1 0x1.8e92954f68000p-3
0x1.a2c2a90ab4b27p-1 0x1.9bb3602f84000p-3
0x1.a01a01393f2d1p-1 0x1.a8bed1c2c0000p-3
0x1.9d79f24db3c1bp-1 0x1.b5b515c01d000p-3
0x1.9ae2505c7b190p-1 0x1.c2967ccbcc000p-3
0x1.9852ef297ce2fp-1 0x1.cf635d5486000p-3
0x1.95cbaeea44b75p-1 0x1.dc1bd3446c000p-3
0x1.934c69de74838p-1 0x1.e8c01b8cfe000p-3
0x1.90d4f2f6752e6p-1 0x1.f5509c0179000p-3
0x1.8e6528effd79dp-1 0x1.00e6c121fb800p-2
0x1.8bfce9fcc007cp-1 0x1.071b80e93d000p-2
0x1.899c0dabec30ep-1 0x1.0d46b9e867000p-2
0x1.87427aa2317fbp-1 0x1.13687334bd000p-2
0x1.84f00acb39a08p-1 0x1.1980d67234800p-2
0x1.82a49e8653e55p-1 0x1.1f8ffe0cc8000p-2
0x1.8060195f40260p-1 0x1.2595fd7636800p-2
0x1.7e22563e0a329p-1 0x1.2b9300914a800p-2
0x1.7beb377dcb5adp-1 0x1.3187210436000p-2
0x1.79baa679725c2p-1 0x1.377266dec1800p-2
0x1.77907f2170657p-1 0x1.3d54ffbaf3000p-2
0x1.756cadbd6130cp-1 0x1.432eee32fe000p-2
"""
_LOG_INVC, _LOG_LOGC = np.array([float.fromhex(word) for word in _LOG_TABLE.split()]).reshape(
    -1, 2).T.copy()  # 1 / c and log(c), each contiguous
_LN2_HI, _LN2_LO = float.fromhex("0x1.62e42fefa3800p-1"), float.fromhex("0x1.ef35793c76730p-45")
_A0, _A1, _A2, _A3, _A4 = (float.fromhex(word) for word in (
    "-0x1.0000000000001p-1", "0x1.555555551305bp-2", "-0x1.fffffffeb4590p-3",
    "0x1.999b324f10111p-3", "-0x1.55575e506c89fp-3"))


@intrinsic
def _float_bits(typingctx, x):
    """The bit pattern of a float64, as an int64."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))

    return types.int64(types.float64), codegen


@intrinsic
def _bits_float(typingctx, bits):
    """The float64 of a bit pattern."""
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return types.float64(types.int64), codegen


@intrinsic
def _fma(typingctx, a, b, c):
    """a * b + c with a single rounding (float64)."""
    def codegen(context, builder, signature, args):
        return builder.fma(*args)

    return types.float64(types.float64, types.float64, types.float64), codegen


@_inline
def _outside_table(x):
    """Whether the table path does not give glibc's log(x): x near 1, or not positive, normal
    and finite (integer tests on the bit pattern, as glibc makes them)."""
    bits = _float_bits(x)
    near_one = bits - 0x3FEE000000000000
    top = bits >> 48
    return ((near_one >= 0) & (near_one < 0x3090000000000)) | (top < 0x10) | (top >= 0x7FF0)


@_inline
def _table_log(x):
    """glibc's log(x) by its table path (see ``_LOG_TABLE``): exact for x not ``_outside_table``,
    meaningless otherwise; branch-free, so loops over it vectorise."""
    bits = _float_bits(x)
    tmp = bits - 0x3FE6000000000000
    i = (tmp >> 45) & 127
    k = np.float64(tmp >> 52)
    z = _bits_float(bits - (tmp & -0x10000000000000))
    r = _fma(z, _LOG_INVC[i], -1.0)
    w = _fma(k, _LN2_HI, _LOG_LOGC[i])
    hi = w + r
    lo = _fma(k, _LN2_LO, (w - hi) + r)
    r2 = r * r
    poly = _fma(_fma(r, _A4, _A3), r2, _fma(r, _A2, _A1))
    return _fma(r * r2, poly, _fma(r2, _A0, lo)) + hi


def _split_log(x: float, table: bool) -> tuple[float, bool]:
    """In kernels: (log(x), whether the caller must take math.log(x) instead). For float64 x the
    vectorisable table path, to be replaced where x is outside it or ``table`` is false; for
    float32 x math.log itself (the float32 log), never to be replaced."""


@overload(_split_log, inline="always")
def _split_log_overload(x, table):
    if x == types.float64:
        return lambda x, table: (_table_log(x), (not table) | _outside_table(x))
    return lambda x, table: (math.log(x), False)


def _needs_library_log(x: float, table: bool) -> bool:
    """In kernels: whether ``_split_log`` left log(x) to math.log."""


@overload(_needs_library_log, inline="always")
def _needs_library_log_overload(x, table):
    if x == types.float64:
        return lambda x, table: (not table) | _outside_table(x)
    return lambda x, table: False


@_jit
def _table_log_mismatches(xs):
    """How many of ``xs`` (outside the table's exceptions) the table path logs differently from
    math.log."""
    count = 0
    for x in xs:
        if not _outside_table(x) and _table_log(x) != math.log(x):
            count += 1
    return count


_TABLE_LOG_CHECKED: list[bool] = []


def _table_log_is_the_librarys() -> bool:
    """Whether ``_table_log`` agrees with math.log here (checked once per process on a million
    arguments spread over every table interval and binade), else the kernels use math.log."""
    if not _TABLE_LOG_CHECKED:
        rng = np.random.default_rng(0)
        xs = np.concatenate([np.exp(rng.uniform(-745.0, 709.0, 500_000)),
                             rng.uniform(0.0, 2.0, 500_000)])
        _TABLE_LOG_CHECKED.append(_table_log_mismatches(xs) == 0)
    return _TABLE_LOG_CHECKED[0]


@_inline
def _exp_series(d, c):
    """1 + d + d^2/2 + ... + d^5/120: exp(d) to full precision for |d| <= SERIES_LIMIT, real or
    complex."""
    return c[_ONE] + d * (c[_ONE] + d * (c[_HALF] + d * (c[_SIXTH] + d * (c[_24TH]
                                                                     + d * c[_120TH]))))


@_inline
def _denominator_series(moments, b, j, dz, c):
    """sum_n dz^n / n! * M_n for n <= 5: the softmax denominator after hidden unit j moved by dz
    (see ``_loss_all_logits_moved``)."""
    m0, m1, m2 = moments[0, b, j], moments[1, b, j], moments[2, b, j]
    m3, m4, m5 = moments[3, b, j], moments[4, b, j], moments[5, b, j]
    return m0 + dz * (m1 + dz * (c[_HALF] * m2 + dz * (c[_SIXTH] * m3 + dz * (
        c[_24TH] * m4 + dz * c[_120TH] * m5))))


@_inline
def _scaled_moments(moments, b, j, c):
    """M_n / n! for n <= 5, the coefficients of the denominator's series in powers of dz."""
    return (moments[0, b, j], moments[1, b, j], moments[2, b, j] * c[_HALF],
            moments[3, b, j] / c[_SIX], moments[4, b, j] / c[_24], moments[5, b, j] / c[_120])


@_inline
def _exp_small(d, c):
    """exp(d) to full precision: the series for tiny |d|, the library function otherwise."""
    if abs(d) <= c[_LIMIT]:
        return _exp_series(d, c)
    return math.exp(d)


@_inline
def _loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c):
    """Sample b's loss when every logit k moves by dz * W2[j, k] (hidden unit j changed).

    The new softmax denominator is sum_k e_k exp(dz w_k). When every |dz w_k| is within the
    series limit, summing each exp(dz w_k) as its series and collecting powers of dz gives
    sum_n dz^n / n! * M_n with M_n = sum_k e_k w_k^n: the same sum, reordered, in five
    multiply-adds instead of fifty. Otherwise each term is computed with the library exp.
    """
    if abs(dz) * wmax[j] <= c[_LIMIT]:
        total = _denominator_series(moments, b, j, dz, c)
    else:
        total = e[0, 0] * 0
        for k in range(e.shape[1]):
            total += e[b, k] * math.exp(dz * w2[j, k])
    loss = e[0, 0] * 0
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            p = e[b, k] * _exp_small(dz * w2[j, k], c) / total
            loss -= t[b, k] * math.log(p + c[_LOG_EPS])
    return loss


@_inline
def _loss_one_logit_moved(e, t, total, b, k_moved, d, c):
    """Sample b's loss when only logit ``k_moved`` moves by ``d`` (a W2 or b2 entry changed).

    Only one term of the softmax denominator changes: ``total`` is the unperturbed one.
    """
    f = _exp_small(d, c)
    moved = total + e[b, k_moved] * (f - c[_ONE])
    loss = e[0, 0] * 0
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            ek = e[b, k] * f if k == k_moved else e[b, k]
            loss -= t[b, k] * math.log(ek / moved + c[_LOG_EPS])
    return loss


@_inline
def _difference(plus, minus, base, scheme):
    """The scheme's numerator: L(+h) - L(-h), L(+h) - L, or L - L(-h)."""
    if scheme == CENTRAL:
        return plus - minus
    if scheme == FORWARD:
        return plus - base
    return base - minus


def distinct_values(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per sample, its distinct nonzero values in increasing order and the pixels holding each
    one (CSR layout).

    Returns (values, value_ptr, pixels, pixel_ptr): sample b's distinct values are
    values[value_ptr[b]:value_ptr[b + 1]], and the pixels holding the u-th of all values are
    pixels[pixel_ptr[u]:pixel_ptr[u + 1]].
    """
    x = np.ascontiguousarray(x)
    return _distinct_values(x, x.view(np.uint64 if x.itemsize == 8 else np.uint32))


@_jit
def _distinct_values(x, bits):
    """``distinct_values`` in time linear in the nonzero pixels, with no sort per sample.

    A hash table of the values' bit patterns numbers the batch's distinct values (on MNIST at
    most 255, whatever the batch); only those are sorted. Two stable counting sorts, by the
    value's rank and then by sample, put every sample's pixels in the order of their values.
    """
    n, d = x.shape
    row_ptr = np.zeros(n + 1, dtype=np.int64)
    for b in range(n):
        count = 0
        for i in range(d):
            if x[b, i] != 0:
                count += 1
        row_ptr[b + 1] = row_ptr[b] + count
    nnz = row_ptr[n]
    size, log_size = 16, 4
    while size < 2 * nnz:
        size, log_size = 2 * size, log_size + 1
    shift = np.uint64(64 - log_size)
    table = np.full(size, -1, dtype=np.int64)
    keys = np.empty(nnz, dtype=np.uint64)
    found = np.empty(nnz, dtype=x.dtype)  # the distinct values, in order of appearance
    ident = np.empty(nnz, dtype=np.int64)  # per nonzero pixel: the number of its value
    column = np.empty(nnz, dtype=np.int64)
    n_found = 0
    pos = 0
    for b in range(n):
        for i in range(d):
            if x[b, i] != 0:
                key = np.uint64(bits[b, i])
                slot = (key * np.uint64(0x9E3779B97F4A7C15)) >> shift
                while True:
                    g = table[slot]
                    if g < 0:
                        table[slot] = g = n_found
                        keys[g] = key
                        found[g] = x[b, i]
                        n_found += 1
                        break
                    if keys[g] == key:
                        break
                    slot = (slot + np.uint64(1)) & np.uint64(size - 1)
                ident[pos] = g
                column[pos] = i
                pos += 1
    rank = np.empty(n_found, dtype=np.int64)
    rank[np.argsort(found[:n_found])] = np.arange(n_found)
    start = np.zeros(n_found + 1, dtype=np.int64)  # counting sort by rank ...
    for p in range(nnz):
        start[rank[ident[p]] + 1] += 1
    for r in range(n_found):
        start[r + 1] += start[r]
    by_rank = np.empty(nnz, dtype=np.int64)
    for b in range(n):
        for p in range(row_ptr[b], row_ptr[b + 1]):
            r = rank[ident[p]]
            by_rank[start[r]] = p
            start[r] += 1
    owner = np.empty(nnz, dtype=np.int64)  # ... then by sample, keeping the rank order
    for b in range(n):
        for p in range(row_ptr[b], row_ptr[b + 1]):
            owner[p] = b
    fill = row_ptr[:n].copy()
    ordered = np.empty(nnz, dtype=np.int64)
    for p in by_rank:
        b = owner[p]
        ordered[fill[b]] = p
        fill[b] += 1
    values = np.empty(nnz, dtype=x.dtype)
    pixels = np.empty(nnz, dtype=np.int64)
    value_ptr = np.zeros(n + 1, dtype=np.int64)
    pixel_ptr = np.zeros(nnz + 1, dtype=np.int64)
    n_values = 0
    for b in range(n):
        for s in range(row_ptr[b], row_ptr[b + 1]):
            p = ordered[s]
            if s == row_ptr[b] or ident[p] != ident[ordered[s - 1]]:
                values[n_values] = found[ident[p]]
                pixel_ptr[n_values] = s
                n_values += 1
            pixels[s] = column[p]
        value_ptr[b + 1] = n_values
    pixel_ptr[n_values] = nnz
    return values[:n_values], value_ptr, pixels, pixel_ptr[: n_values + 1]


@_jit
def _targets(t, e):
    """Per sample, the class of a one-hot row of ``t`` (a single nonzero, equal to 1) or -1,
    with the class's e and t (those of class 0 for other rows)."""
    n, n_out = t.shape
    target = np.empty(n, dtype=np.int64)
    ey = np.empty(n, dtype=e.dtype)
    ty = np.empty(n, dtype=t.dtype)
    for b in range(n):
        nonzero, top, arg = 0, t[b, 0], 0
        for k in range(n_out):
            if t[b, k] != 0:
                nonzero += 1
            if t[b, k] > top:
                top, arg = t[b, k], k
        target[b] = arg if nonzero == 1 and top == 1 else -1
        ey[b] = e[b, max(target[b], 0)]
        ty[b] = t[b, max(target[b], 0)]
    return target, ey, ty


@_jit
def sample_steps(values, value_ptr, h):
    """Per sample, contiguously: h (b1's step), then h * v for each of its distinct values."""
    n = value_ptr.shape[0] - 1
    steps = np.empty(values.shape[0] + n, dtype=values.dtype)
    for b in range(n):
        steps[value_ptr[b] + b] = h
        for u in range(value_ptr[b], value_ptr[b + 1]):
            steps[u + b + 1] = values[u] * h
    return steps


@_jit
def _step_slots(value_ptr, pixel_ptr):
    """For each pixel of ``pixels``, the index of its step among its sample's steps (0 is b1's
    step, u + 1 the step of the sample's u-th distinct value)."""
    slots = np.empty(pixel_ptr[-1], dtype=np.int64)
    for b in range(value_ptr.shape[0] - 1):
        for u in range(value_ptr[b], value_ptr[b + 1]):
            for p in range(pixel_ptr[u], pixel_ptr[u + 1]):
                slots[p] = u - value_ptr[b] + 1
    return slots


@_inline
def _log_args(ej, zj, factors, m0, m1, m2, m3, m4, m5, ey, wy, wmax_j, c, out):
    """For one sample and unit, the log's argument p_y + log_eps after each step, into ``out``.

    A branch-free loop over the steps that the compiler vectorises; returns how many steps moved
    z by more than the series limit allows (|dz| * max_k |W2[j, k]| over the limit), so the
    caller knows whether every series it summed was within its limit.
    """
    one, half, sixth, t24, t120 = c[_ONE], c[_HALF], c[_SIXTH], c[_24TH], c[_120TH]
    limit, log_eps = c[_LIMIT], c[_LOG_EPS]
    too_large = 0
    for q in range(factors.shape[0]):
        dz = one / (one + ej * factors[q]) - zj
        # compared in float64 (also for float32 parameters), as the caller's bound always was
        if not abs(dz) * 1.0 * wmax_j <= limit:
            too_large += 1
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = one + d * (one + d * (half + d * (sixth + d * (t24 + d * t120))))
        out[q] = ey * f / total + log_eps
    return too_large


@_inline
def _log_differences(arg_plus, arg_minus, count, ty, lb, scheme, table, diffs):
    """The scheme's loss differences -t_y log(arg) for one sample's steps into ``diffs``, in
    float64 (also for float32 parameters, as the general routine's losses), by ``_split_log``:
    one loop per scheme, which the compiler vectorises for float64. Returns how many logs were
    left to math.log (the caller recomputes those steps)."""
    left = 0
    if scheme == CENTRAL:
        for q in range(count):
            log_plus, library_plus = _split_log(arg_plus[q], table)
            log_minus, library_minus = _split_log(arg_minus[q], table)
            diffs[q] = np.float64(-ty * log_plus) - np.float64(-ty * log_minus)
            left += library_plus + library_minus
    elif scheme == FORWARD:
        for q in range(count):
            log_plus, library = _split_log(arg_plus[q], table)
            diffs[q] = np.float64(-ty * log_plus) - np.float64(lb)
            left += library
    else:
        for q in range(count):
            log_minus, library = _split_log(arg_minus[q], table)
            diffs[q] = np.float64(lb) - np.float64(-ty * log_minus)
            left += library
    return left


@_parallel
def _hidden_kernel(ex, z, e, t, target, w2, moments, wmax, base, shrink, grow, value_ptr,
                   pixels, pixel_ptr, scheme, c, grad_w1, grad_b1):
    """Scaled sums of per-sample loss differences for every W1[i, j] and b1[j].

    Each hidden unit j is one parallel task; it sums W1[:, j]'s entries in a row of its own and
    writes them, scaled, into column j of ``grad_w1`` at the end. For sample b the steps of its
    pre-activation are laid out contiguously from ``value_ptr[b] + b``: first h (the step of b1),
    then h v for each distinct nonzero pixel value v (W1's steps); ``shrink`` and ``grow`` hold
    exp(-step) and exp(step), and moving the pre-activation a by +-step turns the sigmoid into
    1 / (1 + exp(-a) * shrink) or 1 / (1 + exp(-a) * grow).

    For one-hot rows (``target[b]`` is the class) the arguments of the log are computed for all
    steps in one branch-free loop the compiler vectorises, then the loss differences in a second
    one (``_log_differences``, vectorised too for float64), and scattered to the sample's pixels
    through ``slots`` (each pixel's step); a row with another target, or a step too large for
    the series, takes the general routine.
    """
    n, n_hidden = z.shape
    n_in = grad_w1.shape[0]
    scale = c[_SCALE]
    table = c[_TABLE_LOG] != 0
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    slots = _step_slots(value_ptr, pixel_ptr)
    for j in numba.prange(n_hidden):
        arg_plus = np.empty(width, dtype=e.dtype)
        arg_minus = np.empty(width, dtype=e.dtype)
        diffs = np.empty(width, dtype=np.float64)
        row = np.zeros(n_in, dtype=grad_w1.dtype)
        acc_b1 = e[0, 0] * 0
        wmax_j = wmax[j]
        for b in range(n):
            ej, zj, lb = ex[b, j], z[b, j], base[b]
            first = value_ptr[b] + b
            count = value_ptr[b + 1] - value_ptr[b] + 1
            y = target[b]
            fast = y >= 0
            if fast:
                m0, m1, m2, m3, m4, m5 = _scaled_moments(moments, b, j, c)
                ey, wy = e[b, y], w2[j, y]
                too_large = 0
                if scheme != BACKWARD:
                    too_large += _log_args(ej, zj, shrink[first:first + count], m0, m1, m2, m3,
                                           m4, m5, ey, wy, wmax_j, c, arg_plus)
                if scheme != FORWARD:
                    too_large += _log_args(ej, zj, grow[first:first + count], m0, m1, m2, m3,
                                           m4, m5, ey, wy, wmax_j, c, arg_minus)
                fast = too_large == 0
            if fast:
                ty = t[b, y]
                if _log_differences(arg_plus, arg_minus, count, ty, lb, scheme, table, diffs):
                    for q in range(count):
                        if (scheme != BACKWARD and _needs_library_log(arg_plus[q], table)) or (
                                scheme != FORWARD and _needs_library_log(arg_minus[q], table)):
                            plus = minus = lb
                            if scheme != BACKWARD:
                                plus = -ty * math.log(arg_plus[q])
                            if scheme != FORWARD:
                                minus = -ty * math.log(arg_minus[q])
                            diffs[q] = _difference(np.float64(plus), np.float64(minus),
                                                   np.float64(lb), scheme)
            else:
                for q in range(count):
                    plus = minus = lb
                    if scheme != BACKWARD:
                        plus = _loss_all_logits_moved(
                            e, t, moments, wmax, b, w2, j,
                            c[_ONE] / (c[_ONE] + ej * shrink[first + q]) - zj, c)
                    if scheme != FORWARD:
                        minus = _loss_all_logits_moved(
                            e, t, moments, wmax, b, w2, j,
                            c[_ONE] / (c[_ONE] + ej * grow[first + q]) - zj, c)
                    diffs[q] = _difference(plus, minus, lb, scheme)
            acc_b1 += diffs[0]
            for s in range(pixel_ptr[value_ptr[b]], pixel_ptr[value_ptr[b + 1]]):
                row[pixels[s]] += diffs[slots[s]]
        for i in range(n_in):
            grad_w1[i, j] = row[i] * scale
        grad_b1[j] = acc_b1  # rounded to the dtype first, then scaled in it
        grad_b1[j] *= scale


@_parallel
def _output_kernel(z, e, e_t, ey, t, target, totals, base, scheme, c, grad_w2, grad_b2):
    """Scaled sums of per-sample loss differences for every W2[j, k] and b2[k].

    Moving W2[j, k] (or b2[k], as a unit fixed at 1) moves only logit k, by the step times
    z[b, j]; one term of the softmax denominator changes. exp(+-step) is taken once per sample
    and unit; for one-hot rows the log's arguments and their logs (``_split_log``) are computed
    for all samples in one loop the compiler vectorises (``e_t`` is e transposed, ``ey`` the
    target's e), and summed over the samples in order in a second one.
    """
    n, n_hidden = z.shape
    n_out = e.shape[1]
    h = c[_H]
    one = c[_ONE]
    scale = c[_SCALE]
    table = c[_TABLE_LOG] != 0
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        # float64 also for float32 parameters: the step times the sign +-1 always widened
        f_plus = np.empty(n, dtype=np.float64)
        f_minus = np.empty(n, dtype=np.float64)
        arg_plus = np.empty(n, dtype=np.float64)
        arg_minus = np.empty(n, dtype=np.float64)
        log_plus = np.empty(n, dtype=np.float64)
        log_minus = np.empty(n, dtype=np.float64)
        for b in range(n):
            step = h * z[b, j] if j < n_hidden else h
            f_plus[b] = _exp_small(1 * step, c)
            f_minus[b] = _exp_small(-1 * step, c)
        for k in range(n_out):
            redo = 0
            for b in range(n):
                fp = f_plus[b]
                moved = totals[b] + e_t[k, b] * (fp - one)
                eyp = ey[b] * fp if target[b] == k else ey[b]
                arg_plus[b] = eyp / moved + c[_LOG_EPS]
                log_plus[b], library = _split_log(arg_plus[b], table)
                redo += library
                fm = f_minus[b]
                moved = totals[b] + e_t[k, b] * (fm - one)
                eym = ey[b] * fm if target[b] == k else ey[b]
                arg_minus[b] = eym / moved + c[_LOG_EPS]
                log_minus[b], library = _split_log(arg_minus[b], table)
                redo += library
            if redo > 0:
                for b in range(n):
                    if _needs_library_log(arg_plus[b], table):
                        log_plus[b] = math.log(arg_plus[b])
                    if _needs_library_log(arg_minus[b], table):
                        log_minus[b] = math.log(arg_minus[b])
            acc = e[0, 0] * 0
            for b in range(n):
                y = target[b]
                plus = minus = base[b]
                if y >= 0:
                    if scheme != BACKWARD:
                        plus = -t[b, y] * log_plus[b]
                    if scheme != FORWARD:
                        minus = -t[b, y] * log_minus[b]
                else:
                    step = h * z[b, j] if j < n_hidden else h
                    if scheme != BACKWARD:
                        plus = _loss_one_logit_moved(e, t, totals[b], b, k, 1 * step, c)
                    if scheme != FORWARD:
                        minus = _loss_one_logit_moved(e, t, totals[b], b, k, -1 * step, c)
                acc += _difference(plus, minus, base[b], scheme)
            if j < n_hidden:
                grad_w2[j, k] = acc
                grad_w2[j, k] *= scale
            else:
                grad_b2[k] = acc
                grad_b2[k] *= scale


@intrinsic
def _complex(typingctx, real, imag):
    """The complex number real + i imag, of the complex type matching the floats' (complex64 for
    float32): no arithmetic, so kernels can keep real and imaginary parts in separate arrays,
    whose loops the compiler vectorises (it does not vectorise loads and stores of complex
    arrays)."""
    ctype = types.complex64 if real == types.float32 else types.complex128

    def codegen(context, builder, signature, args):
        value = context.make_complex(builder, ctype)
        value.real, value.imag = args
        return value._getvalue()

    return ctype(real, imag), codegen


@_inline
def _inverse(w, c):
    """1 / w as conj(w) / |w|^2, for complex w.

    For w = A - i B the imaginary part is B / (A^2 + B^2): a quotient, no subtraction, so a tiny
    B (the imaginary step) keeps its full precision.
    """
    return w.conjugate() * (c[_ONE] / (w.real * w.real + w.imag * w.imag))


@_inline
def _exp_small_complex(d, c):
    """exp(d) for complex d: the series for tiny |d| (as valid for complex d), else cmath.exp."""
    if abs(d) <= c[_LIMIT]:
        return _exp_series(d, c)
    return cmath.exp(d)


@_inline
def _complex_loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c, cc):
    """``_loss_all_logits_moved`` for a complex ``dz``: sample b's complex loss."""
    if abs(dz) * wmax[j] <= c[_LIMIT]:
        total = _denominator_series(moments, b, j, dz, c)
    else:
        total = cc[_CZERO]
        for k in range(e.shape[1]):
            total += e[b, k] * cmath.exp(dz * w2[j, k])
    inverse = _inverse(total, c)
    loss = cc[_CZERO]
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            p = e[b, k] * _exp_small_complex(dz * w2[j, k], c) * inverse
            loss -= t[b, k] * cmath.log(p + c[_LOG_EPS])
    return loss


@_inline
def _complex_loss_one_logit_moved(e, t, total, b, k_moved, d, c, cc):
    """``_loss_one_logit_moved`` for a complex (imaginary) ``d``: sample b's complex loss."""
    f = _exp_small_complex(d, c)
    inverse = _inverse(total + e[b, k_moved] * (f - c[_ONE]), c)
    loss = cc[_CZERO]
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            ek = e[b, k] * f if k == k_moved else e[b, k]
            loss -= t[b, k] * cmath.log(ek * inverse + c[_LOG_EPS])
    return loss


@_inline
def _complex_log_args(ej, zj, rot_re, rot_im, m0, m1, m2, m3, m4, m5, ey, wy, ty, c, w_re, w_im,
                      values, re_abs, im_abs):
    """``_log_args`` for imaginary steps: the complex w = p_y + log_eps after each step, its real
    and imaginary parts into ``w_re`` and ``w_im``, and -t_y Im log(w) into ``values`` as the
    quotient -t_y Im w / Re w (see ``QUOTIENT_LIMIT``).

    ``rot_re`` and ``rot_im`` hold exp(-i step); |Re dz| and |Im dz| of each step go to
    ``re_abs`` and ``im_abs`` for the caller's bound. Returns how many steps' quotient is above
    ``QUOTIENT_LIMIT``, where it is not Im log(w) to rounding.
    """
    limit = c[_QUOTIENT]
    above = 0
    for q in range(rot_re.shape[0]):
        dz = _inverse(c[_ONE] + ej * _complex(rot_re[q], rot_im[q]), c) - zj
        re_abs[q] = abs(dz.real)
        im_abs[q] = abs(dz.imag)
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = _exp_series(d, c)
        w = ey * f * _inverse(total, c) + c[_LOG_EPS]
        w_re[q] = w.real
        w_im[q] = w.imag
        values[q] = -ty * (w.imag / w.real)
        if not abs(w.imag) <= limit * w.real:
            above += 1
    return above


@_inline
def _largest(bits, count):
    """The largest of ``bits[:count]``, the bit patterns of non-negative floats: integers, which
    order as the floats do and whose maximum the compiler vectorises (a float maximum it would
    not, for want of permission to ignore nan)."""
    top = bits[0]
    for q in range(1, count):
        top = max(top, bits[q])
    return top


@_parallel
def _complex_hidden_kernel(ex, z, e, t, target, w2, moments, wmax, rot_re, rot_im,
                           value_ptr, pixels, pixel_ptr, c, cc, ints, grad_w1, grad_b1):
    """Scaled sums over samples of Im(perturbed loss) for every W1[i, j] and b1[j].

    ``_hidden_kernel``'s layout, with one imaginary step per entry instead of two real ones:
    ``rot_re`` and ``rot_im`` hold exp(-i step) = cos(step) - i sin(step) for the same per-sample
    steps, and moving the pre-activation by i step turns the sigmoid into
    1 / (1 + exp(-a) * rotation). The fast path needs every |dz| within the series limit; its
    bound is the modulus of (max |Re dz|, max |Im dz|), the maxima taken over the floats' bit
    patterns (``ints`` is an empty integer array of the floats' width).
    """
    n, n_hidden = z.shape
    n_in = grad_w1.shape[0]
    scale = c[_SCALE]
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    slots = _step_slots(value_ptr, pixel_ptr)
    for j in numba.prange(n_hidden):
        w_re = np.empty(width, dtype=e.dtype)
        w_im = np.empty(width, dtype=e.dtype)
        values = np.empty(width, dtype=e.dtype)
        re_abs = np.empty(width, dtype=e.dtype)
        im_abs = np.empty(width, dtype=e.dtype)
        re_bits = re_abs.view(ints.dtype)
        im_bits = im_abs.view(ints.dtype)
        largest = np.empty(2, dtype=e.dtype)
        largest_bits = largest.view(ints.dtype)
        row = np.zeros(n_in, dtype=grad_w1.dtype)
        acc_b1 = e[0, 0] * 0
        wmax_j = wmax[j]
        for b in range(n):
            ej, zj = ex[b, j], z[b, j]
            first = value_ptr[b] + b
            count = value_ptr[b + 1] - value_ptr[b] + 1
            y = target[b]
            fast = y >= 0
            if fast:
                ty = t[b, y]
                m0, m1, m2, m3, m4, m5 = _scaled_moments(moments, b, j, c)
                above = _complex_log_args(
                    ej, zj, rot_re[first:first + count], rot_im[first:first + count], m0, m1,
                    m2, m3, m4, m5, e[b, y], w2[j, y], ty, c, w_re, w_im, values, re_abs,
                    im_abs)
                largest_bits[0] = _largest(re_bits, count)
                largest_bits[1] = _largest(im_bits, count)
                bound = math.hypot(e[0, 0] * 0 + largest[0], e[0, 0] * 0 + largest[1])
                fast = bound * wmax_j <= c[_LIMIT]
                if fast and above > 0:
                    for q in range(count):
                        values[q] = -ty * math.atan2(w_im[q], w_re[q])
            if not fast:
                for q in range(count):
                    rotation = _complex(rot_re[first + q], rot_im[first + q])
                    dz = _inverse(c[_ONE] + ej * rotation, c) - zj
                    values[q] = _complex_loss_all_logits_moved(
                        e, t, moments, wmax, b, w2, j, dz, c, cc).imag
            acc_b1 += values[0]
            for s in range(pixel_ptr[value_ptr[b]], pixel_ptr[value_ptr[b + 1]]):
                row[pixels[s]] += values[slots[s]]
        for i in range(n_in):
            grad_w1[i, j] = row[i] * scale
        grad_b1[j] = acc_b1
        grad_b1[j] *= scale


@_parallel
def _complex_output_kernel(z, e, e_t, ey, ty, t, target, totals, c, cc, grad_w2, grad_b2):
    """Scaled sums over samples of Im(perturbed loss) for every W2[j, k] and b2[k].

    Moving W2[j, k] by i h (or b2[k], as a unit fixed at 1) moves logit k by i h z[b, j].
    ``_output_kernel``'s layout: exp(i h z) once per sample and unit, then for one-hot rows
    t_y Im log(w) of every sample in one vectorised loop, as the quotient t_y Im w / Re w (with
    atan2 where that is above ``QUOTIENT_LIMIT``); ``ty`` is the target's t.
    """
    n, n_hidden = z.shape
    n_out = e.shape[1]
    scale = c[_SCALE]
    limit = c[_QUOTIENT]
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        f_re = np.empty(n, dtype=e.dtype)
        f_im = np.empty(n, dtype=e.dtype)
        w_re = np.empty(n, dtype=e.dtype)
        w_im = np.empty(n, dtype=e.dtype)
        terms = np.empty(n, dtype=e.dtype)
        for b in range(n):
            d = cc[_IH] * z[b, j] if j < n_hidden else cc[_IH]
            f = _exp_small_complex(d, c)
            f_re[b] = f.real
            f_im[b] = f.imag
        for k in range(n_out):
            above = 0
            for b in range(n):
                fb = _complex(f_re[b], f_im[b])
                inverse = _inverse(totals[b] + e_t[k, b] * (fb - c[_ONE]), c)
                eyb = ey[b] * fb if target[b] == k else ey[b]
                w = eyb * inverse + c[_LOG_EPS]
                w_re[b] = w.real
                w_im[b] = w.imag
                terms[b] = ty[b] * (w.imag / w.real)
                if target[b] >= 0 and not abs(w.imag) <= limit * w.real:
                    above += 1
            acc = e[0, 0] * 0
            for b in range(n):
                y = target[b]
                if y >= 0:
                    if above > 0:
                        acc -= t[b, y] * math.atan2(w_im[b], w_re[b])
                    else:
                        acc -= terms[b]
                else:
                    d = cc[_IH] * z[b, j] if j < n_hidden else cc[_IH]
                    acc += _complex_loss_one_logit_moved(e, t, totals[b], b, k, d, c, cc).imag
            if j < n_hidden:
                grad_w2[j, k] = acc
                grad_w2[j, k] *= scale
            else:
                grad_b2[k] = acc
                grad_b2[k] *= scale


def incremental_gradient(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, scheme: str, log_eps: float
) -> GradientResult:
    """Finite-difference gradient equal to ``naive_gradient``'s to rounding, computed fast.

    ``scheme`` is central, forward, backward or complex_step; Richardson, two central gradients
    combined, is ``numerical.gradient``'s for both engines.
    """
    dtype = params["W1"].dtype
    x = np.ascontiguousarray(x, dtype=dtype)
    t = np.ascontiguousarray(t, dtype=dtype)
    pre = x @ params["W1"] + params["b1"]
    ex = np.exp(-pre)
    z = 1.0 / (1.0 + ex)  # model.sigmoid(pre), sharing its exp(-pre)
    logits = z @ params["W2"] + params["b2"]
    e = np.exp(logits - np.max(logits))
    totals = np.sum(e, axis=1)
    values, value_ptr, pixels, pixel_ptr = distinct_values(x)
    steps = sample_steps(values, value_ptr, dtype.type(h))
    w2 = np.ascontiguousarray(params["W2"])
    # moments[n, b, j] = sum_k e[b, k] * W2[j, k] ** n, for the denominators' series
    moments = np.empty((6, *z.shape), dtype=dtype)
    for n in range(6):
        np.matmul(e, w2.T ** n, out=moments[n])
    wmax = np.max(np.abs(w2), axis=1)
    target, ey, ty = _targets(t, e)
    e_t = np.ascontiguousarray(e.T)
    grads = {key: np.empty_like(value) for key, value in params.items()}
    n_params = sum(value.size for value in params.values())
    if scheme == "complex_step":
        c = _constants(dtype, h, log_eps, 1 / (x.shape[0] * h))
        cc = _complex_constants(dtype, h)
        rotations = (np.cos(steps) - 1j * np.sin(steps)).astype(cc.dtype)  # exp(-i step)
        ints = np.empty(0, dtype=np.int64 if dtype.itemsize == 8 else np.int32)
        _complex_hidden_kernel(ex, z, e, t, target, w2, moments, wmax,
                               np.ascontiguousarray(rotations.real),
                               np.ascontiguousarray(rotations.imag), value_ptr, pixels,
                               pixel_ptr, c, cc, ints, grads["W1"], grads["b1"])
        _complex_output_kernel(z, e, e_t, ey, ty, t, target, totals, c, cc, grads["W2"],
                               grads["b2"])
        evals = n_params
    else:
        code = SCHEME_CODES[scheme]
        c = _constants(dtype, h, log_eps, 1 / (x.shape[0] * (2 * h if code == CENTRAL else h)))
        probs = e / totals[:, None]
        base = -np.sum(t * np.log(probs + dtype.type(log_eps)), axis=1)
        _hidden_kernel(ex, z, e, t, target, w2, moments, wmax, base, np.exp(-steps),
                       np.exp(steps), value_ptr, pixels, pixel_ptr, code, c, grads["W1"],
                       grads["b1"])
        _output_kernel(z, e, e_t, ey, t, target, totals, base, code, c, grads["W2"],
                       grads["b2"])
        evals = 2 * n_params if code == CENTRAL else n_params + 1
    return GradientResult(grads, loss_evals=evals)


def warm_up() -> None:
    """Compile the kernels, real and complex, for both dtypes (or load them from numba's cache)
    on a tiny problem."""
    rng = np.random.default_rng(0)
    for dtype in (np.float64, np.float32):
        params = {"W1": rng.standard_normal((4, 2)).astype(dtype), "b1": np.zeros(2, dtype),
                  "W2": rng.standard_normal((2, 3)).astype(dtype), "b2": np.zeros(3, dtype)}
        x = np.array([[0.0, 0.5, 1.0, 0.5]], dtype=dtype)
        t = np.array([[0.0, 1.0, 0.0]], dtype=dtype)
        for scheme, h in (("central", 1e-4), ("complex_step", 1e-20)):
            incremental_gradient(params, x, t, h=h, scheme=scheme, log_eps=1e-7)
