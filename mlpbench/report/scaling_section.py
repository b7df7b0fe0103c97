"""Scaling ("## Scaling"): per-step gradient time against network size, from the scaling
study's parquet under ``<results_dir>/scaling`` (``python -m mlpbench.scaling``).

The section is there only when the folder holds rows. The folder is read like gradcheck's and
the runs' (``results.read_measurements``): a file in it that is not a scaling result is listed
under "Files left out" and the rest is reported, where it used to stop the whole report.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlpbench import results
from mlpbench.report.describe import (
    distinct,
    machines_text,
    revisions_text,
    short_machine,
    time_span,
)
from mlpbench.report.figures import new_figure, wrap
from mlpbench.report.format import format_value, human_duration, is_missing, markdown
from mlpbench.report.section import Inputs, Section

FIGURE = "scaling.png"
DEPTH_FIGURE = "scaling_depth.png"
FIGURES: tuple[str, ...] = (FIGURE, DEPTH_FIGURE)

KIND_ORDER: tuple[str, ...] = (results.ROLE_REFERENCE, results.ENGINE_ROLE_FAST,
                               results.ENGINE_ROLE_SEED_LOOP)
"""The engines in the order the tables and legends show them, by what each is to the comparison
(``engine_kind``): the reference, then the fast engine, then the seed's loop; any other after."""
KIND_STYLE = {
    results.ROLE_REFERENCE: ("C0", "o", "-"),
    results.ENGINE_ROLE_FAST: ("C1", "s", "-"),
    results.ENGINE_ROLE_SEED_LOOP: ("C3", "^", "--"),
}
"""Colour, marker and line style per engine kind; the seed's loop is dashed because its times
are extrapolated."""
OTHER_STYLES: tuple[tuple[str, str, str], ...] = (
    ("C7", "x", ":"), ("C4", "D", ":"), ("C5", "v", ":"), ("C6", "P", ":"))
"""Styles of engines of no known kind (rows written before the role columns), in turn."""


def read_scaling(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every row under ``results_dir/scaling``; an empty frame when there is none.

    A missing folder is not an error: the scaling benchmark is optional, and a report without
    it simply has no Scaling section. A file that is not a scaling result is added to
    ``bad_files`` and left out, as for runs and gradcheck.
    """
    return results.read_measurements(Path(results_dir) / "scaling", results.SCALING_SCHEMA,
                                     bad_files)


def latest_scaling(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest measurement of each (engine, hidden size, batch size), in plotting order.

    Re-running the benchmark adds a file rather than replacing one, so older measurements of
    a cell stay on disk; only the newest is shown.
    """
    if rows.empty:
        return rows
    latest = _latest_of_each(rows, ["engine", "hidden_size", "batch_size"])
    return _in_engine_order(latest, ["batch_size"], ["engine", "param_count"])


def _latest_of_each(rows: pd.DataFrame, cell: list[str]) -> pd.DataFrame:
    """The newest row of each ``cell`` (measurement time, then id, breaks ties)."""
    order = rows.sort_values(["measured_at", "measurement_id"], kind="stable")
    return order.groupby(cell, sort=False).tail(1)


def engine_kind(rows: pd.DataFrame) -> pd.Series:
    """What each row's engine is to the comparison: its ``role`` (the reference), else its
    ``engine_role`` (the fast engine, the seed's loop); null when neither is recorded."""
    return rows["role"].fillna(rows["engine_role"])


def _kind_rank(rows: pd.DataFrame) -> pd.Series:
    """Each row's place in ``KIND_ORDER``; engines of no known kind after."""
    rank = {kind: i for i, kind in enumerate(KIND_ORDER)}
    return engine_kind(rows).map(rank).fillna(len(rank))


def _in_engine_order(frame: pd.DataFrame, first: list[str], then: list[str]) -> pd.DataFrame:
    """Sorted by ``first``, then by engine kind in ``KIND_ORDER`` (others after), then
    ``then``."""
    return (frame.assign(_rank=_kind_rank(frame))
            .sort_values([*first, "_rank", *then], kind="stable")
            .drop(columns="_rank").reset_index(drop=True))


def _styles(rows: pd.DataFrame) -> dict[str, tuple[str, str, str]]:
    """Colour, marker and line style per engine of ``rows``: by its kind (``KIND_STYLE``), or
    one of ``OTHER_STYLES`` in turn."""
    kinds = dict(zip(rows["engine"], engine_kind(rows), strict=True))
    others = [e for e, k in kinds.items() if k not in KIND_STYLE]
    styles = {e: KIND_STYLE[k] for e, k in kinds.items() if k in KIND_STYLE}
    styles |= {e: OTHER_STYLES[i % len(OTHER_STYLES)] for i, e in enumerate(others)}
    return styles


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
    """One slope per (engine, batch size), fitted to the median per-step times, with the
    engine's ``role`` and ``engine_role``."""
    rows = [
        {"engine": engine, "role": group["role"].iloc[0],
         "engine_role": group["engine_role"].iloc[0], "batch_size": int(batch),
         "points": len(group),
         "slope": loglog_slope(group["param_count"], group["seconds_per_step_median"])}
        for (batch, engine), group in latest.groupby(["batch_size", "engine"], sort=False)
    ]
    return pd.DataFrame(rows, columns=["engine", "role", "engine_role", "batch_size", "points",
                                       "slope"])


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
    ranked = slopes.assign(_rank=_kind_rank(slopes)).sort_values(["_rank", "engine"],
                                                                kind="stable")
    for engine in dict.fromkeys(ranked["engine"]):
        mine = slopes[slopes["engine"] == engine].set_index("batch_size")["slope"]
        rows.append((engine, *(f"{mine[b]:.2f}" if b in mine and not is_missing(mine[b])
                               else "n/a" for b in batches)))
    return pd.DataFrame(rows, columns=["Engine", *(f"batch {b}" for b in batches)])


def scaling_threads_text(latest: pd.DataFrame) -> str:
    """The thread settings and load the timings ran under, which can change them many-fold."""
    texts = []
    for numba_threads, blas_env, load in distinct(
        latest, ["numba_threads", "blas_threads_env", "load_avg_1m"]
    ):
        blas = f"BLAS threads {blas_env}" if blas_env else "BLAS threads at the library default"
        load_text = "n/a" if is_missing(load) else f"{load:.2f}"
        texts.append(f"numba threads {format_value(numba_threads)}, {blas}, "
                     f"1-min load average {load_text} at the start")
    if len(texts) > 1:
        return f"measured under {len(texts)} conditions: " + "; ".join(texts)
    return "; ".join(texts)


def scaling_markdown(latest: pd.DataFrame, slopes: pd.DataFrame, figure: str | None) -> str:
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
        f"Measured {time_span(dates)} UTC, code revision {revisions_text(latest)}.",
        "",
        "Least-squares slope of log(time per step) against log(parameter count), per engine and "
        "batch size (1 means time proportional to the parameter count, 2 to its square):",
        "",
        markdown(format_slopes(slopes)),
        "",
        "Median time per step:",
        "",
        markdown(format_scaling_times(latest), text_columns=2),
        "",
    ]
    if figure is not None:
        lines += [f"![per-step gradient time vs parameter count]({figure})", ""]
    return "\n".join(lines)


