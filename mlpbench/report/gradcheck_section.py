"""Gradient error against h ("## Gradient error against h"), from the gradcheck study's parquet
under ``<results_dir>/gradcheck`` (``python -m mlpbench.gradcheck``).

The section is there only when the folder holds rows; a file in it that is not a gradcheck
result is listed under "Files left out" and the rest is reported. ``best_of`` and
``best_steps`` are shared with the study, which prints the same best h on stdout.
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
from mlpbench.model import DTYPES
from mlpbench.report.describe import distinct, revisions_text, short_machine, time_span
from mlpbench.report.figures import new_figure, wrap
from mlpbench.report.format import (
    format_error,
    format_h,
    format_step,
    format_value,
    markdown,
    plural,
    weights_text,
)
from mlpbench.report.section import Inputs, Section

FIGURE = "gradcheck.png"
FIGURES: tuple[str, ...] = (FIGURE,)

SCHEME_STYLE: dict[str, tuple[str, str, str, float]] = {
    "forward": ("C0", "o", "-", 2.8), "backward": ("C1", "x", "--", 1.4),
    "central": ("C2", "s", "-", 2.8), "richardson": ("C3", "^", "-", 1.6),
    "complex_step": ("C4", "d", "--", 1.4),
}
"""Colour, marker, line style and width per scheme, in display order (by the order of their
truncation error in h). Forward and backward, and central and the complex step at large h, have
the same error to the eye; a wide solid line under a dashed one keeps both visible."""

SCHEMES: tuple[str, ...] = tuple(SCHEME_STYLE)
"""The schemes in the order the table, the panels and the legend show them."""

REFERENCE_SLOPES: tuple[tuple[int, tuple[str, ...], str], ...] = (
    (1, ("forward", "backward"), "h"),
    (2, ("central", "complex_step"), "h²"),
    (4, ("richardson",), "h⁴"),
)
"""(order p, the schemes whose truncation error is O(h^p), how the label writes h^p)."""

POST_H = 1e-4
"""The blog post's step (the seed's default), whose error the best-h table shows next to the
best."""


def read_gradcheck(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every row under ``results_dir/gradcheck``; an empty frame when there is none.

    Read file by file: a file that is not a gradcheck result is added to ``bad_files`` and left
    out, so one stray file never hides the rest, as for runs.
    """
    return results.read_measurements(Path(results_dir) / "gradcheck", results.GRADCHECK_SCHEMA,
                                     bad_files)


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
            enumerate((*results.GRADCHECK_WEIGHTS, *DTYPES, *SCHEMES))}
    keys = {f"_{c}": latest[c].map(rank).fillna(len(rank)) for c in ("weights", "dtype", "scheme")}
    return (latest.assign(**keys)
            .sort_values(["_weights", "weights", "_dtype", "dtype", "_scheme", "scheme", "h"],
                         ascending=[True, True, True, True, True, True, False], kind="stable")
            .drop(columns=list(keys)).reset_index(drop=True))


def best_of(curve: pd.DataFrame) -> dict[str, float]:
    """The row of ``curve`` with the smallest rel_err (the largest such h on ties); NaN h and
    error when every point is NaN."""
    finite = curve[curve["rel_err"].notna()]
    if finite.empty:
        return {"h": math.nan, "rel_err": math.nan}
    ordered = finite.sort_values(["rel_err", "h"], ascending=[True, False], kind="stable")
    return {"h": float(ordered["h"].iloc[0]), "rel_err": float(ordered["rel_err"].iloc[0])}


