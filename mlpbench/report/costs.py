"""Cost ("## Cost in forward passes"): each method's step time in units of one forward pass of
the same network and batch, measured in the same process, beside its theoretical count.

A step time in seconds says as much about the machine as about the method; divided by a
forward pass timed in the same process (``forward_time_s``, Baydin et al. 2022's unit R) it
compares across machines and shows how close an implementation comes to what the method must
compute (``theory_forward_passes``, ``GradientMethod.forward_passes``: multiply-adds of the
matrix products over a forward pass's, or the scheme's loss evaluations). The section is left
out when no run recorded the theoretical count (results written before it existed), so
reports of such results render as they did.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpbench.report.configs import METHOD_KEYS
from mlpbench.report.format import human_duration, is_missing, markdown
from mlpbench.report.memory import MEMORY_CONTEXT_KEYS, context_title
from mlpbench.report.section import Inputs, Section

FIGURES: tuple[str, ...] = ()

COST_COLUMNS: tuple[str, ...] = (
    *MEMORY_CONTEXT_KEYS, *METHOD_KEYS, "method_label", "n", "param_count", "forward_time_mean",
    "step_time_mean", "measured_forward_passes", "theory_forward_passes",
)


def costed_runs(runs: pd.DataFrame) -> pd.DataFrame:
    """The ok runs with a step time, a forward-pass time and a theoretical count."""
    needed = ("theory_forward_passes", "forward_time_s", "grad_time_per_step_s")
    if runs.empty or any(column not in runs.columns for column in needed):
        return runs.iloc[0:0]
    ok = runs[runs["status"] == "ok"]
    return ok[ok[list(needed)].notna().all(axis=1) & (ok["forward_time_s"] > 0)]


def cost_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (context, gradient method): the mean over runs of each run's step time over
    its own forward pass's (both measured in that run's process), and the theoretical count.

    ``runs`` must be labelled (``label_configs``). A context is what fixes a forward pass's
    work (``MEMORY_CONTEXT_KEYS``: data, network, batch, dtype); rows in a context are ordered
    by their measured cost.
    """
    measured = costed_runs(runs)
    if measured.empty:
        return pd.DataFrame(columns=list(COST_COLUMNS))
    rows: list[dict[str, Any]] = []
    for _, context in measured.groupby(list(MEMORY_CONTEXT_KEYS), dropna=False, sort=False):
        block = []
        for _, group in context.groupby(list(METHOD_KEYS), dropna=False, sort=False):
            head = group.iloc[0]
            ratios = group["grad_time_per_step_s"] / group["forward_time_s"]
            block.append({
                **{k: head[k] for k in (*MEMORY_CONTEXT_KEYS, *METHOD_KEYS)},
                "method_label": head["method_label"], "n": len(group),
                "param_count": head["param_count"],
                "forward_time_mean": float(group["forward_time_s"].mean()),
                "step_time_mean": float(group["grad_time_per_step_s"].mean()),
                "measured_forward_passes": float(ratios.mean()),
                "theory_forward_passes": float(head["theory_forward_passes"]),
            })
        rows += sorted(block, key=lambda row: row["measured_forward_passes"])
    return pd.DataFrame(rows, columns=list(COST_COLUMNS))


def _count(value: float) -> str:
    """A forward-pass count: two decimals below 100, whole numbers with separators above."""
    if is_missing(value):
        return "n/a"
    return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"


def format_costs(context: pd.DataFrame) -> pd.DataFrame:
    """The cost table of one context."""
    rows = [
        (row["method_label"], int(row["n"]), human_duration(row["step_time_mean"]),
         _count(row["measured_forward_passes"]), _count(row["theory_forward_passes"]))
        for _, row in context.iterrows()
    ]
    return pd.DataFrame(rows, columns=["Method", "n (runs)", "Gradient time per step",
                                       "Measured (forward passes)", "Theory (forward passes)"])


def costs_markdown(costs: pd.DataFrame) -> str:
    """The section: what the two counts are, then one table per context; "" when empty."""
    if costs.empty:
        return ""
    lines = [
        "## Cost in forward passes",
        "",
        "Measured: each run's gradient time per step (mean over its steps) divided by the time "
        "of one evaluation of its training loss on a batch of its size (median of 25, timed in "
        "the same process before training, BLAS on one thread as in training), then the mean "
        "over runs. Theory: the multiply-adds of the method's matrix products over a forward "
        "pass's (backprop 3 - s, forward mode 1 + d (2 - s), ES s + n (2 - s), with s the "
        "first layer's share of a forward pass, d directions, n pairs), or the loss "
        "evaluations of the method (SPSA: 2 per direction; finite differences: 2P central, "
        "P + 1 one-sided, 4P Richardson, P complex ones for the complex step). The "
        "incremental engine computes those same differences without re-running what a move "
        "leaves unchanged, hence its measured count far below its theory; elementwise work "
        "and Python's overhead per operation are what put the others above theirs.",
        "",
    ]
    for _, context in costs.groupby(list(MEMORY_CONTEXT_KEYS), dropna=False, sort=False):
        first = context.iloc[0]
        unit = human_duration(float(context["forward_time_mean"].mean()))
        lines += [f"**{context_title(first)}; one forward pass {unit}**", "",
                  markdown(format_costs(context)), ""]
    return "\n".join(lines)


def section(inputs: Inputs) -> Section:
    """ "## Cost in forward passes", empty when no kept run recorded its theoretical count.
    Numbers: ``costs`` (``cost_summary``)."""
    costs = cost_summary(inputs.kept)
    return Section("costs", costs_markdown(costs), numbers={"costs": costs})
