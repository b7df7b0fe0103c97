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
logits) only by rounding. Arithmetic stays in the parameters' dtype. Kernels are compiled by
numba once per dtype (cached on disk) and run their outer loops in parallel over hidden units.

Richardson extrapolation, two central gradients D at h and h/2 combined as
(4 D(h/2) - D(h)) / 3, is done once for both engines by ``numerical.gradient``.

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
cancellation. Complex arithmetic is in complex128 for float64 parameters and complex64 for
float32 ones; in complex64 at h = 1e-20 the products of two imaginary parts (about h^2, which
do not matter) are subnormal, which makes the float32 kernels about half as slow again.
"""

from __future__ import annotations

import cmath
import math

import numba
import numpy as np

from mlpbench.methods.base import GradientResult
from mlpbench.model import Params, sigmoid

CENTRAL, FORWARD, BACKWARD = 0, 1, 2
SCHEME_CODES = {"central": CENTRAL, "forward": FORWARD, "backward": BACKWARD}
SERIES_LIMIT = 1e-3
"""|d| up to which exp(d) is summed as 1 + d + ... + d^5/120: the rest is below 1.4e-21."""

_FACTORIALS = np.array([1.0, 1.0, 2.0, 6.0, 24.0, 120.0])

# Constants travel in an array of the parameters' dtype, so float32 kernels stay float32.
_ONE, _HALF, _SIXTH, _24TH, _120TH, _LIMIT, _LOG_EPS, _H = range(8)


def _constants(dtype: np.dtype, h: float, log_eps: float) -> np.ndarray:
    return np.array([1.0, 0.5, 1 / 6, 1 / 24, 1 / 120, SERIES_LIMIT, log_eps, h], dtype=dtype)


# Complex constants of the complex dtype, for the same reason: zero and the step i h.
_CZERO, _IH = range(2)


def _complex_constants(dtype: np.dtype, h: float) -> np.ndarray:
    return np.array([0, 1j * h], dtype=_complex_dtype(dtype))


def _complex_dtype(dtype: np.dtype) -> np.dtype:
    """complex128 for float64, complex64 for float32."""
    return np.result_type(dtype, np.complex64)


@numba.njit(cache=True, inline="always")
def _exp_series(d, c):
    """1 + d + d^2/2 + ... + d^5/120: exp(d) to full precision for |d| <= SERIES_LIMIT, real or
    complex."""
    return c[_ONE] + d * (c[_ONE] + d * (c[_HALF] + d * (c[_SIXTH] + d * (c[_24TH]
                                                                     + d * c[_120TH]))))


@numba.njit(cache=True, inline="always")
def _denominator_series(m, dz, c):
    """sum_n dz^n / n! * M_n for n <= 5: the softmax denominator after hidden unit j moved by dz
    (see ``_loss_all_logits_moved``)."""
    return m[0] + dz * (m[1] + dz * (c[_HALF] * m[2] + dz * (c[_SIXTH] * m[3] + dz * (
        c[_24TH] * m[4] + dz * c[_120TH] * m[5]))))


@numba.njit(cache=True, inline="always")
def _exp_small(d, c):
    """exp(d) to full precision: the series for tiny |d|, the library function otherwise."""
    if abs(d) <= c[_LIMIT]:
        return _exp_series(d, c)
    return math.exp(d)


@numba.njit(cache=True, inline="always")
def _loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c):
    """Sample b's loss when every logit k moves by dz * W2[j, k] (hidden unit j changed).

    The new softmax denominator is sum_k e_k exp(dz w_k). When every |dz w_k| is within the
    series limit, summing each exp(dz w_k) as its series and collecting powers of dz gives
    sum_n dz^n / n! * M_n with M_n = sum_k e_k w_k^n: the same sum, reordered, in five
    multiply-adds instead of fifty. Otherwise each term is computed with the library exp.
    """
    if abs(dz) * wmax[j] <= c[_LIMIT]:
        total = _denominator_series(moments[b, j], dz, c)
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _difference(plus, minus, base, scheme):
    """The scheme's numerator: L(+h) - L(-h), L(+h) - L, or L - L(-h)."""
    if scheme == CENTRAL:
        return plus - minus
    if scheme == FORWARD:
        return plus - base
    return base - minus


