"""Estimators ("## Estimators"): every gradient method side by side at equal epochs, with how
close each gradient was to backprop's (the cosine and relative error the runs measured).

Shown only when there is something beyond the seed's comparison to say (``has_estimators``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from mlpbench import results
from mlpbench.report.configs import curves_of
from mlpbench.report.describe import (
    datasets_text,
    distinct,
    machines_text,
    protocols_text,
    revisions_text,
    short_datasets,
    short_protocol,
)
from mlpbench.report.figures import (
    Panel,
    curve_note,
    log_ticks,
    new_figure,
    panels,
    parse_options,
    plot_band,
    plot_series,
    wrap,
)
from mlpbench.report.format import (
    format_cos,
    format_count,
    format_rel_err,
    format_value,
    human_duration,
    is_missing,
    markdown,
    mean_std,
    plural,
)
from mlpbench.report.section import Inputs, Section
from mlpbench.theory import EXPECTED_COSINE_FORMULA, expected_cosine

FIGURE = "estimators.png"
FIGURES: tuple[str, ...] = (FIGURE,)

SEED_KIND_ROLES = frozenset({results.ROLE_REFERENCE, results.ROLE_SEED_KIND})
"""The ``role`` of the seed's comparison: the reference and the seed's kind of numerical
gradient. The report's original sections cover these alone."""

ESTIMATOR_COLUMNS: tuple[str, ...] = (
    "config", "method", "lr", "n", "seeds", "epochs", "loss_evals_per_step_mean",
    "grad_time_per_step_mean", "loss_mean", "loss_std", "acc_mean", "acc_std", "cos_mean",
    "rel_err_mean", "measured", "directions", "param_count", "cos_theory",
)

COST_LABEL = "cumulative cost in forward passes (log):\ntheoretical passes per step x SGD steps"
"""The x label of the cost panels: what the Cost section's Theory column counts per step (backprop
and one forward-mode direction about 2 passes, SPSA 2 per direction, central differences 2P),
times the steps done by each epoch, so that no method looks cheaper than it is."""

FALLBACK_NOTE = "cost axis: loss evaluations, no theoretical count recorded"
"""Legend note of a configuration whose runs predate ``theory_forward_passes``: its cost axis
counts the loss evaluations the run recorded instead."""


def theory_directions(options: Any) -> int | None:
    """k, the random directions averaged per step, for the estimates of the form
    Σ (g·v_i) v_i that ``theory.expected_cosine`` covers: SPSA and forward gradients
    (``directions``), and ES on raw losses (``population`` pairs). None for anything else: ES
    with rank shaping weighs each pair by ranks, not by its slope, so the formula does not hold
    (it measures slightly below it); activity-perturbed forward gradients, whose tangents live
    per example, not in the P dimensions of the weights."""
    options = parse_options(options)
    if options.get("perturb") == "activations":
        return None
    if "directions" in options:
        return int(options["directions"])
    if "population" in options and options.get("rank_shaping", "false") == "false":
        return int(options["population"])
    return None


def has_estimators(kept: pd.DataFrame) -> bool:
    """Whether the Estimators section has something to say.

    True when a method outside the seed's comparison was run (a ``role`` other than
    ``SEED_KIND_ROLES``: neither the reference nor plain finite differences; every run of
    results written before the column), or when methods trained at different learning rates,
    which only this section's table shows. The seed's comparison and the h scan measure their
    gradients against the reference too, but their own sections say what matters there; the
    fidelity columns stay in their parquet.
    """
    seed_kind = kept["role"].isin(SEED_KIND_ROLES)
    return bool((~seed_kind).any() or kept["lr"].nunique() > 1)


def common_epochs(summary: pd.DataFrame) -> int | None:
    """The run length most configurations share (the longer one on a tie); None when empty.

    Final loss and accuracy only compare at equal epochs: a 2-epoch timing run of a slow method
    next to 100-epoch runs would look like a method that does not learn.
    """
    if summary.empty:
        return None
    counts = summary["epochs"].astype(int).value_counts()
    return int(max(e for e, c in counts.items() if c == counts.max()))