def draw_scaling(latest: pd.DataFrame, slopes: pd.DataFrame, title: str) -> Figure:
    """Log-log time per step vs parameter count, one panel per batch size, slopes in legends."""
    batches = sorted(latest["batch_size"].unique())
    fig = new_figure(5.2 * len(batches), 6.2)
    axes = np.atleast_1d(fig.subplots(1, len(batches), sharey=True))
    slope_of = {(r["engine"], r["batch_size"]): r["slope"] for _, r in slopes.iterrows()}
    styles = _styles(latest)
    for ax, batch in zip(axes, batches, strict=True):
        panel = latest[latest["batch_size"] == batch]
        for engine, line in panel.groupby("engine", sort=False):
            color, marker, style = styles[engine]
            slope = slope_of.get((engine, int(batch)), math.nan)
            slope_text = "n/a" if is_missing(slope) else f"{slope:.2f}"
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
        _label_panel(ax, f"batch {int(batch)}", "parameter count (hidden size H)", -0.16)
    return _finish(fig, axes, title)


def _label_panel(ax: Any, title: str, xlabel: str, legend_y: float) -> None:
    """Title, x label, grid and a legend below one panel of a scaling figure."""
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, legend_y))


def _finish(fig: Figure, axes: np.ndarray, title: str) -> Figure:
    """The shared y label and the figure title."""
    axes[0].set_ylabel("gradient time per step (s, median)")
    fig.suptitle(wrap(title, fig.get_figwidth()), fontsize=10)
    return fig