@numba.njit(cache=True)
def distinct_values(x):
    """Per sample, its distinct nonzero values and the pixels holding each one (CSR layout).

    Returns (values, value_ptr, pixels, pixel_ptr): sample b's distinct values are
    values[value_ptr[b]:value_ptr[b + 1]], and the pixels holding the u-th of all values are
    pixels[pixel_ptr[u]:pixel_ptr[u + 1]].
    """
    n, d = x.shape
    nnz = 0
    for b in range(n):
        for i in range(d):
            if x[b, i] != 0:
                nnz += 1
    values = np.empty(nnz, dtype=x.dtype)
    pixels = np.empty(nnz, dtype=np.int64)
    value_ptr = np.zeros(n + 1, dtype=np.int64)
    pixel_ptr = np.zeros(nnz + 1, dtype=np.int64)
    n_values = 0
    n_pixels = 0
    buffer = np.empty(d, dtype=np.int64)
    for b in range(n):
        row = x[b]
        count = 0
        for i in range(d):
            if row[i] != 0:
                buffer[count] = i
                count += 1
        nonzero = buffer[:count]
        order = nonzero[np.argsort(row[nonzero])]
        for pos in range(count):
            i = order[pos]
            if pos == 0 or row[i] != row[order[pos - 1]]:
                values[n_values] = row[i]
                pixel_ptr[n_values] = n_pixels
                n_values += 1
            pixels[n_pixels] = i
            n_pixels += 1
        value_ptr[b + 1] = n_values
    pixel_ptr[n_values] = n_pixels
    return values[:n_values], value_ptr, pixels, pixel_ptr[: n_values + 1]


@numba.njit(cache=True, inline="always")
def _log_args(ej, zj, factors, first, count, m0, m1, m2, m3, m4, m5, ey, wy, c, out):
    """For one sample and unit, the log's argument p_y + log_eps after each step, into ``out``.

    A branch-free loop over the steps that the compiler can vectorise; returns the largest
    |dz| so the caller can check that every series it summed was within its limit.
    """
    largest = ey * 0
    for q in range(count):
        dz = c[_ONE] / (c[_ONE] + ej * factors[first + q]) - zj
        largest = max(largest, abs(dz))
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = _exp_series(d, c)
        out[q] = ey * f / total + c[_LOG_EPS]
    return largest


