"""Gradient quality at fixed weights ("## Gradient quality at fixed weights"), from the quality
study's parquet under ``<results_dir>/quality`` (``python -m mlpbench.quality``).

Every number is read from the parquet; theory comes from ``mlpbench.theory`` through the rows
the study wrote (and, for the dashed curves, from the same functions at every k). A folder that
holds only a quality study (no runs) renders this section alone (``document.render``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from mlpbench import results, theory
from mlpbench.report.describe import distinct, revisions_text, short_machine, time_span
from mlpbench.report.figures import new_figure, wrap
from mlpbench.report.format import is_missing, markdown
from mlpbench.report.section import Inputs, Section

FIGURE = "quality.png"
FIGURES: tuple[str, ...] = (FIGURE,)
HEADING = "## Gradient quality at fixed weights"
ALL = "all"
SETTING_KEYS = ["network", "weights", "estimator", "directions", "h"]
KEYS = [*SETTING_KEYS, "batch", "tensor"]
ESTIMATOR_TEXT = {
    "fg_weights": "forward gradient, weights",
    "fg_weights_orthogonal": "forward gradient, weights, orthogonal",
    "fg_activations": "forward gradient, activations",
    "fg_activations_orthogonal": "forward gradient, activations, orthogonal",
    "spsa": "SPSA (Rademacher)",
    "mezo": "MeZO (Gaussian)",
    "mezo_orthogonal": "MeZO, orthogonal",
    "es": "ES (raw losses)",
}
"""How the report names each estimator of the study, in the order it shows them."""
STANDARD_ERRORS = 3
"""Theory and measurement agree when they are this many standard errors apart or closer."""


def read_quality(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every row under ``results_dir/quality``; an empty frame when there is none."""
    return results.read_measurements(Path(results_dir) / "quality", results.QUALITY_SCHEMA,
                                     bad_files)


def latest_quality(rows: pd.DataFrame) -> pd.DataFrame:
    """The latest measurement of each (setting, batch, tensor)."""
    if rows.empty:
        return rows
    order = rows.sort_values(["measured_at", "measurement_id"], kind="stable")
    return order.groupby(KEYS, sort=False, dropna=False).tail(1).reset_index(drop=True)


def _rank(name: str) -> int:
    order = list(ESTIMATOR_TEXT)
    return order.index(name) if name in order else len(order)


def summarise(latest: pd.DataFrame) -> pd.DataFrame:
    """The ``all`` rows, one per setting, averaged over its batches: each statistic's mean, its
    standard error sqrt(sum se^2) / M, and how many standard errors it lies from theory."""
    rows = latest[latest["tensor"] == ALL]
    groups = rows.groupby(SETTING_KEYS, sort=False, dropna=False)
    out = groups.agg(
        total_params=("total_params", "first"), trained_steps=("trained_steps", "first"),
        batches=("batch", "nunique"), repeats=("repeats", "min"),
        cos=("cos_mean", "mean"), mse=("mse_rel", "mean"), bias=("bias_rel", "mean"),
        bias_floor=("bias_floor_rel", "mean"), variance=("variance_rel", "mean"),
        cos_theory=("cos_theory", "first"), mse_theory=("mse_rel_theory", "first"),
        seconds=("seconds_per_estimate", "mean"),
    ).reset_index()
    out["cos_se"] = groups["cos_se"].apply(lambda s: math.sqrt((s**2).sum()) / len(s)).values
    out["mse_se"] = groups["mse_rel_se"].apply(lambda s: math.sqrt((s**2).sum()) / len(s)).values
    out["cos_z"] = (out["cos"] - out["cos_theory"]) / out["cos_se"]
    out["mse_z"] = (out["mse"] - out["mse_theory"]) / out["mse_se"]
    out["_p"] = -out["total_params"]
    out["_w"] = out["weights"].map({"init": 0, "trained": 1}).fillna(2)
    out["_e"] = out["estimator"].map(_rank)
    return (out.sort_values(["_p", "_w", "_e", "estimator", "directions", "h"], kind="stable")
            .drop(columns=["_p", "_w", "_e"]).reset_index(drop=True))


