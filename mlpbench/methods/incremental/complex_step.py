"""The complex-step kernels (``scheme=complex_step``): Im L(theta + i h e_k) / h for every entry.

They have the real kernels' structure (``real``): the unperturbed state (pre-activations, z,
the exponentials, their totals and moments) stays real and only the steps are imaginary.

- Moving W1[i, j] by i h moves unit j's pre-activation by i h x, so its sigmoid becomes
  1 / (1 + exp(-a) exp(-i h x)), with exp(-i h v) = cos(h v) - i sin(h v) computed once per
  distinct pixel value v. The moved unit's change dz is complex, and the softmax denominator,
  the series and the loss follow as in the real kernels in complex arithmetic (every power
  series is as valid for a complex argument; its limit is checked on the modulus).
- Moving W2[j, k] (or b2[k]) by i h moves logit k by i h z[b, j].

Each gradient entry is the sum over samples of the imaginary part of the perturbed loss, divided
by batch * h: the unperturbed loss is real, so nothing is subtracted. No imaginary part is
computed by subtracting values that agree up to O(h) terms (as L(theta + h) - L(theta) does):
reciprocals are conj(w) / |w|^2 (``_inverse``), whose imaginary part is a quotient, and the
imaginary part of a log is atan2(Im, Re), so even h = 1e-20 loses nothing to cancellation.
Where |Im w| <= 2^-50 Re w (at h = 1e-20, always) atan2(Im w, Re w) is the quotient
Im w / Re w to rounding (``common.QUOTIENT_LIMIT``), and the kernels divide (a vectorised
division instead of a call); they call atan2 otherwise.

The kernels keep real and imaginary parts in separate arrays, which is what lets their loops
vectorise. Complex arithmetic is in complex128 for float64 parameters and complex64 for float32
ones.
"""

from __future__ import annotations

import cmath
import math

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from mlpbench.methods.incremental.common import (
    CZERO,
    IH,
    LIMIT,
    LOG_EPS,
    ONE,
    QUOTIENT,
    SCALE,
    denominator_series,
    exp_series,
    inline,
    parallel,
    scaled_moments,
)
from mlpbench.methods.incremental.grouping import step_slots


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


@inline
def _inverse(w, c):
    """1 / w as conj(w) / |w|^2, for complex w.

    For w = A - i B the imaginary part is B / (A^2 + B^2): a quotient, no subtraction, so a tiny
    B (the imaginary step) keeps its full precision.
    """
    return w.conjugate() * (c[ONE] / (w.real * w.real + w.imag * w.imag))


@inline
def _exp_small(d, c):
    """exp(d) for complex d: the series for tiny |d| (as valid for complex d), else cmath.exp."""
    if abs(d) <= c[LIMIT]:
        return exp_series(d, c)
    return cmath.exp(d)


@inline
def _loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c, cc):
    """Sample b's complex loss when every logit k moves by dz * W2[j, k], for complex dz."""
    if abs(dz) * wmax[j] <= c[LIMIT]:
        total = denominator_series(moments, b, j, dz, c)
    else:
        total = cc[CZERO]
        for k in range(e.shape[1]):
            total += e[b, k] * cmath.exp(dz * w2[j, k])
    inverse = _inverse(total, c)
    loss = cc[CZERO]
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            p = e[b, k] * _exp_small(dz * w2[j, k], c) * inverse
            loss -= t[b, k] * cmath.log(p + c[LOG_EPS])
    return loss


@inline
def _loss_one_logit_moved(e, t, total, b, k_moved, d, c, cc):
    """Sample b's complex loss when only logit ``k_moved`` moves by the imaginary ``d``."""
    f = _exp_small(d, c)
    inverse = _inverse(total + e[b, k_moved] * (f - c[ONE]), c)
    loss = cc[CZERO]
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            ek = e[b, k] * f if k == k_moved else e[b, k]
            loss -= t[b, k] * cmath.log(ek * inverse + c[LOG_EPS])
    return loss


@inline
def _log_args(ej, zj, rotations, m, ey, wy, ty, c, w_re, w_im, values, re_abs, im_abs):
    """For one sample and unit, the complex w = p_y + log_eps after each imaginary step: its real
    and imaginary parts into ``w_re`` and ``w_im``, and -t_y Im log(w) into ``values`` as the
    quotient -t_y Im w / Re w (see ``QUOTIENT_LIMIT``).

    ``rotations`` = (re, im) holds exp(-i step) of the sample's steps, ``m`` the denominator's
    series coefficients (``scaled_moments``), ``ey``, ``wy`` and ``ty`` the target's e, W2[j, y]
    and t; |Re dz| and |Im dz| of each step go to ``re_abs`` and ``im_abs`` for the caller's
    bound. Returns how many steps' quotient is above ``QUOTIENT_LIMIT``, where it is not
    Im log(w) to rounding. The arrays written are separate arguments, not a tuple: see
    ``common.parallel``.
    """
    rot_re, rot_im = rotations
    m0, m1, m2, m3, m4, m5 = m
    limit = c[QUOTIENT]
    above = 0
    for q in range(rot_re.shape[0]):
        dz = _inverse(c[ONE] + ej * _complex(rot_re[q], rot_im[q]), c) - zj
        re_abs[q] = abs(dz.real)
        im_abs[q] = abs(dz.imag)
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = exp_series(d, c)
        w = ey * f * _inverse(total, c) + c[LOG_EPS]
        w_re[q] = w.real
        w_im[q] = w.imag
        values[q] = -ty * (w.imag / w.real)
        if not abs(w.imag) <= limit * w.real:
            above += 1
    return above


