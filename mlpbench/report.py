"""``python -m mlpbench.report``: the blog post's table and curves, rebuilt from our parquet.

The report reads only parquet (what ``results.read_results`` returns, plus the optional scaling
and gradcheck folders), so every number in it can be traced back to a committed row. The
pipeline is split into pure steps that tests can check number by number, and a thin
drawing/writing layer on top:

1. ``select_attempts``: one attempt per run_id (the latest ok one), duplicates counted, not hidden;
2. ``summarize``: one row per configuration, mean and sample std over the ok seeds;
3. ``speed_summary`` / ``engine_speedups``: per-step and full-protocol time per gradient method,
   extrapolated from shorter runs where needed, and the ratios between methods;
4. ``curve_stats`` / ``paired_selection``: the data each figure plots, as DataFrames;
5. ``latest_scaling`` / ``scaling_slopes``: the scaling benchmark's parquet under
   ``<results_dir>/scaling`` (``python -m mlpbench.scaling``), when there is any;
6. ``estimator_summary`` / ``estimator_curves``: every gradient method at equal epochs, with
   the cosine and relative error of its gradient to backprop's that the runs measured;
7. ``latest_gradcheck`` / ``gradcheck.best_steps``: the gradient error against the step h under
   ``<results_dir>/gradcheck`` (``python -m mlpbench.gradcheck``), when there is any;
8. ``render``: draws (matplotlib, Agg canvas, no display), writes every file atomically.

Diverged or failed runs never enter a mean, but they are always listed, because a method that
sometimes diverges is a finding, not noise.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from tabulate import tabulate

from mlpbench import gradcheck, results
from mlpbench.errors import MlpbenchError, ResultsError
from mlpbench.scaling import SCALING_SCHEMA

EXIT_USAGE = 2
EXIT_BAD_FILES = 1
"""The report was written from the readable files, but some files were left out."""

GROUP_KEYS: tuple[str, ...] = (
    "method", "scheme", "engine", "h", "options", "dataset", "hidden_size", "batch_size", "lr",
    "epochs", "steps_per_epoch", "dtype", "log_eps",
)
"""Runs that agree on these are one configuration: they differ only in seed (one table row)."""

METHOD_KEYS: tuple[str, ...] = ("method", "scheme", "engine", "h", "options")
"""The keys that name a gradient method; the others describe the protocol. ``options`` holds a
method's own settings ("directions=10, distribution=gaussian"), so SPSA with 1 and with 10
directions are two methods, never one mean."""

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
SCALING_FIGURE = "scaling.png"
ESTIMATORS_FIGURE = "estimators.png"
GRADCHECK_FIGURE = "gradcheck.png"

SPEED_CONTEXT_KEYS: tuple[str, ...] = (
    "dataset", "hidden_size", "batch_size", "steps_per_epoch", "dtype",
)
"""Runs that agree on these do the same work per step, so their speeds can be compared. Epochs
is deliberately not among them: a short run of a slow method times it per step, and its
full-length time is extrapolated to the longest run's epochs."""

SHORT_RUN_MARK = "†"
"""Marks an Epochs cell of the main table shorter than its protocol (see ``short_of_protocol``)."""

ENGINE_ORDER: tuple[str, ...] = ("backprop", "incremental", "naive")
ENGINE_STYLE = {"backprop": ("C0", "o", "-"), "incremental": ("C1", "s", "-"),
                "naive": ("C3", "^", "--")}
"""Colour, marker and line style per scaling engine; naive is dashed because it is extrapolated."""


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
    speed: pd.DataFrame | None = None
    footnote: str = ""
    scaling_png: Path | None = None
    scaling_slopes: pd.DataFrame | None = None
    bad_files: list[tuple[Path, str]] = field(default_factory=list)
    estimators: pd.DataFrame | None = None
    estimators_png: Path | None = None
    gradcheck_png: Path | None = None
    gradcheck_best: pd.DataFrame | None = None


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
    """A readable method name: "backprop", "numerical (central, h=1e-04, naive)",
    "spsa (h=1e-03, directions=10, distribution=gaussian)".

    The options are part of the name: two direction counts are two methods, and a label they
    shared would merge them in every table and legend. Results written before the ``options``
    column existed read it as null.
    """
    parts = []
    if not _is_missing(row["scheme"]):
        parts.append(str(row["scheme"]))
    if not _is_missing(row["h"]):
        parts.append(f"h={format_h(float(row['h']))}")
    if not _is_missing(row["engine"]):
        parts.append(str(row["engine"]))
    options = row.get("options")
    if not _is_missing(options) and options:
        parts.append(str(options))
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
    entry, so every non-method grouping key with more than one value among the runs of the
    same method is appended in brackets; a method run under one protocol keeps its plain name.
    """
    labelled = runs.copy()
    labelled["method_label"] = [method_label(row) for _, row in runs.iterrows()]
    protocol_keys = [k for k in GROUP_KEYS if k not in METHOD_KEYS]
    varying = {
        label: [k for k in protocol_keys if group[k].nunique(dropna=False) > 1]
        for label, group in labelled.groupby("method_label")
    }
    suffixes = [
        ", ".join(f"{k}={format_value(row[k])}" for k in varying[row["method_label"]])
        for _, row in labelled.iterrows()
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
# Speed: per-step gradient time and full-protocol time per gradient method, with ratios.


SPEED_COLUMNS: tuple[str, ...] = (
    *SPEED_CONTEXT_KEYS, *METHOD_KEYS, "method_label", "n", "grad_time_per_step_mean",
    "epochs_run", "n_elapsed", "elapsed_mean", "target_epochs", "target_time", "extrapolated",
    "grad_vs_backprop", "target_vs_backprop",
)


def _speed_row(group: pd.DataFrame, target_epochs: int) -> dict[str, Any]:
    """One gradient method's speed: per-step time over all its runs, elapsed over its longest.

    The per-step gradient time does not depend on how long a run was, so every seed and length
    enters its mean; elapsed does, so only the runs of the longest length are averaged, and
    scaled linearly to ``target_epochs`` when that length is shorter.
    """
    first = group.iloc[0]
    epochs_run = int(group["epochs_done"].max())
    longest = group[group["epochs_done"] == epochs_run]
    elapsed = float(longest["elapsed_s"].mean())
    extrapolated = epochs_run != target_epochs
    return {
        **{k: first[k] for k in (*SPEED_CONTEXT_KEYS, *METHOD_KEYS, "method_label")},
        "n": len(group),
        "grad_time_per_step_mean": float(group["grad_time_per_step_s"].mean()),
        "epochs_run": epochs_run,
        "n_elapsed": len(longest),
        "elapsed_mean": elapsed,
        "target_epochs": target_epochs,
        "target_time": elapsed / epochs_run * target_epochs if extrapolated else elapsed,
        "extrapolated": extrapolated,
    }


def speed_summary(ok_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per (context, gradient method), with ratios to backprop in the same context.

    ``ok_runs`` must be labelled (``label_configs``) and hold only status-ok attempts. The
    protocol's length (``target_epochs``) is the largest ``epochs`` among the context's runs.
    Ratios are method / backprop (how many times slower), NaN without a backprop run.
    """
    if ok_runs.empty:
        return pd.DataFrame(columns=list(SPEED_COLUMNS))
    rows = []
    for _, context in ok_runs.groupby(list(SPEED_CONTEXT_KEYS), dropna=False, sort=False):
        target = int(context["epochs"].max())
        block = [_speed_row(group, target) for _, group in
                 context.groupby(list(METHOD_KEYS), dropna=False, sort=False)]
        reference = next((r for r in block if r["method"] == "backprop"), None)
        for row in block:
            row["grad_vs_backprop"] = (row["grad_time_per_step_mean"]
                                       / reference["grad_time_per_step_mean"]
                                       if reference else math.nan)
            row["target_vs_backprop"] = (row["target_time"] / reference["target_time"]
                                         if reference else math.nan)
        rows += block
    frame = pd.DataFrame(rows, columns=list(SPEED_COLUMNS))
    order = [*SPEED_CONTEXT_KEYS, "method", "scheme", "h", "engine", "options"]
    return frame.sort_values(order, na_position="first", kind="stable").reset_index(drop=True)


