"""``python -m mlpbench.report``: the blog post's table and curves, rebuilt from our parquet.

The report reads only what ``results.read_results`` returns, so every number in it can be traced
back to a committed run row. The pipeline is split into pure steps that tests can check number by
number, and a thin drawing/writing layer on top:

1. ``select_attempts``: one attempt per run_id (the latest ok one), duplicates counted, not hidden;
2. ``summarize``: one row per configuration, mean and sample std over the ok seeds;
3. ``curve_stats`` / ``paired_selection``: the data each figure plots, as DataFrames;
4. ``render``: draws (matplotlib, Agg canvas, no display), writes every file atomically.

Diverged or failed runs never enter a mean, but they are always listed, because a method that
sometimes diverges is a finding, not noise.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import secrets
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tabulate import tabulate

from mlpbench import results
from mlpbench.errors import MlpbenchError, ResultsError

EXIT_USAGE = 2

GROUP_KEYS: tuple[str, ...] = (
    "method", "scheme", "engine", "h", "dataset", "hidden_size", "batch_size", "lr", "epochs",
    "steps_per_epoch", "dtype", "log_eps",
)
"""Runs that agree on these are one configuration: they differ only in seed (one table row)."""

METHOD_KEYS: tuple[str, ...] = ("method", "scheme", "engine", "h")
"""The keys that name a gradient method; the others describe the protocol."""

INIT_KEYS: tuple[str, ...] = ("dataset", "n_train", "hidden_size", "batch_size", "dtype")
"""With the seed, these fix the initial weights and the batch sequence (see ``train.streams``),
so two runs that share them and the seed saw the same init and the same batches."""

TABLE_COLUMNS: tuple[str, ...] = (
    "Method", "Epochs", "Elapsed", "Loss", "Test accuracy", "n (seeds)",
    "Gradient time per step", "Loss evaluations per step",
)

POST_TABLE = pd.DataFrame(
    [
        ("backprop", 100, "3.1 s", "1.6676", "0.6783"),
        ("numerical (central, h=1e-04)", 100, "141 min 55.3 s", "1.5788", "0.6309"),
    ],
    columns=["Method", "Epochs", "Elapsed", "Loss", "Test accuracy"],
)
"""The blog post's own figures, copied verbatim: unseeded, full MNIST, one run each."""

BAND = "min-max over seeds"
"""What the shaded band around a mean curve shows; named in every figure that draws one."""

FIGURE_NAMES = {
    "loss": "loss_vs_epoch.png",
    "test_acc": "test_acc_vs_epoch.png",
    "paired": "paired_seed.png",
}


@dataclass(frozen=True, eq=False)
class Attempts:
    """The attempt kept for each run_id, and the attempts set aside as duplicates."""

    kept: pd.DataFrame
    set_aside: pd.DataFrame


@dataclass(frozen=True, eq=False)
class ReportOutputs:
    """What ``render`` wrote and the numbers behind it, so callers and tests need not re-parse."""

    report_md: Path
    loss_png: Path | None
    test_acc_png: Path | None
    paired_png: Path | None
    table: str
    summary: pd.DataFrame
    excluded: pd.DataFrame
    duplicates: int
    paired_seed: int | None


# ---------------------------------------------------------------------------------------------
# Formatting: pure functions from numbers to the strings a reader sees.


def _is_missing(value: Any) -> bool:
    """True for None and NaN-like values, whatever column type they came from."""
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def human_duration(seconds: float) -> str:
    """Seconds in the unit a reader thinks in: "85.2 µs", "0.31 s", "2 min 05.3 s", "1 h 03 min".

    Sub-0.1 s values switch to ms/µs so that a per-step gradient time never shows as "0.00 s".
    """
    if _is_missing(seconds) or not math.isfinite(seconds):
        return "n/a"
    if seconds == 0:
        return "0 s"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.3g} µs"
    if seconds < 0.1:
        return f"{seconds * 1e3:.3g} ms"
    if round(seconds, 2) < 60:
        return f"{seconds:.2f} s"
    tenths = round(seconds * 10)
    if tenths < 3600 * 10:
        minutes, rest = divmod(tenths, 600)
        return f"{minutes} min {rest / 10:04.1f} s"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes:02d} min"


def format_h(h: float) -> str:
    """The shortest scientific form that reads back as the same float ("1e-04", "2.5e-03")."""
    for digits in range(7):
        text = f"{h:.{digits}e}"
        if float(text) == h:
            return text
    return repr(h)


