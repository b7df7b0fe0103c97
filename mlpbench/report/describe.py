"""What was measured: sentences built from the rows themselves, never from the config files.

A report that says what data, protocol, machine and code revision its numbers came from can be
checked against its parquet; these read those columns, in the runs table and in the studies'
tables alike. The ``short_*`` helpers are the one-line versions used in figure titles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
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
    keys = ["dataset", "n_train", "n_test"]
    if "n_validation" not in runs or runs["n_validation"].isna().all():
        return "; ".join(f"{name} ({int(n_train):,} train / {int(n_test):,} test)"
                         for name, n_train, n_test in distinct(runs, keys))
    return "; ".join(
        f"{name} ({int(n_train):,} train / "
        + ("" if is_missing(held) else f"{int(held):,} validation / ")
        + f"{int(n_test):,} test)"
        for name, n_train, n_test, held in distinct(runs, [*keys, "n_validation"]))


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

Value = tuple[Any, ...]
"""One protocol field's value in one run: the values of its columns (None for missing)."""


WORDED_FIELDS: tuple[str, ...] = (
    "epochs", "steps_per_epoch", "batch_size", "sampling", "lr_decay", "network", "dtype",
    "log_eps")
"""The ``protocol_fields`` with words of their own; any other is worded "name value"."""


def protocol_fields(runs: pd.DataFrame) -> dict[str, tuple[str, ...]]:
    """The protocol as ``protocols_text`` words it, field by field: each field's columns. The
    network is one field (its columns describe one thing); a setting without words of its own
    ("clip") is a field of its own, named by its column."""
    others = [k for k in settings.group_columns()
              if k not in (*PHRASED_KEYS, "lr", "lr_schedule") and k in runs]
    return {"epochs": ("epochs",), "steps_per_epoch": ("steps_per_epoch",),
            "batch_size": ("batch_size",), "sampling": ("sampling",),
            "lr_decay": ("lr_decay",), "network": NETWORK_KEYS, "dtype": ("dtype",),
            "log_eps": ("log_eps",), **{key: (key,) for key in others}}


def _alternatives(texts: Sequence[str], conjunction: str = "or") -> str:
    """ "a", "a or b", "a, b or c" (or "a, b and c")."""
    return (texts[0] if len(texts) == 1
            else ", ".join(texts[:-1]) + f" {conjunction} {texts[-1]}")


def _sorted(values: list[Value]) -> list[Value]:
    """Values in ascending order where they compare (epochs 10, 100, 1000), else as found."""
    try:
        return sorted(values)
    except TypeError:
        return values


def _protocol_text(values: dict[str, list[Value]], lrs: Iterable[float]) -> str:
    """One protocol sentence; a field with several values lists them ("10, 100 or 1000
    epochs"), and the SGD step count is given only where epochs and steps are single."""
    def alt(name: str, fmt: Callable[..., str] = format_value) -> str:
        if name == "optimizer":
            fmt = optimizer_text
        return _alternatives([fmt(*value) for value in values[name]])

    epochs, steps = values["epochs"], values["steps_per_epoch"]
    step_words = (plural(steps[0][0], "step") if len(steps) == 1
                  else f"{alt('steps_per_epoch')} steps")
    sampling = values["sampling"]
    drawn = (" drawn with replacement" if sampling == [("with_replacement",)]
             else "" if len(sampling) == 1 else f" (sampling {alt('sampling')})")
    count = (f" ({int(epochs[0][0]) * int(steps[0][0])} SGD steps)"
             if len(epochs) == 1 and len(steps) == 1 else "")
    decays = values["lr_decay"]
    schedule = (("" if decays[0][0] is None
                 else f" decaying as exp(-{format_value(decays[0][0])} step)")
                if len(decays) == 1 else f", lr_decay {alt('lr_decay')}")
    extra = "".join(f", {name} {alt(name)}" for name in values
                    if name not in WORDED_FIELDS and values[name] != [(None,)])
    return (f"{alt('epochs', str)} epochs x {step_words} of {alt('batch_size', str)} "
            f"samples{drawn}{count}, {lr_text(lrs)}{schedule}, "
            f"{alt('network', lambda *net: f'{network_text(*net)} MLP')}, {alt('dtype', str)}, "
            f"log_eps {alt('log_eps')}{extra}")


def optimizer_text(value: Any) -> str:
    """The ``optimizer`` column in words: null is the seed's plain SGD."""
    return "plain SGD" if is_missing(value) else str(value)


def _exception_text(name: str, value: Value) -> str:
    """How one run differs from the common protocol in one field ("2 epochs")."""
    [first, *_] = value
    texts: dict[str, Callable[[], str]] = {
        "epochs": lambda: f"{first} epochs",
        "steps_per_epoch": lambda: f"{plural(first, 'step')} per epoch",
        "batch_size": lambda: f"batches of {first}",
        "sampling": lambda: ("samples drawn with replacement" if first == "with_replacement"
                             else "distinct samples per batch"),
        "lr_decay": lambda: ("a constant lr" if first is None
                             else f"lr decaying as exp(-{format_value(first)} step)"),
        "network": lambda: f"a {network_text(*value)} MLP",
        "dtype": lambda: str(first),
        "log_eps": lambda: f"log_eps {format_value(first)}",
        "optimizer": lambda: f"optimizer {optimizer_text(first)}",
    }
    return texts.get(name, lambda: f"{name} {format_value(first)}")()