@numba.njit(cache=True, parallel=True)
def _hidden_kernel(ex, z, e, t, target, w2, moments, scaled, wmax, base, shrink, grow, value_ptr,
                   pixels, pixel_ptr, scheme, c, grad_w1_t, grad_b1):
    """Sums of per-sample loss differences for every W1[i, j] (into grad_w1_t[j, i]) and b1[j].

    Each hidden unit j is one parallel task writing only row j of ``grad_w1_t`` (W1's gradient
    transposed), so no two threads share a cache line. For sample b the steps of its pre-
    activation are laid out contiguously from ``value_ptr[b] + b``: first h (the step of b1),
    then h v for each distinct nonzero pixel value v (W1's steps); ``shrink`` and ``grow`` hold
    exp(-step) and exp(step), and moving the pre-activation a by +-step turns the sigmoid into
    1 / (1 + exp(-a) * shrink) or 1 / (1 + exp(-a) * grow).

    For one-hot rows (``target[b]`` is the class) the arguments of the log are computed for all
    steps in one branch-free loop the compiler can vectorise, then the losses in a second loop;
    a row with another target, or a step too large for the series, takes the general routine.
    """
    n, n_hidden = z.shape
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    for j in numba.prange(n_hidden):
        arg_plus = np.empty(width, dtype=e.dtype)
        arg_minus = np.empty(width, dtype=e.dtype)
        acc_b1 = e[0, 0] * 0
        wmax_j = wmax[j]
        for b in range(n):
            ej, zj, lb = ex[b, j], z[b, j], base[b]
            first = value_ptr[b] + b
            count = value_ptr[b + 1] - value_ptr[b] + 1
            y = target[b]
            fast = y >= 0
            if fast:
                m0, m1, m2 = scaled[b, j, 0], scaled[b, j, 1], scaled[b, j, 2]
                m3, m4, m5 = scaled[b, j, 3], scaled[b, j, 4], scaled[b, j, 5]
                ey, wy = e[b, y], w2[j, y]
                largest = e[0, 0] * 0
                if scheme != BACKWARD:
                    largest = max(largest, _log_args(ej, zj, shrink, first, count, m0, m1, m2,
                                                     m3, m4, m5, ey, wy, c, arg_plus))
                if scheme != FORWARD:
                    largest = max(largest, _log_args(ej, zj, grow, first, count, m0, m1, m2,
                                                     m3, m4, m5, ey, wy, c, arg_minus))
                fast = largest * wmax_j <= c[_LIMIT]
            for q in range(count):
                plus = minus = lb
                if fast:
                    ty = t[b, y]
                    if scheme != BACKWARD:
                        plus = -ty * math.log(arg_plus[q])
                    if scheme != FORWARD:
                        minus = -ty * math.log(arg_minus[q])
                else:
                    if scheme != BACKWARD:
                        plus = _loss_all_logits_moved(
                            e, t, moments, wmax, b, w2, j,
                            c[_ONE] / (c[_ONE] + ej * shrink[first + q]) - zj, c)
                    if scheme != FORWARD:
                        minus = _loss_all_logits_moved(
                            e, t, moments, wmax, b, w2, j,
                            c[_ONE] / (c[_ONE] + ej * grow[first + q]) - zj, c)
                diff = _difference(plus, minus, lb, scheme)
                if q == 0:
                    acc_b1 += diff
                else:
                    u = value_ptr[b] + q - 1
                    for p in range(pixel_ptr[u], pixel_ptr[u + 1]):
                        grad_w1_t[j, pixels[p]] += diff
        grad_b1[j] = acc_b1


@numba.njit(cache=True, parallel=True)
def _output_kernel(z, e, t, target, totals, base, scheme, c, grad_w2, grad_b2):
    """Sums of per-sample loss differences for every W2[j, k] and b2[k].

    Moving W2[j, k] (or b2[k], as a unit fixed at 1) moves only logit k, by the step times
    z[b, j]; one term of the softmax denominator changes. One-hot rows need one log per loss.
    """
    n, n_hidden = z.shape
    n_out = e.shape[1]
    h = c[_H]
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        for k in range(n_out):
            acc = e[0, 0] * 0
            for b in range(n):
                step = h * z[b, j] if j < n_hidden else h
                y = target[b]
                plus = minus = base[b]
                for sign in (1, -1):
                    if (sign == 1 and scheme == BACKWARD) or (sign == -1 and scheme == FORWARD):
                        continue
                    if y >= 0:
                        f = _exp_small(sign * step, c)
                        moved = totals[b] + e[b, k] * (f - c[_ONE])
                        ey = e[b, y] * f if y == k else e[b, y]
                        value = -t[b, y] * math.log(ey / moved + c[_LOG_EPS])
                    else:
                        value = _loss_one_logit_moved(e, t, totals[b], b, k, sign * step, c)
                    if sign == 1:
                        plus = value
                    else:
                        minus = value
                acc += _difference(plus, minus, base[b], scheme)
            if j < n_hidden:
                grad_w2[j, k] = acc
            else:
                grad_b2[k] = acc


@numba.njit(cache=True, inline="always")
def _inverse(w, c):
    """1 / w as conj(w) / |w|^2, for complex w.

    For w = A - i B the imaginary part is B / (A^2 + B^2): a quotient, no subtraction, so a tiny
    B (the imaginary step) keeps its full precision.
    """
    return w.conjugate() * (c[_ONE] / (w.real * w.real + w.imag * w.imag))


