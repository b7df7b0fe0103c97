"""Results on disk: a parquet dataset under results_dir, one file per run, written atomically.

Layout: ``results_dir/curves/<run_id>-<attempt_id>.parquet`` (one row per epoch) and
``results_dir/runs/<run_id>-<attempt_id>.parquet`` (one row per run), each readable as a whole
with ``pd.read_parquet(results_dir / "curves")``. Every file is written under a dot-prefixed
temporary name, fsynced and renamed into place, so a reader never sees half a file (parquet
readers skip names starting with "." or "_"). The runs file is written last: a curves file
without its runs file is an interrupted write. A run is *committed* when its runs row and its
curves both read back whole and agree (as many curve rows as epochs done); ``read_results`` and
resume (``scan_attempts``) use that one definition, and anything else is left out and named.
Debris of a killed write (an orphan curves file, a dot-named temporary) is moved to
``results_dir/.debris`` by the next run that starts there (``find_debris``, ``quarantine``), so
``pd.read_parquet(results_dir / "curves")`` sees committed runs only. Names are unique per
attempt, so nothing is ever overwritten or appended to. The studies (scaling,
gradcheck) write one file per invocation into their own folders, read back by
``read_measurements``, and each sweep records its title in ``sweeps/`` (``sweeps``); none of
those folders is read, scanned or cleaned as runs. The schemas of all five formats are in
``schemas``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mlpbench.errors import ResultsError
from mlpbench.results.schemas import CURVES_SCHEMA, LATER_COLUMNS, RUNS_SCHEMA


def run_id_for(config: dict[str, Any]) -> str:
    """A short stable hash of the fields that change a run's result (not paths or launcher).

    A column added later is left out of the hash while it is null, so runs of the methods that
    existed before it keep the ids their earlier results were written under.
    """
    hashed = {k: v for k, v in config.items() if not (k in LATER_COLUMNS and v is None)}
    text = json.dumps(hashed, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def new_attempt_id() -> str:
    """A unique id for one execution of a config, so two executions never share a file."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(4)}"


def ensure_writable(
    folder: Path, subfolders: Sequence[str] = ("curves", "runs"), key: str = "results_dir"
) -> None:
    """Fail before any long work when ``folder`` (and its subfolders) cannot take a file."""
    try:
        for target in [folder / sub for sub in subfolders] or [folder]:
            target.mkdir(parents=True, exist_ok=True)
            probe = target / f".probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"{key}: cannot write to '{folder}': {reason}") from None


def write_atomic(path: Path, write: Callable[[BinaryIO], object], *, replace: bool = False) -> None:
    """Write through ``write(file)`` into a dot-named temp file, fsync, then move it to ``path``.

    Readers skip dot-named files, so they see the whole file or none. Without ``replace`` the
    move is a hard link, which fails rather than overwrite a result already there.
    """
    tmp = path.with_name(f".{path.name}.tmp-{secrets.token_hex(4)}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def write_table(table: pa.Table, path: Path) -> None:
    """One new parquet file, atomically, never over an existing one."""
    write_atomic(path, lambda fh: pq.write_table(table, fh))


def write_measurements(out_dir: Path, rows: Sequence[dict[str, Any]], schema: pa.Schema) -> Path:
    """One invocation's rows of a study (scaling, gradcheck) as one new parquet file, atomically,
    named after the rows' ``measurement_id``; an unwritable folder is an error naming ``--out``."""
    path = out_dir / f"{rows[0]['measurement_id']}.parquet"
    try:
        write_table(pa.Table.from_pylist(list(rows), schema=schema), path)
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"--out: cannot write to '{out_dir}': {reason}") from None
    return path


def write_run(
    results_dir: Path, curves: list[dict[str, Any]], run: dict[str, Any]
) -> tuple[Path, Path]:
    """Write one run's curve rows and its summary row; the summary goes last as the commit."""
    name = f"{run['run_id']}-{run['attempt_id']}.parquet"
    curves_path = results_dir / "curves" / name
    runs_path = results_dir / "runs" / name
    try:
        write_table(pa.Table.from_pylist(curves, schema=CURVES_SCHEMA), curves_path)
        try:
            write_table(pa.Table.from_pylist([run], schema=RUNS_SCHEMA), runs_path)
        except BaseException:
            curves_path.unlink(missing_ok=True)  # no curves without their commit
            raise
    except OSError as ex:
        reason = ex.strerror or type(ex).__name__
        raise ResultsError(f"results_dir: cannot write to '{results_dir}': {reason}") from None
    return curves_path, runs_path