def with_depth(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with ``hidden_layers`` filled: files from before depth was an axis mean one."""
    if rows.empty:
        return rows
    layers = rows["hidden_layers"].astype("Float64").fillna(1).astype(int)
    return rows.assign(hidden_layers=layers)


def latest_depth(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest measurement of each (engine, hidden size, depth, batch) in cells measured at
    two depths or more, in plotting order; empty when no cell was."""
    if rows.empty:
        return rows
    latest = _latest_of_each(rows, ["engine", "hidden_size", "hidden_layers", "batch_size"])
    depths = latest.groupby(["hidden_size", "batch_size"])["hidden_layers"].transform("nunique")
    return _in_engine_order(latest[depths >= 2], ["hidden_size", "batch_size"],
                            ["hidden_layers"])


def depth_table(latest: pd.DataFrame) -> pd.DataFrame:
    """Per (hidden size, batch, engine): time per step at each depth, its ratio to the
    reference's (``role``, backprop) at that depth, and the slope of log time against log depth
    (time ~ depth^slope)."""
    depths = sorted(latest["hidden_layers"].unique())
    rows = []
    for (hidden, batch), cell in latest.groupby(["hidden_size", "batch_size"], sort=False):
        is_reference = cell["role"] == results.ROLE_REFERENCE
        reference = cell[is_reference].set_index("hidden_layers")["seconds_per_step_median"]
        for engine, line in cell.groupby("engine", sort=False):
            times = line.set_index("hidden_layers")["seconds_per_step_median"]
            measured_against = not is_reference[line.index].any()
            cells = []
            for depth in depths:
                if depth not in times:
                    cells.append("")
                    continue
                ratio = (f" ({times[depth] / reference[depth]:,.0f}x)"
                         if measured_against and depth in reference else "")
                cells.append(human_duration(times[depth]) + ratio)
            slope = loglog_slope(line["hidden_layers"], line["seconds_per_step_median"])
            rows.append((f"H = {int(hidden)}", str(int(batch)), engine, *cells,
                         "n/a" if is_missing(slope) else f"{slope:.2f}"))
    return pd.DataFrame(rows, columns=["Units per layer", "Batch", "Engine",
                                       *(f"{d} hidden layer{'s' if d > 1 else ''}"
                                         for d in depths), "slope"])


def depth_markdown(latest: pd.DataFrame, figure: str) -> str:
    """ "### Depth": the same engines on 784-H-...-H-10 with one, two, three... hidden layers."""
    return "\n".join([
        "### Depth",
        "",
        "The same engines on networks of one or more hidden layers of H units each "
        "(784-H-10, 784-H-H-10, ...), sigmoid, the seed's init, measured the same way "
        "(`python -m mlpbench.scaling --depth ...`; naive times extrapolated as above). Each "
        "time is the median per step; in brackets, the ratio to backprop's time at the same "
        "depth; the slope is that of log(time per step) against log(number of hidden layers), "
        "so time grows as depth^slope. With one hidden layer the incremental engine is the "
        "compiled one of the seed's network; with more it is the NumPy engine for any depth, "
        "so the step from one layer to two is partly a change of implementation.",
        "",
        markdown(depth_table(latest), text_columns=3),
        "",
        f"![per-step gradient time vs depth]({figure})",
        "",
    ])


def draw_depth(latest: pd.DataFrame, title: str) -> Figure:
    """Time per step (log) against the number of hidden layers, one panel per (H, batch)."""
    cells = list(latest.groupby(["hidden_size", "batch_size"], sort=False))
    fig = new_figure(5.2 * len(cells), 5.6)
    axes = np.atleast_1d(fig.subplots(1, len(cells), sharey=True))
    styles = _styles(latest)
    for ax, ((hidden, batch), cell) in zip(axes, cells, strict=True):
        for engine, line in cell.groupby("engine", sort=False):
            color, marker, style = styles[engine]
            ax.plot(line["hidden_layers"], line["seconds_per_step_median"], color=color,
                    marker=marker, ls=style, lw=1.6, label=engine_label(engine, cell))
        ax.set_yscale("log")
        ax.set_xticks(sorted(cell["hidden_layers"].unique()))
        _label_panel(ax, f"H = {int(hidden)} per layer, batch {int(batch)}", "hidden layers",
                     -0.14)
    return _finish(fig, axes, title)


def section(inputs: Inputs) -> Section:
    """ "## Scaling" and its figures, empty without scaling rows. Numbers: ``latest``
    (``latest_scaling`` of the width measurements), ``slopes`` (``scaling_slopes``) and
    ``depth`` (``latest_depth`` of the measurements with a depth axis, empty when there is
    none). An invocation with ``--depth`` above 1 is a depth study: its one-layer cells are
    the depth table's baseline and stay out of the width table, so the width table holds one
    session's times."""
    rows = with_depth(inputs.scaling)
    in_depth_study = (rows.groupby("measurement_id")["hidden_layers"].transform("max") > 1
                      if not rows.empty else pd.Series(dtype=bool))
    latest = latest_scaling(rows[~in_depth_study] if not rows.empty else rows)
    depth = latest_depth(rows[in_depth_study]) if not rows.empty else rows
    if latest.empty and depth.empty:
        return Section("scaling")
    slopes = scaling_slopes(latest) if not latest.empty else pd.DataFrame()
    markdown_text, figures = "## Scaling\n\n", {}
    if not latest.empty:
        title = ("Gradient time per step vs network size (784-H-10), log-log; "
                 "legend: least-squares slope of log time vs log parameter count\n"
                 f"{short_machine(latest)}; {scaling_threads_text(latest)}")
        markdown_text = scaling_markdown(latest, slopes, FIGURE)
        figures[FIGURE] = draw_scaling(latest, slopes, title)
    if not depth.empty:
        markdown_text += ("\n" if not latest.empty else "") + depth_markdown(depth, DEPTH_FIGURE)
        figures[DEPTH_FIGURE] = draw_depth(depth, "Gradient time per step vs depth "
                                           f"(784-H-...-H-10), log scale\n{short_machine(depth)}")
    return Section("scaling", markdown_text, figures,
                   {"latest": latest, "slopes": slopes, "depth": depth})