@numba.njit(cache=True, inline="always")
def _exp_small_complex(d, c):
    """exp(d) for complex d: the series for tiny |d| (as valid for complex d), else cmath.exp."""
    if abs(d) <= c[_LIMIT]:
        return _exp_series(d, c)
    return cmath.exp(d)


@numba.njit(cache=True, inline="always")
def _imag_log(w):
    """Im log(w), the argument of w, as atan2: the log of the modulus is never needed."""
    return math.atan2(w.imag, w.real)


@numba.njit(cache=True, inline="always")
def _complex_loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c, cc):
    """``_loss_all_logits_moved`` for a complex ``dz``: sample b's complex loss."""
    if abs(dz) * wmax[j] <= c[_LIMIT]:
        total = _denominator_series(moments[b, j], dz, c)
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


@numba.njit(cache=True, inline="always")
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


@numba.njit(cache=True, inline="always")
def _complex_log_args(ej, zj, rotations, first, count, m0, m1, m2, m3, m4, m5, ey, wy, c, out):
    """``_log_args`` for imaginary steps: the complex p_y + log_eps after each step, into ``out``.

    ``rotations`` holds exp(-i step). Returns the modulus of (max |Re dz|, max |Im dz|), a bound
    on every |dz| that keeps the loop free of calls.
    """
    largest_re = ey * 0
    largest_im = ey * 0
    for q in range(count):
        dz = _inverse(c[_ONE] + ej * rotations[first + q], c) - zj
        largest_re = max(largest_re, abs(dz.real))
        largest_im = max(largest_im, abs(dz.imag))
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = _exp_series(d, c)
        out[q] = ey * f * _inverse(total, c) + c[_LOG_EPS]
    return math.hypot(largest_re, largest_im)


@numba.njit(cache=True, parallel=True)
def _complex_hidden_kernel(ex, z, e, t, target, w2, moments, scaled, wmax, rotations, value_ptr,
                           pixels, pixel_ptr, c, cc, grad_w1_t, grad_b1):
    """Sums over samples of Im(perturbed loss) for every W1[i, j] (into grad_w1_t[j, i]) and b1[j].

    ``_hidden_kernel``'s layout, with one imaginary step per entry instead of two real ones:
    ``rotations`` holds exp(-i step) = cos(step) - i sin(step) for the same per-sample steps, and
    moving the pre-activation by i step turns the sigmoid into 1 / (1 + exp(-a) * rotation).
    """
    n, n_hidden = z.shape
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    for j in numba.prange(n_hidden):
        args = np.empty(width, dtype=rotations.dtype)
        acc_b1 = e[0, 0] * 0
        wmax_j = wmax[j]
        for b in range(n):
            ej, zj = ex[b, j], z[b, j]
            first = value_ptr[b] + b
            count = value_ptr[b + 1] - value_ptr[b] + 1
            y = target[b]
            fast = y >= 0
            if fast:
                largest = _complex_log_args(
                    ej, zj, rotations, first, count, scaled[b, j, 0], scaled[b, j, 1],
                    scaled[b, j, 2], scaled[b, j, 3], scaled[b, j, 4], scaled[b, j, 5], e[b, y],
                    w2[j, y], c, args)
                fast = largest * wmax_j <= c[_LIMIT]
            for q in range(count):
                if fast:
                    value = -t[b, y] * _imag_log(args[q])
                else:
                    dz = _inverse(c[_ONE] + ej * rotations[first + q], c) - zj
                    value = _complex_loss_all_logits_moved(
                        e, t, moments, wmax, b, w2, j, dz, c, cc).imag
                if q == 0:
                    acc_b1 += value
                else:
                    u = value_ptr[b] + q - 1
                    for p in range(pixel_ptr[u], pixel_ptr[u + 1]):
                        grad_w1_t[j, pixels[p]] += value
        grad_b1[j] = acc_b1


