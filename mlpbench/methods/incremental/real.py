"""The real-step kernels: every central, forward or backward difference of the seed's network.

Each gradient entry is (L(+h) - L(-h)) / 2h, (L(+h) - L) / h or (L - L(-h)) / h with every
perturbed loss computed in full from the perturbed logits (nothing here is a Taylor expansion
of the loss in h), summed over the samples in order and scaled by 1 / batch.

- Moving W1[i, j] by s moves unit j's pre-activation a by s x[b, i] for every sample b, so its
  sigmoid becomes 1 / (1 + exp(-a) exp(-s x)): exp(-a) is the batch's ``ex``, exp(-+ step) is
  taken once per distinct pixel value (``grouping``). b1[j] moves it by s.
- The moved unit changes z by dz and every logit k by dz W2[j, k]. The new softmax denominator is
  ``denominator_series`` when every |dz W2[j, k]| is within the series limit, else summed term
  by term with the library exp; the target's exponential exp(o_y + d) is exp(o_y) exp(d), exp(d)
  its series. The log of p_y + log_eps is ``log.split_log``.
- Moving W2[j, k] (or b2[k], as a unit fixed at 1) moves only logit k, by the step times z[b, j]:
  one term of the denominator changes.

The softmax keeps the unperturbed batch maximum as its shift; the shift cancels exactly in the
softmax, so this differs from the naive loop (which takes the maximum of the perturbed logits)
only by rounding. Arithmetic stays in the parameters' dtype up to each loss; for float32
parameters numba carries the loss differences, the sums over samples and the output kernel's
steps in float64 (a float32 times an integer is a float64 to it).
"""

from __future__ import annotations

import math

import numba
import numpy as np

from mlpbench.methods.incremental.common import (
    BACKWARD,
    CENTRAL,
    FORWARD,
    HALF,
    LIMIT,
    LOG_EPS,
    ONE,
    SCALE,
    SIXTH,
    TABLE_LOG,
    TH24,
    TH120,
    H,
    denominator_series,
    exp_series,
    inline,
    parallel,
    scaled_moments,
)
from mlpbench.methods.incremental.grouping import step_slots
from mlpbench.methods.incremental.log import needs_library_log, split_log


@inline
def _exp_small(d, c):
    """exp(d) to full precision: the series for tiny |d|, the library function otherwise."""
    if abs(d) <= c[LIMIT]:
        return exp_series(d, c)
    return math.exp(d)


@inline
def _loss_all_logits_moved(e, t, moments, wmax, b, w2, j, dz, c):
    """Sample b's loss when every logit k moves by dz * W2[j, k] (hidden unit j changed by dz):
    the denominator by its series where every |dz W2[j, k]| is within the series limit, else
    term by term with the library exp."""
    if abs(dz) * wmax[j] <= c[LIMIT]:
        total = denominator_series(moments, b, j, dz, c)
    else:
        total = e[0, 0] * 0
        for k in range(e.shape[1]):
            total += e[b, k] * math.exp(dz * w2[j, k])
    loss = e[0, 0] * 0
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            p = e[b, k] * _exp_small(dz * w2[j, k], c) / total
            loss -= t[b, k] * math.log(p + c[LOG_EPS])
    return loss


@inline
def _loss_one_logit_moved(e, t, total, b, k_moved, d, c):
    """Sample b's loss when only logit ``k_moved`` moves by ``d`` (a W2 or b2 entry changed).

    Only one term of the softmax denominator changes: ``total`` is the unperturbed one.
    """
    f = _exp_small(d, c)
    moved = total + e[b, k_moved] * (f - c[ONE])
    loss = e[0, 0] * 0
    for k in range(e.shape[1]):
        if t[b, k] != 0:
            ek = e[b, k] * f if k == k_moved else e[b, k]
            loss -= t[b, k] * math.log(ek / moved + c[LOG_EPS])
    return loss


@inline
def _difference(plus, minus, base, scheme):
    """The scheme's numerator: L(+h) - L(-h), L(+h) - L, or L - L(-h)."""
    if scheme == CENTRAL:
        return plus - minus
    if scheme == FORWARD:
        return plus - base
    return base - minus