def engine_speedups(speed: pd.DataFrame) -> pd.DataFrame:
    """Naive over incremental, per step and for the protocol, for each (context, scheme, h).

    Both engines compute the same finite differences, so the ratio is the incremental engine's
    speedup over the seed's loop on the same work.
    """
    columns = [*SPEED_CONTEXT_KEYS, "scheme", "h", "naive_grad", "incremental_grad",
               "grad_speedup", "naive_target", "incremental_target", "target_speedup",
               "target_epochs"]
    numerical = speed[speed["engine"].isin(["naive", "incremental"])]
    rows = []
    for _, pair in numerical.groupby([*SPEED_CONTEXT_KEYS, "scheme", "h"], dropna=False,
                                     sort=False):
        by_engine = {row["engine"]: row for _, row in pair.iterrows()}
        if set(by_engine) != {"naive", "incremental"}:
            continue
        naive, fast = by_engine["naive"], by_engine["incremental"]
        rows.append({
            **{k: naive[k] for k in (*SPEED_CONTEXT_KEYS, "scheme", "h")},
            "naive_grad": naive["grad_time_per_step_mean"],
            "incremental_grad": fast["grad_time_per_step_mean"],
            "grad_speedup": naive["grad_time_per_step_mean"] / fast["grad_time_per_step_mean"],
            "naive_target": naive["target_time"],
            "incremental_target": fast["target_time"],
            "target_speedup": naive["target_time"] / fast["target_time"],
            "target_epochs": naive["target_epochs"],
        })
    return pd.DataFrame(rows, columns=columns)


def format_ratio(ratio: float) -> str:
    """A speed ratio as "1,234x", "56.7x" or "1.23x"; "n/a" when there is nothing to divide."""
    if _is_missing(ratio) or not math.isfinite(ratio):
        return "n/a"
    if ratio >= 100:
        return f"{ratio:,.0f}x"
    if ratio >= 10:
        return f"{ratio:.1f}x"
    return f"{ratio:.2f}x"


def format_protocol_time(row: pd.Series | dict[str, Any]) -> str:
    """The full-protocol time, saying so when it is extrapolated from a shorter run."""
    text = human_duration(row["target_time"])
    if row["extrapolated"]:
        text += f" (extrapolated from {_plural(int(row['epochs_run']), 'epoch')})"
    return text


def format_speed(speed: pd.DataFrame) -> pd.DataFrame:
    """The Speed table of one context: times with their epochs, and the ratios to backprop."""
    rows = []
    for _, row in speed.iterrows():
        is_reference = row["method"] == "backprop"
        rows.append((
            row["method_label"],
            int(row["n"]),
            human_duration(row["grad_time_per_step_mean"]),
            f"{human_duration(row['elapsed_mean'])} ({_plural(int(row['epochs_run']), 'epoch')})",
            format_protocol_time(row),
            "reference" if is_reference else format_ratio(row["grad_vs_backprop"]),
            "reference" if is_reference else format_ratio(row["target_vs_backprop"]),
        ))
    target = int(speed["target_epochs"].iloc[0]) if not speed.empty else 0
    columns = ["Method", "n (runs)", "Gradient time per step", "Elapsed (measured)",
               f"Time for {target} epochs", "Gradient time vs backprop",
               f"{target}-epoch time vs backprop"]
    return pd.DataFrame(rows, columns=columns)


def format_speedups(speedups: pd.DataFrame) -> pd.DataFrame:
    """The incremental-vs-naive table of one context."""
    rows = [
        (f"{row['scheme']}, h={format_h(float(row['h']))}",
         human_duration(row["naive_grad"]), human_duration(row["incremental_grad"]),
         format_ratio(row["grad_speedup"]), format_ratio(row["target_speedup"]))
        for _, row in speedups.iterrows()
    ]
    target = int(speedups["target_epochs"].iloc[0]) if not speedups.empty else 0
    return pd.DataFrame(rows, columns=[
        "Scheme", "naive: gradient time per step", "incremental: gradient time per step",
        "Speedup per step (naive / incremental)", f"Speedup for {target} epochs"])


