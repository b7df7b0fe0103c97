"""Plain helpers of the report tests: writing runs with the trainer's own writer, reading back
what the report wrote.

Every results dir is written with ``results.write_run`` (the writer the trainer uses), so the
report is checked against the real parquet layout and schemas, not against a mock.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from mlpbench import results
from mlpbench.report import ReportOutputs

EPOCHS = 5
N_PARAMS = 784 * 50 + 50 + 50 * 10 + 10
T0 = datetime(2025, 1, 1, tzinfo=UTC)
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

BACKPROP = {"method": "backprop", "scheme": None, "engine": None, "h": None}
NUMERICAL = {"method": "numerical", "scheme": "central", "engine": "naive", "h": 1e-4}
PLAIN_SCHEMES = ("central", "forward", "backward")

# (seed, final loss, final test acc, elapsed s)
BACKPROP_RUNS = [(0, 1.60, 0.70, 0.30), (1, 1.70, 0.66, 0.32), (2, 1.65, 0.68, 0.34)]
NUMERICAL_OK = (0, 1.55, 0.63, 3780.0)


def roles(method: dict[str, Any]) -> dict[str, str | None]:
    """``role`` and ``engine_role`` of a runs row of ``method``, as the methods declare them:
    backprop the reference, plain finite differences the seed's kind; the naive engine the
    seed's loop, the incremental one the fast engine."""
    name, scheme, engine = method["method"], method.get("scheme"), method.get("engine")
    role = (results.ROLE_REFERENCE if name == "backprop"
            else results.ROLE_SEED_KIND if name == "numerical" and scheme in PLAIN_SCHEMES
            else None)
    engine_role = {"naive": results.ENGINE_ROLE_SEED_LOOP,
                   "incremental": results.ENGINE_ROLE_FAST}.get(engine)
    return {"role": role, "engine_role": engine_role}


def config(method: dict[str, Any], seed: int, epochs: int = EPOCHS) -> dict[str, Any]:
    """Config columns as ``run.result_config`` fills them, on the embedded subset."""
    return {
        **method, "dataset": "mnist_subset", "n_train": 4000, "n_test": 1000,
        "hidden_size": 50, "batch_size": 100, "lr": 0.1, "epochs": epochs,
        "steps_per_epoch": 1, "seed": seed, "dtype": "float64", "log_eps": 1e-7,
        "hidden_sizes": None, "activation": None, "init": None, "init_std": None,
        "lr_schedule": None, "lr_decay": None, "sampling": None, "optimizer": None,
        "n_validation": None, "validation_seed": None,
    }


def write(
    results_dir: Path, method: dict[str, Any], seed: int, final_loss: float, final_acc: float,
    elapsed: float, *, status: str = "ok", started_minutes: float = 0.0,
    attempt: str | None = None, epochs_done: int | None = None, epochs: int = EPOCHS,
    grad_per_step: float | None = None,
) -> str:
    """Write one run with a straight-line curve ending at the given final numbers.

    Gradient time is half the elapsed time unless ``grad_per_step`` says otherwise.
    """
    cfg = config(method, seed, epochs)
    epochs_done = epochs if epochs_done is None else epochs_done
    grad_total = elapsed / 2 if grad_per_step is None else grad_per_step * epochs_done
    run_id = results.run_id_for(cfg)
    attempt_id = attempt or f"{method['method']}-{seed}-{started_minutes}"
    results.ensure_writable(results_dir)
    evals = 1 if method["method"] == "backprop" else 2 * N_PARAMS
    ids = {"run_id": run_id, "attempt_id": attempt_id, **cfg}
    curves = []
    for epoch in range(1, epochs_done + 1):
        frac = epoch / epochs_done
        curves.append({
            **ids, "epoch": epoch, "step": epoch, "status": status,
            "loss": 2.3 + (final_loss - 2.3) * frac if math.isfinite(final_loss) or frac < 1
            else final_loss,
            "test_acc": 0.1 + (final_acc - 0.1) * frac, "elapsed_s": elapsed * frac,
            "grad_time_s": grad_total * frac, "loss_evals": evals * epoch,
        })
    run = {
        **ids, "param_count": N_PARAMS, "epochs_done": epochs_done, "final_loss": final_loss,
        "final_test_acc": final_acc, "elapsed_s": elapsed, "grad_time_s": grad_total,
        "loss_evals": evals * epochs_done,
        "grad_time_per_step_s": grad_total / epochs_done, "loss_evals_per_step": float(evals),
        "status": status, "error": None,
        "started_at": T0 + timedelta(minutes=started_minutes), **roles(method),
        **results.environment(),
    }
    results.write_run(results_dir, curves, run)
    return attempt_id


def write_one_step(
    out: Path, method: dict[str, Any], seed: int, status: str, *, grad_time: float = 0.5,
    **columns: Any,
) -> None:
    """One one-epoch, one-step run with extra runs columns (the cost and memory ones), through
    the trainer's writer."""
    cfg = config(method, seed, epochs=1)
    ids = {"run_id": results.run_id_for(cfg), "attempt_id": f"{method['method']}-{seed}", **cfg}
    curve = {**ids, "epoch": 1, "step": 1, "loss": 2.0, "test_acc": 0.2, "elapsed_s": 1.0,
             "grad_time_s": grad_time, "loss_evals": 2, "status": status}
    run = {**ids, "param_count": N_PARAMS, "epochs_done": 1, "final_loss": 2.0,
           "final_test_acc": 0.2, "elapsed_s": 1.0, "grad_time_s": grad_time, "loss_evals": 2,
           "grad_time_per_step_s": grad_time, "loss_evals_per_step": 2.0, "status": status,
           "error": None, "started_at": T0, **roles(method), **columns,
           **results.environment()}
    results.ensure_writable(out)
    results.write_run(out, [curve], run)


def write_shared_runs(out: Path) -> Path:
    """Backprop seeds 0-2 (seed 0 also run earlier, worse), numerical seed 0 ok, seed 1
    diverged: the results dir most report tests read."""
    write(out, BACKPROP, 0, 9.99, 0.11, 0.5, started_minutes=0)  # earlier duplicate
    for seed, loss, acc, elapsed in BACKPROP_RUNS:
        write(out, BACKPROP, seed, loss, acc, elapsed, started_minutes=10 + seed)
    seed, loss, acc, elapsed = NUMERICAL_OK
    write(out, NUMERICAL, seed, loss, acc, elapsed, started_minutes=20)
    write(out, NUMERICAL, 1, math.nan, 0.1, 900.0, status="diverged", started_minutes=21,
          epochs_done=3)
    return out


def runs_numbers(outputs: ReportOutputs) -> dict[str, Any]:
    """The numbers of the runs table section (summary, table, footnote, excluded, ...)."""
    return outputs.numbers["runs"]


def row_of(outputs: ReportOutputs, method: str) -> pd.Series:
    """The one summary row of ``method``."""
    summary = runs_numbers(outputs)["summary"]
    rows = summary[summary["method"] == method]
    assert len(rows) == 1
    return rows.iloc[0]


def table_rows(text: str, first_cell: str) -> list[list[str]]:
    """The cells of every pipe-table row of ``text`` whose first cell is ``first_cell``."""
    rows = [[c.strip() for c in line.strip().strip("|").split("|")]
            for line in text.splitlines() if line.startswith("|")]
    return [row for row in rows if row[0] == first_cell]


def is_png(path: Path | None) -> bool:
    """A real PNG file of some size, not an empty or half-written one."""
    return (path is not None and path.read_bytes().startswith(PNG_MAGIC)
            and path.stat().st_size > 1000)