def read_table(path: Path, schema: pa.Schema) -> pa.Table:
    """One results file, checked to be ours: every column of ``schema``, castable to it."""
    table = pq.read_table(path)
    missing = [name for name in schema.names if name not in table.column_names]
    required = [name for name in missing if name not in LATER_COLUMNS]
    if required:
        raise ValueError(f"not an mlpbench results file (no column {required[0]!r})")
    for name in missing:
        table = table.append_column(name, pa.nulls(table.num_rows, schema.field(name).type))
    return table.select(schema.names).cast(schema)


def result_files(folder: Path) -> list[Path]:
    """Every file a reader should consider: all names except dot-prefixed temporaries."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith((".", "_")))


def _read_folder(folder: Path, schema: pa.Schema, bad: list[tuple[Path, str]] | None) -> pa.Table:
    tables = []
    for path in result_files(folder):
        try:
            tables.append(read_table(path, schema))
        except (pa.ArrowException, OSError, ValueError) as ex:
            reason = (str(ex).splitlines() or [type(ex).__name__])[0]
            if bad is None:
                raise ResultsError(f"cannot read results file '{path}': {reason}") from None
            bad.append((path, reason))
    return pa.concat_tables(tables) if tables else schema.empty_table()


def read_results(
    results_dir: Path,
    bad_files: list[tuple[Path, str]] | None = None,
    left_out: list[dict[str, Any]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Curves and runs of every committed run, read file by file.

    A run counts once its runs row and its curves read back whole and agree: as many curve rows
    as ``epochs_done`` (the runs file is written last, so a curves file without one is an
    interrupted write, not a run). A file that cannot be read as ours raises ``ResultsError``
    naming it, or, when ``bad_files`` is a list, is added to it as (path, reason) and left out,
    so one bad file never hides the good ones. A runs row whose curves are missing, unreadable
    or short is likewise named in ``bad_files`` and its row added to ``left_out``: the report
    says it was left out, and resume runs it again.
    """
    results_dir = Path(results_dir)
    for sub in ("curves", "runs"):
        if not (results_dir / sub).is_dir():
            raise ResultsError(f"results_dir: no '{sub}' folder in '{results_dir}'; run a sweep")
    runs = _read_folder(results_dir / "runs", RUNS_SCHEMA, bad_files).to_pandas()
    curves = _read_folder(results_dir / "curves", CURVES_SCHEMA, bad_files).to_pandas()
    rows = curves.groupby("attempt_id").size()
    found = runs["attempt_id"].map(rows).fillna(0).astype(int)
    whole = found.eq(runs["epochs_done"].fillna(0).astype(int))
    for (_, run), n in zip(runs[~whole].iterrows(), found[~whole], strict=True):
        path = results_dir / "runs" / f"{run['run_id']}-{run['attempt_id']}.parquet"
        reason = incomplete_reason(n, run["epochs_done"])
        if bad_files is None:
            raise ResultsError(f"results file '{path}': {reason}")
        bad_files.append((path, reason))
        if left_out is not None:
            left_out.append(run.to_dict())
    runs = runs[whole]
    curves = curves[curves["attempt_id"].isin(runs["attempt_id"])]
    return curves.reset_index(drop=True), runs.reset_index(drop=True)


def incomplete_reason(curve_rows: int, epochs_done: int | None) -> str:
    """Why a runs row is not a committed run: its curves do not match it."""
    done = 0 if epochs_done is None or pd.isna(epochs_done) else int(epochs_done)
    return (f"run left out: its curves hold {curve_rows} rows for {done} epochs done "
            "(missing, unreadable or cut short); resume runs it again")


RESULT_NAME = re.compile(r"^([0-9a-f]{16})-(\d{8}T\d{6}-[0-9a-f]{8})\.parquet$")
"""The name of every result file mlpbench writes: ``<run_id>-<attempt_id>.parquet``."""

DEBRIS = ".debris"
"""Where files left by a killed write are moved (``quarantine``): out of every reader's way,
kept rather than deleted."""


@dataclass(frozen=True)
class AttemptScan:
    """The attempts of one run on disk: those committed, and the files of those that are not."""

    committed: list[dict[str, Any]]
    broken: list[tuple[list[Path], str]]


