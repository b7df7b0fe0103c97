"""The runs: the post's table rebuilt from our runs ("## Our results") and their curves.

Two entry points, because the report puts other sections between the table and its figures:

- ``table_section``: what was measured (under the title ``document`` puts above it), the table
  (one row per configuration, mean ± std over the ok seeds), the short-run footnote, the runs
  excluded from the means and the duplicate attempts set aside;
- ``figures_section``: "## Figures", the curves (loss and test accuracy by epoch, mean over
  seeds with their band) and the paired seed (one seed under every method).

Diverged or failed runs never enter a mean, but they are always listed, because a method that
sometimes diverges is a finding, not noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure, SubFigure
from matplotlib.ticker import MaxNLocator

from mlpbench import results
from mlpbench.report import published
from mlpbench.report.configs import INIT_KEYS, SPEED_CONTEXT_KEYS, curves_of, sorted_groups
from mlpbench.report.describe import (
    datasets_text,
    load_text,
    machines_text,
    protocols_text,
    revisions_text,
    short_datasets,
    short_protocol,
)
from mlpbench.report.figures import (
    Panel,
    curve_note,
    epoch_text,
    grid_shape,
    new_figure,
    panels,
    plot_band,
    plot_series,
    wrap,
)
from mlpbench.report.format import (
    duration_mean_std,
    format_count,
    format_value,
    human_duration,
    is_missing,
    markdown,
    mean_std,
    plural,
)
from mlpbench.report.section import Inputs, Section

LOSS_FIGURE = "loss_vs_epoch.png"
TEST_ACC_FIGURE = "test_acc_vs_epoch.png"
PAIRED_FIGURE = "paired_seed.png"
FIGURES: tuple[str, ...] = (LOSS_FIGURE, TEST_ACC_FIGURE, PAIRED_FIGURE)

TABLE_COLUMNS: tuple[str, ...] = (
    "Method", "Epochs", "Elapsed", "Loss", "Test accuracy", "n (seeds)",
    "Gradient time per step", "Loss evaluations per step",
)

SHORT_RUN_MARK = "†"
"""Marks an Epochs cell of the main table shorter than its protocol (see ``short_of_protocol``)."""

NO_OK_RUN = "No run finished with status ok."


# ---------------------------------------------------------------------------------------------
# The table: pure functions from the summary and the kept attempts to DataFrames and sentences.


def short_of_protocol(summary: pd.DataFrame) -> pd.Series:
    """True for configurations run for fewer epochs than the longest run of their context.

    The sweep runs the seed's naive loop for 2 epochs only, to time it per step without an
    hour's wait; the main table still shows it as measured, marked, and the Speed section
    extrapolates it to the protocol's length.
    """
    if summary.empty:
        return pd.Series(dtype=bool)
    longest = summary.groupby(list(SPEED_CONTEXT_KEYS), dropna=False)["epochs"].transform("max")
    return summary["epochs"] < longest


def format_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The table a reader sees: the post's columns plus n and the per-step cost columns."""
    short = short_of_protocol(summary)
    rows = [
        (
            row["config"],
            f"{int(row['epochs'])} {SHORT_RUN_MARK}" if short.loc[i] else int(row["epochs"]),
            duration_mean_std(row["elapsed_mean"], row["elapsed_std"], row["n"]),
            mean_std(row["loss_mean"], row["loss_std"], row["n"]),
            mean_std(row["acc_mean"], row["acc_std"], row["n"]),
            int(row["n"]),
            human_duration(row["grad_time_per_step_mean"]),
            format_count(row["loss_evals_per_step_mean"]),
        )
        for i, row in summary.iterrows()
    ]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def short_run_footnote(summary: pd.DataFrame) -> str:
    """The note under the main table explaining ``SHORT_RUN_MARK``; empty when nothing is short."""
    if not short_of_protocol(summary).any():
        return ""
    return (f"{SHORT_RUN_MARK} Run for fewer epochs than the longest run with the same data, "
            "network and batch size, to time the method per step without the full run; its "
            "numbers are as measured over the epochs it ran. Its time for the full protocol is "
            "extrapolated in the [Speed](#speed) section.")


def excluded_runs(kept: pd.DataFrame) -> pd.DataFrame:
    """The kept attempts that did not finish ok, as a short table (labelled runs expected)."""
    bad = sorted_groups(kept[kept["status"].ne("ok")])
    return pd.DataFrame({
        "Method": bad["config"],
        "Seed": bad["seed"].astype(int),
        "Status": bad["status"],
        "Stopped at epoch": [f"{int(d)} of {int(e)}" if not is_missing(d) else "n/a"
                             for d, e in zip(bad["epochs_done"], bad["epochs"], strict=True)],
        "Last loss": [f"{float(v):.4f}" for v in bad["final_loss"]],
        "Error": [format_value(v) if not is_missing(v) else "" for v in bad["error"]],
    }).reset_index(drop=True)


