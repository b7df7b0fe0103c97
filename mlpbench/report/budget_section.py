"""Equal budget ("## Equal budget, each method at its best learning rate"): the final runs of a
tuned sweep, compared at the same seconds of gradient computation and at the same forward
passes, with the learning rate each configuration chose on validation.

Reads the sweep's tuning records (``results.read_tunings``: grid, scores, choice, budget,
targets, the seeds of both stages) and the final runs they name: the runs of a chosen
configuration at its chosen rate on the final seeds. A report of a folder without records has
no such section. Test accuracy at a budget is a run's at its last evaluation within the budget;
the cost to a target is its cost at its first evaluation whose validation accuracy reached it.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlpbench import tuning
from mlpbench.report import course_rerun
from mlpbench.report.figures import (
    curve_note,
    log_ticks,
    method_words,
    new_figure,
    panels,
    plot_band,
    plot_series,
    wrap,
)
from mlpbench.report.format import (
    format_value,
    is_missing,
    markdown,
    mean_std,
    plural,
)
from mlpbench.report.section import Inputs, Section

FIGURE = "equal_budget.png"
FIGURES: tuple[str, ...] = (FIGURE,)

AXES: tuple[tuple[str, str, str], ...] = (
    ("grad_time_s", "budget_seconds", "seconds of gradient computation"),
    ("forward_passes", "budget_forward_passes", "forward passes (theoretical, by count)"),
)
"""The two budget axes: the curves' cumulative cost column, the record's budget, the words."""

EXACT_METHODS = ("backprop", "numerical")
"""Methods whose gradient is exact (to rounding, or to 1e-8 for central differences): one panel
apart from the random-direction estimators when a panel cannot hold every configuration."""


def final_attempts(kept: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The kept runs that are final runs of a tuned sweep: a chosen configuration, at its chosen
    rate, on a final seed; with the configuration's id and its record's columns."""
    chosen = records[records["chosen"].astype(bool)] if not records.empty else records
    if chosen.empty or kept.empty:
        return kept.iloc[0:0]
    ids = pd.Series([tuning.configuration_id(row) for _, row in kept.iterrows()],
                    index=kept.index, dtype=object)
    picked = []
    for _, record in chosen.iterrows():
        mask = (ids == record["configuration"]) & np.isclose(kept["lr"], record["lr"]) \
            & kept["seed"].isin(list(record["final_seeds"])) \
            & kept["epochs"].eq(record["epochs"]) \
            & kept["steps_per_epoch"].eq(record["steps_per_epoch"])
        picked.append(kept[mask].assign(configuration=record["configuration"]))
    return pd.concat(picked) if picked else kept.iloc[0:0]


def tuning_attempts(kept: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The kept runs that are tuning runs of a recorded configuration (a tuning seed)."""
    if records.empty or kept.empty:
        return kept.iloc[0:0]
    ids = pd.Series([tuning.configuration_id(row) for _, row in kept.iterrows()],
                    index=kept.index, dtype=object)
    seeds = {int(s) for seeds in records["tuning_seeds"] for s in seeds}
    return kept[ids.isin(set(records["configuration"])) & kept["seed"].isin(seeds)]


def _at_budget(curve: pd.DataFrame, cost: str, budget: float) -> float | None:
    """Test accuracy at the last evaluation that cost at most ``budget``; None when even the
    first one cost more."""
    within = curve[curve[cost] <= budget * (1 + 1e-9)]
    return None if within.empty else float(within["test_acc"].iloc[-1])


def _to_target(curve: pd.DataFrame, cost: str, target: float) -> float | None:
    """The cost at the first evaluation whose validation accuracy reached ``target``."""
    hit = curve[curve["val_acc"] >= target]
    return None if hit.empty else float(hit[cost].iloc[0])


def per_seed(final: pd.DataFrame, curves: pd.DataFrame, record: pd.Series) -> pd.DataFrame:
    """One row per final run of a configuration: accuracy at each budget, whether the run
    spent it, and its cost to each target."""
    rows = []
    for _, run in final.iterrows():
        curve = curves[curves["attempt_id"] == run["attempt_id"]].sort_values("epoch")
        row: dict[str, Any] = {"seed": int(run["seed"])}
        for cost, budget_key, _ in AXES:
            budget = float(record[budget_key])
            row[f"acc_at_{cost}"] = _at_budget(curve, cost, budget)
            row[f"spent_{cost}"] = bool(curve[cost].iloc[-1] >= budget) if len(curve) else False
            for target in record["targets"]:
                row[f"{cost}_to_{target:g}"] = _to_target(curve, cost, float(target))
        rows.append(row)
    return pd.DataFrame(rows)


def budget_summary(inputs: Inputs, records: pd.DataFrame) -> pd.DataFrame:
    """One row per chosen configuration: its label, optimizer, chosen rate and edge, the final
    runs' accuracy at each budget and cost to each target (lists over seeds)."""
    final = final_attempts(inputs.kept, records)
    rows = []
    for _, record in records[records["chosen"].astype(bool)].iterrows():
        runs = final[(final["configuration"] == record["configuration"])
                     & final["status"].eq("ok")]
        if runs.empty:
            continue
        seeds = per_seed(runs, inputs.curves, record)
        head = runs.iloc[0]
        rows.append({"configuration": record["configuration"], "config": head["config"],
                     "method_label": head["method_label"], "method": head["method"],
                     "scheme": head["scheme"], "h": head["h"], "options": head["options"],
                     "role": head.get("role"), "optimizer": head.get("optimizer"),
                     "lr": float(record["lr"]), "edge": record["edge"], "n": len(runs),
                     "seeds": seeds, "record": record})
    return pd.DataFrame(rows)


OPTIMIZER_NAMES = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov",
                   "adam": "Adam"}