@inline
def _log_args(ej, zj, factors, m, ey, wy, wmax_j, c, out):
    """For one sample and unit, the log's argument p_y + log_eps after each step, into ``out``.

    ``factors`` holds exp(-+ step) of the sample's steps, ``m`` the denominator's series
    coefficients (``scaled_moments``), ``ey`` and ``wy`` the target's e and W2[j, y]. A
    branch-free loop over the steps that the compiler vectorises; returns how many steps moved
    z by more than the series limit allows (|dz| * max_k |W2[j, k]| over the limit), so the
    caller knows whether every series it summed was within its limit.
    """
    one, half, sixth, t24, t120 = c[ONE], c[HALF], c[SIXTH], c[TH24], c[TH120]
    limit, log_eps = c[LIMIT], c[LOG_EPS]
    m0, m1, m2, m3, m4, m5 = m
    too_large = 0
    for q in range(factors.shape[0]):
        dz = one / (one + ej * factors[q]) - zj
        # compared in float64, also for float32 parameters
        if not abs(dz) * 1.0 * wmax_j <= limit:
            too_large += 1
        total = m0 + dz * (m1 + dz * (m2 + dz * (m3 + dz * (m4 + dz * m5))))
        d = dz * wy
        f = one + d * (one + d * (half + d * (sixth + d * (t24 + d * t120))))
        out[q] = ey * f / total + log_eps
    return too_large


@inline
def _log_differences(arg_plus, arg_minus, count, ty, lb, scheme, table, diffs):
    """The scheme's loss differences -t_y log(arg) for one sample's steps into ``diffs``, in
    float64 (also for float32 parameters, as the general routine's losses), by ``split_log``:
    one loop per scheme, which the compiler vectorises for float64. Returns how many logs were
    left to math.log (the caller recomputes those steps)."""
    left = 0
    if scheme == CENTRAL:
        for q in range(count):
            log_plus, library_plus = split_log(arg_plus[q], table)
            log_minus, library_minus = split_log(arg_minus[q], table)
            diffs[q] = np.float64(-ty * log_plus) - np.float64(-ty * log_minus)
            left += library_plus + library_minus
    elif scheme == FORWARD:
        for q in range(count):
            log_plus, library = split_log(arg_plus[q], table)
            diffs[q] = np.float64(-ty * log_plus) - np.float64(lb)
            left += library
    else:
        for q in range(count):
            log_minus, library = split_log(arg_minus[q], table)
            diffs[q] = np.float64(lb) - np.float64(-ty * log_minus)
            left += library
    return left