def protocols_text(runs: pd.DataFrame) -> str:
    """The training protocol: steps, batch size, lr, network shape, dtype, and any other setting
    the runs record ("clip 1"), stated once.

    Where runs differ, a field most runs share is stated once with the configurations that
    differ after it ("...; numerical (central, h=1e-04, naive): 2 epochs (2 SGD steps)
    instead", the seed's loop timed over 2 epochs), and a field no value of which is held by
    most runs is a scan, its values listed ("10, 100 or 1000 epochs"). The learning rate is
    listed alone: methods train at their own rates under one protocol.
    """
    fields = protocol_fields(runs)
    per_run = {name: [tuple(None if is_missing(v) else v for v in row)
                      for row in runs[list(columns)].itertuples(index=False, name=None)]
               for name, columns in fields.items()}
    common: dict[str, list[Value]] = {}
    for name, found in per_run.items():
        counts: dict[Value, int] = {}
        for value in found:
            counts[value] = counts.get(value, 0) + 1
        mode = max(counts, key=lambda value: counts[value])
        common[name] = [mode] if 2 * counts[mode] > len(found) else _sorted(list(counts))
    label_column = next((c for c in ("config", "method") if c in runs), None)
    labels = runs[label_column] if label_column else pd.Series(["some runs"] * len(runs))
    exceptions: dict[str, list[str]] = {}
    for index, label in enumerate(labels):
        differs = [name for name in fields
                   if len(common[name]) == 1 and per_run[name][index] != common[name][0]]
        if not differs:
            continue
        texts = [_exception_text(name, per_run[name][index]) for name in differs]
        if {"epochs", "steps_per_epoch"} & set(differs):
            steps = int(per_run["epochs"][index][0]) * int(per_run["steps_per_epoch"][index][0])
            at = max(differs.index(n) for n in ("epochs", "steps_per_epoch") if n in differs)
            texts[at] += f" ({steps} SGD steps)"
        found = exceptions.setdefault(", ".join(texts), [])
        if label not in found:
            found.append(label)
    text = _protocol_text(common, runs["lr"])
    return text + "".join(f"; {' and '.join(who)}: {what} instead"
                          for what, who in exceptions.items())


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


def load_text(runs: pd.DataFrame) -> str:
    """When the timings came from a busy machine: the 1-minute load average the runs started
    and ended under, and how many exceeded their machine's core count (other work then shared
    the cores). "" for runs written before they recorded it."""
    if "load_avg_start" not in runs or runs["load_avg_start"].isna().all():
        return ""
    recorded = runs[runs["load_avg_start"].notna()]
    loads = recorded[["load_avg_start", "load_avg_end"]].max(axis=1)
    busy = int((loads > recorded["cpu_count"]).sum())
    text = (f"Load average (1 min) during the runs: {loads.min():.2f} to {loads.max():.2f}"
            f" on {format_value(recorded['cpu_count'].max())} CPUs")
    if busy:
        return (text + f"; {plural(busy, 'run')} of {len(recorded)} ran while the load exceeded "
                "the cores, so other work shared them: their timings are from a busy machine.")
    return text + "; no run saw more load than cores."


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
    """A one-line protocol for figure titles. Runs that differ only in length are described by
    the longest, the shorter ones left to the legend (which says how long each ran); runs that
    differ in more are "several protocols"."""
    keys = ["epochs", "steps_per_epoch", "batch_size", "dtype", *NETWORK_KEYS]
    protocols = _by_protocol(runs, keys)
    shorter = ""
    if len(_by_protocol(runs, keys[1:])) == 1 and len(protocols) > 1:
        longest = runs[runs["epochs"] == runs["epochs"].max()]
        protocols, shorter = _by_protocol(longest, keys), " (shorter runs: see legend)"
    if len(protocols) > 1:
        return "several protocols (see legend)"
    [((epochs, spe, batch, dtype, *network), lrs)] = protocols.items()
    return (f"{epochs} epochs{shorter} x {plural(int(spe), 'step')} of {batch} samples, "
            f"SGD {lr_text(lrs)}, {network_text(*network)}, {dtype}")


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


def contents_title(runs: pd.DataFrame) -> str:
    """A title saying what the runs compare, for results no titled sweep recorded: the methods
    (the reference first), the data and, when all share one, the network, e.g. "backprop
    against forward_gradient on mnist_subset, 784-1024-1024-10 relu MLP"."""
    methods = list(dict.fromkeys(runs["method"]))
    if "role" in runs:
        reference = runs["role"].eq(results.ROLE_REFERENCE)
        methods = list(dict.fromkeys([*runs[reference]["method"], *methods]))
    compared = methods[0] if len(methods) == 1 else (
        f"{methods[0]} against {_alternatives(methods[1:], 'and')}")
    datasets = " and ".join(dict.fromkeys(runs["dataset"]))
    networks = list(dict.fromkeys(
        network_text(row["hidden_size"], row.get("hidden_sizes"), row.get("activation"))
        for _, row in runs.iterrows()))
    network = f", {networks[0]} MLP" if len(networks) == 1 else ""
    return f"{compared} on {datasets}{network}"