def _context_title(row: pd.Series | dict[str, Any]) -> str:
    return (f"{row['dataset']}, 784-{row['hidden_size']}-10, batch {row['batch_size']}, "
            f"{_plural(int(row['steps_per_epoch']), 'step')} per epoch, {row['dtype']}")


def speed_markdown(speed: pd.DataFrame) -> str:
    """The "## Speed" section: what the columns mean, then one table (or two) per context."""
    if speed.empty:
        return ""
    lines = [
        "## Speed",
        "",
        "Gradient time per step is the time inside the gradient computation per SGD step, mean "
        "over every ok run of the method. Elapsed is the wall time of the training loop, "
        "evaluation included, for the epochs the runs actually ran (mean over the runs of the "
        "longest length). The time for the protocol's length (the largest epoch count among "
        "the runs with the same data, network and batch size) is measured where a run had "
        "that many epochs, and otherwise extrapolated linearly as (elapsed / epochs run) x "
        "protocol epochs, which assumes every epoch costs the same. Ratios to backprop say how "
        "many times slower a method is; the speedup of the incremental engine is naive time / "
        "incremental time for the same finite differences.",
        "",
    ]
    speedups = engine_speedups(speed)
    for _, context in speed.groupby(list(SPEED_CONTEXT_KEYS), dropna=False, sort=False):
        first = context.iloc[0]
        lines += [f"**{_context_title(first)}** (protocol length: "
                  f"{int(first['target_epochs'])} epochs)", "", _markdown(format_speed(context)),
                  ""]
        mine = speedups.merge(context[list(SPEED_CONTEXT_KEYS)].drop_duplicates(),
                              on=list(SPEED_CONTEXT_KEYS), how="inner")
        if not mine.empty:
            lines += ["Incremental vs naive engine:", "", _markdown(format_speedups(mine)), ""]
    return "\n".join(lines)


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


def _by_protocol(runs: pd.DataFrame, keys: Sequence[str]) -> dict[tuple[Any, ...], list[float]]:
    """The learning rates used under each distinct protocol (``keys``), in first-seen order.

    The learning rate is split off because methods now default to their own (SPSA with one
    direction trains at 0.03): one protocol with several rates, not several protocols.
    """
    protocols: dict[tuple[Any, ...], list[float]] = {}
    for values in runs[[*keys, "lr"]].itertuples(index=False, name=None):
        key = tuple(None if _is_missing(v) else v for v in values[:-1])
        protocols.setdefault(key, []).append(values[-1])
    return protocols


def lr_text(lrs: Iterable[float]) -> str:
    """ "lr 0.1", or "lr per method (0.03 or 0.1)" when methods train at their own rates."""
    values = sorted({float(v) for v in lrs if not _is_missing(v)})
    if len(values) <= 1:
        return "lr " + (f"{values[0]:g}" if values else "n/a")
    return ("lr per method (" + ", ".join(f"{v:g}" for v in values[:-1])
            + f" or {values[-1]:g})")


