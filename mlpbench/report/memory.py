"""Memory ("## Memory"): the peak memory of one gradient computation per method, beside one
forward pass of the same network.

Zeroth-order methods are argued for by memory rather than time (MeZO: "only inference
memory"); the runs measure it (``measure.gradient_peak_bytes`` and
``measure.forward_peak_bytes``, in the ``peak_mem_bytes`` and ``forward_peak_mem_bytes``
columns), so the claim is read off a table, not assumed. The section is left out when no run
has the columns (results written before they existed), so reports of such results render as
they did.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlpbench.report.configs import METHOD_KEYS
from mlpbench.report.describe import shape_and_activation
from mlpbench.report.format import format_ratio, human_bytes, is_missing, markdown
from mlpbench.report.section import Inputs, Section

FIGURES: tuple[str, ...] = ()

MEMORY_CONTEXT_KEYS: tuple[str, ...] = (
    "dataset", "hidden_size", "hidden_sizes", "activation", "batch_size", "dtype",
)
"""Runs that agree on these hold the same arrays in one step, so their peaks compare. The
peaks are taken at the initial weights before training, so neither the protocol (epochs, lr,
schedule) nor the weights' values enter; only the shapes, the activation and the dtype do."""

FORWARD_LABEL = "one forward pass (inference)"
"""The reference row: one evaluation of the loss, the memory inference needs."""

MEMORY_COLUMNS: tuple[str, ...] = (
    *MEMORY_CONTEXT_KEYS, *METHOD_KEYS, "method_label", "n", "param_count",
    "peak_mem_bytes_median", "vs_forward",
)


def measured_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The runs that recorded a gradient peak (none from before the column existed)."""
    if runs.empty or "peak_mem_bytes" not in runs.columns:
        return runs.iloc[0:0]
    return runs[runs["peak_mem_bytes"].notna()]


def memory_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (context, gradient method) with the median peak over its runs, and first in
    each context the forward pass's (``method`` null, ``method_label`` ``FORWARD_LABEL``), the
    median of ``forward_peak_mem_bytes`` over every run of the context.

    ``runs`` must be labelled (``label_configs``). Every attempt kept counts, diverged ones too:
    the peak is measured before training, so how training ended does not change it. The median
    is over seeds (and over protocols that share the method and the network). ``vs_forward`` is
    the method's peak over the forward pass's, NaN where there is none.
    """
    measured = measured_runs(runs)
    if measured.empty:
        return pd.DataFrame(columns=list(MEMORY_COLUMNS))
    rows: list[dict[str, Any]] = []
    for _, context in measured.groupby(list(MEMORY_CONTEXT_KEYS), dropna=False, sort=False):
        first = context.iloc[0]
        shared = {k: first[k] for k in MEMORY_CONTEXT_KEYS}
        forward = context["forward_peak_mem_bytes"].dropna()
        forward_peak = float(forward.median()) if len(forward) else float("nan")
        block = [{
            **shared, **{k: None for k in METHOD_KEYS}, "method_label": FORWARD_LABEL,
            "n": len(forward), "param_count": first["param_count"],
            "peak_mem_bytes_median": forward_peak, "vs_forward": 1.0,
        }]
        methods = []
        for _, group in context.groupby(list(METHOD_KEYS), dropna=False, sort=False):
            head = group.iloc[0]
            peak = float(group["peak_mem_bytes"].median())
            methods.append({
                **shared, **{k: head[k] for k in METHOD_KEYS},
                "method_label": head["method_label"], "n": len(group),
                "param_count": head["param_count"], "peak_mem_bytes_median": peak,
                "vs_forward": peak / forward_peak if forward_peak > 0 else float("nan"),
            })
        order = pd.DataFrame(methods).sort_values(
            ["method", "scheme", "h", "engine", "options"], na_position="first", kind="stable")
        rows += block + order.to_dict("records")
    return pd.DataFrame(rows, columns=list(MEMORY_COLUMNS))


def format_memory(context: pd.DataFrame) -> pd.DataFrame:
    """The Memory table of one context: the forward pass first, as the reference."""
    rows = [
        (row["method_label"], int(row["n"]), human_bytes(row["peak_mem_bytes_median"]),
         "reference" if is_missing(row["method"]) else format_ratio(row["vs_forward"]))
        for _, row in context.iterrows()
    ]
    return pd.DataFrame(rows, columns=["Method", "n (runs)", "Peak traced memory (median)",
                                       "vs one forward pass"])


def context_title(row: pd.Series | dict[str, Any]) -> str:
    shape = shape_and_activation(row)
    size = human_bytes(int(row["param_count"]) * np.dtype(str(row["dtype"])).itemsize)
    return (f"{row['dataset']}, {shape} ({int(row['param_count']):,} parameters, {size} in "
            f"{row['dtype']}), batch {row['batch_size']}")


def memory_markdown(memory: pd.DataFrame) -> str:
    """The "## Memory" section: what the figure is, then one table per context; "" when no
    run recorded it."""
    if memory.empty:
        return ""
    lines = [
        "## Memory",
        "",
        "Peak traced memory is tracemalloc's peak during one gradient computation, above what "
        "was allocated when it began, measured in the run's own process before training: at "
        "the initial weights, on one batch of the run's size, in the run's dtype, with BLAS on "
        "one thread as in training; the median over runs (seeds). The parameters and the batch "
        "exist before it starts and are not counted; the gradient arrays it returns are (as "
        "large as the parameters). The reference row is the same measurement of one "
        "evaluation of the loss, a forward pass: the memory inference needs. tracemalloc sees "
        "NumPy's arrays and everything else allocated through Python's allocators, including "
        "the arrays numba-compiled kernels create (the incremental engine's scratch, once per "
        "thread running at the time); BLAS's internal workspace is not seen.",
        "",
    ]
    for _, context in memory.groupby(list(MEMORY_CONTEXT_KEYS), dropna=False, sort=False):
        lines += [f"**{context_title(context.iloc[0])}**", "",
                  markdown(format_memory(context)), ""]
    return "\n".join(lines)


def section(inputs: Inputs) -> Section:
    """ "## Memory", empty when no kept run recorded ``peak_mem_bytes``. Numbers: ``memory``
    (``memory_summary``)."""
    memory = memory_summary(inputs.kept)
    return Section("memory", memory_markdown(memory), numbers={"memory": memory})