def optimizer_words(value: Any) -> str:
    """The optimizer as tables and panels name it: "SGD" for the seed's plain SGD, "Adam",
    "Nesterov", with ", clip=C" where it clips; its other values are in the protocol line."""
    if is_missing(value):
        return "SGD"
    family = str(value).split("(")[0].split(",")[0].strip()
    clip = str(value).split("clip=")[1] if "clip=" in str(value) else None
    return OPTIMIZER_NAMES.get(family, family) + (f", clip={clip}" if clip else "")


def _mean_text(values: list[float | None], fmt: str) -> str:
    """Mean ± std over the seeds that have a value; "k of n" when some have none."""
    got = [v for v in values if v is not None and math.isfinite(v)]
    if not got:
        return "not reached"
    text = mean_std(float(np.mean(got)), float(np.std(got, ddof=1)) if len(got) > 1 else
                    float("nan"), len(got), fmt)
    return text if len(got) == len(values) else f"{text} ({len(got)} of {len(values)} seeds)"


def _cost_fmt(cost: str) -> str:
    return ".3g" if cost == "grad_time_s" else ",.0f"


def format_budget(summary: pd.DataFrame) -> pd.DataFrame:
    """The table: method, optimizer, chosen rate, accuracy at both budgets, cost to targets."""
    record = summary["record"].iloc[0]
    targets = list(record["targets"])
    columns = ["Method", "Optimizer", "Chosen lr",
               f"Test acc at {record['budget_seconds']:g} s",
               f"Test acc at {record['budget_forward_passes']:,.0f} passes"]
    for target in targets:
        columns += [f"Seconds to {target:.0%} val", f"Passes to {target:.0%} val"]
    rows = []
    for _, row in summary.iterrows():
        seeds = row["seeds"]
        edge = None if is_missing(row["edge"]) else row["edge"]
        lr = format_value(row["lr"]) + (f" ({edge} of grid)" if edge else "")
        cells = [method_words(row), optimizer_words(row["optimizer"]), lr]
        for cost, _, _ in AXES:
            values = list(seeds[f"acc_at_{cost}"])
            text = _mean_text([None if is_missing(v) else v for v in values], ".4f")
            if text == "not reached":
                text = "one step costs more"
            if not seeds[f"spent_{cost}"].all():
                text += " †"
            cells.append(text)
        for target in targets:
            for cost, _, _ in AXES:
                values = [None if is_missing(v) else v for v in seeds[f"{cost}_to_{target:g}"]]
                cells.append(_mean_text(values, _cost_fmt(cost)))
        rows.append(cells)
    return pd.DataFrame(rows, columns=columns)


