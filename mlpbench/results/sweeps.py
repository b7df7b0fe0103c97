"""Sweep records: which sweep files ran into a results folder, with their titles and questions.

A sweep's title and question are written in its Hydra file (``conf/sweep/<name>.yaml``), but the
report reads only parquet, so the grids sweeper records them before it launches:
``results_dir/sweeps/<name>.parquet``, one row of ``SWEEPS_SCHEMA``. Running the same sweep
again replaces its record, atomically like every result file, so a title reworded in the sweep
file reaches the next report. The folder sits beside ``curves/`` and ``runs/``; the run readers,
resume and the debris handling look only inside those two, so a record is never taken for a run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.parquet as pq

from mlpbench.errors import WriteError
from mlpbench.results.schemas import SWEEPS_SCHEMA, TUNING_SCHEMA

if TYPE_CHECKING:
    import pandas as pd
from mlpbench.results.store import read_measurements, write_atomic

SWEEPS = "sweeps"
"""The folder of the sweep records under results_dir."""
TUNINGS = "tuning"
"""The folder of the tuned sweeps' records (grid, scores, choice) under results_dir."""


def sweep_path(results_dir: Path, sweep: str, folder: str = SWEEPS) -> Path:
    """Where the record of ``sweep`` lives: one file per sweep name, so a rerun replaces it.

    A name from a nested config folder ("papers/dlfs") becomes one file name; a leading dot or
    underscore is dropped, since readers skip such names as temporaries.
    """
    name = sweep.replace("/", "-").replace("\\", "-").lstrip("._")
    if not name:
        raise ValueError(f"not a sweep name: {sweep!r}")
    return Path(results_dir) / folder / f"{name}.parquet"


def write_sweep(results_dir: Path, sweep: str, title: str | None, question: str | None) -> Path:
    """Record that ``sweep`` runs into ``results_dir``, with its title and question.

    Written atomically (temp file, fsync, rename) over any earlier record of the same sweep, so
    a failed write leaves the earlier record whole. A folder or file that cannot be written is a
    ``WriteError`` naming that exact path and the reason (a full disk, a file where the folder
    must be): one line and exit code 2 at the command line, before any job starts.
    """
    table = pa.Table.from_pylist([{"sweep": sweep, "title": title, "question": question}],
                                 schema=SWEEPS_SCHEMA)
    return _replace(sweep_path(results_dir, sweep), table)


def write_tuning(results_dir: Path, sweep: str, rows: list[dict]) -> Path:
    """Record a tuned sweep's grid, scores and choice (``TUNING_SCHEMA``), atomically over any
    earlier record of the same sweep: the choice is a function of the runs, so a rerun that
    resumed them writes the same rows."""
    table = pa.Table.from_pylist(rows, schema=TUNING_SCHEMA)
    return _replace(sweep_path(results_dir, sweep, TUNINGS), table)


def read_tunings(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every tuned sweep's record in ``results_dir``; empty when there is none."""
    return read_measurements(Path(results_dir) / TUNINGS, TUNING_SCHEMA, bad_files)


def _replace(path: Path, table: pa.Table) -> Path:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as ex:
        raise WriteError(path.parent, ex) from None
    try:
        write_atomic(path, lambda fh: pq.write_table(table, fh), replace=True)
    except OSError as ex:
        raise WriteError(path, ex) from None
    return path


def read_sweeps(results_dir: Path, bad_files: list[tuple[Path, str]]) -> pd.DataFrame:
    """Every sweep record of ``results_dir``, in file name order; empty when there is none.

    Results from before the records, or from a plain ``--multirun``, have no folder: not an
    error, the report then titles itself from the runs. A file that is not a record is added to
    ``bad_files`` and left out, as for runs. A title or question not given is None.
    """
    records = read_measurements(Path(results_dir) / SWEEPS, SWEEPS_SCHEMA, bad_files)
    return records.astype(object).where(records.notna(), None)
