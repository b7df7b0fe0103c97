"""The compiled engine's entry points: ``incremental_gradient`` computes the unperturbed forward
pass once, groups the pixel values, and runs the real or the complex kernels; ``warm_up``
compiles them.

Richardson extrapolation, two central gradients D at h and h/2 combined as
(4 D(h/2) - D(h)) / 3, is ``numerical.gradient``'s for both engines.
"""

from __future__ import annotations

import numpy as np

from mlpbench.methods.base import GradientResult
from mlpbench.methods.incremental import complex_step, real
from mlpbench.methods.incremental.common import (
    CENTRAL,
    SCHEME_CODES,
    Batch,
    complex_constants,
    constants,
    jit,
)
from mlpbench.methods.incremental.grouping import distinct_values, sample_steps
from mlpbench.methods.incremental.log import table_log_is_the_librarys
from mlpbench.model import Params


@jit
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


def _forward(params: Params, x: np.ndarray, t: np.ndarray) -> Batch:
    """The unperturbed forward pass, with what the kernels read of it."""
    dtype = params["W1"].dtype
    pre = x @ params["W1"] + params["b1"]
    ex = np.exp(-pre)
    z = 1.0 / (1.0 + ex)  # model.sigmoid(pre), sharing its exp(-pre)
    logits = z @ params["W2"] + params["b2"]
    e = np.exp(logits - np.max(logits))
    w2 = np.ascontiguousarray(params["W2"])
    moments = np.empty((6, *z.shape), dtype=dtype)
    for n in range(6):
        np.matmul(e, w2.T ** n, out=moments[n])
    target, ey, ty = _targets(t, e)
    return Batch(ex=ex, z=z, e=e, e_t=np.ascontiguousarray(e.T), totals=np.sum(e, axis=1), t=t,
                 target=target, ey=ey, ty=ty, w2=w2, moments=moments,
                 wmax=np.max(np.abs(w2), axis=1))


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
    batch = _forward(params, x, t)
    groups = distinct_values(x)
    steps = sample_steps(groups.values, groups.value_ptr, dtype.type(h))
    grads = {key: np.empty_like(value) for key, value in params.items()}
    hidden_grads, output_grads = (grads["W1"], grads["b1"]), (grads["W2"], grads["b2"])
    n_params = sum(value.size for value in params.values())
    table_log = table_log_is_the_librarys()
    if scheme == "complex_step":
        c = constants(dtype, h, log_eps, 1 / (x.shape[0] * h), table_log)
        cc = complex_constants(dtype, h)
        rotations = (np.cos(steps) - 1j * np.sin(steps)).astype(cc.dtype)  # exp(-i step)
        ints = np.empty(0, dtype=np.int64 if dtype.itemsize == 8 else np.int32)
        complex_step.hidden_kernel(
            batch, groups, (np.ascontiguousarray(rotations.real),
                            np.ascontiguousarray(rotations.imag)), c, cc, ints, hidden_grads)
        complex_step.output_kernel(batch, c, cc, output_grads)
        evals = n_params
    else:
        code = SCHEME_CODES[scheme]
        c = constants(dtype, h, log_eps, 1 / (x.shape[0] * (2 * h if code == CENTRAL else h)),
                      table_log)
        probs = batch.e / batch.totals[:, None]
        base = -np.sum(t * np.log(probs + dtype.type(log_eps)), axis=1)
        real.hidden_kernel(batch, groups, (np.exp(-steps), np.exp(steps)), base, code, c,
                           hidden_grads)
        real.output_kernel(batch, base, code, c, output_grads)
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
