"""Speed ("## Speed"): per-step gradient time and full-protocol time per gradient method.

``speed_summary`` gives one row per (context, gradient method), where a context is the work
one step does (``SPEED_CONTEXT_KEYS``), with the full-protocol time extrapolated from shorter
runs where needed and the ratios to the reference (the run's ``role``, backprop);
``engine_speedups`` the ratios of the seed's loop to a fast engine on the same finite
differences (the run's ``engine_role``).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from mlpbench import results
from mlpbench.report.configs import METHOD_KEYS, SPEED_CONTEXT_KEYS
from mlpbench.report.describe import shape_and_activation
from mlpbench.report.format import (
    format_h,
    format_ratio,
    human_duration,
    markdown,
    plural,
)
from mlpbench.report.section import Inputs, Section

FIGURES: tuple[str, ...] = ()

SPEED_COLUMNS: tuple[str, ...] = (
    *SPEED_CONTEXT_KEYS, *METHOD_KEYS, "method_label", "role", "engine_role", "n",
    "grad_time_per_step_mean",
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
        **{k: first[k] for k in (*SPEED_CONTEXT_KEYS, *METHOD_KEYS, "method_label", "role",
                                 "engine_role")},
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
    """One row per (context, gradient method), with ratios to the reference in the same context.

    ``ok_runs`` must be labelled (``label_configs``) and hold only status-ok attempts. The
    protocol's length (``target_epochs``) is the largest ``epochs`` among the context's runs.
    Ratios are method / reference (how many times slower), the reference being the run whose
    ``role`` says so (backprop); NaN without one, as for runs written before the column.
    """
    if ok_runs.empty:
        return pd.DataFrame(columns=list(SPEED_COLUMNS))
    rows = []
    for _, context in ok_runs.groupby(list(SPEED_CONTEXT_KEYS), dropna=False, sort=False):
        target = int(context["epochs"].max())
        block = [_speed_row(group, target) for _, group in
                 context.groupby(list(METHOD_KEYS), dropna=False, sort=False)]
        reference = next((r for r in block if r["role"] == results.ROLE_REFERENCE), None)
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
    """The seed's loop over the fast engine, per step and for the protocol, for each (context,
    scheme, h) holding both (``engine_role``).

    Both engines compute the same finite differences, so the ratio is the fast engine's
    speedup over the seed's loop on the same work. ``seed_loop_engine`` and ``fast_engine``
    name the two engines.
    """
    columns = [*SPEED_CONTEXT_KEYS, "scheme", "h", "seed_loop_engine", "fast_engine",
               "seed_loop_grad", "fast_grad", "grad_speedup", "seed_loop_target", "fast_target",
               "target_speedup", "target_epochs"]
    pairing = [results.ENGINE_ROLE_SEED_LOOP, results.ENGINE_ROLE_FAST]
    engines = speed[speed["engine_role"].isin(pairing)]
    rows = []
    for _, pair in engines.groupby([*SPEED_CONTEXT_KEYS, "scheme", "h"], dropna=False,
                                   sort=False):
        by_role = {row["engine_role"]: row for _, row in pair.iterrows()}
        if set(by_role) != set(pairing):
            continue
        slow, fast = by_role[results.ENGINE_ROLE_SEED_LOOP], by_role[results.ENGINE_ROLE_FAST]
        rows.append({
            **{k: slow[k] for k in (*SPEED_CONTEXT_KEYS, "scheme", "h")},
            "seed_loop_engine": slow["engine"],
            "fast_engine": fast["engine"],
            "seed_loop_grad": slow["grad_time_per_step_mean"],
            "fast_grad": fast["grad_time_per_step_mean"],
            "grad_speedup": slow["grad_time_per_step_mean"] / fast["grad_time_per_step_mean"],
            "seed_loop_target": slow["target_time"],
            "fast_target": fast["target_time"],
            "target_speedup": slow["target_time"] / fast["target_time"],
            "target_epochs": slow["target_epochs"],
        })
    return pd.DataFrame(rows, columns=columns)


def format_protocol_time(row: pd.Series | dict[str, Any]) -> str:
    """The full-protocol time, saying so when it is extrapolated from a shorter run."""
    text = human_duration(row["target_time"])
    if row["extrapolated"]:
        text += f" (extrapolated from {plural(int(row['epochs_run']), 'epoch')})"
    return text


def format_speed(speed: pd.DataFrame) -> pd.DataFrame:
    """The Speed table of one context: times with their epochs, and the ratios to the
    reference."""
    rows = []
    for _, row in speed.iterrows():
        is_reference = row["role"] == results.ROLE_REFERENCE
        rows.append((
            row["method_label"],
            int(row["n"]),
            human_duration(row["grad_time_per_step_mean"]),
            f"{human_duration(row['elapsed_mean'])} ({plural(int(row['epochs_run']), 'epoch')})",
            format_protocol_time(row),
            "reference" if is_reference else format_ratio(row["grad_vs_backprop"]),
            "reference" if is_reference else format_ratio(row["target_vs_backprop"]),
        ))
    target = int(speed["target_epochs"].iloc[0]) if not speed.empty else 0
    columns = ["Method", "n (runs)", "Gradient time per step", "Elapsed (measured)",
               f"Time for {target} epochs", "Gradient time vs backprop",
               f"{target}-epoch time vs backprop"]
    return pd.DataFrame(rows, columns=columns)


def _engine_names(speedups: pd.DataFrame, column: str) -> str:
    """The engine (or engines) of one side of the pairs: "naive", "a or b"."""
    return " or ".join(dict.fromkeys(str(e) for e in speedups[column]))


def format_speedups(speedups: pd.DataFrame) -> pd.DataFrame:
    """The fast-engine-vs-seed's-loop table of one context, headed by the engines' names."""
    rows = [
        (f"{row['scheme']}, h={format_h(float(row['h']))}",
         human_duration(row["seed_loop_grad"]), human_duration(row["fast_grad"]),
         format_ratio(row["grad_speedup"]), format_ratio(row["target_speedup"]))
        for _, row in speedups.iterrows()
    ]
    target = int(speedups["target_epochs"].iloc[0]) if not speedups.empty else 0
    slow, fast = (_engine_names(speedups, c) for c in ("seed_loop_engine", "fast_engine"))
    return pd.DataFrame(rows, columns=[
        "Scheme", f"{slow}: gradient time per step", f"{fast}: gradient time per step",
        f"Speedup per step ({slow} / {fast})", f"Speedup for {target} epochs"])


def _context_title(row: pd.Series | dict[str, Any]) -> str:
    shape = shape_and_activation(row)
    return (f"{row['dataset']}, {shape}, batch {row['batch_size']}, "
            f"{plural(int(row['steps_per_epoch']), 'step')} per epoch, {row['dtype']}")


def speed_markdown(speed: pd.DataFrame, speedups: pd.DataFrame) -> str:
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
    for _, context in speed.groupby(list(SPEED_CONTEXT_KEYS), dropna=False, sort=False):
        first = context.iloc[0]
        lines += [f"**{_context_title(first)}** (protocol length: "
                  f"{int(first['target_epochs'])} epochs)", "", markdown(format_speed(context)),
                  ""]
        mine = speedups.merge(context[list(SPEED_CONTEXT_KEYS)].drop_duplicates(),
                              on=list(SPEED_CONTEXT_KEYS), how="inner")
        if not mine.empty:
            slow, fast = (_engine_names(mine, c) for c in ("seed_loop_engine", "fast_engine"))
            lines += [f"{fast[:1].upper()}{fast[1:]} vs {slow} engine:", "",
                      markdown(format_speedups(mine)), ""]
    return "\n".join(lines)


def section(inputs: Inputs) -> Section:
    """ "## Speed", empty when no run finished ok. Numbers: ``speed`` (``speed_summary``) and
    ``speedups`` (``engine_speedups``)."""
    speed = speed_summary(inputs.ok_runs)
    speedups = engine_speedups(speed)
    return Section("speed", speed_markdown(speed, speedups),
                   numbers={"speed": speed, "speedups": speedups})