def excluded_line(excluded: pd.DataFrame, left_out: pd.DataFrame | None = None) -> str:
    """One sentence counting the runs kept out of the means, e.g. "1 run diverged: ...".

    ``left_out`` holds one runs row per run with no committed attempt (``results.committed``):
    they are in no mean either, and the sentence says so rather than "every run ok". Resume
    decides by the same rule, so "runs it again" is what the next sweep does.
    """
    gone = ""
    if left_out is not None and not left_out.empty:
        who = "; ".join(f"{row['method']} seed {row['seed']}" for _, row in left_out.iterrows())
        gone = (f"{plural(len(left_out), 'run')} left out because its files are not one whole "
                "committed attempt (see Files left out; the same sweep command runs it again): "
                f"{who}.")
    if excluded.empty:
        if gone:
            return f"{gone} Every other run finished with status ok."
        return "Every run finished with status ok; none was excluded from the means."
    parts = []
    for status, group in excluded.groupby("Status", sort=True):
        who = "; ".join(
            f"{row['Method']} seed {row['Seed']} (epoch {row['Stopped at epoch']}, "
            f"last loss {row['Last loss']})"
            for _, row in group.iterrows()
        )
        parts.append(f"{plural(len(group), 'run')} {status}: {who}")
    return ". ".join(parts) + ". Excluded from the means above." + (f" {gone}" if gone else "")


def duplicates_line(set_aside: pd.DataFrame) -> str:
    """Say how many repeated attempts were left out, so a re-run is never silently averaged."""
    if set_aside.empty:
        return "No run was attempted more than once."
    runs = set_aside["run_id"].nunique()
    return (f"{plural(len(set_aside), 'duplicate attempt')} of {plural(runs, 'run')} set aside "
            "(same configuration and seed run again; the latest ok attempt of each is used).")


# ---------------------------------------------------------------------------------------------
# Plotted data: pure functions returning DataFrames.