def format_value(value: Any) -> str:
    """A config value in a label: floats as %g, missing as "none"."""
    if _is_missing(value):
        return "none"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def method_label(row: pd.Series | dict[str, Any]) -> str:
    """A readable method name: "backprop", "numerical (central, h=1e-04, naive)"."""
    parts = []
    if not _is_missing(row["scheme"]):
        parts.append(str(row["scheme"]))
    if not _is_missing(row["h"]):
        parts.append(f"h={format_h(float(row['h']))}")
    if not _is_missing(row["engine"]):
        parts.append(str(row["engine"]))
    return f"{row['method']} ({', '.join(parts)})" if parts else str(row["method"])


def mean_std(mean: float, std: float, n: int, fmt: str = ".4f") -> str:
    """"mean ± std", or the mean alone when n=1 (a single seed has no spread to report)."""
    if _is_missing(mean):
        return "n/a"
    if n > 1 and not _is_missing(std):
        return f"{mean:{fmt}} ± {std:{fmt}}"
    return f"{mean:{fmt}}"


def duration_mean_std(mean: float, std: float, n: int) -> str:
    """Like ``mean_std`` but in human time units, each part in its own unit."""
    if n > 1 and not _is_missing(std):
        return f"{human_duration(mean)} ± {human_duration(std)}"
    return human_duration(mean)


def format_count(value: float) -> str:
    """Loss evaluations per step: "79,520", with a decimal only when the mean is fractional."""
    if _is_missing(value):
        return "n/a"
    return f"{int(value):,}" if float(value).is_integer() else f"{value:,.1f}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# ---------------------------------------------------------------------------------------------
# Selecting and summarising runs: pure functions from the runs table to DataFrames.


def select_attempts(runs: pd.DataFrame) -> Attempts:
    """Keep one attempt per run_id: the latest ok one, else the latest of any status.

    The same config and seed run twice gives two attempts of one run_id; counting both would
    weigh that seed twice in the mean. Earlier or non-ok attempts are returned, not discarded,
    so the report can say how many were set aside.
    """
    order = runs.assign(_ok=runs["status"].eq("ok")).sort_values(
        ["_ok", "started_at", "attempt_id"], na_position="first", kind="stable"
    )
    kept = order.groupby("run_id", sort=False).tail(1).drop(columns="_ok")
    set_aside = runs[~runs["attempt_id"].isin(kept["attempt_id"])]
    return Attempts(kept=kept.reset_index(drop=True), set_aside=set_aside.reset_index(drop=True))


def label_configs(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``method_label`` and ``config``: the method, plus any protocol key that varies.

    Two configurations that share a method but differ in, say, dtype must not share a legend
    entry, so every non-method grouping key with more than one value is appended in brackets.
    """
    labelled = runs.copy()
    labelled["method_label"] = [method_label(row) for _, row in runs.iterrows()]
    varying = [k for k in GROUP_KEYS if k not in METHOD_KEYS
               and runs[k].nunique(dropna=False) > 1]
    suffixes = [
        ", ".join(f"{k}={format_value(row[k])}" for k in varying) for _, row in runs.iterrows()
    ]
    labelled["config"] = [
        f"{label} [{suffix}]" if suffix else label
        for label, suffix in zip(labelled["method_label"], suffixes, strict=True)
    ]
    return labelled


def _sorted_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Configurations in a stable, readable order: by method, then by the protocol keys."""
    return frame.sort_values(list(GROUP_KEYS), na_position="first", kind="stable")


def summarize(ok_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: n, seeds, mean and sample std (ddof=1) of the final numbers.

    ``ok_runs`` must already be labelled (``label_configs``) and hold only status-ok attempts.
    The std is NaN for n=1; the formatter then prints the mean alone.
    """
    columns = [*GROUP_KEYS, "config", "method_label", "n", "seeds",
               "elapsed_mean", "elapsed_std", "loss_mean", "loss_std", "acc_mean", "acc_std",
               "grad_time_per_step_mean", "loss_evals_per_step_mean"]
    if ok_runs.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for _, group in ok_runs.groupby(list(GROUP_KEYS), dropna=False, sort=False):
        first = group.iloc[0]
        rows.append({
            **{k: first[k] for k in GROUP_KEYS},
            "config": first["config"],
            "method_label": first["method_label"],
            "n": len(group),
            "seeds": sorted(int(s) for s in group["seed"]),
            "elapsed_mean": group["elapsed_s"].mean(),
            "elapsed_std": group["elapsed_s"].std(ddof=1),
            "loss_mean": group["final_loss"].mean(),
            "loss_std": group["final_loss"].std(ddof=1),
            "acc_mean": group["final_test_acc"].mean(),
            "acc_std": group["final_test_acc"].std(ddof=1),
            "grad_time_per_step_mean": group["grad_time_per_step_s"].mean(),
            "loss_evals_per_step_mean": group["loss_evals_per_step"].mean(),
        })
    return _sorted_groups(pd.DataFrame(rows, columns=columns)).reset_index(drop=True)


def format_summary(summary: pd.DataFrame) -> pd.DataFrame:
    """The table a reader sees: the post's columns plus n and the per-step cost columns."""
    rows = [
        (
            row["config"],
            int(row["epochs"]),
            duration_mean_std(row["elapsed_mean"], row["elapsed_std"], row["n"]),
            mean_std(row["loss_mean"], row["loss_std"], row["n"]),
            mean_std(row["acc_mean"], row["acc_std"], row["n"]),
            int(row["n"]),
            human_duration(row["grad_time_per_step_mean"]),
            format_count(row["loss_evals_per_step_mean"]),
        )
        for _, row in summary.iterrows()
    ]
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))


