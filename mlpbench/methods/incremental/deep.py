"""The incremental engine for networks of any depth and activation, in NumPy (no numba).

Moving W_l[i, j] by h changes one number of the forward pass first: the pre-activation of unit
j of layer l, by h * z_{l-1}[b, i] (z_0 = x), for every sample b whose z_{l-1}[b, i] is not 0;
moving b_l[j] changes it by h for every sample. This engine carries that one-unit change through
the rest of the network for the affected samples only:

- unit j's output changes by dz = act(a + d) - act(a);
- the next layer's pre-activations change by the rank-one term dz * W_{l+1}[j, :];
- every later layer is recomputed for those samples, up to the logits and the per-sample loss
  -sum_c t_c log(p_c + log_eps).

At the first layer a sample's perturbed losses depend on pixel i only through its value, so they
are computed once per distinct nonzero value of each sample and added to every pixel holding it,
as in the compiled one-layer engine (``grouping``). Every real-step gradient entry is a
difference of two full per-sample losses (or of one and the unperturbed loss) summed over the
batch and divided by the batch size and h or 2h, as in the naive loop; the complex step moves
the pre-activation by i h instead and takes the imaginary part, with nothing subtracted. So this
computes the naive loop's finite differences of the same training loss, to rounding: samples
the move does not reach contribute exactly nothing here, where the naive loop cancels them in
the batch mean.

The seed's network (one sigmoid hidden layer) is computed by the compiled engine (``driver``);
this one computes every other network.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from mlpbench.methods.base import GradientResult
from mlpbench.model import Params, activate, n_layers, param_count, param_keys

SIGNS = {"central": (1.0, -1.0), "forward": (1.0,), "backward": (-1.0,)}
WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
"""Threads over the units of a layer: NumPy releases the GIL in its array loops and BLAS (kept
on one thread per call in runs), so the units' work shares the cores as the compiled one-layer
engine's parallel loops do."""


def _per_sample_loss(logits: np.ndarray, t: np.ndarray, log_eps: float) -> np.ndarray:
    """-sum_c t_c log(p_c + log_eps) for each row, real or complex (max shift of the real part)."""
    shifted = logits - np.max(logits.real, axis=1, keepdims=True)
    e = np.exp(shifted)
    p = e / np.sum(e, axis=1, keepdims=True)
    return -np.sum(t * np.log(p + log_eps), axis=1)


def _target_loss(
    logits: np.ndarray, target: np.ndarray, shift: np.ndarray, log_eps: float
) -> np.ndarray:
    """``_per_sample_loss`` for one-hot targets (class ``target`` per row), from the one term
    that is not 0 * log(...): -log(p_y + log_eps), the softmax shifted by the unperturbed
    row maximum ``shift`` (any shift cancels in the softmax; this one costs no pass)."""
    e = np.exp(logits - shift[:, None])
    p_y = e[np.arange(len(target)), target] / np.sum(e, axis=1)
    return -np.log(p_y + log_eps)


class _State:
    """The unperturbed forward pass of one batch: every layer's pre-activation and output."""

    def __init__(self, params: Params, x: np.ndarray, activation: str) -> None:
        self.params, self.activation = params, activation
        self.layers = n_layers(params)
        self.pre: list[np.ndarray] = [np.empty(0)]  # pre[l] for l = 1..L (pre[L]: the logits)
        self.out: list[np.ndarray] = [x]  # out[l] = act(pre[l]) for l < L; out[0] = x
        z = x
        for layer in range(1, self.layers + 1):
            a = z @ params[f"W{layer}"] + params[f"b{layer}"]
            self.pre.append(a)
            if layer < self.layers:
                z = activate(a, self.activation)
                self.out.append(z)
        self.logit_max = np.max(self.pre[-1], axis=1)  # each sample's softmax shift


class _Rows:
    """One set of sample rows (a sample may appear many times) with the unperturbed values of
    ``layer`` and of the layer after it gathered once, for every unit of ``layer`` to share."""

    def __init__(self, state: _State, layer: int, rows: np.ndarray, t: np.ndarray,
                 base: np.ndarray) -> None:
        self.state, self.layer = state, layer
        self.pre = state.pre[layer][rows]
        self.out = state.out[layer][rows] if layer < state.layers else None
        self.after = state.pre[layer + 1][rows] if layer < state.layers else None
        self.t, self.base = t[rows], base[rows]
        self.target = np.argmax(self.t, axis=1)
        self.shift = state.logit_max[rows]

    def logits_after(self, unit: int, move: np.ndarray) -> np.ndarray:
        """The logits of these rows with pre-activation ``unit`` moved by ``move`` (one move
        per row), the rest of the network recomputed for them."""
        state, p = self.state, self.state.params
        if self.after is None:  # the move is on a logit
            logits = self.pre.astype(move.dtype)
            logits[:, unit] += move
            return logits
        dz = activate(self.pre[:, unit] + move, state.activation) - self.out[:, unit]
        nxt = self.after + dz[:, None] * p[f"W{self.layer + 1}"][unit]
        for deeper in range(self.layer + 1, state.layers):
            nxt = _activate_in_place(nxt, state.activation) @ p[f"W{deeper + 1}"]
            nxt += p[f"b{deeper + 1}"]
        return nxt


