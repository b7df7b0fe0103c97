"""A run's peak memory, estimated from its settings before anything runs, and the bounds on it.

Without this a network or a population too large for the machine is found out only when NumPy
fails to allocate ("array is too big", a MemoryError deep in a step) or the process swaps without
end. The estimate is a deliberate over-count of what a step holds at once, in the run's dtype
(``itemsize`` bytes a number; complex numbers count twice):

- the parameters, their gradient, the reference gradient a fidelity check compares with, the
  update's temporaries and the running sum of a method that averages directions (SPSA, forward
  gradients): ``PARAM_COPIES`` arrays of the P parameters; a complex copy of them too for the
  complex step;
- the activations of a batch, forward and backward, with the input and the per-sample and
  per-unit arrays of the incremental engine (its moments and pixel grouping):
  ``ACTIVATION_COPIES`` numbers of 8 bytes for each of the batch's inputs and units; and the
  test set (``EVAL_SAMPLES`` digits) held in the dtype and evaluated at once: ``EVAL_COPIES``
  numbers for each of its inputs and units;
- a Gaussian noise table (``noise=table``): max(2^22, 4P) float64 numbers, and a copy in the
  dtype when that is float32 (``_directions.NoiseTable``);
- evolution strategies' population of n pairs, evaluated together (``_directions.losses_along``):
  the n first-layer directions side by side (784 x n x width numbers), their product with the
  batch (batch x n x width), and with ``noise=fresh`` the n whole directions (n x P);
- orthogonal directions (``orthogonal=true``): a block of up to P directions drawn and
  factorised at once, min(count, P) x P numbers twice over in float64;
- ``BASE_BYTES`` for the interpreter, the libraries and the data (uint8 digits).

The estimate is compared with the memory available now (``/proc/meminfo``'s MemAvailable, else
the physical memory). Counts of directions gain nothing once they exceed the parameters many
times over, and cost time without bound though not memory: see ``MAX_DIRECTIONS_PER_PARAMETER``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from mlpbench.errors import ConfigError

INPUTS, CLASSES = 784, 10
"""The network's input and output widths (every dataset here is 28 x 28 digits of 10 classes)."""
PARAM_COPIES = 6
ACTIVATION_COPIES = 16
EVAL_COPIES = 3
EVAL_SAMPLES = 10_000
"""The test set, evaluated in one pass (MNIST's and Fashion-MNIST's 10,000)."""
TABLE_MIN = 2**22
"""``_directions.TABLE_MIN``, repeated so that a check imports none of the methods' helpers."""
BASE_BYTES = 256 * 2**20
MAX_DIRECTIONS_PER_PARAMETER = 100
"""Random directions per step, at most this many times the parameters. With d directions an
averaged estimate's cosine with the gradient is about sqrt(d / (d + P)), 0.995 at d = 100 P,
while its 2d loss evaluations cost 100 times finite differences' exact 2P: a larger count buys
nothing method=numerical does not give cheaper."""
GIB = 2**30


@dataclass(frozen=True)
class Term:
    """Bytes one part of a run holds, and the settings that make it large."""

    bytes: int
    keys: tuple[str, ...]


def layer_sizes(settings: Any) -> tuple[int, ...]:
    """784, the hidden widths, 10."""
    return (INPUTS, *settings.model.widths, CLASSES)


def param_count(sizes: tuple[int, ...]) -> int:
    """Weights and biases of a network of layer ``sizes`` (39,760 for 784-50-10)."""
    return sum(a * b + b for a, b in pairwise(sizes))


def widths_key(model: Any) -> str:
    """The key that set the hidden widths."""
    return "model.hidden_sizes" if model.hidden_sizes is not None else "model.hidden_size"