def _panel_rows(summary: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Configurations per panel: by optimizer, and within one the exact gradients apart from
    the random-direction estimators when they do not fit one panel (the reference in both)."""
    out = []
    for optimizer, group in summary.groupby(summary["optimizer"].map(optimizer_words),
                                            sort=False):
        if len(group) <= 8:
            out.append((optimizer, group))
            continue
        exact = group["method"].isin(EXACT_METHODS)
        reference = group["role"].eq("reference")
        out.append((f"{optimizer}, exact gradients", group[exact]))
        out.append((f"{optimizer}, random directions", group[~exact | reference]))
    return out


def draw_budget(summary: pd.DataFrame, curves: pd.DataFrame, title: str) -> Figure:
    """Test accuracy against both costs (log x), one row of panels per group of
    configurations, the budget dashed; line: mean over seeds, band: min-max."""
    groups = _panel_rows(summary)
    fig = new_figure(15.0, 3.4 * len(groups) + 0.8)
    axes = fig.subplots(len(groups), 2, squeeze=False)
    record = summary["record"].iloc[0]
    for row_axes, (name, group) in zip(axes, groups, strict=True):
        rows = group.assign(n=group["n"])
        panel = panels(rows, limit=len(rows) + 1)[0]
        words = {row["config"]: f"{method_words(row)}, lr {row['lr']:g}"
                 for _, row in group.iterrows()}
        panel = dataclasses.replace(panel, series=tuple(
            dataclasses.replace(item, label=words[item.config]) for item in panel.series))
        for ax, (cost, budget_key, axis_words) in zip(row_axes, AXES, strict=True):
            for series in panel.series:
                picked = curves[curves["config"] == series.config]
                stats = picked.groupby("epoch").agg(
                    x=(cost, "mean"), y=("test_acc", "mean"), lo=("test_acc", "min"),
                    hi=("test_acc", "max")).reset_index()
                stats = stats[stats["x"] > 0]
                plot_band(ax, stats["x"], stats["lo"], stats["hi"], series)
                plot_series(ax, stats["x"], stats["y"], series)
            ax.axvline(float(record[budget_key]), color="0.4", ls=(0, (4, 3)), lw=1.2,
                       zorder=1)
            ax.set_xscale("log")
            log_ticks(ax)
            ax.set_xlabel(axis_words)
            ax.set_ylabel("test accuracy")
            ax.set_title(f"{name}: by {'seconds' if cost == 'grad_time_s' else 'count'}",
                         fontsize=10)
            ax.grid(alpha=0.3)
        row_axes[1].legend(fontsize=7.5, loc="upper left", bbox_to_anchor=(1.02, 1.0),
                           frameon=False)
    note = curve_note(summary.assign(n=summary["n"]), [], "panel")
    fig.suptitle(wrap(f"{title}\n{note}; dashed: the budget", 15.0), fontsize=11)
    return fig


def budget_markdown(summary: pd.DataFrame, records: pd.DataFrame, tuned: pd.DataFrame) -> str:
    """The section's text: what was tuned how, the table, the edges, the figure."""
    record = summary["record"].iloc[0]
    grids = records.groupby("configuration")["lr"].agg(["count", "min", "max"])
    unstable = records.groupby("configuration")["unstable_seeds"].sum()
    lines = [
        "## Equal budget, each method at its best learning rate",
        "",
        f"Each configuration (method, options, optimizer) ran its own learning-rate grid "
        f"({int(grids['count'].min())} to {int(grids['count'].max())} values, "
        f"{plural(len(record['tuning_seeds']), 'tuning seed')}: "
        f"{', '.join(map(str, record['tuning_seeds']))}) on {len(tuned)} tuning runs; the "
        "rate with the least mean final validation loss was chosen (loss rather than "
        "accuracy: it still separates rates while a slow estimator is near chance), a rate "
        "whose run diverged on any tuning seed never. The chosen rate then ran on "
        f"{plural(len(record['final_seeds']), 'final seed')} "
        f"({', '.join(map(str, record['final_seeds']))}), which selection never saw; the "
        "table and the figure are those runs. Every run of a configuration is long enough to "
        f"spend both budgets: {record['budget_seconds']:g} s of gradient computation and "
        f"{record['budget_forward_passes']:,.0f} forward passes by count. Test accuracy at a "
        "budget is the last evaluation within it; the cost to a target is that of the first "
        "evaluation whose validation accuracy reached it (mean ± std over the seeds that "
        "reached it). † marks a configuration whose runs stopped short of that budget. "
        "Finite differences cost 2P loss evaluations per step: by count a single step exceeds "
        "any budget a random-direction method or backprop works in; by seconds the "
        "incremental engine takes hundreds of steps.",
        "",
        markdown(format_budget(summary), text_columns=3),
        "",
    ]
    edges = summary[summary["edge"].map(lambda e: not is_missing(e) and bool(e))]
    if not edges.empty:
        lines += ["Chosen at an edge of its grid (the best rate may lie beyond it): "
                  + "; ".join(f"{row['method_label']} under {optimizer_words(row['optimizer'])}"
                              f" ({row['edge']})" for _, row in edges.iterrows()) + ".", ""]
    if int(unstable.sum()):
        lines += [f"{plural(int(unstable.sum()), 'tuning run')} diverged or ended non-finite "
                  "(their rates scored as infinitely bad).", ""]
    lines += [f"![Test accuracy against both budgets]({FIGURE})", ""]
    return "\n".join(lines)


def published_markdown(summary: pd.DataFrame, curves: pd.DataFrame,
                       final: pd.DataFrame) -> str:
    """The course re-run's Table I beside ours, where the runs follow its protocol."""
    if not course_rerun.matches(final):
        return ""
    table = course_rerun.comparison(summary, curves, final)
    return course_rerun.comparison_markdown(table, int(summary["n"].max()))


def section(inputs: Inputs) -> Section:
    """ "## Equal budget ...", empty without tuning records. Numbers: ``records``, ``summary``."""
    records = inputs.tuning
    if records.empty:
        return Section("budget")
    summary = budget_summary(inputs, records)
    if summary.empty:
        return Section("budget", numbers={"records": records, "summary": summary})
    final = final_attempts(inputs.kept, records)
    curves = inputs.curves[inputs.curves["attempt_id"].isin(final["attempt_id"])].merge(
        final[["attempt_id", "config"]], on="attempt_id")
    tuned = tuning_attempts(inputs.all_kept, records)
    figure = draw_budget(summary, curves, "Test accuracy at equal budget, each configuration "
                         "at its chosen learning rate")
    text = budget_markdown(summary, records, tuned) + published_markdown(
        summary, inputs.curves, final)
    return Section("budget", text, {FIGURE: figure},
                   numbers={"records": records, "summary": summary, "final": final})