@inline
def _largest(bits, count):
    """The largest of ``bits[:count]``, the bit patterns of non-negative floats: integers, which
    order as the floats do and whose maximum the compiler vectorises (a float maximum it would
    not, for want of permission to ignore nan)."""
    top = bits[0]
    for q in range(1, count):
        top = max(top, bits[q])
    return top


@parallel
def hidden_kernel(batch, groups, rotations, c, cc, ints, grads):
    """Scaled sums over samples of Im(perturbed loss) for every W1[i, j] and b1[j], into
    ``grads`` = (grad_w1, grad_b1).

    ``real.hidden_kernel``'s layout, with one imaginary step per entry instead of two real ones:
    ``rotations`` = (re, im) holds exp(-i step) = cos(step) - i sin(step) for the same
    per-sample steps, and moving the pre-activation by i step turns the sigmoid into
    1 / (1 + exp(-a) * rotation); ``cc`` are the complex constants. The fast path needs every
    |dz| within the series limit; its bound is the modulus of (max |Re dz|, max |Im dz|), the
    maxima taken over the floats' bit patterns (``ints`` is an empty integer array of the
    floats' width).
    """
    ex, z, e, t, target, w2 = batch.ex, batch.z, batch.e, batch.t, batch.target, batch.w2
    moments, wmax = batch.moments, batch.wmax
    value_ptr, pixels, pixel_ptr = groups.value_ptr, groups.pixels, groups.pixel_ptr
    rot_re, rot_im = rotations[0], rotations[1]
    grad_w1 = grads[0]  # indexed, not unpacked: see ``common.parallel``
    grad_b1 = grads[1]
    n, n_hidden = z.shape
    n_in = grad_w1.shape[0]
    scale = c[SCALE]
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    slots = step_slots(value_ptr, pixel_ptr)
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
                above = _log_args(
                    ej, zj, (rot_re[first:first + count], rot_im[first:first + count]),
                    scaled_moments(moments, b, j, c), e[b, y], w2[j, y], ty, c, w_re, w_im,
                    values, re_abs, im_abs)
                largest_bits[0] = _largest(re_bits, count)
                largest_bits[1] = _largest(im_bits, count)
                bound = math.hypot(e[0, 0] * 0 + largest[0], e[0, 0] * 0 + largest[1])
                fast = bound * wmax_j <= c[LIMIT]
                if fast and above > 0:
                    for q in range(count):
                        values[q] = -ty * math.atan2(w_im[q], w_re[q])
            if not fast:
                for q in range(count):
                    rotation = _complex(rot_re[first + q], rot_im[first + q])
                    dz = _inverse(c[ONE] + ej * rotation, c) - zj
                    values[q] = _loss_all_logits_moved(
                        e, t, moments, wmax, b, w2, j, dz, c, cc).imag
            acc_b1 += values[0]
            for s in range(pixel_ptr[value_ptr[b]], pixel_ptr[value_ptr[b + 1]]):
                row[pixels[s]] += values[slots[s]]
        for i in range(n_in):
            grad_w1[i, j] = row[i] * scale
        grad_b1[j] = acc_b1
        grad_b1[j] *= scale


@parallel
def output_kernel(batch, c, cc, grads):
    """Scaled sums over samples of Im(perturbed loss) for every W2[j, k] and b2[k], into
    ``grads`` = (grad_w2, grad_b2).

    Moving W2[j, k] by i h (or b2[k], as a unit fixed at 1) moves logit k by i h z[b, j].
    ``real.output_kernel``'s layout: exp(i h z) once per sample and unit, then for one-hot rows
    t_y Im log(w) of every sample in one vectorised loop, as the quotient t_y Im w / Re w (with
    atan2 where that is above ``QUOTIENT_LIMIT``).
    """
    z, e, e_t, ey, ty, t = batch.z, batch.e, batch.e_t, batch.ey, batch.ty, batch.t
    target, totals = batch.target, batch.totals
    grad_w2 = grads[0]  # indexed, not unpacked: see ``common.parallel``
    grad_b2 = grads[1]
    n, n_hidden = z.shape
    n_out = e.shape[1]
    scale = c[SCALE]
    limit = c[QUOTIENT]
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        f_re = np.empty(n, dtype=e.dtype)
        f_im = np.empty(n, dtype=e.dtype)
        w_re = np.empty(n, dtype=e.dtype)
        w_im = np.empty(n, dtype=e.dtype)
        terms = np.empty(n, dtype=e.dtype)
        for b in range(n):
            d = cc[IH] * z[b, j] if j < n_hidden else cc[IH]
            f = _exp_small(d, c)
            f_re[b] = f.real
            f_im[b] = f.imag
        for k in range(n_out):
            above = 0
            for b in range(n):
                fb = _complex(f_re[b], f_im[b])
                inverse = _inverse(totals[b] + e_t[k, b] * (fb - c[ONE]), c)
                eyb = ey[b] * fb if target[b] == k else ey[b]
                w = eyb * inverse + c[LOG_EPS]
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
                    d = cc[IH] * z[b, j] if j < n_hidden else cc[IH]
                    acc += _loss_one_logit_moved(e, t, totals[b], b, k, d, c, cc).imag
            if j < n_hidden:
                grad_w2[j, k] = acc
                grad_w2[j, k] *= scale
            else:
                grad_b2[k] = acc
                grad_b2[k] *= scale