@numba.njit(cache=True, parallel=True)
def _complex_output_kernel(z, e, t, target, totals, c, cc, grad_w2, grad_b2):
    """Sums over samples of Im(perturbed loss) for every W2[j, k] and b2[k].

    Moving W2[j, k] by i h (or b2[k], as a unit fixed at 1) moves logit k by i h z[b, j].
    """
    n, n_hidden = z.shape
    n_out = e.shape[1]
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        for k in range(n_out):
            acc = e[0, 0] * 0
            for b in range(n):
                d = cc[_IH] * z[b, j] if j < n_hidden else cc[_IH]
                y = target[b]
                if y >= 0:
                    f = _exp_small_complex(d, c)
                    inverse = _inverse(totals[b] + e[b, k] * (f - c[_ONE]), c)
                    ey = e[b, y] * f if y == k else e[b, y]
                    acc -= t[b, y] * _imag_log(ey * inverse + c[_LOG_EPS])
                else:
                    acc += _complex_loss_one_logit_moved(e, t, totals[b], b, k, d, c, cc).imag
            if j < n_hidden:
                grad_w2[j, k] = acc
            else:
                grad_b2[k] = acc


def sample_steps(values: np.ndarray, value_ptr: np.ndarray, h) -> np.ndarray:
    """Per sample, contiguously: h (b1's step), then h * v for each of its distinct values."""
    n = value_ptr.shape[0] - 1
    steps = np.full(values.shape[0] + n, h, dtype=values.dtype)
    owner = np.repeat(np.arange(n), np.diff(value_ptr))
    steps[np.arange(values.shape[0]) + owner + 1] = values * h
    return steps


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
    z = sigmoid(pre)
    logits = z @ params["W2"] + params["b2"]
    e = np.exp(logits - np.max(logits))
    totals = np.sum(e, axis=1)
    ex = np.exp(-pre)
    c = _constants(dtype, h, log_eps)
    grads = {key: np.zeros_like(value) for key, value in params.items()}
    values, value_ptr, pixels, pixel_ptr = distinct_values(x)
    steps = sample_steps(values, value_ptr, dtype.type(h))
    w2 = np.ascontiguousarray(params["W2"])
    # moments[b, j, n] = sum_k e[b, k] * W2[j, k] ** n, for the denominators' series
    moments = np.ascontiguousarray(np.stack([e @ (w2.T ** n) for n in range(6)], axis=-1))
    scaled = np.ascontiguousarray(moments / _FACTORIALS.astype(dtype))
    wmax = np.max(np.abs(w2), axis=1)
    one_hot_rows = (np.count_nonzero(t, axis=1) == 1) & (np.max(t, axis=1) == 1)
    target = np.where(one_hot_rows, np.argmax(t, axis=1), -1).astype(np.int64)
    grad_w1_t = np.zeros(params["W1"].shape[::-1], dtype=dtype)
    n_params = sum(value.size for value in params.values())
    if scheme == "complex_step":
        cc = _complex_constants(dtype, h)
        rotations = (np.cos(steps) - 1j * np.sin(steps)).astype(cc.dtype)  # exp(-i step)
        _complex_hidden_kernel(ex, z, e, t, target, w2, moments, scaled, wmax, rotations,
                               value_ptr, pixels, pixel_ptr, c, cc, grad_w1_t, grads["b1"])
        _complex_output_kernel(z, e, t, target, totals, c, cc, grads["W2"], grads["b2"])
        scale, evals = dtype.type(1 / (x.shape[0] * h)), n_params
    else:
        probs = e / totals[:, None]
        base = -np.sum(t * np.log(probs + dtype.type(log_eps)), axis=1)
        code = SCHEME_CODES[scheme]
        _hidden_kernel(ex, z, e, t, target, w2, moments, scaled, wmax, base, np.exp(-steps),
                       np.exp(steps), value_ptr, pixels, pixel_ptr, code, c, grad_w1_t,
                       grads["b1"])
        _output_kernel(z, e, t, target, totals, base, code, c, grads["W2"], grads["b2"])
        scale = dtype.type(1 / (x.shape[0] * (2 * h if code == CENTRAL else h)))
        evals = 2 * n_params if code == CENTRAL else n_params + 1
    grads["W1"] = np.ascontiguousarray(grad_w1_t.T)
    for grad in grads.values():
        grad *= scale
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