def excluded_runs(kept: pd.DataFrame) -> pd.DataFrame:
    """The kept attempts that did not finish ok, as a short table (labelled runs expected)."""
    bad = _sorted_groups(kept[kept["status"].ne("ok")])
    return pd.DataFrame({
        "Method": bad["config"],
        "Seed": bad["seed"].astype(int),
        "Status": bad["status"],
        "Stopped at epoch": [f"{int(d)} of {int(e)}" if not _is_missing(d) else "n/a"
                             for d, e in zip(bad["epochs_done"], bad["epochs"], strict=True)],
        "Last loss": [f"{float(v):.4f}" for v in bad["final_loss"]],
        "Error": [format_value(v) if not _is_missing(v) else "" for v in bad["error"]],
    }).reset_index(drop=True)


def excluded_line(excluded: pd.DataFrame) -> str:
    """One sentence counting the runs kept out of the means, e.g. "1 run diverged: ..."."""
    if excluded.empty:
        return "Every run finished with status ok; none was excluded from the means."
    parts = []
    for status, group in excluded.groupby("Status", sort=True):
        who = "; ".join(
            f"{row['Method']} seed {row['Seed']} (epoch {row['Stopped at epoch']}, "
            f"last loss {row['Last loss']})"
            for _, row in group.iterrows()
        )
        parts.append(f"{_plural(len(group), 'run')} {status}: {who}")
    return ". ".join(parts) + ". Excluded from the means above."


def duplicates_line(set_aside: pd.DataFrame) -> str:
    """Say how many repeated attempts were left out, so a re-run is never silently averaged."""
    if set_aside.empty:
        return "No run was attempted more than once."
    runs = set_aside["run_id"].nunique()
    return (f"{_plural(len(set_aside), 'duplicate attempt')} of {_plural(runs, 'run')} set aside "
            "(same configuration and seed run again; the latest ok attempt of each is used).")


# ---------------------------------------------------------------------------------------------
# What was measured: one sentence built from the runs table, never from the config files.


def _distinct(frame: pd.DataFrame, columns: Sequence[str]) -> list[tuple[Any, ...]]:
    """Distinct value combinations in first-seen order (None for missing)."""
    seen: dict[tuple[Any, ...], None] = {}
    for values in frame[list(columns)].itertuples(index=False, name=None):
        seen.setdefault(tuple(None if _is_missing(v) else v for v in values), None)
    return list(seen)


def datasets_text(runs: pd.DataFrame) -> str:
    """ "mnist (60,000 train / 10,000 test)" for every dataset actually used."""
    return "; ".join(f"{name} ({int(n_train):,} train / {int(n_test):,} test)"
                     for name, n_train, n_test in
                     _distinct(runs, ["dataset", "n_train", "n_test"]))


def protocols_text(runs: pd.DataFrame) -> str:
    """The training protocol(s): steps, batch size, lr, network shape, dtype."""
    keys = ["epochs", "steps_per_epoch", "batch_size", "lr", "hidden_size", "dtype", "log_eps"]
    texts = []
    for epochs, spe, batch, lr, hidden, dtype, log_eps in _distinct(runs, keys):
        texts.append(
            f"{epochs} epochs x {_plural(spe, 'step')} of {batch} samples "
            f"({int(epochs) * int(spe)} SGD steps), lr {lr:g}, 784-{hidden}-10 sigmoid MLP, "
            f"{dtype}, log_eps {format_value(log_eps)}"
        )
    return "; ".join(texts)