def scan_attempts(results_dir: Path, run_id: str) -> AttemptScan:
    """Every attempt of ``run_id`` with a runs file, sorted into committed and broken.

    Committed means what ``read_results`` counts: the runs row and its curves read back whole
    and agree. A broken attempt (a runs or curves file cut short, a curves file missing) is not
    a result: resume runs it again, and its files are returned so they can be moved aside.
    """
    results_dir = Path(results_dir)
    committed, broken = [], []
    for runs_path in sorted((results_dir / "runs").glob(f"{run_id}-*.parquet")):
        if not RESULT_NAME.match(runs_path.name):
            continue
        curves_path = results_dir / "curves" / runs_path.name
        try:
            row = read_table(runs_path, RUNS_SCHEMA).to_pylist()[0]
            curve_rows = (read_table(curves_path, CURVES_SCHEMA).num_rows
                          if curves_path.exists() else 0)
        except (pa.ArrowException, OSError, ValueError, IndexError) as ex:
            reason = (str(ex).splitlines() or [type(ex).__name__])[0]
            broken.append(([runs_path, curves_path], f"unreadable ({reason})"))
            continue
        if curve_rows != (row["epochs_done"] or 0):
            broken.append(([runs_path, curves_path],
                           incomplete_reason(curve_rows, row["epochs_done"])))
            continue
        committed.append(row)
    return AttemptScan(sorted(committed, key=lambda row: row["started_at"]), broken)


def attempts_of(results_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """The committed attempts of one run (see ``scan_attempts``), oldest first."""
    return scan_attempts(results_dir, run_id).committed


def find_debris(results_dir: Path) -> list[Path]:
    """Files a killed write left in ``curves/`` and ``runs/``: temporaries, orphan curves.

    A dot-named ``.tmp-`` file is a write that never finished; a curves file named like a result
    with no runs file of the same name is a run whose commit never happened. Files with other
    names are not ours and are left alone (the reader names them). The caller decides whether a
    write is still under way (its run is claimed) before moving anything.
    """
    results_dir = Path(results_dir)
    curves_dir, runs_dir = results_dir / "curves", results_dir / "runs"
    if not curves_dir.is_dir() or not runs_dir.is_dir():
        return []
    found = [path for folder in (curves_dir, runs_dir) for path in sorted(folder.iterdir())
             if path.name.startswith(".") and ".tmp-" in path.name]
    committed = {path.name for path in runs_dir.iterdir()}
    found += [path for path in sorted(curves_dir.iterdir())
              if RESULT_NAME.match(path.name) and path.name not in committed]
    return found


def is_debris(path: Path) -> bool:
    """Whether ``path`` (one of ``find_debris``) is still there and still not committed."""
    if path.name.startswith("."):
        return path.exists()
    return path.exists() and not (path.parent.parent / "runs" / path.name).exists()


def run_id_of(path: Path) -> str:
    """The run id a result file or its temporary belongs to (the first 16 characters)."""
    return path.name.lstrip(".")[:16]


def quarantine(results_dir: Path, paths: Sequence[Path]) -> list[Path]:
    """Move ``paths`` into ``results_dir/.debris/<folder>/``; returns those this call moved.

    A file another process moved first is skipped, so several workers may clean at once.
    """
    moved = []
    for path in paths:
        target = Path(results_dir) / DEBRIS / path.parent.name / path.name.lstrip(".")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
        except FileNotFoundError:
            continue
        moved.append(path)
    return moved


def read_measurements(
    folder: Path, schema: pa.Schema, bad_files: list[tuple[Path, str]]
) -> pd.DataFrame:
    """Every row of a study's folder (scaling, gradcheck); an empty frame when there is none.

    A missing folder is not an error: the studies are optional, and a report without them
    simply has no section for them. Read file by file, as for runs: a file that is not a result
    of ``schema`` is added to ``bad_files`` and left out, so one stray file never hides the rest.
    """
    return _read_folder(Path(folder), schema, bad_files).to_pandas()


@dataclass(frozen=True, eq=False)
class Attempts:
    """The attempt kept for each run_id, and the attempts set aside as duplicates."""

    kept: pd.DataFrame
    set_aside: pd.DataFrame


def select_attempts(runs: pd.DataFrame) -> Attempts:
    """Keep one attempt per run_id: the latest ok one, else the latest of any status.

    The same config and seed run twice gives two attempts of one run_id; counting both would
    weigh that seed twice in a mean. Earlier or non-ok attempts are returned, not discarded,
    so a reader can say how many were set aside.
    """
    order = runs.assign(_ok=runs["status"].eq("ok")).sort_values(
        ["_ok", "started_at", "attempt_id"], na_position="first", kind="stable"
    )
    kept = order.groupby("run_id", sort=False).tail(1).drop(columns="_ok")
    set_aside = runs[~runs["attempt_id"].isin(kept["attempt_id"])]
    return Attempts(kept=kept.reset_index(drop=True), set_aside=set_aside.reset_index(drop=True))