def terms(settings: Any) -> list[Term]:
    """The parts of a run's peak memory (see the module docstring), from its validated settings
    (``config.settings_from``'s ``RunConfig``)."""
    sizes = layer_sizes(settings)
    params = param_count(sizes)
    units = sum(sizes)
    item = 4 if settings.dtype == "float32" else 8
    method = settings.method
    width = widths_key(settings.model)
    complex_step = "complex_step" in (getattr(method, "scheme", None), getattr(method, "jvp", None))
    found = [
        Term(PARAM_COPIES * params * item + (2 * params * item if complex_step else 0), (width,)),
        Term(ACTIVATION_COPIES * 8 * settings.batch_size * units, (width, "batch_size")),
        Term(EVAL_COPIES * item * EVAL_SAMPLES * units, (width,)),
        Term(BASE_BYTES, ()),
    ]
    if getattr(method, "noise", None) == "table":
        numbers = max(TABLE_MIN, 4 * params)
        found.append(Term(numbers * (8 + (item if item != 8 else 0)), (width,)))
    population = getattr(method, "population", None)
    if population is not None:
        first = sizes[1]
        pairs = population * first * (INPUTS + settings.batch_size) * item
        found.append(Term(pairs, ("method.population", width)))
        if method.noise == "fresh":
            found.append(Term(population * params * item, ("method.population", width)))
    if getattr(method, "orthogonal", False) and getattr(method, "perturb", "weights") == "weights":
        count = getattr(method, "directions", None) or population
        key = "method.directions" if population is None else "method.population"
        found.append(Term(2 * 8 * min(count, params) * params, (key, width)))
    return found


def available_bytes() -> int:
    """The memory a new run can take now: MemAvailable on Linux, else the physical memory."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 2**63 - 1  # unknown: assume enough, as the run would without this check


def _gib(n: int, decimals: int | None = None) -> str:
    value = n / GIB
    if decimals is None:
        decimals = 0 if value >= 10 else 1
    return f"{value:,.{decimals}f} GiB"


def _gib_pair(need: int, have: int) -> tuple[str, str]:
    """``need`` and ``have`` in GiB with as many decimals as it takes to tell them apart (up to
    three): "needs about 20 GiB, 20 GiB available" reads as no reason to refuse."""
    shown = _gib(need), _gib(have)
    for decimals in (1, 2, 3):
        if shown[0] != shown[1]:
            break
        shown = _gib(need, decimals), _gib(have, decimals)
    return shown


def check(settings: Any, available: int | None = None) -> None:
    """Refuse a run whose estimated peak memory exceeds ``available`` (default: what the machine
    has free now), naming the settings of its largest part; refuse direction counts past
    ``MAX_DIRECTIONS_PER_PARAMETER`` times the parameters."""
    sizes = layer_sizes(settings)
    params = param_count(sizes)
    for name in ("directions", "population"):
        count = getattr(settings.method, name, None)
        if count is not None and count > MAX_DIRECTIONS_PER_PARAMETER * params:
            raise ConfigError(
                f"method.{name}: at most {MAX_DIRECTIONS_PER_PARAMETER} x the parameters "
                f"({MAX_DIRECTIONS_PER_PARAMETER * params:,} for {params:,}), got {count}: "
                f"past that the estimate's cosine with the gradient is above 0.995 and a step "
                f"costs more than 100 finite-difference gradients (method=numerical)")
    found = terms(settings)
    need = sum(t.bytes for t in found)
    have = available_bytes() if available is None else available
    if need > have:
        keys = max(found, key=lambda t: t.bytes).keys
        network = "-".join(map(str, sizes))
        need_shown, have_shown = _gib_pair(need, have)
        raise ConfigError(
            f"{', '.join(keys)}: the run needs about {need_shown} of memory, {have_shown} "
            f"available ({network} network, {params:,} parameters, batch {settings.batch_size}, "
            f"{settings.dtype})")


def peak_bytes(settings: Any) -> int:
    """The estimated peak of one run (the sum of its ``terms``)."""
    return sum(t.bytes for t in terms(settings))


def check_at_once(runs: Sequence[Any], at_once: int, key: str,
                  available: int | None = None) -> None:
    """Refuse a sweep whose ``at_once`` largest runs, computed side by side (one process each),
    need more memory together than is available; each run alone has passed ``check``.

    ``key`` is the setting that decides how many run at once (``hydra.launcher.n_jobs``).
    """
    if at_once <= 1 or len(runs) <= 1:
        return
    peaks = sorted((peak_bytes(s) for s in runs), reverse=True)[:at_once]
    need = sum(peaks)
    have = available_bytes() if available is None else available
    if need > have:
        need_shown, have_shown = _gib_pair(need, have)
        raise ConfigError(
            f"{key}: {len(peaks)} runs at once need about {need_shown} of memory, {have_shown} "
            f"available (the largest alone about {_gib(peaks[0])}); run fewer at once")