def activity_gain(summary: pd.DataFrame) -> dict[str, float] | None:
    """One activity tangent's mean cosine over one weight direction's, at the initial weights
    of the largest network measured: the study's headline, or None without both rows."""
    largest = summary[summary["total_params"] == summary["total_params"].max()]
    at = largest[(largest["weights"] == "init") & (largest["directions"] == 1)]
    weights = at[at["estimator"] == "fg_weights"]
    activations = at[at["estimator"] == "fg_activations"]
    if weights.empty or activations.empty:
        return None
    w, a = float(weights["cos"].iloc[0]), float(activations["cos"].iloc[0])
    return {"network": str(at["network"].iloc[0]), "weights_cos": w, "activations_cos": a,
            "factor": a / w, "repeats": int(min(weights["repeats"].iloc[0],
                                                activations["repeats"].iloc[0]))}


def _num(value: float, digits: int = 3) -> str:
    if is_missing(value):
        return ""
    return f"{value:.{digits}g}"


def _pm(value: float, se: float) -> str:
    return f"{value:.4g} ± {se:.2g}"


def _z(value: float) -> str:
    return "" if not math.isfinite(value) else f"{value:+.1f}"


def weights_label(name: str, steps: int) -> str:
    return "initial" if name == "init" else f"after {steps} backprop steps"


def summary_table(summary: pd.DataFrame) -> pd.DataFrame:
    """The section's main table."""
    rows = [(
        r["network"], weights_label(r["weights"], int(r["trained_steps"])),
        ESTIMATOR_TEXT.get(r["estimator"], r["estimator"]), str(int(r["directions"])),
        "" if pd.isna(r["h"]) else f"{r['h']:g}", str(int(r["repeats"])),
        _pm(r["cos"], r["cos_se"]), _num(r["cos_theory"], 4), _z(r["cos_z"]),
        _pm(r["mse"], r["mse_se"]), _num(r["mse_theory"], 4), _z(r["mse_z"]),
        f"{r['bias']:.3g} / {r['bias_floor']:.3g}", _num(r["variance"]),
    ) for _, r in summary.iterrows()]
    return pd.DataFrame(rows, columns=[
        "Network", "Weights", "Estimator", "k", "h", "R", "cos (± SE)", "cos theory", "cos z",
        "relative MSE (± SE)", "MSE theory", "MSE z", "bias / floor", "variance"])


def tensor_table(latest: pd.DataFrame) -> pd.DataFrame:
    """Mean cosine per parameter tensor of one-direction estimates at the initial weights."""
    rows = latest[(latest["directions"] == 1) & (latest["weights"] == "init")]
    if rows.empty:
        return pd.DataFrame()
    table = rows.groupby(["network", "estimator", "h", "tensor"], sort=False, dropna=False)[
        "cos_mean"].mean().unstack("tensor")
    tensors = [c for c in table.columns if c != ALL] + [ALL]
    table = table[tensors].reset_index()
    table["_e"] = table["estimator"].map(_rank)
    table["_p"] = -table["network"].map(rows.groupby("network")["total_params"].first())
    table = table.sort_values(["_p", "_e"], kind="stable")
    body = [(r["network"], ESTIMATOR_TEXT.get(r["estimator"], r["estimator"]),
             "" if pd.isna(r["h"]) else f"{r['h']:g}", *[f"{r[t]:.4f}" for t in tensors])
            for _, r in table.iterrows()]
    return pd.DataFrame(body, columns=["Network", "Estimator", "h", *tensors])