@parallel
def hidden_kernel(batch, groups, steps, base, scheme, c, grads):
    """Scaled sums of per-sample loss differences for every W1[i, j] and b1[j].

    ``batch`` is a ``common.Batch``, ``groups`` a ``grouping.DistinctValues``, ``base`` the
    unperturbed per-sample losses, ``scheme`` a code of ``common.SCHEME_CODES`` and ``c`` the
    constants; the results go to ``grads`` = (grad_w1, grad_b1). For sample b the steps of its
    pre-activation are laid out contiguously from ``value_ptr[b] + b``: first h (the step of
    b1), then h v for each distinct nonzero pixel value v (``grouping.sample_steps``);
    ``steps`` = (shrink, grow) holds exp(-step) and exp(step) of each, and moving the
    pre-activation a by +-step turns the sigmoid into 1 / (1 + exp(-a) * shrink) or
    1 / (1 + exp(-a) * grow).

    Each hidden unit j is one parallel task; it sums W1[:, j]'s entries in a row of its own and
    writes them, scaled, into column j of grad_w1 at the end. For one-hot rows (``target[b]``
    is the class) the arguments of the log are computed for all steps in one branch-free loop
    the compiler vectorises, then the loss differences in a second one (``_log_differences``,
    vectorised too for float64), and scattered to the sample's pixels through ``slots`` (each
    pixel's step); a row with another target, or a step too large for the series, takes the
    general routine.
    """
    ex, z, e, t, target, w2 = batch.ex, batch.z, batch.e, batch.t, batch.target, batch.w2
    moments, wmax = batch.moments, batch.wmax
    value_ptr, pixels, pixel_ptr = groups.value_ptr, groups.pixels, groups.pixel_ptr
    shrink, grow = steps[0], steps[1]
    grad_w1 = grads[0]  # indexed, not unpacked: see ``common.parallel``
    grad_b1 = grads[1]
    n, n_hidden = z.shape
    n_in = grad_w1.shape[0]
    scale = c[SCALE]
    table = c[TABLE_LOG] != 0
    width = 1
    for b in range(n):
        width = max(width, value_ptr[b + 1] - value_ptr[b] + 1)
    slots = step_slots(value_ptr, pixel_ptr)
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
                m = scaled_moments(moments, b, j, c)
                ey, wy = e[b, y], w2[j, y]
                too_large = 0
                if scheme != BACKWARD:
                    too_large += _log_args(ej, zj, shrink[first:first + count], m, ey, wy,
                                           wmax_j, c, arg_plus)
                if scheme != FORWARD:
                    too_large += _log_args(ej, zj, grow[first:first + count], m, ey, wy,
                                           wmax_j, c, arg_minus)
                fast = too_large == 0
            if fast:
                ty = t[b, y]
                if _log_differences(arg_plus, arg_minus, count, ty, lb, scheme, table, diffs):
                    for q in range(count):
                        if (scheme != BACKWARD and needs_library_log(arg_plus[q], table)) or (
                                scheme != FORWARD and needs_library_log(arg_minus[q], table)):
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
                            c[ONE] / (c[ONE] + ej * shrink[first + q]) - zj, c)
                    if scheme != FORWARD:
                        minus = _loss_all_logits_moved(
                            e, t, moments, wmax, b, w2, j,
                            c[ONE] / (c[ONE] + ej * grow[first + q]) - zj, c)
                    diffs[q] = _difference(plus, minus, lb, scheme)
            acc_b1 += diffs[0]
            for s in range(pixel_ptr[value_ptr[b]], pixel_ptr[value_ptr[b + 1]]):
                row[pixels[s]] += diffs[slots[s]]
        for i in range(n_in):
            grad_w1[i, j] = row[i] * scale
        grad_b1[j] = acc_b1  # rounded to the dtype first, then scaled in it
        grad_b1[j] *= scale


@parallel
def output_kernel(batch, base, scheme, c, grads):
    """Scaled sums of per-sample loss differences for every W2[j, k] and b2[k], into
    ``grads`` = (grad_w2, grad_b2); the other arguments as ``hidden_kernel``'s.

    Moving W2[j, k] (or b2[k], as a unit fixed at 1) moves only logit k, by the step times
    z[b, j]; one term of the softmax denominator changes. exp(+-step) is taken once per sample
    and unit; for one-hot rows the log's arguments and their logs (``split_log``) are computed
    for all samples in one loop the compiler vectorises (over ``e_t``, e transposed), and summed
    over the samples in order in a second one.
    """
    z, e, e_t, ey, t, target = batch.z, batch.e, batch.e_t, batch.ey, batch.t, batch.target
    totals = batch.totals
    grad_w2 = grads[0]  # indexed, not unpacked: see ``common.parallel``
    grad_b2 = grads[1]
    n, n_hidden = z.shape
    n_out = e.shape[1]
    h = c[H]
    one = c[ONE]
    scale = c[SCALE]
    table = c[TABLE_LOG] != 0
    for j in numba.prange(n_hidden + 1):  # the last row stands for b2
        # float64 also for float32 parameters: numba widens the step times the sign +-1
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
                arg_plus[b] = eyp / moved + c[LOG_EPS]
                log_plus[b], library = split_log(arg_plus[b], table)
                redo += library
                fm = f_minus[b]
                moved = totals[b] + e_t[k, b] * (fm - one)
                eym = ey[b] * fm if target[b] == k else ey[b]
                arg_minus[b] = eym / moved + c[LOG_EPS]
                log_minus[b], library = split_log(arg_minus[b], table)
                redo += library
            if redo > 0:
                for b in range(n):
                    if needs_library_log(arg_plus[b], table):
                        log_plus[b] = math.log(arg_plus[b])
                    if needs_library_log(arg_minus[b], table):
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
