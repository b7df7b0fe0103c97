"""Random directions over all parameters, shared by the estimators that probe the loss along them.

A direction is a dict of arrays shaped like the parameters, so one draw moves every parameter
at once. Directions come from the run's own random stream (``Streams.method``), in a fixed
order, so a run is reproducible from its seed.

The losses along directions (``losses_along``) are computed the way zeroth-order methods are
run in practice, without a moved copy of the parameters for every perturbation: the first
layer, which holds most of an MLP's parameters, is never moved at all (see ``losses_along``).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

import numpy as np

from mlpbench.model import Params, activate, cross_entropy, n_layers, param_count, softmax

DISTRIBUTIONS = ("rademacher", "gaussian")


def rademacher_signs(rng: np.random.Generator, size: int, dtype: np.dtype) -> np.ndarray:
    """``size`` entries +-1, the same values as ``2 * rng.integers(0, 2, size) - 1``, leaving
    ``rng`` in the same state, several times faster.

    ``Generator.integers(0, 2)`` draws one 32-bit word per entry (the low half of each 64-bit
    output of the bit generator, then its high half, an unused half kept for the next call)
    and returns the word's top bit: Lemire's bounded method with a range of 2, which never
    rejects. Taking those bits straight from the raw 64-bit outputs skips a function call per
    entry. Only for PCG64, the generator of every run's streams (``train.streams``); any other
    generator takes ``integers``. A test checks the equality for odd sizes and leftover halves.
    """
    bits = rng.bit_generator
    if type(bits) is not np.random.PCG64 or sys.byteorder != "little":
        return (2.0 * rng.integers(0, 2, size=size) - 1.0).astype(dtype)
    state = bits.state
    leftover = [state["uinteger"]] if state["has_uint32"] and size else []
    rest = size - len(leftover)
    words = bits.random_raw((rest + 1) // 2).view(np.uint32)  # low half, then high half
    halves = np.concatenate([np.array(leftover, dtype=np.uint32), words[:rest]]) \
        if leftover else words[:rest]
    if leftover or rest % 2:
        state = bits.state
        state["has_uint32"] = rest % 2
        state["uinteger"] = int(words[-1]) if rest % 2 else 0
        bits.state = state
    np.right_shift(halves, 31, out=halves)  # in place: one temporary array, not three
    signs = np.empty(size, dtype=dtype)
    np.multiply(halves, 2, out=signs, casting="unsafe")
    signs -= 1
    return signs


def draw(params: Params, rng: np.random.Generator, distribution: str) -> Params:
    """One direction: entries +-1 with equal probability (Rademacher) or N(0, 1) (Gaussian).

    Either way E[z z^T] = I, which is what makes (grad . z) z an unbiased gradient estimate.
    The entries are drawn key by key in layer order; Rademacher signs come as one draw of all
    of them, split into the keys (the same values: ``integers`` continues where it stopped).
    """
    if distribution == "rademacher":
        dtype = next(iter(params.values())).dtype
        return split(rademacher_signs(rng, param_count(params), dtype), 0, params)
    return {key: gaussian(rng, value.shape, value.dtype) for key, value in params.items()}


NOISES = ("table", "fresh")
TABLE_MIN = 2**22
"""Entries of a noise table (32 MiB in float64) unless the parameters need more (see
``NoiseTable``)."""


class NoiseTable:
    """One block of N(0, 1) numbers drawn once from a run's stream; a direction is the slice
    of the parameters' size at an offset drawn from the same stream.

    This is how evolution strategies are run at scale (Salimans et al. 2017, "a large block of
    shared Gaussian noise"): a direction costs one integer instead of P Gaussians, which NumPy
    draws at about 9 ns each, more than one forward pass of 784-50-10 for every direction.
    Each slice is exactly N(0, I); slices at different offsets overlap but are shifted, so two
    directions are as good as independent (their correlation is that of independent noise,
    about 1/sqrt(P)). The table is drawn when it is made, before training, so no step's time
    includes it: ``TABLE_MIN`` numbers (32 MiB in float64), drawn again larger, 4P, at the
    first direction of a network with more than ``TABLE_MIN / 2`` parameters. The directions
    are read-only views of it, in the parameters' dtype.
    """

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.values = self._drawn(TABLE_MIN)

    def _drawn(self, size: int) -> np.ndarray:
        values = self.rng.standard_normal(size)
        values.flags.writeable = False
        return values

    def draw(self, params: Params) -> Params:
        """The direction at a fresh random offset, as read-only views keyed like ``params`` (any
        dict of arrays: the parameters, or a batch's pre-activations)."""
        total = param_count(params)
        dtype = next(iter(params.values())).dtype
        if self.values.size < 2 * total:
            self.values = self._drawn(4 * total)
        if self.values.dtype != dtype:
            self.values = self.values.astype(dtype)
            self.values.flags.writeable = False
        return split(self.values, int(self.rng.integers(0, self.values.size - total + 1)),
                     params)


def split(flat: np.ndarray, start: int, params: Params) -> Params:
    """Consecutive views of ``flat`` from ``start``, shaped and keyed like ``params``."""
    out = {}
    for key, value in params.items():
        out[key] = flat[start:start + value.size].reshape(value.shape)
        start += value.size
    return out


def sampler(
    noise: str, distribution: str, rng: np.random.Generator | None
) -> Callable[[Params], Params]:
    """``draw(params)``: fresh directions from ``rng`` (``noise=fresh``) or slices of a
    Gaussian noise table drawn from it (``noise=table``, Gaussian directions only). Without
    a run's stream (an estimator built outside a run), one seeded from the OS."""
    rng = rng if rng is not None else np.random.default_rng()
    if noise == "table":
        return NoiseTable(rng).draw
    return lambda params: draw(params, rng, distribution)


def orthogonalised(block: np.ndarray) -> np.ndarray:
    """The m rows of ``block`` (..., m, n), m <= n, made orthogonal and rescaled to norm sqrt(n),
    the norm a Gaussian direction has on average: Q of the QR factorisation of the block's
    transpose, whose columns span the rows' space.

    For a Gaussian block the rows' span is uniformly distributed, so sum_i q_i q_i^T averages
    (m / n) I and (n / m) sum_i (g . q_i) q_i is an unbiased estimate of g (Choromanski et al.
    2018). Only outer products q_i q_i^T enter an estimate, so the signs LAPACK leaves on the
    columns do not matter. A leading axis is a stack of blocks (one per example), factorised
    together.
    """
    q, _ = np.linalg.qr(np.swapaxes(block, -1, -2))
    return np.swapaxes(q, -1, -2) * np.sqrt(block.shape[-1])


def directions_of(
    count: int, direction: Callable[[], Params], orthogonal: bool, *, per_example: bool = False,
) -> Iterator[Params]:
    """``count`` directions: as ``direction()`` draws them, or with ``orthogonal`` drawn in
    blocks of up to n (the dimension of the space they live in) and orthogonalised
    (``orthogonalised``), each block from its own draws.

    A direction is a dict of arrays. With ``per_example`` every array holds one row per example
    (a batch's pre-activations) and each example's rows, across the dict, are a space of their
    own: its blocks are orthogonalised example by example. A block holds count x n numbers
    (float64) at once; for one direction per block that is a direction rescaled to norm sqrt(n).
    """
    if not orthogonal:
        for _ in range(count):
            yield direction()
        return
    left = count
    while left:
        drawn = [direction()]
        like = drawn[0]
        keys = list(like)
        if per_example:
            groups = next(iter(like.values())).shape[0]
            width = sum(value.shape[1] for value in like.values())
        else:
            groups, width = 1, param_count(like)
        size = min(left, width)
        drawn += [direction() for _ in range(size - 1)]
        block = np.stack([np.concatenate([np.reshape(d[key], (groups, -1)) for key in keys],
                                         axis=1) for d in drawn], axis=1)  # (groups, size, width)
        rows = orthogonalised(block.astype(np.float64)).astype(like[keys[0]].dtype)
        for j in range(size):
            flat = rows[:, j, :]
            out, start = {}, 0
            for key in keys:
                span = like[key].size // groups
                out[key] = flat[:, start:start + span].reshape(like[key].shape)
                start += span
            yield out
        left -= size


def gaussian(rng: np.random.Generator, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """N(0, 1) entries drawn in float64 (so a run's directions do not depend on its dtype),
    converted only when the parameters are float32."""
    values = rng.standard_normal(shape)
    return values if dtype == np.float64 else values.astype(dtype)


def moved(params: Params, direction: Params, step: float | complex) -> Params:
    """theta + step * z, as new arrays (complex when ``step`` is)."""
    return {key: value + step * direction[key] for key, value in params.items()}


def losses_along(
    params: Params, directions: list[Params], h: float, x: np.ndarray, t: np.ndarray,
    log_eps: float, activation: str = "sigmoid",
) -> np.ndarray:
    """L(theta + h z_j) and L(theta - h z_j) for each direction z_j: shape (directions, 2).

    The parameters are neither copied nor touched. The first layer's pre-activation is linear
    in its weights, x (W1 +- h Z1) + b1 +- h z_b1 = (x W1 + b1) +- h (x Z1 + z_b1): its two
    products are computed once for every perturbation of the step, the directions' products
    as one (x [Z1_1 ... Z1_n]), so a pair of losses costs two first-layer products rather than
    four. The two signs of a pair go through the rest of the network together, each later layer
    with its moved weights W +- h Z (for 784-50-10, 510 numbers). Every loss is still the
    model's cross-entropy of the moved network's softmax; it differs from evaluating
    ``model.loss`` at moved copies only by rounding.
    """
    last = n_layers(params)
    base = x @ params["W1"] + params["b1"]
    width = base.shape[1]
    if len(directions) == 1:
        tangents = x @ directions[0]["W1"]
    else:
        tangents = x @ np.concatenate([z["W1"] for z in directions], axis=1)
    steps = np.array([h, -h], dtype=base.dtype)[:, None, None]  # both signs at once
    losses = np.empty((len(directions), 2))
    for j, z in enumerate(directions):
        tangent = tangents[:, j * width:(j + 1) * width] + z["b1"]
        out = activate(base + steps * tangent, activation)  # (2, batch, width)
        for layer in range(2, last + 1):
            weights = params[f"W{layer}"] + steps * z[f"W{layer}"]
            pre = out @ weights + (params[f"b{layer}"] + steps * z[f"b{layer}"])
            out = pre if layer == last else activate(pre, activation)
        for column in range(2):
            losses[j, column] = float(cross_entropy(softmax(out[column]), t, log_eps))
    return losses


def combine(coefficients: list[float], directions: list[Params], scale: float) -> Params:
    """scale * sum_j c_j z_j, in the parameters' dtype."""
    total = {key: np.zeros_like(value) for key, value in directions[0].items()}
    for c, direction in zip(coefficients, directions, strict=True):
        for key, value in direction.items():
            total[key] += c * value
    for key, value in total.items():
        total[key] = (value * scale).astype(value.dtype)
    return total


def averaged(
    params: Params, count: int, direction: Callable[[], Params], slope: Callable[[Params], float]
) -> Params:
    """(1 / count) sum_j slope(z_j) z_j over ``count`` fresh directions z_j = direction().

    ``slope(z)`` is the (estimated) directional derivative along z; each direction is used and
    dropped, so memory stays at two parameter-sized arrays whatever the count, and at one for
    a single fresh direction, scaled in place into the estimate.
    """
    if count == 1:  # the same numbers as the sum below, 0 + s z_1, divided by 1
        z = direction()
        s = float(slope(z))
        if not all(value.flags.writeable for value in z.values()):  # a noise table's slices
            return {key: s * value for key, value in z.items()}
        for value in z.values():  # a fresh direction becomes the estimate: no second array
            value *= s
        return z
    total = {key: np.zeros_like(value) for key, value in params.items()}
    for _ in range(count):
        z = direction()
        s = float(slope(z))
        for key, value in z.items():
            total[key] += s * value
    return {key: value / count for key, value in total.items()}


def learning_rate(count: int) -> float:
    """Default lr of an estimator averaging ``count`` random directions: the seed's 0.1, except
    0.03 for a single one.

    Picked by hand from short trial runs under the seed's protocol (not among the committed
    results): with one direction 0.1 is too noisy to train; from 10 directions on, 0.1 trains
    (docs/methods.md, "Defaults per method").
    """
    return 0.03 if count == 1 else 0.1