def quality_markdown(latest: pd.DataFrame, summary: pd.DataFrame, figure: str | None) -> str:
    """The section: what was measured, the headline, the tables, the figure."""
    contexts = "; ".join(
        f"{int(m)} {'batch' if int(m) == 1 else 'batches'} of {int(b)} real digits of {name} "
        f"({int(n):,} train), "
        f"seed {int(s)}" for name, n, b, s, m in distinct(
            latest.assign(batches=latest.groupby("measurement_id")["batch"].transform("nunique")),
            ["dataset", "n_train", "batch_size", "seed", "batches"]))
    steps = sorted({int(s) for s in latest.loc[latest["weights"] == "trained", "trained_steps"]})
    weights = "the initial weights of a run with that seed"
    if steps:
        weights += (" and its weights after " + " or ".join(map(str, steps)) + " backprop steps "
                    "(batch 100, lr 0.1)")
    lines = [
        HEADING, "",
        "R independent estimates of each estimator and setting, at fixed weights and a fixed "
        "batch, each against backprop's exact gradient of that batch (float64, "
        f"`python -m mlpbench.quality`): {contexts}; at {weights}. cos is one estimate's mean "
        "cosine to the gradient; relative MSE is E||ĝ - g||² / ||g||²; bias is ||mean ĝ - g|| / "
        "||g|| beside its floor, sqrt(variance / R), the size a bias of zero still shows after R "
        "estimates; variance is E||ĝ - mean ĝ||² / ||g||². Each is the mean over the batches, "
        "with the standard error of that mean. Theory, for the weight perturbations: the cosine "
        "of an average of k Gaussian directions in P dimensions (exact; Rademacher directions "
        "to O(1/P)) or of k orthogonal ones, and the relative MSE "
        + ", ".join(f"{formula} for {kind}" for kind, formula in theory.MSE_FORMULAS.items())
        + f" directions; z is (measured - theory) / SE, within ±{STANDARD_ERRORS} where they "
        "agree. Activity perturbation has no closed form here (its tangents live per example), "
        f"so its theory is blank. Measured {time_span(latest['measured_at'])} UTC on "
        f"{short_machine(latest)}, one BLAS thread; code revision {revisions_text(latest)}.",
        "",
    ]
    gain = activity_gain(summary)
    if gain is not None:
        lines += [
            f"On {gain['network']} at its initial weights, one activity tangent per example "
            f"reaches a mean cosine of {gain['activations_cos']:.4f} against "
            f"{gain['weights_cos']:.4f} for one weight direction: "
            f"**{gain['factor']:.1f}x** (R ≥ {gain['repeats']} estimates on each batch).", ""]
    lines += [markdown(summary_table(summary), text_columns=6), ""]
    tensors = tensor_table(latest)
    if not tensors.empty:
        lines += ["Mean cosine of one-direction estimates per parameter tensor, initial weights:",
                  "", markdown(tensors, text_columns=3), ""]
    largest = int(summary["total_params"].max())
    if largest >= 100:
        gaussian = theory.relative_mse(100, largest, "gaussian")
        orthogonal = theory.relative_mse(100, largest, "orthogonal")
        lines += [
            f"Orthogonal directions lower the relative MSE from (P + 1)/k to P/k - 1, a gain "
            f"of (k + 1)/(P + 1) of it: at k = 100 on P = {largest:,} that is "
            f"{100 * (gaussian - orthogonal) / gaussian:.2f}%, too small to see; they matter "
            "only where k is a sizeable share of P, as on the small network.", ""]
    if figure is not None:
        lines += [f"![gradient quality against directions]({figure})", ""]
    return "\n".join(lines)


STYLE = {"fg_weights": ("C0", "o"), "fg_weights_orthogonal": ("C1", "s"),
         "fg_activations": ("C2", "^"), "fg_activations_orthogonal": ("C3", "v"),
         "spsa": ("C4", "x"), "mezo": ("C5", "+"), "mezo_orthogonal": ("C6", "d"),
         "es": ("C7", "*")}
LINE_STYLES = ("-", "--", "-.", ":")
"""One per step h of an estimator, smallest first: its colour stays the estimator's."""


