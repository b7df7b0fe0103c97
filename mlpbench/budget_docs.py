"""The README's equal-budget answer and the course re-run beside ours, rendered from the tuned
reference sweeps (``results/reference/tuned``, ``results/reference/fg_tuned``) by
``python -m mlpbench.docs`` like every measured number of the documentation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlpbench.report import budget_section, course_rerun
from mlpbench.report.describe import machines_text
from mlpbench.report.figures import method_words
from mlpbench.report.format import markdown

if TYPE_CHECKING:
    from mlpbench.docs import Reference

RANDOM_METHODS = ("spsa", "forward_gradient", "es")


def _summary(ref: Reference, sweep: str) -> tuple[pd.DataFrame, pd.Series, Any]:
    inputs = ref.inputs(sweep)
    summary = budget_section.budget_summary(inputs, inputs.tuning)
    return summary, summary["record"].iloc[0], inputs


def _mean(values: pd.Series) -> tuple[float, float, int]:
    got = values.dropna().astype(float)
    return float(got.mean()), float(got.std(ddof=1)), len(got)


def _acc(row: pd.Series, cost: str) -> tuple[float, float, int]:
    return _mean(row["seeds"][f"acc_at_{cost}"])


def _name(row: pd.Series) -> str:
    return f"{method_words(row)} ({budget_section.optimizer_words(row['optimizer'])})"


def _best(summary: pd.DataFrame, cost: str) -> pd.Series | None:
    scored = [(_acc(row, cost)[0], i) for i, row in summary.iterrows()
              if _acc(row, cost)[2] == row["n"]]
    return summary.loc[max(scored)[1]] if scored else None


def _acc_text(row: pd.Series, cost: str) -> str:
    mean, std, n = _acc(row, cost)
    return f"{mean:.3f} ± {std:.3f}" if n > 1 else f"{mean:.3f}"


def answer(summary: pd.DataFrame, record: pd.Series) -> str:
    """The equal-budget answer in sentences, every figure from the runs."""
    seconds, passes = record["budget_seconds"], record["budget_forward_passes"]
    random = summary[summary["method"].isin(RANDOM_METHODS)]
    lines = []
    for cost, budget in (("grad_time_s", f"{seconds:g} s of gradient computation"),
                         ("forward_passes", f"{passes:,.0f} forward passes")):
        best, best_random = _best(summary, cost), _best(random, cost)
        if best is None:
            continue
        text = (f"At {budget}, the most accurate is {_name(best)}, at lr {best['lr']:g}: test "
                f"accuracy {_acc_text(best, cost)}")
        if best_random is not None:
            text += (f"; the best random-direction estimator, {_name(best_random)}, reaches "
                     f"{_acc_text(best_random, cost)}")
        none = summary[[_acc(row, cost)[2] == 0 for _, row in summary.iterrows()]]
        if len(none):
            text += ("; " + " and ".join(sorted({method_words(r) for _, r in none.iterrows()}))
                     + " cannot take one step within it")
        lines.append(text + ".")
    target = max(record["targets"])
    reached = [row for _, row in summary.iterrows()
               if row["seeds"][f"grad_time_s_to_{target:g}"].notna().all()]
    names = sorted({_name(row) for row in reached})
    lines.append(f"Every final seed reached {target:.0%} validation accuracy within its run "
                 f"with {len(names)} of {len(summary)} configurations"
                 + (f": {'; '.join(names)}." if names else "."))
    return " ".join(lines)


def equal_budget_text(ref: Reference) -> str:
    """The tuned sweep's table (each configuration at its chosen rate) and its answer."""
    summary, record, inputs = _summary(ref, "tuned")
    table = budget_section.format_budget(summary)
    table["Method"] = [method_words(row) for _, row in summary.iterrows()]
    table["Optimizer"] = [budget_section.optimizer_words(v) for v in summary["optimizer"]]
    top = f"{max(record['targets']):.0%} val"
    keep = [c for c in table.columns if " to " not in c or c.endswith(top)]
    seeds = record["final_seeds"]
    tuned = budget_section.tuning_attempts(inputs.all_kept, inputs.tuning)
    tuning_seeds = list(record["tuning_seeds"])
    seed_words = ("seed " if len(tuning_seeds) == 1 else "seeds ") + ", ".join(
        map(str, tuning_seeds))
    note = (f"*mnist_subset, 3,500 train / 500 validation / 1,000 test digits, 784-50-10 "
            f"sigmoid, batch 100; each configuration's lr chosen on validation from its grid "
            f"over {len(tuned)} tuning runs ({seed_words}), then {len(seeds)} final seeds "
            f"({seeds[0]}-{seeds[-1]}), mean ± std; budgets "
            f"{record['budget_seconds']:g} s of gradient computation and "
            f"{record['budget_forward_passes']:,.0f} forward passes by count; "
            f"{machines_text(inputs.kept)}. † the runs stopped short of that budget.*")
    return "\n".join([answer(summary, record), "", markdown(table[keep], text_columns=3), "",
                      note, ""])


def fg_tuned_text(ref: Reference) -> str:
    """The course re-run's Table I beside our tuned runs of its protocol."""
    summary, record, inputs = _summary(ref, "fg_tuned")
    final = budget_section.final_attempts(inputs.kept, inputs.tuning)
    table = course_rerun.comparison(summary, inputs.curves, final)
    accs = {(row["method"], course_rerun.optimizer_family(row["optimizer"])):
            _acc_text(row, "grad_time_s") for _, row in summary.iterrows()}
    table[f"Test acc at {record['budget_seconds']:g} s (ours)"] = [
        accs.get(("forward_gradient" if "forward" in m else "backprop",
                  {"SGD": "sgd", "Nesterov": "nesterov", "Adam": "adam"}[o]), "n/a")
        for m, o in zip(table["Method"], table["Optimizer"], strict=True)]
    counts = np.unique([row["n"] for _, row in summary.iterrows()])
    note = (f"*Table I: {course_rerun.SOURCE}. Ours: the embedded subset (3,500 train / 500 "
            f"validation / 1,000 test), He init, {int(counts.max())} final seeds per row, "
            f"{record['budget_seconds']:g} s of gradient computation or "
            f"{record['budget_forward_passes']:,.0f} forward passes per run rather than 50 "
            f"epochs; {machines_text(inputs.kept)}.*")
    return "\n".join([markdown(table, text_columns=2), "", note, ""])
