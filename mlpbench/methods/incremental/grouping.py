"""The distinct nonzero pixel values of each sample, and the pixels holding each one.

A sample's perturbed losses depend on pixel i only through its value x[b, i]: moving W1[i, j]
by h moves unit j's pre-activation by h x[b, i]. So the kernels compute them once per distinct
nonzero value of the sample (about 66 of its 157 nonzero pixels on MNIST) and add each to every
pixel holding that value. This module lays those groups out (CSR) and the steps they take.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from mlpbench.methods.incremental.common import jit


class DistinctValues(NamedTuple):
    """Per sample, its distinct nonzero values in increasing order and the pixels holding each
    one: sample b's distinct values are values[value_ptr[b]:value_ptr[b + 1]], and the pixels
    holding the u-th of all values are pixels[pixel_ptr[u]:pixel_ptr[u + 1]]."""

    values: np.ndarray
    value_ptr: np.ndarray
    pixels: np.ndarray
    pixel_ptr: np.ndarray


def distinct_values(x: np.ndarray) -> DistinctValues:
    """The distinct nonzero values of each row of ``x`` and the pixels holding each one."""
    x = np.ascontiguousarray(x)
    bits = x.view(np.uint64 if x.itemsize == 8 else np.uint32)
    return DistinctValues(*_distinct_values(x, bits))


@jit
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


@jit
def sample_steps(values, value_ptr, h):
    """Per sample, contiguously: h (b1's step), then h * v for each of its distinct values."""
    n = value_ptr.shape[0] - 1
    steps = np.empty(values.shape[0] + n, dtype=values.dtype)
    for b in range(n):
        steps[value_ptr[b] + b] = h
        for u in range(value_ptr[b], value_ptr[b + 1]):
            steps[u + b + 1] = values[u] * h
    return steps


@jit
def step_slots(value_ptr, pixel_ptr):
    """For each pixel of ``pixels``, the index of its step among its sample's steps (0 is b1's
    step, u + 1 the step of the sample's u-th distinct value)."""
    slots = np.empty(pixel_ptr[-1], dtype=np.int64)
    for b in range(value_ptr.shape[0] - 1):
        for u in range(value_ptr[b], value_ptr[b + 1]):
            for p in range(pixel_ptr[u], pixel_ptr[u + 1]):
                slots[p] = u - value_ptr[b] + 1
    return slots
