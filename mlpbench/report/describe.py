"""What was measured: sentences built from the rows themselves, never from the config files.

A report that says what data, protocol, machine and code revision its numbers came from can be
checked against its parquet; these read those columns, in the runs table and in the studies'
tables alike. The ``short_*`` helpers are the one-line versions used in figure titles.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd

from mlpbench import results, settings
from mlpbench.report.format import format_value, is_missing, plural


def distinct(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Distinct value combinations in first-seen order (None for missing)."""
    seen: dict[tuple[Any, ...], None] = {}
    for values in frame[list(columns)].itertuples(index=False, name=None):
        seen.setdefault(tuple(None if is_missing(v) else v for v in values), None)
    return list(seen)


def datasets_text(runs: pd.DataFrame) -> str:
    """ "mnist (60,000 train / 10,000 test)" for every dataset actually used."""
    return "; ".join(f"{name} ({int(n_train):,} train / {int(n_test):,} test)"
                     for name, n_train, n_test in
                     distinct(runs, ["dataset", "n_train", "n_test"]))


def _by_protocol(runs: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], list[float]]:
    """The learning rates used under each distinct protocol (``keys``), in first-seen order.

    The learning rate is split off because methods now default to their own (SPSA with one
    direction trains at 0.03): one protocol with several rates, not several protocols.
    """
    protocols: dict[tuple[Any, ...], list[float]] = {}
    for values in runs[[*keys, "lr"]].itertuples(index=False, name=None):
        key = tuple(None if is_missing(v) else v for v in values[:-1])
        protocols.setdefault(key, []).append(values[-1])
    return protocols


NETWORK_KEYS: tuple[str, ...] = results.MODEL_COLUMNS
"""The columns that describe the network, in ``network_text``'s argument order."""


def network_shape(hidden: Any, hidden_sizes: Any) -> str:
    """ "784-50-10", or "784-64-32-10" for more than one hidden layer."""
    middle = hidden_sizes if not is_missing(hidden_sizes) and hidden_sizes else str(int(hidden))
    return f"784-{middle}-10"


def shape_and_activation(row: Any) -> str:
    """A context title's network: "784-50-10", with the activation where a row records one
    ("784-1024-1024-10 relu"; null for the seed's sigmoid)."""
    shape = network_shape(row["hidden_size"], row.get("hidden_sizes"))
    activation = row.get("activation")
    return shape + (f" {activation}" if not is_missing(activation) and activation else "")


def network_text(
    hidden: Any, hidden_sizes: Any = None, activation: Any = None, init: Any = None,
    init_std: Any = None,
) -> str:
    """ "784-50-10 sigmoid" for the seed's network; else its shape, activation and init, e.g.
    "784-64-32-10 relu (he init)" or "784-50-10 sigmoid (N(0, 0.01²) init)"."""
    activation, init = (None if is_missing(v) else v for v in (activation, init))
    text = f"{network_shape(hidden, hidden_sizes)} {activation or 'sigmoid'}"
    if init == "normal":
        return f"{text} (N(0, {format_value(init_std)}²) init)"
    return f"{text} ({init} init)" if init else text


def lr_text(lrs: Iterable[float]) -> str:
    """ "lr 0.1", or "lr per method (0.03 or 0.1)" when methods train at their own rates."""
    values = sorted({float(v) for v in lrs if not is_missing(v)})
    if len(values) <= 1:
        return "lr " + (f"{values[0]:g}" if values else "n/a")
    return ("lr per method (" + ", ".join(f"{v:g}" for v in values[:-1])
            + f" or {values[-1]:g})")


PHRASED_KEYS: tuple[str, ...] = (
    "epochs", "steps_per_epoch", "batch_size", "dtype", "log_eps", "lr_decay", "sampling",
    *NETWORK_KEYS)
"""The protocol settings ``protocols_text`` words; ``lr`` and ``lr_schedule`` go with them."""


def protocols_text(runs: pd.DataFrame) -> str:
    """The training protocol(s): steps, batch size, lr, network shape, dtype, and any other
    setting the runs record ("clip 1")."""
    others = [k for k in settings.group_columns()
              if k not in (*PHRASED_KEYS, "lr", "lr_schedule") and k in runs]
    texts = []
    for (epochs, spe, batch, dtype, log_eps, decay, sampling, *rest), lrs in _by_protocol(
        runs, [*PHRASED_KEYS, *others]
    ).items():
        network, values = rest[:len(NETWORK_KEYS)], rest[len(NETWORK_KEYS):]
        schedule = f" decaying as exp(-{format_value(decay)} step)" if decay else ""
        drawn = " drawn with replacement" if sampling == "with_replacement" else ""
        extra = "".join(f", {key} {format_value(value)}"
                        for key, value in zip(others, values, strict=True) if value is not None)
        texts.append(
            f"{epochs} epochs x {plural(spe, 'step')} of {batch} samples{drawn} "
            f"({int(epochs) * int(spe)} SGD steps), {lr_text(lrs)}{schedule}, "
            f"{network_text(*network)} MLP, {dtype}, log_eps {format_value(log_eps)}{extra}"
        )
    return "; ".join(texts)


def machines_text(runs: pd.DataFrame) -> str:
    """Where the timings come from: CPU, core count, NumPy and its BLAS, Python, platform."""
    keys = ["cpu_model", "cpu_count", "numpy_version", "blas", "python_version", "platform"]
    texts = [
        f"{cpu} ({format_value(count)} CPUs), NumPy {numpy} with {blas}, Python {python}, "
        f"{plat}"
        for cpu, count, numpy, blas, python, plat in distinct(runs, keys)
    ]
    prefix = "" if len(texts) == 1 else f"{len(texts)} different machines/environments: "
    return prefix + "; ".join(texts)


def revisions_text(runs: pd.DataFrame) -> str:
    """The git revision(s) the runs came from; "unknown" when not run from a checkout."""
    revs = [rev or "unknown (not run from a git checkout)"
            for (rev,) in distinct(runs, ["git_revision"])]
    return ", ".join(revs)


def time_span(times: pd.Series) -> str:
    """ "2025-01-02 10:00", or "<first> to <last>" when the measurements span more than that."""
    first, last = f"{times.min():%Y-%m-%d %H:%M}", f"{times.max():%Y-%m-%d %H:%M}"
    return first if first == last else f"{first} to {last}"


def short_protocol(runs: pd.DataFrame) -> str:
    """A one-line protocol for figure titles; "several protocols" when they differ."""
    keys = ["epochs", "steps_per_epoch", "batch_size", "dtype", *NETWORK_KEYS]
    protocols = _by_protocol(runs, keys)
    if len(protocols) > 1:
        return "several protocols (see legend)"
    [((epochs, spe, batch, dtype, *network), lrs)] = protocols.items()
    return (f"{epochs} epochs x {spe} step x {batch} samples, SGD {lr_text(lrs)}, "
            f"{network_text(*network)}, {dtype}")


def short_machine(runs: pd.DataFrame) -> str:
    """CPU and core count for a figure title; "several machines" when they differ."""
    machines = distinct(runs, ["cpu_model", "cpu_count"])
    if len(machines) > 1:
        return "several machines (see report.md)"
    cpu, count = machines[0]
    return f"{cpu} ({format_value(count)} CPUs)"


def short_datasets(runs: pd.DataFrame) -> str:
    """ "mnist (60,000/10,000)" per dataset, for a figure title."""
    return ", ".join(f"{name} ({int(tr):,}/{int(te):,})"
                     for name, tr, te in distinct(runs, ["dataset", "n_train", "n_test"]))
