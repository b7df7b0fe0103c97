"""Estimators ("## Estimators"): every gradient method side by side at equal epochs, with how
close each gradient was to backprop's (the cosine and relative error the runs measured).

Shown only when there is something beyond the seed's comparison to say (``has_estimators``).
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
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
from mlpbench.report.figures import BAND, line_style, new_figure
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

FIGURE = "estimators.png"
FIGURES: tuple[str, ...] = (FIGURE,)

SEED_KIND_ROLES = frozenset({results.ROLE_REFERENCE, results.ROLE_SEED_KIND})
"""The ``role`` of the seed's comparison: the reference and the seed's kind of numerical
gradient. The report's original sections cover these alone."""

ESTIMATOR_COLUMNS: tuple[str, ...] = (
    "config", "method", "lr", "n", "seeds", "epochs", "loss_evals_per_step_mean",
    "grad_time_per_step_mean", "loss_mean", "loss_std", "acc_mean", "acc_std", "cos_mean",
    "rel_err_mean", "measured",
)


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
    cosine and relative error to backprop over every measured epoch of every seed.

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
            format_rel_err(row["rel_err_mean"]),
        )
        for _, row in estimators.iterrows()
    ]
    return pd.DataFrame(rows, columns=[
        "Method", "lr", "n (seeds)", "Loss evaluations per step", "Gradient time per step",
        "Loss", "Test accuracy", "cos to backprop (mean)", "Relative error (mean)"])


def estimator_curves(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and epoch, over seeds: test accuracy (mean, min, max), cumulative loss
    evaluations and elapsed time (means), and the cosine to backprop (mean, min, max, count)."""
    columns = ["config", "epoch", "n", "acc_mean", "acc_min", "acc_max", "evals_mean",
               "elapsed_mean", "cos_n", "cos_mean", "cos_min", "cos_max"]
    data = curves_of(curves, runs)
    if data.empty:
        return pd.DataFrame(columns=columns)
    stats = data.groupby(["config", "epoch"], sort=False).agg(
        n=("test_acc", "count"), acc_mean=("test_acc", "mean"), acc_min=("test_acc", "min"),
        acc_max=("test_acc", "max"), evals_mean=("loss_evals", "mean"),
        elapsed_mean=("elapsed_s", "mean"), cos_n=("grad_cos", "count"),
        cos_mean=("grad_cos", "mean"), cos_min=("grad_cos", "min"),
        cos_max=("grad_cos", "max"),
    ).reset_index()
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


def estimators_markdown(estimators: pd.DataFrame, epochs: int, left_out: pd.DataFrame,
                        runs: pd.DataFrame, figure: str | None) -> str:
    """The "## Estimators" section: the table at equal epochs, what it leaves out, the figure."""
    seeds = sorted({int(s) for s in runs["seed"]})
    params = sorted({int(p) for p in runs["param_count"] if not is_missing(p)})
    p_text = ", ".join(f"{p:,}" for p in params) or "n/a"
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
        "left out of elapsed and gradient times. A random-direction estimate averaged over k "
        f"directions has a cosine of about sqrt(k / P) with the gradient (P = {p_text} "
        "parameters; 0.005 for one direction at P = 39,760), while finite differences sit at 1.",
        "",
    ]
    if not left_out.empty:
        who = "; ".join(f"{row['config']} ({plural(int(row['epochs']), 'epoch')})"
                        for _, row in left_out.iterrows())
        lines += [f"Left out, run for another number of epochs: {who}.", ""]
    if figure is not None:
        lines += [f"![estimators: accuracy by epoch, loss evaluations and time; cosine to "
                  f"backprop]({figure})", ""]
    return "\n".join(lines)


def draw_estimators(stats: pd.DataFrame, colors: dict[str, str], title: str) -> Figure:
    """Four panels, mean over seeds with the ``BAND``: test accuracy by epoch, by cumulative loss
    evaluations and by wall time, and the cosine to backprop by epoch (log y)."""
    fig = new_figure(13, 10.5)
    axes = fig.subplots(2, 2)
    ax_epoch, ax_evals, ax_time, ax_cos = axes.ravel()
    for index, config in enumerate(colors):
        line = stats[stats["config"] == config].sort_values("epoch")
        if line.empty:
            continue
        n = int(line["n"].max())
        color, style = colors[config], line_style(index)
        label = f"{config} (mean of n={n})" if n > 1 else f"{config} (n=1)"
        for ax, x in ((ax_epoch, "epoch"), (ax_evals, "evals_mean"), (ax_time, "elapsed_mean")):
            ax.plot(line[x], line["acc_mean"], color=color, label=label, **style)
            if n > 1:
                ax.fill_between(line[x], line["acc_min"], line["acc_max"], color=color,
                                alpha=0.2, lw=0)
        measured = line[line["cos_n"] > 0]
        if not measured.empty:
            positive = measured[["cos_mean", "cos_min", "cos_max"]].where(
                measured[["cos_mean", "cos_min", "cos_max"]] > 0)
            ax_cos.plot(measured["epoch"], positive["cos_mean"], color=color, **style)
            if n > 1:
                ax_cos.fill_between(measured["epoch"], positive["cos_min"], positive["cos_max"],
                                    color=color, alpha=0.2, lw=0)
    for ax, what in ((ax_epoch, "by epoch"), (ax_evals, "by loss evaluations spent"),
                     (ax_time, "by wall time")):
        ax.set_title(f"test accuracy {what}", fontsize=9)
    ax_epoch.set_xlabel("epoch")
    ax_evals.set_xscale("log")
    ax_evals.set_xlabel("cumulative loss evaluations (log) = forward passes of the batch loss;\n"
                        "a complex one counts as one, backprop counts its one forward pass")
    ax_time.set_xscale("log")
    ax_time.set_xlabel("elapsed wall time (s, log; mean over seeds at each epoch)")
    ax_cos.set_yscale("log")
    ax_cos.set_xlabel("epoch")
    ax_cos.set_ylabel("cosine with the float64 backprop gradient (log)")
    ax_cos.set_title("cosine to backprop by epoch (backprop, the reference, not drawn; "
                     "values <= 0 cannot be)", fontsize=9)
    for ax in (ax_epoch, ax_evals, ax_time):
        ax.set_ylabel("test accuracy (full test set)")
    for ax in (ax_epoch, ax_cos):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax in axes.ravel():
        ax.grid(alpha=0.3, which="both")
    handles, labels = ax_epoch.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


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
    title = (f"Gradient methods at equal epochs: {short_datasets(compared)} · "
             f"{short_protocol(compared)}\nline: mean over seeds; shaded band: {BAND}")
    figure = draw_estimators(curves, {c: inputs.colors[c] for c in estimators["config"]}, title)
    text = estimators_markdown(estimators, epochs, summary[summary["epochs"] != epochs],
                               compared, FIGURE)
    return Section("estimators", text, {FIGURE: figure},
                   {"estimators": estimators, "epochs": epochs, "curves": curves})