def machines_text(runs: pd.DataFrame) -> str:
    """Where the timings come from: CPU, core count, NumPy and its BLAS, Python, platform."""
    keys = ["cpu_model", "cpu_count", "numpy_version", "blas", "python_version", "platform"]
    texts = [
        f"{cpu} ({format_value(count)} CPUs), NumPy {numpy} with {blas}, Python {python}, "
        f"{plat}"
        for cpu, count, numpy, blas, python, plat in _distinct(runs, keys)
    ]
    prefix = "" if len(texts) == 1 else f"{len(texts)} different machines/environments: "
    return prefix + "; ".join(texts)


def revisions_text(runs: pd.DataFrame) -> str:
    """The git revision(s) the runs came from; "unknown" when not run from a checkout."""
    revs = [rev or "unknown (not run from a git checkout)"
            for (rev,) in _distinct(runs, ["git_revision"])]
    return ", ".join(revs)


def _short_protocol(runs: pd.DataFrame) -> str:
    """A one-line protocol for figure titles; "several protocols" when they differ."""
    keys = ["epochs", "steps_per_epoch", "batch_size", "lr", "hidden_size", "dtype"]
    protocols = _distinct(runs, keys)
    if len(protocols) > 1:
        return "several protocols (see legend)"
    epochs, spe, batch, lr, hidden, dtype = protocols[0]
    return (f"{epochs} epochs x {spe} step x {batch} samples, SGD lr {lr:g}, "
            f"784-{hidden}-10 sigmoid, {dtype}")


def _short_datasets(runs: pd.DataFrame) -> str:
    return ", ".join(f"{name} ({int(tr):,}/{int(te):,})"
                     for name, tr, te in _distinct(runs, ["dataset", "n_train", "n_test"]))


# ---------------------------------------------------------------------------------------------
# Plotted data: pure functions returning DataFrames.


