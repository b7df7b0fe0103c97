"""Configurations: which runs are one configuration, what it is called, and its summary row.

Pure functions from the runs table to DataFrames, shared by every section that shows runs: a
configuration has the same label, the same colour and the same mean wherever it appears.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from mlpbench import results, settings
from mlpbench.report.describe import NETWORK_KEYS, network_text
from mlpbench.report.format import format_h, format_value, is_missing

GROUP_KEYS: tuple[str, ...] = results.GROUP_KEYS
"""Runs that agree on these are one configuration: they differ only in seed (one table row)."""

METHOD_KEYS: tuple[str, ...] = results.METHOD_KEYS
"""The keys that name a gradient method; the others describe the protocol. ``options`` holds a
method's own settings, so SPSA with 1 and with 10 directions are two methods, never one mean."""

INIT_KEYS: tuple[str, ...] = ("dataset", "n_train", *settings.columns_affecting(settings.INIT))
"""With the seed, these fix the initial weights and the batch sequence (see ``train.streams``),
so two runs that share them and the seed saw the same init and the same batches."""

SPEED_CONTEXT_KEYS: tuple[str, ...] = ("dataset", *settings.columns_affecting(settings.WORK))
"""Runs that agree on these do the same work per step, so their speeds can be compared. Epochs
is deliberately not among them: a short run of a slow method times it per step, and its
full-length time is extrapolated to the longest run's epochs."""

SUMMARY_COLUMNS: tuple[str, ...] = (
    *GROUP_KEYS, "config", "method_label", "n", "seeds", "elapsed_mean", "elapsed_std",
    "loss_mean", "loss_std", "acc_mean", "acc_std", "grad_time_per_step_mean",
    "loss_evals_per_step_mean",
)


NULL_WORDS: dict[str, str] = {"optimizer": "sgd", "n_validation": "0"}
"""What a null grouping column means, where "none" would mislead: the seed's plain SGD."""


def method_label(row: pd.Series | dict[str, Any]) -> str:
    """A readable method name: "backprop", "numerical (central, h=1e-04, naive)",
    "spsa (h=1e-03, directions=10, distribution=gaussian)".

    The options are part of the name: two direction counts are two methods, and a label they
    shared would merge them in every table and legend. Results written before the ``options``
    column existed read it as null.
    """
    parts = []
    if not is_missing(row["scheme"]):
        parts.append(str(row["scheme"]))
    if not is_missing(row["h"]):
        parts.append(f"h={format_h(float(row['h']))}")
    if not is_missing(row["engine"]):
        parts.append(str(row["engine"]))
    options = row.get("options")
    if not is_missing(options) and options:
        parts.append(str(options))
    return f"{row['method']} ({', '.join(parts)})" if parts else str(row["method"])


def label_configs(runs: pd.DataFrame) -> pd.DataFrame:
    """Add ``method_label`` and ``config``: the method, plus any protocol key that varies.

    Two configurations that share a method but differ in, say, dtype must not share a legend
    entry, so every non-method grouping key with more than one value among the runs of the
    same method is appended in brackets; a method run under one protocol keeps its plain name.
    """
    labelled = runs.copy()
    labelled["method_label"] = [method_label(row) for _, row in runs.iterrows()]
    protocol_keys = [k for k in GROUP_KEYS if k not in METHOD_KEYS and k not in NETWORK_KEYS]
    network = pd.Series([network_text(*(row[k] for k in NETWORK_KEYS))
                         for _, row in runs.iterrows()], index=runs.index, dtype=object)
    varying = {
        label: [k for k in protocol_keys if group[k].nunique(dropna=False) > 1]
        + (["network"] if network[group.index].nunique() > 1 else [])
        for label, group in labelled.groupby("method_label")
    }
    suffixes = [
        ", ".join(network[i] if k == "network"
                  else f"{k}={NULL_WORDS[k]}" if k in NULL_WORDS and is_missing(row[k])
                  else f"{k}={format_value(row[k])}"
                  for k in varying[row["method_label"]])
        for i, row in labelled.iterrows()
    ]
    labelled["config"] = [
        f"{label} [{suffix}]" if suffix else label
        for label, suffix in zip(labelled["method_label"], suffixes, strict=True)
    ]
    return labelled


def sorted_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Configurations in a stable, readable order: by method, then by the protocol keys."""
    return frame.sort_values(list(GROUP_KEYS), na_position="first", kind="stable")


def summarise(ok_runs: pd.DataFrame) -> pd.DataFrame:
    """One row per configuration: n, seeds, mean and sample std (ddof=1) of the final numbers.

    ``ok_runs`` must already be labelled (``label_configs``) and hold only status-ok attempts,
    so a diverged or failed run never enters a mean. The std is NaN for n=1; the formatter then
    prints the mean alone.
    """
    if ok_runs.empty:
        return pd.DataFrame(columns=list(SUMMARY_COLUMNS))
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
    return sorted_groups(pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))).reset_index(drop=True)


def curves_of(curves: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """The curve rows of exactly these attempts, with their config labels attached."""
    cols = ["attempt_id", "config", "method_label", "seed"]
    picked = curves[curves["attempt_id"].isin(runs["attempt_id"])]
    return picked.drop(columns=["seed"]).merge(runs[cols], on="attempt_id", how="inner")