def protocols_text(runs: pd.DataFrame) -> str:
    """The training protocol(s): steps, batch size, lr, network shape, dtype."""
    keys = ["epochs", "steps_per_epoch", "batch_size", "hidden_size", "dtype", "log_eps"]
    texts = []
    for (epochs, spe, batch, hidden, dtype, log_eps), lrs in _by_protocol(runs, keys).items():
        texts.append(
            f"{epochs} epochs x {_plural(spe, 'step')} of {batch} samples "
            f"({int(epochs) * int(spe)} SGD steps), {lr_text(lrs)}, 784-{hidden}-10 sigmoid "
            f"MLP, {dtype}, log_eps {format_value(log_eps)}"
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
    keys = ["epochs", "steps_per_epoch", "batch_size", "hidden_size", "dtype"]
    protocols = _by_protocol(runs, keys)
    if len(protocols) > 1:
        return "several protocols (see legend)"
    [((epochs, spe, batch, hidden, dtype), lrs)] = protocols.items()
    return (f"{epochs} epochs x {spe} step x {batch} samples, SGD {lr_text(lrs)}, "
            f"784-{hidden}-10 sigmoid, {dtype}")


def _short_machine(runs: pd.DataFrame) -> str:
    """CPU and core count for a figure title; "several machines" when they differ."""
    machines = _distinct(runs, ["cpu_model", "cpu_count"])
    if len(machines) > 1:
        return "several machines (see report.md)"
    cpu, count = machines[0]
    return f"{cpu} ({format_value(count)} CPUs)"


def _gradcheck_scope(rows: pd.DataFrame) -> str:
    """Batch and network of the h error curve for a figure title."""
    return "; ".join(f"{name}, batch {int(batch)}, 784-{int(hidden)}-10, seed {int(seed)}"
                     for name, batch, hidden, seed in
                     _distinct(rows, ["dataset", "batch_size", "hidden_size", "seed"]))


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
# Scaling (``python -m mlpbench.scaling``): per-step time vs network size, from its own parquet.


def read_scaling(results_dir: Path) -> pd.DataFrame:
    """Every row under ``results_dir/scaling``; an empty frame when there is no such file.

    A missing folder is not an error: the scaling benchmark is optional, and a report without
    it simply has no Scaling section.
    """
    folder = Path(results_dir) / "scaling"
    empty = SCALING_SCHEMA.empty_table().to_pandas()
    if not folder.is_dir() or not any(
        p.suffix == ".parquet" and not p.name.startswith((".", "_")) for p in folder.iterdir()
    ):
        return empty
    try:
        return pd.read_parquet(folder, schema=SCALING_SCHEMA)
    except (pa.ArrowException, OSError) as ex:
        reason = str(ex).splitlines()[0] if str(ex) else type(ex).__name__
        raise ResultsError(f"cannot read scaling results in '{folder}': {reason}") from None


def latest_scaling(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest measurement of each (engine, hidden size, batch size), in plotting order.

    Re-running the benchmark adds a file rather than replacing one, so older measurements of
    a cell stay on disk; only the newest is shown.
    """
    if rows.empty:
        return rows
    order = rows.sort_values(["measured_at", "measurement_id"], kind="stable")
    latest = order.groupby(["engine", "hidden_size", "batch_size"], sort=False).tail(1)
    rank = {engine: i for i, engine in enumerate(ENGINE_ORDER)}
    return (latest.assign(_rank=latest["engine"].map(rank).fillna(len(rank)))
            .sort_values(["batch_size", "_rank", "engine", "param_count"], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def loglog_slope(param_counts: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(time) against log(parameter count): the cost's exponent.

    NaN with fewer than two distinct sizes, where no line is defined.
    """
    x = np.log(np.asarray(param_counts, dtype=float))
    y = np.log(np.asarray(seconds, dtype=float))
    if len(np.unique(x)) < 2:
        return math.nan
    return float(np.polyfit(x, y, 1)[0])


def scaling_slopes(latest: pd.DataFrame) -> pd.DataFrame:
    """One slope per (engine, batch size), fitted to the median per-step times."""
    rows = [
        {"engine": engine, "batch_size": int(batch), "points": len(group),
         "slope": loglog_slope(group["param_count"], group["seconds_per_step_median"])}
        for (batch, engine), group in latest.groupby(["batch_size", "engine"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["engine", "batch_size", "points", "slope"])


def _sample_sizes(latest: pd.DataFrame) -> str:
    """ "K = 200" (or the several K used) for the extrapolated rows."""
    sizes = sorted({int(k) for k in latest.loc[latest["extrapolated"], "sampled_params"]})
    return "K = " + ", ".join(f"{k:,}" for k in sizes)


def engine_label(engine: str, latest: pd.DataFrame) -> str:
    """The engine's name, saying for naive that its times are extrapolated from a sample."""
    rows = latest[latest["engine"] == engine]
    if rows["extrapolated"].any():
        return f"{engine} (extrapolated from {_sample_sizes(rows)} sampled entries)"
    return engine


def format_scaling_times(latest: pd.DataFrame) -> pd.DataFrame:
    """Median per-step time per (batch, engine) row and hidden-size column."""
    hidden = sorted(latest["hidden_size"].unique())
    rows = []
    for (batch, engine), group in latest.groupby(["batch_size", "engine"], sort=False):
        times = dict(zip(group["hidden_size"], group["seconds_per_step_median"], strict=True))
        rows.append((str(int(batch)), engine,
                     *(human_duration(times[h]) if h in times else "" for h in hidden)))
    return pd.DataFrame(rows, columns=["Batch", "Engine", *(f"784-{h}-10" for h in hidden)])


def format_slopes(slopes: pd.DataFrame) -> pd.DataFrame:
    """Engines down, batch sizes across: the fitted exponents to two decimals."""
    batches = sorted(slopes["batch_size"].unique())
    rows = []
    engines = [e for e in ENGINE_ORDER if e in set(slopes["engine"])]
    engines += sorted(set(slopes["engine"]) - set(engines))
    for engine in engines:
        mine = slopes[slopes["engine"] == engine].set_index("batch_size")["slope"]
        rows.append((engine, *(f"{mine[b]:.2f}" if b in mine and not _is_missing(mine[b])
                               else "n/a" for b in batches)))
    return pd.DataFrame(rows, columns=["Engine", *(f"batch {b}" for b in batches)])


def scaling_threads_text(latest: pd.DataFrame) -> str:
    """The thread settings and load the timings ran under, which can change them many-fold."""
    texts = []
    for numba_threads, blas_env, load in _distinct(
        latest, ["numba_threads", "blas_threads_env", "load_avg_1m"]
    ):
        blas = f"BLAS threads {blas_env}" if blas_env else "BLAS threads at the library default"
        load_text = "n/a" if _is_missing(load) else f"{load:.2f}"
        texts.append(f"numba threads {format_value(numba_threads)}, {blas}, "
                     f"1-min load average {load_text} at the start")
    return "; ".join(texts)


def _time_span(times: pd.Series) -> str:
    """ "2025-01-02 10:00", or "<first> to <last>" when the measurements span more than that."""
    first, last = f"{times.min():%Y-%m-%d %H:%M}", f"{times.max():%Y-%m-%d %H:%M}"
    return first if first == last else f"{first} to {last}"


def scaling_markdown(latest: pd.DataFrame, slopes: pd.DataFrame, figure: Path | None) -> str:
    """The "## Scaling" section: what was timed where, the slopes, the times, the figure."""
    repeats = sorted({int(r) for r in latest["repeats"]})
    dates = latest["measured_at"]
    lines = [
        "## Scaling",
        "",
        "Per-step gradient time of each engine against the network's parameter count "
        "(784-H-10, H = " + ", ".join(str(int(h)) for h in sorted(latest["hidden_size"].unique()))
        + ") at each batch size, measured by `python -m mlpbench.scaling` on real digits from "
        f"{', '.join(sorted(latest['dataset'].unique()))}, float64, numerical engines with "
        "central differences, h = 1e-4. Each time is the median of "
        + " or ".join(str(r) for r in repeats)
        + " timed calls after one warm-up call (the latest measurement of each cell). "
        f"**Naive times are extrapolated**: the seed's loop was timed on {_sample_sizes(latest)} "
        "parameter entries sampled uniformly from W1, b1, W2 and b2, and the mean time per entry "
        "multiplied by the parameter count. "
        f"Machine: {machines_text(latest)}; {scaling_threads_text(latest)}. "
        f"Measured {_time_span(dates)} UTC, code revision {revisions_text(latest)}.",
        "",
        "Least-squares slope of log(time per step) against log(parameter count), per engine and "
        "batch size (1 means time proportional to the parameter count, 2 to its square):",
        "",
        _markdown(format_slopes(slopes)),
        "",
        "Median time per step:",
        "",
        _markdown(format_scaling_times(latest), text_columns=2),
        "",
    ]
    if figure is not None:
        lines += [f"![per-step gradient time vs parameter count]({figure.name})", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Estimators: every gradient method side by side, with how close each gradient was to backprop.


PLAIN_SCHEMES = frozenset({"central", "forward", "backward"})
"""The seed's kind of numerical gradient; the report's original sections cover these alone."""

ESTIMATOR_COLUMNS: tuple[str, ...] = (
    "config", "method", "lr", "n", "seeds", "epochs", "loss_evals_per_step_mean",
    "grad_time_per_step_mean", "loss_mean", "loss_std", "acc_mean", "acc_std", "cos_mean",
    "rel_err_mean", "measured",
)


def has_estimators(kept: pd.DataFrame) -> bool:
    """Whether the Estimators section has something to say.

    True when a method other than backprop and plain finite differences (central, forward,
    backward) was run, or when methods trained at different learning rates, which only this
    section's table shows. The seed's comparison and the h scan measure their gradients against
    backprop too, but their own sections say what matters there; the fidelity columns stay in
    their parquet.
    """
    seed_kind = kept["method"].eq("backprop") | (
        kept["method"].eq("numerical") & kept["scheme"].isin(PLAIN_SCHEMES))
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
    data = _curves_of(curves, ok_runs[ok_runs["epochs"] == epochs])
    fidelity = data.groupby("config", sort=False).agg(
        cos_mean=("grad_cos", "mean"), rel_err_mean=("grad_rel_err", "mean"),
        measured=("grad_cos", "count"))
    merged = chosen.merge(fidelity, left_on="config", right_index=True, how="left")
    merged["measured"] = merged["measured"].fillna(0).astype(int)
    return merged[list(ESTIMATOR_COLUMNS)].reset_index(drop=True)


def format_cos(value: float) -> str:
    """A cosine to four decimals: 0.0036 for one random direction, 1.0000 for differences."""
    return "n/a" if _is_missing(value) else f"{value:.4f}"


def format_rel_err(value: float) -> str:
    """A relative error in scientific form, "5.13e-10" or "1.44e+02"."""
    return "n/a" if _is_missing(value) else f"{value:.2e}"


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
    data = _curves_of(curves, runs)
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
    """When the runs compared their gradient with backprop's, from ``fidelity_every``."""
    measuring = runs[runs["method"] != "backprop"]
    texts = []
    for (every,) in _distinct(measuring, ["fidelity_every"]):
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
                        runs: pd.DataFrame, figure: Path | None) -> str:
    """The "## Estimators" section: the table at equal epochs, what it leaves out, the figure."""
    seeds = sorted({int(s) for s in runs["seed"]})
    params = sorted({int(p) for p in runs["param_count"] if not _is_missing(p)})
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
        _markdown(format_estimators(estimators)),
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
        who = "; ".join(f"{row['config']} ({_plural(int(row['epochs']), 'epoch')})"
                        for _, row in left_out.iterrows())
        lines += [f"Left out, run for another number of epochs: {who}.", ""]
    if figure is not None:
        lines += [f"![estimators: accuracy by epoch, loss evaluations and time; cosine to "
                  f"backprop]({figure.name})", ""]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Gradient error against h (``python -m mlpbench.gradcheck``), from its own parquet.


REFERENCE_SLOPES: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (1, ("forward", "backward"), "h"),
    (2, ("central", "complex_step"), "h²"),
    (4, ("richardson",), "h⁴"),
)
"""(order p, the schemes whose truncation error is O(h^p), how the label writes h^p)."""

SCHEME_STYLE: dict[str, tuple[str, str, str, float]] = {
    "forward": ("C0", "o", "-", 2.8), "backward": ("C1", "x", "--", 1.4),
    "central": ("C2", "s", "-", 2.8), "richardson": ("C3", "^", "-", 1.6),
    "complex_step": ("C4", "d", "--", 1.4),
}
"""Colour, marker, line style and width per scheme. Forward and backward, and central and the
complex step at large h, have the same error to the eye; a wide solid line under a dashed one
keeps both visible."""

SEED_H = 1e-4
"""The seed's step, whose error the best-h table shows next to the best."""


def read_gradcheck(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every row under ``results_dir/gradcheck``; an empty frame when there is none.

    Read file by file: a file that is not a gradcheck result is added to ``bad_files`` and left
    out, so one stray file never hides the rest, as for runs.
    """
    folder = Path(results_dir) / "gradcheck"
    schema = gradcheck.GRADCHECK_SCHEMA
    tables = []
    for path in results.result_files(folder):
        try:
            tables.append(results.read_table(path, schema))
        except (pa.ArrowException, OSError, ValueError) as ex:
            bad_files.append((path, (str(ex).splitlines() or [type(ex).__name__])[0]))
    return (pa.concat_tables(tables) if tables else schema.empty_table()).to_pandas()


def latest_gradcheck(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest measurement of each (weights, scheme, dtype, h), in plotting order.

    Per point rather than per file, so a later invocation with only ``--schemes complex_step``
    updates that curve and leaves the others; the section names every invocation it used.
    """
    if rows.empty:
        return rows
    order = rows.sort_values(["measured_at", "measurement_id"], kind="stable")
    latest = order.groupby(["weights", "scheme", "dtype", "h"], sort=False).tail(1)
    rank = {name: i for i, name in
            enumerate((*gradcheck.WEIGHTS, *gradcheck.DTYPES, *gradcheck.SCHEMES))}
    keys = {f"_{c}": latest[c].map(rank).fillna(len(rank)) for c in ("weights", "dtype", "scheme")}
    return (latest.assign(**keys)
            .sort_values(["_weights", "weights", "_dtype", "dtype", "_scheme", "scheme", "h"],
                         ascending=[True, True, True, True, True, True, False], kind="stable")
            .drop(columns=list(keys)).reset_index(drop=True))


def error_at(latest: pd.DataFrame, h: float) -> dict[tuple[str, str, str], float]:
    """rel_err at exactly ``h`` per (weights, dtype, scheme), where the grid has that point."""
    at = latest[latest["h"] == h]
    return {(r["weights"], r["dtype"], r["scheme"]): float(r["rel_err"]) for _, r in at.iterrows()}


def format_gradcheck(best: pd.DataFrame, seed_h_errors: dict[tuple[str, str, str], float]
                     ) -> pd.DataFrame:
    """The best-h table: one row per scheme x dtype x weights, with the seed's h alongside."""
    seed_h = format_h(SEED_H)
    rows = [
        (
            r["scheme"], r["dtype"],
            gradcheck.weights_text(r["weights"], int(r["trained_epochs"])),
            gradcheck.format_step(r["best_h"]), gradcheck.format_error(r["best_rel_err"]),
            gradcheck.format_error(seed_h_errors.get((r["weights"], r["dtype"], r["scheme"]),
                                                     math.nan)),
        )
        for _, r in best.iterrows()
    ]
    return pd.DataFrame(rows, columns=["Scheme", "dtype", "Weights", "Best h",
                                       "Best relative error",
                                       f"Relative error at h = {seed_h}"])


def gradcheck_markdown(latest: pd.DataFrame, best: pd.DataFrame, figure: Path | None) -> str:
    """The "## Gradient error against h" section: what was measured, the table, the figure."""
    contexts = "; ".join(
        f"{_plural(int(batch), 'real digit')} of {name} ({int(n_train):,} train) drawn with seed "
        f"{int(seed)}, 784-{int(hidden)}-10 sigmoid MLP, log_eps {format_value(log_eps)}"
        for name, n_train, batch, hidden, seed, log_eps in _distinct(
            latest, ["dataset", "n_train", "batch_size", "hidden_size", "seed", "log_eps"]))
    trained = sorted({int(e) for e in latest.loc[latest["weights"] == "trained",
                                                 "trained_epochs"]})
    weights = "the initial weights of a run with that seed"
    if trained:
        weights += (" and the weights of a backprop run after "
                    + " or ".join(str(e) for e in trained) + " epochs (one step of 100 samples "
                    "per epoch, lr 0.1)")
    invocations = latest["measurement_id"].nunique()
    lines = [
        "## Gradient error against h",
        "",
        "Relative error ||g - g_bp|| / ||g_bp|| over all parameters of each finite-difference "
        "scheme's gradient (incremental engine) against backprop's float64 gradient, as a "
        f"function of the step h, measured by `python -m mlpbench.gradcheck` on a fixed batch: "
        f"{contexts}; at {weights}. The reference is always float64 backprop at the float64 "
        "weights, so the float32 rows (weights and batch cast to float32) include what that "
        "rounding costs. Each point is the latest measurement of its (weights, scheme, dtype, "
        f"h), from {_plural(invocations, 'invocation')} measured "
        f"{_time_span(latest['measured_at'])} UTC. Machine: {_short_machine(latest)}; "
        f"code revision {revisions_text(latest)}.",
        "",
        _markdown(format_gradcheck(best, error_at(latest, SEED_H)), text_columns=3),
        "",
        "Best h is the grid point with the smallest error (grid: "
        f"{_plural(latest['h'].nunique(), 'step')} from {format_h(float(latest['h'].max()))} to "
        f"{format_h(float(latest['h'].min()))}); a best h at the end of the grid means the "
        "optimum may lie beyond it. n/a: not on the grid, or a non-finite gradient. Truncation "
        "error falls as h (forward, backward), h² (central, complex step) or h⁴ (Richardson); "
        "round-off grows as ε/h for the differences (ε: the dtype's machine epsilon), which the "
        "complex step avoids by subtracting nothing.",
        "",
    ]
    if figure is not None:
        lines += [f"![relative gradient error against h]({figure.name})", ""]
    return "\n".join(lines)


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


LINE_STYLES: tuple[tuple[str, float], ...] = (("-", 3.2), ("--", 1.8), (":", 1.8), ("-.", 1.6))
"""(style, width) per configuration in turn: methods that train identically draw on top of each
other, and a wide solid line under dashed ones keeps every one of them visible."""


def _line_style(index: int) -> dict[str, Any]:
    style, width = LINE_STYLES[index % len(LINE_STYLES)]
    return {"ls": style, "lw": width}


def draw_metric(stats: pd.DataFrame, metric: str, colors: dict[str, str], title: str,
                ylabel: str) -> Figure:
    """Mean curve per configuration (in ``colors`` order), the ``BAND`` shaded where n > 1."""
    fig = _new_figure(9, 5.6)
    ax = fig.add_subplot()
    data = stats[stats["metric"] == metric]
    for index, config in enumerate(colors):
        line = data[data["config"] == config].sort_values("epoch")
        if line.empty:
            continue
        n = int(line["n"].max())
        label = f"{config} (mean of n={n}, band {BAND})" if n > 1 else f"{config} (n=1)"
        ax.plot(line["epoch"], line["mean"], color=colors[config], label=label,
                **_line_style(index))
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
    for index, config in enumerate(order):
        line = curves[curves["config"] == config]
        style = _line_style(index)
        ax_loss.plot(line["epoch"], line["loss"], color=colors[config], label=config, **style)
        ax_acc.plot(line["epoch"], line["test_acc"], color=colors[config], label=config,
                    **style)
    for ax, ylabel in ((ax_loss, "training loss (last mini-batch of the epoch)"),
                       (ax_acc, "test accuracy (full test set)")):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def draw_scaling(latest: pd.DataFrame, slopes: pd.DataFrame, title: str) -> Figure:
    """Log-log time per step vs parameter count, one panel per batch size, slopes in legends."""
    batches = sorted(latest["batch_size"].unique())
    fig = _new_figure(5.2 * len(batches), 6.2)
    axes = np.atleast_1d(fig.subplots(1, len(batches), sharey=True))
    slope_of = {(r["engine"], r["batch_size"]): r["slope"] for _, r in slopes.iterrows()}
    for ax, batch in zip(axes, batches, strict=True):
        panel = latest[latest["batch_size"] == batch]
        for engine, line in panel.groupby("engine", sort=False):
            color, marker, style = ENGINE_STYLE.get(engine, ("C7", "x", ":"))
            slope = slope_of.get((engine, int(batch)), math.nan)
            slope_text = "n/a" if _is_missing(slope) else f"{slope:.2f}"
            ax.plot(line["param_count"], line["seconds_per_step_median"], color=color,
                    marker=marker, ls=style, lw=1.6,
                    label=f"{engine_label(engine, panel)}, slope {slope_text}")
        ticks = panel.drop_duplicates("hidden_size").sort_values("param_count")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xticks(ticks["param_count"], [f"{int(p):,}\nH={int(h)}" for p, h in
                                             zip(ticks["param_count"], ticks["hidden_size"],
                                                 strict=True)], fontsize=7)
        ax.minorticks_off()
        ax.set_title(f"batch {int(batch)}", fontsize=10)
        ax.set_xlabel("parameter count (hidden size H)")
        ax.grid(alpha=0.3, which="both")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.16))
    axes[0].set_ylabel("gradient time per step (s, median)")
    fig.suptitle(title, fontsize=10)
    return fig


def draw_estimators(stats: pd.DataFrame, colors: dict[str, str], title: str) -> Figure:
    """Four panels, mean over seeds with the ``BAND``: test accuracy by epoch, by cumulative loss
    evaluations and by wall time, and the cosine to backprop by epoch (log y)."""
    fig = _new_figure(13, 10.5)
    axes = fig.subplots(2, 2)
    ax_epoch, ax_evals, ax_time, ax_cos = axes.ravel()
    for index, config in enumerate(colors):
        line = stats[stats["config"] == config].sort_values("epoch")
        if line.empty:
            continue
        n = int(line["n"].max())
        color, style = colors[config], _line_style(index)
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


def _reference_lines(ax: Any, panel: pd.DataFrame, dtype: str, steps: np.ndarray) -> None:
    """The dashed truncation slopes and the dotted round-off scale of one panel, labelled.

    Each slope h^p passes through its first present scheme's error at the largest h, where
    truncation dominates; the round-off line is eps/h itself, for the panel's dtype.
    """
    for order, schemes, power in REFERENCE_SLOPES:
        anchor = next((s for s in schemes if s in set(panel["scheme"])), None)
        if anchor is None:
            continue
        curve = panel[(panel["scheme"] == anchor) & panel["rel_err"].notna()]
        if curve.empty:
            continue
        top = curve.loc[curve["h"].idxmax()]
        scale = float(top["rel_err"]) / float(top["h"]) ** order
        present = [s for s in schemes if s in set(panel["scheme"])]
        ax.plot(steps, scale * steps ** order, color=SCHEME_STYLE.get(anchor, "C7")[0], ls="--",
                lw=1, alpha=0.7, label=f"∝ {power}: truncation of {', '.join(present)}")
    eps = float(np.finfo(dtype).eps) if dtype in gradcheck.DTYPES else math.nan
    if math.isfinite(eps):
        ax.plot(steps, eps / steps, color="black", ls=":", lw=1.2,
                label=f"ε/h: round-off, ε = {eps:.1e} ({dtype})")


def draw_gradcheck(latest: pd.DataFrame, title: str) -> Figure:
    """Log-log rel_err vs h: a panel per weights (rows) and dtype (columns), a colour per
    scheme, with the reference slopes of ``_reference_lines`` in each panel's legend."""
    weights = list(dict.fromkeys(latest["weights"]))
    dtypes = list(dict.fromkeys(latest["dtype"]))
    fig = _new_figure(6.2 * len(dtypes), 4.8 * len(weights) + 0.9)
    axes = np.atleast_2d(fig.subplots(len(weights), len(dtypes), sharex=True, sharey=True,
                                      squeeze=False))
    steps = np.geomspace(float(latest["h"].max()), float(latest["h"].min()), 200)
    errors = latest["rel_err"][np.isfinite(latest["rel_err"]) & (latest["rel_err"] > 0)]
    for row, name in enumerate(weights):
        for col, dtype in enumerate(dtypes):
            ax = axes[row, col]
            panel = latest[(latest["weights"] == name) & (latest["dtype"] == dtype)]
            for scheme, curve in panel.groupby("scheme", sort=False):
                color, marker, style, width = SCHEME_STYLE.get(scheme, ("C7", ".", ":", 1.4))
                ax.plot(curve["h"], curve["rel_err"], color=color, marker=marker, ms=4,
                        ls=style, lw=width, label=scheme)
            scheme_handles = ax.get_legend_handles_labels()
            _reference_lines(ax, panel, dtype, steps)
            handles, labels = ax.get_legend_handles_labels()
            ax.legend(handles[len(scheme_handles[0]):], labels[len(scheme_handles[1]):],
                      fontsize=7, loc="upper right")
            epochs = int(panel["trained_epochs"].max()) if not panel.empty else 0
            ax.set_title(f"{gradcheck.weights_text(name, epochs)} weights, {dtype}", fontsize=10)
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            if row == len(weights) - 1:
                ax.set_xlabel("step h")
            if col == 0:
                ax.set_ylabel("relative error ||g - g_bp|| / ||g_bp||")
    if not errors.empty:
        # headroom above the largest error for the reference lines' legend (upper right)
        axes[0, 0].set_ylim(max(float(errors.min()) / 5, 1e-18), float(errors.max()) * 1e4)
    handles, labels = [], []
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label in gradcheck.SCHEMES and label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
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
    """Replace ``path`` with ``data`` atomically: a reader sees the old file or the new one."""
    results.write_atomic(path, lambda fh: fh.write(data), replace=True)


def _markdown(frame: pd.DataFrame, text_columns: int = 1) -> str:
    """A pipe table, text as given (no re-parsing of "1.6600"), numbers aligned right.

    The first ``text_columns`` columns hold names and are aligned left.
    """
    align = [*(["left"] * text_columns), *(["right"] * (len(frame.columns) - text_columns))]
    return tabulate(frame, headers="keys", tablefmt="pipe", showindex=False,
                    disable_numparse=True, colalign=align)


def render_markdown(*, kept: pd.DataFrame, table: str, excluded: pd.DataFrame,
                    set_aside: pd.DataFrame, figures: dict[str, Path | None],
                    paired_note: str, footnote: str = "", speed_md: str = "",
                    scaling_md: str = "", estimators_md: str = "", gradcheck_md: str = "") -> str:
    """The whole report.md: what was measured, our table, exclusions, the estimators, speed,
    the post's table, figures, and the scaling benchmark and the h error curve when there are
    any."""
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
        *([footnote, ""] if footnote else []),
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
        *([estimators_md] if estimators_md else []),
        *([speed_md] if speed_md else []),
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
    if scaling_md:
        lines.append(scaling_md)
    if gradcheck_md:
        lines.append(gradcheck_md)
    return "\n".join(lines)


def _read(
    results_dir: Path, bad_files: list[tuple[Path, str]]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Read the parquet, turning every way of finding nothing into one ``ResultsError``.

    Files that cannot be read as results are added to ``bad_files`` and left out.
    """
    no_runs = ResultsError(f"no runs in '{results_dir}'; run `make sweep` first")
    if not results_dir.is_dir():
        raise no_runs
    try:
        curves, runs = results.read_results(results_dir, bad_files)
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
    bad_files: list[tuple[Path, str]] = []
    curves, runs = _read(results_dir, bad_files)
    attempts = select_attempts(runs)
    kept = label_configs(attempts.kept)
    ok_runs = kept[kept["status"].eq("ok")]
    summary = summarize(ok_runs)
    table = _markdown(format_summary(summary)) if not summary.empty else (
        "No run finished with status ok.")
    footnote = short_run_footnote(summary)
    speed = speed_summary(ok_runs)
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

    scaling = latest_scaling(read_scaling(results_dir))
    slopes = scaling_slopes(scaling) if not scaling.empty else None
    if slopes is not None:
        title = ("Gradient time per step vs network size (784-H-10), log-log; "
                 "legend: least-squares slope of log time vs log parameter count\n"
                 f"{_short_machine(scaling)}; {scaling_threads_text(scaling)}")
        pngs["scaling"] = figure_png(draw_scaling(scaling, slopes, title))

    estimators, estimators_md = None, ""
    epochs = common_epochs(summary)
    if epochs is not None and has_estimators(ok_runs):
        estimators = estimator_summary(summary, curves, ok_runs, epochs)
        compared = ok_runs[ok_runs["epochs"] == epochs]
        title = (f"Gradient methods at equal epochs: {_short_datasets(compared)} · "
                 f"{_short_protocol(compared)}\nline: mean over seeds; shaded band: {BAND}")
        pngs["estimators"] = figure_png(draw_estimators(
            estimator_curves(curves, compared),
            {c: colors[c] for c in estimators["config"]}, title))
        estimators_md = estimators_markdown(estimators, epochs,
                                            summary[summary["epochs"] != epochs], compared,
                                            out_dir / ESTIMATORS_FIGURE)

    errors = latest_gradcheck(read_gradcheck(results_dir, bad_files))
    best = gradcheck.best_steps(errors) if not errors.empty else None
    if best is not None:
        title = ("Relative gradient error vs step h (log-log), against float64 backprop\n"
                 f"{_gradcheck_scope(errors)}; {_short_machine(errors)}")
        pngs["gradcheck"] = figure_png(draw_gradcheck(errors, title))

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Path | None] = {}
        for key, name in (("scaling", SCALING_FIGURE), ("estimators", ESTIMATORS_FIGURE),
                          ("gradcheck", GRADCHECK_FIGURE)):
            extra[key] = None
            if key in pngs:
                extra[key] = out_dir / name
                write_atomic(out_dir / name, pngs.pop(key))
            else:
                (out_dir / name).unlink(missing_ok=True)
        scaling_png = extra["scaling"]
        for key, data in pngs.items():
            figures[key] = out_dir / FIGURE_NAMES[key]
            write_atomic(figures[key], data)
        for key, name in FIGURE_NAMES.items():
            if figures[key] is None:
                (out_dir / name).unlink(missing_ok=True)
        report_md = out_dir / "report.md"
        text = render_markdown(kept=kept, table=table, excluded=excluded,
                               set_aside=attempts.set_aside, figures=figures,
                               paired_note=paired_note, footnote=footnote,
                               speed_md=speed_markdown(speed),
                               scaling_md=("" if slopes is None else
                                           scaling_markdown(scaling, slopes, scaling_png)),
                               estimators_md=estimators_md,
                               gradcheck_md=("" if best is None else gradcheck_markdown(
                                   errors, best, extra["gradcheck"])))
        write_atomic(report_md, (text + bad_files_markdown(bad_files)).encode())
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"cannot write the report to '{out_dir}': {reason}") from None

    return ReportOutputs(
        report_md=report_md, loss_png=figures["loss"], test_acc_png=figures["test_acc"],
        paired_png=figures["paired"], table=table, summary=summary, excluded=excluded,
        duplicates=len(attempts.set_aside), paired_seed=None if paired is None else paired[0],
        speed=speed, footnote=footnote, scaling_png=scaling_png, scaling_slopes=slopes,
        bad_files=bad_files, estimators=estimators, estimators_png=extra["estimators"],
        gradcheck_png=extra["gradcheck"], gradcheck_best=best,
    )


def bad_files_markdown(bad_files: list[tuple[Path, str]]) -> str:
    """A closing section naming every file that was left out because it could not be read."""
    if not bad_files:
        return ""
    lines = ["", "## Files left out", "",
             "These files in the results folder could not be read as mlpbench results and are "
             "not in any table or figure above:", ""]
    lines += [f"- `{path}`: {reason}" for path, reason in bad_files]
    return "\n".join(lines) + "\n"


def terminal_text(outputs: ReportOutputs) -> str:
    """What the CLI prints: the table, what was left out, and where the files are."""
    lines = [outputs.table, ""]
    if outputs.footnote:
        lines += [outputs.footnote, ""]
    lines.append(excluded_line(outputs.excluded))
    if outputs.duplicates:
        lines.append(f"{_plural(outputs.duplicates, 'duplicate attempt')} set aside "
                     "(latest ok attempt used).")
    lines.append("")
    lines += [f"wrote {path}" for path in (outputs.report_md, outputs.loss_png,
                                           outputs.test_acc_png, outputs.paired_png,
                                           outputs.estimators_png, outputs.scaling_png,
                                           outputs.gradcheck_png)
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
    for path, reason in outputs.bad_files:
        print(f"mlpbench.report: left out unreadable file '{path}': {reason}", file=sys.stderr)
    return EXIT_BAD_FILES if outputs.bad_files else 0


if __name__ == "__main__":
    sys.exit(main())