def estimator_summary(summary: pd.DataFrame, curves: pd.DataFrame, ok_runs: pd.DataFrame,
                      epochs: int) -> pd.DataFrame:
    """One row per configuration run for ``epochs`` epochs: the summary's numbers plus the mean
    cosine and relative error to backprop over every measured epoch of every seed, and the
    cosine theory expects (``cos_theory``, ``theory.expected_cosine`` with k = ``directions``
    and P = ``param_count``; NaN where ``theory_directions`` says it does not apply).

    ``measured`` counts those epochs; the means are NaN where none was measured (backprop, the
    reference, or runs with ``fidelity_every=0``).
    """
    chosen = summary[summary["epochs"] == epochs]
    if chosen.empty:
        return pd.DataFrame(columns=list(ESTIMATOR_COLUMNS))
    data = curves_of(curves, ok_runs[ok_runs["epochs"] == epochs])
    fidelity = data.groupby("config", sort=False).agg(
        cos_mean=("grad_cos", "mean"), rel_err_mean=("grad_rel_err", "mean"),
        measured=("grad_cos", "count"))
    merged = chosen.merge(fidelity, left_on="config", right_index=True, how="left")
    merged["measured"] = merged["measured"].fillna(0).astype(int)
    params = ok_runs.groupby("config", sort=False)["param_count"].first()
    merged["param_count"] = [params.get(c) for c in merged["config"]]
    merged["directions"] = [theory_directions(o) for o in merged["options"]]
    merged["cos_theory"] = [
        expected_cosine(int(k), int(p)) if not is_missing(k) and not is_missing(p) else np.nan
        for k, p in zip(merged["directions"], merged["param_count"], strict=True)]
    return merged[list(ESTIMATOR_COLUMNS)].reset_index(drop=True)


def format_estimators(estimators: pd.DataFrame) -> pd.DataFrame:
    """The Estimators table a reader sees."""
    rows = [
        (
            row["config"],
            format_value(float(row["lr"])),
            int(row["n"]),
            format_count(row["loss_evals_per_step_mean"]),
            human_duration(row["grad_time_per_step_mean"]),
            mean_std(row["loss_mean"], row["loss_std"], row["n"]),
            mean_std(row["acc_mean"], row["acc_std"], row["n"]),
            format_cos(row["cos_mean"]),
            format_cos(row["cos_theory"]),
            format_rel_err(row["rel_err_mean"]),
        )
        for _, row in estimators.iterrows()
    ]
    return pd.DataFrame(rows, columns=[
        "Method", "lr", "n (seeds)", "Loss evaluations per step", "Gradient time per step",
        "Loss", "Test accuracy", "cos to backprop (mean)", "cos, theory",
        "Relative error (mean)"])