def curve_stats(curves: pd.DataFrame, ok_runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and epoch: n, mean, std, min and max of loss and test accuracy.

    Long format (one row per config, epoch, metric) so one drawing function serves both figures.
    """
    columns = ["config", "epoch", "metric", "n", "mean", "std", "min", "max"]
    data = curves_of(curves, ok_runs)
    if data.empty:
        return pd.DataFrame(columns=columns)
    long = data.melt(id_vars=["config", "epoch"], value_vars=["loss", "test_acc"],
                     var_name="metric", value_name="value")
    stats = (long.groupby(["config", "epoch", "metric"], sort=False)["value"]
             .agg(n="count", mean="mean", std="std", min="min", max="max").reset_index())
    return stats.sort_values(["metric", "config", "epoch"], kind="stable").reset_index(drop=True)


def paired_selection(ok_runs: pd.DataFrame) -> tuple[int, pd.DataFrame] | None:
    """The lowest seed run under at least two methods with the same init and batches.

    Returns that seed and its runs, or None when no seed is shared. Runs only share init and
    batches when they also share ``INIT_KEYS``; among several such groups for the lowest seed,
    the one with the most methods is shown.
    """
    best: tuple[int, int, pd.DataFrame] | None = None
    for _, group in ok_runs.groupby([*INIT_KEYS, "seed"], dropna=False, sort=False):
        methods = group["method_label"].nunique()
        if methods < 2:
            continue
        seed = int(group["seed"].iloc[0])
        if best is None or (seed, -methods) < (best[0], -best[1]):
            best = (seed, methods, group)
    if best is None:
        return None
    return best[0], sorted_groups(best[2]).reset_index(drop=True)


def paired_curves(curves: pd.DataFrame, paired_runs: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch loss and test accuracy of each paired run, one row per (config, epoch)."""
    data = curves_of(curves, paired_runs)
    return (data[["config", "epoch", "loss", "test_acc"]]
            .sort_values(["config", "epoch"], kind="stable").reset_index(drop=True))


# ---------------------------------------------------------------------------------------------
# Drawing.


def series_rows(summary: pd.DataFrame, ok_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration in display order, with what a legend states (``figures.panels``):
    the summary's keys and seed count, the ``role`` of its runs, and ``short`` when it ran
    fewer epochs than its protocol (``short_of_protocol``)."""
    if summary.empty:
        return summary.assign(role=pd.Series(dtype=object), short=pd.Series(dtype=bool))
    roles = ok_runs.groupby("config", sort=False)["role"].first() if "role" in ok_runs else {}
    return summary.assign(role=[roles.get(c) for c in summary["config"]],
                          short=short_of_protocol(summary).to_numpy())


def _panel_legend(holder: Figure | SubFigure, axes: Axes, loc: str) -> None:
    """The panel's legend outside its axes, so that it never covers a curve."""
    handles, labels = axes.get_legend_handles_labels()
    holder.legend(handles, labels, loc=loc, fontsize=7.5, ncols=1, frameon=False)


def draw_metric(stats: pd.DataFrame, metric: str, panel_list: Sequence[Panel], title: str,
                ylabel: str, xlabel: str) -> Figure:
    """Mean curve per configuration, the ``BAND`` shaded where n > 1, one axes per panel with
    its legend below it (the reference in every panel)."""
    rows, columns = grid_shape(len(panel_list))
    width = 9.0 if columns == 1 else 5.6 * columns
    fig = new_figure(width, 5.2 if rows == 1 and columns == 1 else 4.6 * rows)
    holders = [fig] if len(panel_list) == 1 else list(
        np.ravel(fig.subfigures(rows, columns, squeeze=False)))
    data = stats[stats["metric"] == metric]
    for holder, panel in zip(holders, panel_list, strict=False):
        ax = holder.add_subplot()
        for series in panel.series:
            line = data[data["config"] == series.config].sort_values("epoch")
            if line.empty:
                continue
            plot_series(ax, line["epoch"], line["mean"], series)
            if int(line["n"].max()) > 1:
                plot_band(ax, line["epoch"], line["min"], line["max"], series)
        _epoch_axes(ax, xlabel, ylabel)
        if panel.title:
            ax.set_title(wrap(panel.title, width / columns - 0.8, 9), fontsize=9)
        _panel_legend(holder, ax, "outside lower center")
    for holder in holders[len(panel_list):]:
        holder.set_visible(False)
    fig.suptitle(wrap(title, width), fontsize=10)
    return fig


def _epoch_axes(ax: Axes, xlabel: str, ylabel: str) -> None:
    """An axis of epochs: whole-number ticks, the labels, a light grid."""
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def draw_paired(curves: pd.DataFrame, panel_list: Sequence[Panel], title: str,
                xlabel: str) -> Figure:
    """Loss and test accuracy of one seed under every method, side by side, per panel."""
    columns = 1 if len(panel_list) == 1 else 2
    rows = math.ceil(len(panel_list) / columns)
    width = 12.0 if columns == 1 else 8.4 * columns
    fig = new_figure(width, 5.0 if rows == 1 else 4.6 * rows)
    holders = [fig] if len(panel_list) == 1 else list(
        np.ravel(fig.subfigures(rows, columns, squeeze=False)))
    for holder, panel in zip(holders, panel_list, strict=False):
        ax_loss, ax_acc = holder.subplots(1, 2)
        for series in panel.series:
            line = curves[curves["config"] == series.config]
            plot_series(ax_loss, line["epoch"], line["loss"], series)
            plot_series(ax_acc, line["epoch"], line["test_acc"], series, label=False)
        _epoch_axes(ax_loss, xlabel, "training loss (last mini-batch of the epoch)")
        _epoch_axes(ax_acc, xlabel, "test accuracy (full test set)")
        if panel.title and holder is not fig:
            holder.suptitle(wrap(panel.title, width / columns - 0.8, 9), fontsize=9)
        _panel_legend(holder, ax_loss, "outside lower center")
    for holder in holders[len(panel_list):]:
        holder.set_visible(False)
    fig.suptitle(wrap(title, width), fontsize=10)
    return fig


# ---------------------------------------------------------------------------------------------
# The two sections.


def follows_post(runs: pd.DataFrame) -> bool:
    """Whether every run trains the post's kind of network the post's way."""
    present = [c for c in results.SEED_NULL_COLUMNS if c in runs]
    return all(runs[c].isna().all() for c in present)


def protocol_intro(runs: pd.DataFrame) -> str:
    """ "a sigmoid MLP" for the post's network, "an MLP" for any other."""
    return "a sigmoid MLP" if follows_post(runs) else "an MLP"


def protocol_phrase(runs: pd.DataFrame) -> str:
    """ "under the blog post's protocol" where most runs train the post's network on its batches
    and steps (the common protocol ``protocols_text`` states), or "under this protocol" for
    others (a published experiment's, a scan of batch sizes), so the report never claims the
    post's for them."""
    follows = sum(published.follows_post_protocol(row) for _, row in runs.iterrows())
    return "under the blog post's protocol" if 2 * follows > len(runs) else "under this protocol"


def table_section(inputs: Inputs) -> Section:
    """What was measured, "## Our results", exclusions and duplicates; the title above it is the
    document's (``document.title_section``).

    Numbers: ``summary`` (one row per configuration), ``table`` (its markdown), ``footnote``,
    ``excluded`` (the kept attempts not ok), ``left_out`` (runs whose results did not read back
    whole) and ``duplicates`` (attempts set aside).
    """
    kept, summary = inputs.kept, inputs.summary
    table = markdown(format_summary(summary)) if not summary.empty else NO_OK_RUN
    footnote = short_run_footnote(summary)
    excluded = excluded_runs(kept)
    as_the_post = (", as the post timed it"
                   if not published.matching(published.POST, inputs.ok_runs).empty else "")
    lines = [
        f"We trained {protocol_intro(kept)} with each gradient method on "
        f"{datasets_text(kept)}, {protocol_phrase(kept)}: {protocols_text(kept)}. "
        f"Elapsed is the wall time of the training loop, test evaluation included{as_the_post}; "
        "loss is the cross-entropy on each epoch's last mini-batch after its update; "
        "test accuracy is on the full test set after the last epoch. "
        f"Machine: {machines_text(kept)}. "
        + (f"{load_text(kept)} " if load_text(kept) else "")
        + f"Code revision: {revisions_text(kept)}.",
        "",
        "## Our results",
        "",
        table,
        "",
        *([footnote, ""] if footnote else []),
        "Mean ± sample standard deviation (ddof=1) over seeds; the std is omitted when n=1. "
        "Only runs with status ok enter the means. Gradient time per step is the time spent "
        "inside the gradient computation alone, per SGD step (mean over seeds); loss evaluations "
        "per step count forward passes of the loss (backprop: one, plus its backward pass).",
        "",
        excluded_line(excluded, inputs.left_out),
        "",
    ]
    if not excluded.empty:
        lines += [markdown(excluded), ""]
    lines += [duplicates_line(inputs.set_aside), ""]
    return Section("runs", "\n".join(lines), numbers={
        "summary": summary, "table": table, "footnote": footnote, "excluded": excluded,
        "left_out": len(inputs.left_out), "duplicates": len(inputs.set_aside),
    })


def figures_section(inputs: Inputs) -> Section:
    """ "## Figures": loss and test accuracy by epoch and the paired seed, or why one is missing.

    Numbers: ``curve_stats`` (what the two curve figures plot) and ``paired_seed`` (None when
    no seed is shared).
    """
    kept, ok_runs = inputs.kept, inputs.ok_runs
    figures: dict[str, Figure | bytes] = {}
    stats = curve_stats(inputs.curves, ok_runs)
    rows = series_rows(inputs.summary, ok_runs)
    if not ok_runs.empty:
        scope = f"{short_datasets(kept)} · {short_protocol(kept)}"
        xlabel = f"epoch ({epoch_text(ok_runs)})"
        panel_list = panels(rows)
        for name, metric, what, ylabel in (
            (LOSS_FIGURE, "loss",
             "Training loss vs epoch (cross-entropy on each epoch's last mini-batch)",
             "training loss"),
            (TEST_ACC_FIGURE, "test_acc",
             "Test accuracy vs epoch (full test set, after every epoch)", "test accuracy"),
        ):
            title = f"{what}\n{scope}\n{curve_note(rows, panel_list)}"
            figures[name] = draw_metric(stats, metric, panel_list, title, ylabel, xlabel)
    paired = paired_selection(ok_runs)
    if paired is not None:
        seed, paired_runs = paired
        title = (f"paired: same init and batches, seed {seed} — every method on this seed\n"
                 f"{short_datasets(paired_runs)} · {short_protocol(paired_runs)}")
        paired_rows = rows[rows["config"].isin(paired_runs["config"])].drop(columns="n")
        figures[PAIRED_FIGURE] = draw_paired(paired_curves(inputs.curves, paired_runs),
                                             panels(paired_rows), title,
                                             f"epoch ({epoch_text(paired_runs)})")

    lines = ["## Figures", ""]
    for name, alt in ((LOSS_FIGURE, "training loss vs epoch"),
                      (TEST_ACC_FIGURE, "test accuracy vs epoch"), (PAIRED_FIGURE, "paired seed")):
        if name in figures:
            lines += [f"![{alt}]({name})", ""]
    if LOSS_FIGURE not in figures:
        lines += ["No run finished with status ok, so there are no curves to plot.", ""]
    if paired is None:
        lines.append("Paired-seed figure skipped: no seed was run under two or more methods "
                     "with the same data, network and batch size.")
    else:
        seed, paired_runs = paired
        lines.append(f"Paired-seed figure: seed {seed}, the lowest seed run under "
                     f"{paired_runs['method_label'].nunique()} methods with the same initial "
                     "weights and the same mini-batches.")
    lines.append("")
    return Section("figures", "\n".join(lines), figures, {
        "curve_stats": stats, "paired_seed": None if paired is None else paired[0]})