def draw_quality(summary: pd.DataFrame, title: str) -> Figure:
    """Cosine (top) and relative MSE (bottom) against k, log axes, a column per (network,
    weights), a line per estimator with ±3 SE bars, theory dashed."""
    panels = list(dict.fromkeys(zip(summary["network"], summary["weights"], strict=True)))
    fig = new_figure(5.0 * len(panels), 9.0)
    axes = fig.subplots(2, len(panels), squeeze=False)
    for col, (network, weights) in enumerate(panels):
        panel = summary[(summary["network"] == network) & (summary["weights"] == weights)]
        p = int(panel["total_params"].iloc[0])
        ks = np.unique(np.geomspace(1, float(panel["directions"].max()), 60).round().astype(int))
        for (estimator, h), curve in panel.groupby(["estimator", "h"], sort=False,
                                                    dropna=False):
            color, marker = STYLE.get(str(estimator), ("C9", "."))
            label = ESTIMATOR_TEXT.get(str(estimator), str(estimator))
            style = "-"
            if not pd.isna(h):
                label += f", h = {h:g}"
                steps = sorted(panel.loc[panel["estimator"] == estimator, "h"].dropna().unique())
                style = LINE_STYLES[steps.index(h) % len(LINE_STYLES)]
            for row, (value, se) in enumerate((("cos", "cos_se"), ("mse", "mse_se"))):
                axes[row, col].errorbar(curve["directions"], curve[value],
                                        yerr=STANDARD_ERRORS * curve[se], color=color,
                                        marker=marker, ms=5, lw=1.4, ls=style, capsize=2,
                                        label=label)
        gaussian = [theory.expected_cosine_exact(int(k), p) for k in ks]
        axes[0, col].plot(ks, gaussian, "k--", lw=1, label="theory: k Gaussian directions")
        axes[1, col].plot(ks, [theory.relative_mse(int(k), p, "gaussian") for k in ks], "k--",
                          lw=1, label="theory: (P + 1)/k")
        if panel["estimator"].str.contains("orthogonal").any():
            inside = ks[ks < p]
            axes[0, col].plot(inside, [theory.orthogonal_cosine(int(k), p) for k in inside],
                              color="0.5", ls="--", lw=1, label="theory: k orthogonal")
            axes[1, col].plot(inside, [theory.relative_mse(int(k), p, "orthogonal")
                                       for k in inside], color="0.5", ls="--", lw=1,
                              label="theory: P/k - 1")
        steps = int(panel["trained_steps"].iloc[0])
        axes[0, col].set_title(f"{network} (P = {p:,}), weights: "
                               f"{weights_label(weights, steps)}", fontsize=10)
        labels = ("mean cosine to backprop", "relative MSE ||ĝ - g||²/||g||²")
        for row, label in enumerate(labels):
            ax = axes[row, col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.grid(alpha=0.3, which="both")
            ax.set_xlabel("directions k")
            if col == 0:
                ax.set_ylabel(label)
            ax.legend(fontsize=7, loc="lower right" if row == 0 else "upper right")
    fig.suptitle(wrap(title, 5.0 * len(panels)), fontsize=10)
    return fig


def quality_parts(rows: pd.DataFrame) -> Section:
    """The section from the study's rows (empty without any)."""
    latest = latest_quality(rows)
    if latest.empty:
        return Section("quality")
    summary = summarise(latest)
    title = ("Gradient estimates at fixed weights against backprop: mean cosine and relative "
             f"MSE vs directions k, ±{STANDARD_ERRORS} SE, theory dashed; "
             f"{short_machine(latest)}")
    return Section("quality", quality_markdown(latest, summary, FIGURE),
                   {FIGURE: draw_quality(summary, title)},
                   {"latest": latest, "summary": summary, "gain": activity_gain(summary)})


def section(inputs: Inputs) -> Section:
    """The section of a report whose folder also holds a quality study."""
    return quality_parts(inputs.quality)