def estimator_curves(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and epoch, over seeds: test accuracy (mean, min, max), cumulative loss
    evaluations, cumulative cost and elapsed time (means), and the cosine to backprop (mean,
    min, max, count).

    The cost (``cost_mean``) is in forward passes: the run's ``theory_forward_passes`` per step
    times the steps done by the end of the epoch. A run without that count (results written
    before it) counts its loss evaluations instead, and ``cost_basis`` says "loss_evals" for
    its configuration rather than "theory".
    """
    columns = ["config", "epoch", "n", "acc_mean", "acc_min", "acc_max", "evals_mean",
               "cost_mean", "cost_basis", "elapsed_mean", "cos_n", "cos_mean", "cos_min",
               "cos_max"]
    data = curves_of(curves, runs)
    if data.empty:
        return pd.DataFrame(columns=columns)
    theory = (runs.set_index("attempt_id")["theory_forward_passes"]
              if "theory_forward_passes" in runs else pd.Series(dtype=float))
    per_step = data["attempt_id"].map(theory).astype(float)
    data = data.assign(cost=(per_step * data["step"]).fillna(data["loss_evals"].astype(float)),
                       costed=per_step.notna())
    stats = data.groupby(["config", "epoch"], sort=False).agg(
        n=("test_acc", "count"), acc_mean=("test_acc", "mean"), acc_min=("test_acc", "min"),
        acc_max=("test_acc", "max"), evals_mean=("loss_evals", "mean"),
        cost_mean=("cost", "mean"), costed=("costed", "all"),
        elapsed_mean=("elapsed_s", "mean"), cos_n=("grad_cos", "count"),
        cos_mean=("grad_cos", "mean"), cos_min=("grad_cos", "min"),
        cos_max=("grad_cos", "max"),
    ).reset_index()
    costed = stats.groupby("config", sort=False)["costed"].transform("all")
    stats["cost_basis"] = np.where(costed, "theory", "loss_evals")
    return stats[columns].sort_values(["config", "epoch"], kind="stable").reset_index(drop=True)


def _fidelity_text(runs: pd.DataFrame) -> str:
    """When the runs compared their gradient with the reference's, from ``fidelity_every``;
    the reference's own runs (``role``) measure nothing."""
    measuring = runs[runs["role"] != results.ROLE_REFERENCE]
    texts = []
    for (every,) in distinct(measuring, ["fidelity_every"]):
        if every is None:
            texts.append("not recorded (results older than the measurement)")
        elif int(every) == 0:
            texts.append("never (fidelity_every=0)")
        elif int(every) == 1:
            texts.append("on the last step of every epoch")
        else:
            texts.append(f"on the last step of every {int(every)}th epoch")
    return " or ".join(texts) or "never"


def _theory_text(estimators: pd.DataFrame) -> str:
    """The one statement of the cosine theory expects for random directions, with the P of
    these runs; the values are the table's "cos, theory" column."""
    params = sorted({int(p) for p in estimators["param_count"] if not is_missing(p)})
    p_text = " or ".join(f"{p:,}" for p in params) or "n/a"
    return (
        "The cos, theory column is the mean cosine expected of an estimate averaged over k "
        "random directions v_i, Σ (g·v_i) v_i (SPSA and forward gradients with k directions, ES "
        f"on raw losses with k pairs): E[cos] ≈ {EXPECTED_COSINE_FORMULA} for P parameters "
        f"(here P = {p_text}), the mean of a χ_k variable over sqrt(P), so sqrt(2/(πP)) for one "
        "direction and close to sqrt(k/P) for many (Gaussian directions; Rademacher ones give "
        "the same to O(1/P)). It is n/a for finite differences, which sit at 1, and for ES with "
        "rank shaping, which weighs each pair by rank rather than by its slope.")


def _cost_text(curves: pd.DataFrame) -> str:
    """What the figure's cost axis counts, and which configurations fall back to loss
    evaluations because their runs recorded no theoretical count."""
    text = ("The figure's cost axis counts forward passes per step as the Theory column of the "
            "Cost section does (a gradient's multiply-adds over a forward pass's, or the "
            "scheme's loss evaluations), times the SGD steps done by each epoch: unlike loss "
            "evaluations, it charges backprop for its backward pass and forward mode for its "
            "tangents, so one forward-gradient direction costs about what one SPSA direction "
            "does.")
    fallback = sorted(set(curves.loc[curves["cost_basis"] == "loss_evals", "config"]))
    if fallback:
        text += (" Runs written before that count was recorded count their loss evaluations "
                 f"instead ({FALLBACK_NOTE.split(': ')[1]}): {'; '.join(fallback)}.")
    return text


def estimators_markdown(estimators: pd.DataFrame, epochs: int, left_out: pd.DataFrame,
                        runs: pd.DataFrame, figure: str | None,
                        curves: pd.DataFrame | None = None) -> str:
    """The "## Estimators" section: the table at equal epochs, what it leaves out, the figure."""
    seeds = sorted({int(s) for s in runs["seed"]})
    lines = [
        "## Estimators",
        "",
        f"Every gradient method at equal length: only configurations run for {epochs} epochs "
        "(the length most configurations share) are compared here. "
        f"Data: {datasets_text(runs)}. Protocol: {protocols_text(runs)}; each method at its "
        "own learning rate (lr column). "
        f"Seeds: {', '.join(map(str, seeds))}. Machine: {machines_text(runs)}. "
        f"Code revision: {revisions_text(runs)}.",
        "",
        markdown(format_estimators(estimators)),
        "",
        "Loss and test accuracy after the last epoch: mean ± sample standard deviation over "
        "seeds (std omitted when n=1). Loss evaluations per step count forward passes of the "
        "batch loss: a complex-valued one (complex step, forward gradient) counts as one, and "
        "backprop counts its one forward pass (not its backward pass). Gradient time per step is "
        "the time inside the gradient computation (mean over seeds). The cosine and relative "
        "error ||g - g_bp|| / ||g_bp|| compare the method's gradient with the float64 backprop "
        "gradient on the same batch at the same weights, before the update, "
        f"{_fidelity_text(runs)}; means over every measured epoch and seed, n/a where nothing "
        "was measured (backprop is the reference). That comparison is timed separately and "
        "left out of elapsed and gradient times.",
        "",
        _theory_text(estimators),
        "",
    ]
    if not left_out.empty:
        who = "; ".join(f"{row['config']} ({plural(int(row['epochs']), 'epoch')})"
                        for _, row in left_out.iterrows())
        lines += [f"Left out, run for another number of epochs: {who}.", ""]
    if figure is not None:
        measured = curves is not None and bool((curves["cos_n"] > 0).any())
        cosine = "; cosine to backprop by epoch, with theory" if measured else ""
        lines += [_cost_text(curves) if curves is not None else "", "",
                  f"![estimators: test accuracy by epoch, by cost in forward passes and by wall "
                  f"time{cosine}]({figure})", ""]
    return "\n".join(lines)


def _draw_cosine(ax: Axes, stats: pd.DataFrame, panel: Panel,
                 theory: dict[str, tuple[int, float]]) -> Line2D | None:
    """The cosine to backprop by epoch on a linear axis from 0 (a cosine near 0 or below it
    is a finding, which a log axis would hide), with a dashed line at the level theory expects
    for each direction count in the panel, named on the right edge; returns that line's legend
    handle, None when the panel has no such level."""
    for series in panel.series:
        line = stats[(stats["config"] == series.config) & (stats["cos_n"] > 0)]
        if series.reference or line.empty:
            continue
        line = line.sort_values("epoch")
        plot_series(ax, line["epoch"], line["cos_mean"], series, label=False)
        if int(line["n"].max()) > 1:
            plot_band(ax, line["epoch"], line["cos_min"], line["cos_max"], series)
    levels = sorted({theory[s.config] for s in panel.series if s.config in theory})
    handle = None
    for _, value in levels:
        handle = ax.axhline(value, color="black", ls=(0, (4, 2)), lw=1.1, zorder=20)
    drawn = stats[stats["config"].isin([s.config for s in panel.series])]
    tops = [*drawn["cos_max"].dropna(), *(value for _, value in levels)]
    low, high = ax.get_ylim()
    ax.set_ylim(min(low, 0.0), max(high, 1.08 * max(tops, default=0.0)))
    if levels:
        right = ax.secondary_yaxis("right")
        right.set_yticks([v for _, v in levels], [f"k={k}" for k, _ in levels], fontsize=7)
        right.tick_params(length=3)
    ax.yaxis.get_major_formatter().set_useOffset(False)
    return handle


def draw_estimators(stats: pd.DataFrame, panel_list: list[Panel], title: str,
                    theory: dict[str, tuple[int, float]]) -> Figure:
    """One row per panel (a family of methods, backprop in each): test accuracy by epoch, by
    cumulative cost in forward passes and by wall time, mean over seeds with the ``BAND``, and
    the cosine to backprop by epoch when any was measured; the row's legend, headed by its
    family, in a last column of its own, so every row's panels line up.

    ``theory`` maps a configuration to (k, the cosine theory expects for it), drawn dashed.
    """
    measured = bool((stats["cos_n"] > 0).any())
    columns = 4 if measured else 3
    width = 3.8 * (columns + 1)
    fig = new_figure(width, 3.3 * len(panel_list) + 0.9)
    grid = fig.subplots(len(panel_list), columns + 1, squeeze=False)
    for row, panel in enumerate(panel_list):
        axes, ax_legend = grid[row, :columns], grid[row, columns]
        ax_epoch, ax_cost, ax_time = axes[:3]
        for series in panel.series:
            line = stats[stats["config"] == series.config].sort_values("epoch")
            if line.empty:
                continue
            for ax, x in ((ax_epoch, "epoch"), (ax_cost, "cost_mean"), (ax_time, "elapsed_mean")):
                plot_series(ax, line[x], line["acc_mean"], series, label=ax is ax_epoch)
                if int(line["n"].max()) > 1:
                    plot_band(ax, line[x], line["acc_min"], line["acc_max"], series)
        handles, labels = ax_epoch.get_legend_handles_labels()
        if measured:
            handle = _draw_cosine(axes[3], stats, panel, theory)
            if handle is not None:
                handles.append(handle)
                labels.append(f"theory: E[cos] ≈ {EXPECTED_COSINE_FORMULA} for k directions "
                              "(right-hand ticks) and P parameters")
            axes[3].set_ylabel("cosine with float64 backprop", fontsize=9)
            axes[3].set_xlabel("epoch", fontsize=9)
        ax_epoch.set_xlabel("epoch", fontsize=9)
        ax_cost.set_xscale("log")
        ax_cost.set_xlabel(COST_LABEL, fontsize=8)
        ax_time.set_xscale("log")
        ax_time.set_xlabel("elapsed wall time (s, log)", fontsize=9)
        ax_epoch.set_ylabel("test accuracy (full test set)", fontsize=9)
        if row == 0:
            for ax, what in zip(axes, ("test accuracy by epoch", "test accuracy by cost",
                                       "test accuracy by wall time",
                                       "cosine to backprop by epoch"), strict=False):
                ax.set_title(what, fontsize=10)
        for ax in axes:
            ax.grid(alpha=0.3, which="both")
            ax.tick_params(labelsize=8)
        for ax in (ax_epoch, axes[-1]):
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        for ax in (ax_cost, ax_time):
            log_ticks(ax)
        ax_legend.axis("off")
        # the family names the row above its legend, at the height of the row's panels
        ax_legend.set_title(wrap(panel.title or "methods", 3.6, 9.5), fontsize=9.5,
                            fontweight="bold", loc="left")
        ax_legend.legend(handles, [wrap(label, 3.4, 8) for label in labels], loc="upper left",
                         fontsize=8, frameon=False, borderaxespad=0)
    fig.suptitle(wrap(title, width), fontsize=10)
    return fig


def _with_cost_notes(panel_list: list[Panel], curves: pd.DataFrame) -> list[Panel]:
    """The panels with ``FALLBACK_NOTE`` added to the label of every configuration whose cost
    axis counts loss evaluations."""
    fallback = set(curves.loc[curves["cost_basis"] == "loss_evals", "config"])
    return [dataclasses.replace(panel, series=tuple(
        dataclasses.replace(s, label=f"{s.label} ({FALLBACK_NOTE})")
        if s.config in fallback else s for s in panel.series)) for panel in panel_list]


def section(inputs: Inputs) -> Section:
    """ "## Estimators" and its figure, empty when ``has_estimators`` says there is nothing to
    add. Numbers: ``estimators`` (``estimator_summary``), ``epochs`` (``common_epochs``) and
    ``curves`` (``estimator_curves``, what the figure draws)."""
    summary, ok_runs = inputs.summary, inputs.ok_runs
    epochs = common_epochs(summary)
    if epochs is None or not has_estimators(ok_runs):
        return Section("estimators")
    estimators = estimator_summary(summary, inputs.curves, ok_runs, epochs)
    compared = ok_runs[ok_runs["epochs"] == epochs]
    curves = estimator_curves(inputs.curves, compared)
    rows = summary[summary["epochs"] == epochs]
    roles = compared.groupby("config", sort=False)["role"].first()
    rows = rows.assign(role=[roles.get(c) for c in rows["config"]])
    theory = {str(row["config"]): (int(row["directions"]), float(row["cos_theory"]))
              for _, row in estimators.iterrows() if not is_missing(row["cos_theory"])}
    panel_list = _with_cost_notes(panels(rows), curves)
    title = (f"Gradient methods at equal epochs: {short_datasets(compared)} · "
             f"{short_protocol(compared)}\n{curve_note(rows, panel_list, 'row')}")
    figure = draw_estimators(curves, panel_list, title, theory)
    text = estimators_markdown(estimators, epochs, summary[summary["epochs"] != epochs],
                               compared, FIGURE, curves)
    return Section("estimators", text, {FIGURE: figure},
                   {"estimators": estimators, "epochs": epochs, "curves": curves})