def _curves_of(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curve rows of exactly these attempts, with their config labels attached."""
    cols = ["attempt_id", "config", "method_label", "seed"]
    picked = curves[curves["attempt_id"].isin(runs["attempt_id"])]
    return picked.drop(columns=["seed"]).merge(runs[cols], on="attempt_id", how="inner")


def curve_stats(curves: pd.DataFrame, ok_runs: pd.DataFrame) -> pd.DataFrame:
    """Per configuration and epoch: n, mean, std, min and max of loss and test accuracy.

    Long format (one row per config, epoch, metric) so one drawing function serves both figures.
    """
    columns = ["config", "epoch", "metric", "n", "mean", "std", "min", "max"]
    data = _curves_of(curves, ok_runs)
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
    return best[0], _sorted_groups(best[2]).reset_index(drop=True)


def paired_curves(curves: pd.DataFrame, paired_runs: pd.DataFrame) -> pd.DataFrame:
    """The per-epoch loss and test accuracy of each paired run, one row per (config, epoch)."""
    data = _curves_of(curves, paired_runs)
    return (data[["config", "epoch", "loss", "test_acc"]]
            .sort_values(["config", "epoch"], kind="stable").reset_index(drop=True))


# ---------------------------------------------------------------------------------------------
# Drawing: DataFrames in, Figures out; no state shared with pyplot, no display needed.


def _colors(configs: Iterable[str]) -> dict[str, str]:
    """One fixed colour per configuration, so a method looks the same in every figure."""
    palette = [f"C{i}" for i in range(10)]
    return {c: palette[i % len(palette)] for i, c in enumerate(configs)}


def _new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def draw_metric(stats: pd.DataFrame, metric: str, colors: dict[str, str], title: str,
                ylabel: str) -> Figure:
    """Mean curve per configuration (in ``colors`` order), the ``BAND`` shaded where n > 1."""
    fig = _new_figure(9, 5.6)
    ax = fig.add_subplot()
    data = stats[stats["metric"] == metric]
    for config in colors:
        line = data[data["config"] == config].sort_values("epoch")
        if line.empty:
            continue
        n = int(line["n"].max())
        label = f"{config} (mean of n={n}, band {BAND})" if n > 1 else f"{config} (n=1)"
        ax.plot(line["epoch"], line["mean"], color=colors[config], label=label, lw=1.6)
        if n > 1:
            ax.fill_between(line["epoch"], line["min"], line["max"], color=colors[config],
                            alpha=0.2, lw=0)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch (one epoch = steps_per_epoch SGD steps)")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return fig


def draw_paired(curves: pd.DataFrame, order: Sequence[str], colors: dict[str, str],
                title: str) -> Figure:
    """Loss and test accuracy of one seed under every method, side by side."""
    fig = _new_figure(12, 5)
    ax_loss, ax_acc = fig.subplots(1, 2)
    for config in order:
        line = curves[curves["config"] == config]
        ax_loss.plot(line["epoch"], line["loss"], color=colors[config], label=config, lw=1.6)
        ax_acc.plot(line["epoch"], line["test_acc"], color=colors[config], label=config, lw=1.6)
    for ax, ylabel in ((ax_loss, "training loss (last mini-batch of the epoch)"),
                       (ax_acc, "test accuracy (full test set)")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def figure_png(fig: Figure) -> bytes:
    """The figure as PNG bytes, so writing it can be atomic like every other output."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------------
# Writing.


def write_atomic(path: Path, data: bytes) -> None:
    """Write to a dot-named temp file in the same folder, fsync, then rename over ``path``.

    A reader (or a crash) then sees either the old file or the new one, never half of one.
    """
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _markdown(frame: pd.DataFrame) -> str:
    """A pipe table, text as given (no re-parsing of "1.6600"), numbers aligned right."""
    align = ["left", *(["right"] * (len(frame.columns) - 1))]
    return tabulate(frame, headers="keys", tablefmt="pipe", showindex=False,
                    disable_numparse=True, colalign=align)


def render_markdown(*, kept: pd.DataFrame, table: str, excluded: pd.DataFrame,
                    set_aside: pd.DataFrame, figures: dict[str, Path | None],
                    paired_note: str) -> str:
    """The whole report.md: what was measured, our table, exclusions, the post's table, figures."""
    lines = [
        "# Can numerical differentiation replace backpropagation? Our measurements",
        "",
        f"We trained a sigmoid MLP with each gradient method on {datasets_text(kept)}, under "
        f"the blog post's protocol: {protocols_text(kept)}. "
        "Elapsed is the wall time of the training loop, test evaluation included, as the post "
        "timed it; loss is the cross-entropy on each epoch's last mini-batch after its update; "
        "test accuracy is on the full test set after the last epoch. "
        f"Machine: {machines_text(kept)}. Code revision: {revisions_text(kept)}.",
        "",
        "## Our results",
        "",
        table,
        "",
        "Mean ± sample standard deviation (ddof=1) over seeds; the std is omitted when n=1. "
        "Only runs with status ok enter the means. Gradient time per step is the time spent "
        "inside the gradient computation alone, per SGD step (mean over seeds); loss evaluations "
        "per step count forward passes of the loss (backprop: one, plus its backward pass).",
        "",
        excluded_line(excluded),
        "",
    ]
    if not excluded.empty:
        lines += [_markdown(excluded), ""]
    lines += [
        duplicates_line(set_aside),
        "",
        "## The post's published figures",
        "",
        "As printed in the blog post: unseeded, full MNIST (60,000 train / 10,000 test), one run "
        "each, on a different machine. Shown for comparison only; its timings are not "
        "comparable to ours.",
        "",
        _markdown(POST_TABLE),
        "",
        "## Figures",
        "",
    ]
    for key, alt in (("loss", "training loss vs epoch"), ("test_acc", "test accuracy vs epoch"),
                     ("paired", "paired seed")):
        path = figures.get(key)
        if path is not None:
            lines.append(f"![{alt}]({path.name})")
            lines.append("")
    if figures.get("loss") is None:
        lines += ["No run finished with status ok, so there are no curves to plot.", ""]
    lines += [paired_note, ""]
    return "\n".join(lines)


def _read(results_dir: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the parquet, turning every way of finding nothing into one ``ResultsError``."""
    no_runs = ResultsError(f"no runs in '{results_dir}'; run `make sweep` first")
    if not results_dir.is_dir():
        raise no_runs
    try:
        curves, runs = results.read_results(results_dir)
    except ResultsError:
        raise no_runs from None
    except (pa.ArrowException, OSError) as ex:
        reason = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise ResultsError(f"cannot read results in '{results_dir}': {reason}") from None
    if runs.empty:
        raise no_runs
    return curves, runs


def render(results_dir: Path, out_dir: Path) -> ReportOutputs:
    """Read the parquet under ``results_dir`` and write report.md and the figures to ``out_dir``.

    Figures are written before report.md, so the report never links to a missing image; a
    stale paired_seed.png from an earlier render is removed when no seed is shared now.
    """
    results_dir, out_dir = Path(results_dir), Path(out_dir)
    curves, runs = _read(results_dir)
    attempts = select_attempts(runs)
    kept = label_configs(attempts.kept)
    ok_runs = kept[kept["status"].eq("ok")]
    summary = summarize(ok_runs)
    table = _markdown(format_summary(summary)) if not summary.empty else (
        "No run finished with status ok.")
    excluded = excluded_runs(kept)
    colors = _colors(summary["config"])
    scope = f"{_short_datasets(kept)} · {_short_protocol(kept)}"
    figures: dict[str, Path | None] = {key: None for key in FIGURE_NAMES}
    pngs: dict[str, bytes] = {}

    if not ok_runs.empty:
        stats = curve_stats(curves, ok_runs)
        for metric, what, ylabel in (
            ("loss", "Training loss vs epoch (cross-entropy on each epoch's last mini-batch)",
             "training loss"),
            ("test_acc", "Test accuracy vs epoch (full test set, after every epoch)",
             "test accuracy"),
        ):
            title = f"{what}\n{scope}\nline: mean over seeds; shaded band: {BAND}"
            pngs[metric] = figure_png(draw_metric(stats, metric, colors, title, ylabel))

    paired = paired_selection(ok_runs)
    if paired is None:
        paired_note = ("Paired-seed figure skipped: no seed was run under two or more methods "
                       "with the same data, network and batch size.")
    else:
        seed, paired_runs = paired
        title = (f"paired: same init and batches, seed {seed} — every method on this seed\n"
                 f"{_short_datasets(paired_runs)} · {_short_protocol(paired_runs)}")
        pngs["paired"] = figure_png(draw_paired(paired_curves(curves, paired_runs),
                                                list(paired_runs["config"]), colors, title))
        paired_note = (f"Paired-seed figure: seed {seed}, the lowest seed run under "
                       f"{paired_runs['method_label'].nunique()} methods with the same initial "
                       "weights and the same mini-batches.")

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        for key, data in pngs.items():
            figures[key] = out_dir / FIGURE_NAMES[key]
            write_atomic(figures[key], data)
        for key, name in FIGURE_NAMES.items():
            if figures[key] is None:
                (out_dir / name).unlink(missing_ok=True)
        report_md = out_dir / "report.md"
        text = render_markdown(kept=kept, table=table, excluded=excluded,
                               set_aside=attempts.set_aside, figures=figures,
                               paired_note=paired_note)
        write_atomic(report_md, text.encode())
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"cannot write the report to '{out_dir}': {reason}") from None

    return ReportOutputs(
        report_md=report_md, loss_png=figures["loss"], test_acc_png=figures["test_acc"],
        paired_png=figures["paired"], table=table, summary=summary, excluded=excluded,
        duplicates=len(attempts.set_aside), paired_seed=None if paired is None else paired[0],
    )


def terminal_text(outputs: ReportOutputs) -> str:
    """What the CLI prints: the table, what was left out, and where the files are."""
    lines = [outputs.table, "", excluded_line(outputs.excluded)]
    if outputs.duplicates:
        lines.append(f"{_plural(outputs.duplicates, 'duplicate attempt')} set aside "
                     "(latest ok attempt used).")
    lines.append("")
    lines += [f"wrote {path}" for path in (outputs.report_md, outputs.loss_png,
                                           outputs.test_acc_png, outputs.paired_png)
              if path is not None]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m mlpbench.report",
        description="Rebuild the blog post's table and curves from the parquet in results-dir.",
    )
    parser.add_argument("--results-dir", type=Path, default=Path("results"),
                        help="folder holding curves/ and runs/ (default: results)")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write report.md and the PNGs "
                             "(default: <results-dir>/report)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Render the report; a user error is one line on stderr and exit code 2, no traceback."""
    args = parse_args(argv)
    out_dir = args.out if args.out is not None else args.results_dir / "report"
    try:
        outputs = render(args.results_dir, out_dir)
    except MlpbenchError as ex:
        print(f"mlpbench.report: error: {ex}", file=sys.stderr)
        return EXIT_USAGE
    print(terminal_text(outputs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