def best_steps(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per (weights, dtype, scheme) in a fixed order: the best h and its error."""
    columns = ["weights", "trained_epochs", "dtype", "scheme", "best_h", "best_rel_err",
               "points"]
    found = []
    for (weights, dtype, scheme), curve in rows.groupby(["weights", "dtype", "scheme"]):
        best = best_of(curve)
        found.append({"weights": weights, "trained_epochs": int(curve["trained_epochs"].max()),
                      "dtype": dtype, "scheme": scheme, "best_h": best["h"],
                      "best_rel_err": best["rel_err"], "points": len(curve)})
    found.sort(key=lambda row: (_rank(row["weights"], results.GRADCHECK_WEIGHTS),
                                _rank(row["dtype"], DTYPES), _rank(row["scheme"], SCHEMES)))
    return pd.DataFrame(found, columns=columns)


def _rank(name: str, order: Sequence[str]) -> tuple[int, str]:
    """Sort key: the canonical position, unknown names last in alphabetical order."""
    return (order.index(name), "") if name in order else (len(order), name)


def error_at(latest: pd.DataFrame, h: float) -> dict[tuple[str, str, str], float]:
    """rel_err at exactly ``h`` per (weights, dtype, scheme), where the grid has that point."""
    at = latest[latest["h"] == h]
    return {(r["weights"], r["dtype"], r["scheme"]): float(r["rel_err"]) for _, r in at.iterrows()}


def format_gradcheck(best: pd.DataFrame, post_h_errors: dict[tuple[str, str, str], float]
                     ) -> pd.DataFrame:
    """The best-h table: one row per scheme x dtype x weights, with the post's h alongside."""
    rows = [
        (
            r["scheme"], r["dtype"], weights_text(r["weights"], int(r["trained_epochs"])),
            format_step(r["best_h"]), format_error(r["best_rel_err"]),
            format_error(post_h_errors.get((r["weights"], r["dtype"], r["scheme"]), math.nan)),
        )
        for _, r in best.iterrows()
    ]
    return pd.DataFrame(rows, columns=["Scheme", "dtype", "Weights", "Best h",
                                       "Best relative error",
                                       f"Relative error at h = {format_h(POST_H)}"])


def gradcheck_scope(rows: pd.DataFrame) -> str:
    """Batch and network of the h error curve for a figure title."""
    return "; ".join(f"{name}, batch {int(batch)}, 784-{int(hidden)}-10, seed {int(seed)}"
                     for name, batch, hidden, seed in
                     distinct(rows, ["dataset", "batch_size", "hidden_size", "seed"]))


def gradcheck_markdown(latest: pd.DataFrame, best: pd.DataFrame, figure: str | None) -> str:
    """The "## Gradient error against h" section: what was measured, the table, the figure."""
    contexts = "; ".join(
        f"{plural(int(batch), 'real digit')} of {name} ({int(n_train):,} train) drawn with seed "
        f"{int(seed)}, 784-{int(hidden)}-10 sigmoid MLP, log_eps {format_value(log_eps)}"
        for name, n_train, batch, hidden, seed, log_eps in distinct(
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
        f"h), from {plural(invocations, 'invocation')} measured "
        f"{time_span(latest['measured_at'])} UTC. Machine: {short_machine(latest)}; "
        f"code revision {revisions_text(latest)}.",
        "",
        markdown(format_gradcheck(best, error_at(latest, POST_H)), text_columns=3),
        "",
        "Best h is the grid point with the smallest error (grid: "
        f"{plural(latest['h'].nunique(), 'step')} from {format_h(float(latest['h'].max()))} to "
        f"{format_h(float(latest['h'].min()))}); a best h at the end of the grid means the "
        "optimum may lie beyond it. n/a: not on the grid, or a non-finite gradient. Truncation "
        "error falls as h (forward, backward), h² (central, complex step) or h⁴ (Richardson); "
        "round-off grows as ε/h for the differences (ε: the dtype's machine epsilon), which the "
        "complex step avoids by subtracting nothing.",
        "",
    ]
    if figure is not None:
        lines += [f"![relative gradient error against h]({figure})", ""]
    return "\n".join(lines)


def scheme_text(scheme: str) -> str:
    """A scheme as the figure's legends name it: "complex step", not the key "complex_step"."""
    return scheme.replace("_", " ")


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
                lw=1, alpha=0.7,
                label=f"∝ {power}: truncation of {', '.join(map(scheme_text, present))}")
    eps = float(np.finfo(dtype).eps) if dtype in DTYPES else math.nan
    if math.isfinite(eps):
        ax.plot(steps, eps / steps, color="black", ls=":", lw=1.2,
                label=f"ε/h: round-off, ε = {eps:.1e} ({dtype})")


def draw_gradcheck(latest: pd.DataFrame, title: str) -> Figure:
    """Log-log rel_err vs h: a panel per weights (rows) and dtype (columns), a colour per
    scheme, with the reference slopes of ``_reference_lines`` in each panel's legend."""
    weights = list(dict.fromkeys(latest["weights"]))
    dtypes = list(dict.fromkeys(latest["dtype"]))
    fig = new_figure(6.2 * len(dtypes), 4.8 * len(weights) + 0.9)
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
                        ls=style, lw=width, label=scheme_text(str(scheme)))
            scheme_handles = ax.get_legend_handles_labels()
            _reference_lines(ax, panel, dtype, steps)
            handles, labels = ax.get_legend_handles_labels()
            ax.legend(handles[len(scheme_handles[0]):], labels[len(scheme_handles[1]):],
                      fontsize=7, loc="upper right")
            epochs = int(panel["trained_epochs"].max()) if not panel.empty else 0
            ax.set_title(f"{weights_text(name, epochs)} weights, {dtype}", fontsize=10)
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
    scheme_names = {scheme_text(s) for s in SCHEMES}
    for ax in axes.ravel():
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            if label in scheme_names and label not in labels:
                handles.append(handle)
                labels.append(label)
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=9)
    fig.suptitle(wrap(title, 6.2 * len(dtypes)), fontsize=10)
    return fig


def section(inputs: Inputs) -> Section:
    """ "## Gradient error against h" and its figure, empty without gradcheck rows. Numbers:
    ``latest`` (``latest_gradcheck``) and ``best`` (``best_steps``)."""
    latest = latest_gradcheck(inputs.gradcheck)
    if latest.empty:
        return Section("gradcheck")
    best = best_steps(latest)
    title = ("Relative gradient error vs step h (log-log), against float64 backprop\n"
             f"{gradcheck_scope(latest)}; {short_machine(latest)}")
    return Section("gradcheck", gradcheck_markdown(latest, best, FIGURE),
                   {FIGURE: draw_gradcheck(latest, title)}, {"latest": latest, "best": best})