def _activate_in_place(a: np.ndarray, activation: str) -> np.ndarray:
    """``model.activate`` overwriting ``a`` (the same arithmetic, one pass less per step)."""
    if activation == "sigmoid":
        np.negative(a, out=a)
        np.exp(a, out=a)
        a += 1.0
        return np.reciprocal(a, out=a)
    if activation == "tanh":
        return np.tanh(a, out=a)
    return activate(a, activation)


def _first_layer_groups(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The distinct nonzero (sample, value) pairs of ``x`` and, for every nonzero pixel, its
    pair: (pair sample, pair value, pixel column, pixel's pair index)."""
    rows, cols = np.nonzero(x)
    values = x[rows, cols]
    uniq, value_id = np.unique(values, return_inverse=True)
    keys = rows * len(uniq) + value_id.ravel()
    pair_keys, pair_of = np.unique(keys, return_inverse=True)
    return pair_keys // len(uniq), uniq[pair_keys % len(uniq)], cols, pair_of.ravel()


def deep_incremental_gradient(
    params: Params, x: np.ndarray, t: np.ndarray, *, h: float, scheme: str, log_eps: float,
    activation: str,
) -> GradientResult:
    """Finite-difference gradient equal to ``naive_gradient``'s to rounding, for any network.

    ``scheme`` is central, forward, backward or complex_step (Richardson is
    ``numerical.gradient``'s). ``loss_evals`` counts full-loss equivalents as the naive loop
    does: 2P (central), P + 1 (forward, backward) or P (complex step).
    """
    dtype = params["W1"].dtype
    x, t = np.asarray(x, dtype=dtype), np.asarray(t, dtype=dtype)
    batch = x.shape[0]
    state = _State(params, x, activation)
    base = _per_sample_loss(state.pre[-1], t, log_eps)
    complex_step = scheme == "complex_step"
    one_hot = bool(np.all((t == 0) | (t == 1)) and np.all(t.sum(axis=1) == 1))
    steps = (1j * h,) if complex_step else tuple(sign * h for sign in SIGNS[scheme])
    complex_type = np.result_type(dtype, np.complex64)

    def summed_change(rows: _Rows, unit: int, scale: np.ndarray) -> np.ndarray:
        """Per row: the loss change along the scheme, already divided by its step."""
        moves = [(scale * step).astype(complex_type if complex_step else dtype) for step in steps]
        losses = [
            _target_loss(rows.logits_after(unit, move), rows.target, rows.shift, log_eps)
            if one_hot else _per_sample_loss(rows.logits_after(unit, move), rows.t, log_eps)
            for move in moves
        ]
        if complex_step:
            return losses[0].imag / h
        if scheme == "central":
            return (losses[0] - losses[1]) / (2 * h)
        if scheme == "forward":
            return (losses[0] - rows.base) / h
        return (rows.base - losses[0]) / h

    grads: Params = {key: np.zeros_like(params[key]) for key in param_keys(params)}
    every_row = np.arange(batch)
    ones = np.ones(batch, dtype=dtype)
    pair_rows, pair_values, cols, pair_of = _first_layer_groups(x)
    for layer in range(1, state.layers + 1):
        weights, width = grads[f"W{layer}"], params[f"W{layer}"].shape[1]
        source = state.out[layer - 1]
        whole = _Rows(state, layer, every_row, t, base)
        if layer == 1:  # one evaluation per distinct nonzero (sample, pixel value)
            rows, inputs, scale = pair_rows, None, pair_values
        else:  # a later layer: every nonzero input of every sample
            rows, inputs = np.nonzero(source)
            scale = source[rows, inputs]
        moved = _Rows(state, layer, rows, t, base)

        def unit_gradient(unit: int, layer=layer, weights=weights, whole=whole, moved=moved,
                          inputs=inputs, scale=scale) -> None:
            grads[f"b{layer}"][unit] = summed_change(whole, unit, ones).sum() / batch
            change = summed_change(moved, unit, scale)
            where, weight = (cols, change[pair_of]) if inputs is None else (inputs, change)
            weights[:, unit] = np.bincount(where, weights=weight,
                                           minlength=weights.shape[0]) / batch

        with ThreadPoolExecutor(max_workers=WORKERS) as pool:
            list(pool.map(unit_gradient, range(width)))
    count = param_count(params)
    evals = {"central": 2 * count, "complex_step": count}.get(scheme, count + 1)
    return GradientResult(grads, loss_evals=evals)
