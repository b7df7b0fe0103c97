"""Results on disk: a parquet dataset under results_dir, one file per run, written atomically.

Layout: ``results_dir/curves/<run_id>-<attempt_id>.parquet`` (one row per epoch) and
``results_dir/runs/<run_id>-<attempt_id>.parquet`` (one row per run), each readable as a whole
with ``pd.read_parquet(results_dir / "curves")``. Every file is written under a dot-prefixed
temporary name, fsynced and renamed into place, so a reader never sees half a file (parquet
readers skip names starting with "." or "_"). The runs file is written last: a curves file
without its runs file is an interrupted write. What a *committed* attempt is, is one function,
``committed``, that resume (``scan_attempts``), the reader (``read_results``) and so the report
all use: one runs file with its one row, one curves file with its rows only, as many as epochs
done, both under the writer's names. Anything else is left out and named, and the next run that
starts in the folder moves it to ``results_dir/.debris`` (``set_aside``; debris of a killed
write, an orphan curves file or a dot-named temporary, under its run's claim: ``find_debris``,
``quarantine``), so ``pd.read_parquet(results_dir / "curves")`` sees committed runs only.
Names are unique per attempt, so nothing is ever overwritten or appended to. The studies (scaling,
gradcheck) write one file per invocation into their own folders, read back by
``read_measurements``, and each sweep records its title in ``sweeps/`` (``sweeps``); none of
those folders is read, scanned or cleaned as runs. The schemas of all five formats are in
``schemas``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from mlpbench.errors import ResultsError
from mlpbench.results.schemas import CURVES_SCHEMA, LATER_COLUMNS, RUNS_SCHEMA

if TYPE_CHECKING:  # pandas is imported where a frame is made: a run that only writes starts
    import pandas as pd  # without it (a third of its start-up)


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


RESULT_FOLDERS = ("curves", "runs", ".claims")
"""What a run writes under its results folder: its two files, and the claim it holds meanwhile."""


def ensure_writable(
    folder: Path, subfolders: Sequence[str] = RESULT_FOLDERS, key: str = "results_dir"
) -> list[Path]:
    """Fail before any long work when ``folder`` (and its subfolders) cannot take a file; return
    the folders this call made, deepest first (``remove_if_empty`` takes them back).

    The error names the path that failed: a subfolder that is a file (``.claims`` made by hand,
    say) is named as such, before any folder is made.
    """
    targets = [folder / sub for sub in subfolders] or [folder]
    for target in targets:  # before anything is made, so a refused folder is left as it was
        if (target.is_symlink() or target.exists()) and not target.is_dir():
            raise ResultsError(f"{key}: cannot write to '{target}': not a folder")
    made: list[Path] = []
    for target in targets:
        missing = [p for p in (target, *target.parents) if not (p.exists() or p.is_symlink())]
        try:
            target.mkdir(parents=True, exist_ok=True)
            made += [p for p in missing if p not in made]
            probe = target / f".probe-{secrets.token_hex(4)}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as ex:
            named = target if target.exists() else folder
            reason = ex.strerror or type(ex).__name__
            raise ResultsError(f"{key}: cannot write to '{named}': {reason}") from None
    return sorted(made, key=lambda p: len(p.parts), reverse=True)


def remove_if_empty(folders: Sequence[Path]) -> None:
    """Remove each of ``folders`` (deepest first) that is still empty; others stay as they are."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


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
    """Curves and runs of every committed attempt (``committed``'s rule), nothing else.

    Every other file in ``curves/`` and ``runs/`` is added to ``bad_files`` as (path, reason),
    so one bad file never hides the good ones and none is dropped unnamed; without a list, the
    first such file raises ``ResultsError`` naming it (a curves file without its runs file
    aside: that is a write under way or killed, not a damaged result). The runs rows of runs
    with no committed attempt at all go to ``left_out``: the report says they were left out,
    and resume runs them again, since it decides by the same rule.
    """
    results_dir = Path(results_dir)
    for sub in ("curves", "runs"):
        if not (results_dir / sub).is_dir():
            raise ResultsError(f"results_dir: no '{sub}' folder in '{results_dir}'; run a sweep")
    found = committed(results_dir)
    for entry in found.left_out:
        if bad_files is not None:
            bad_files.append((entry.path, entry.reason))
        elif not entry.in_flight:
            raise ResultsError(f"cannot read results file '{entry.path}': {entry.reason}")
    if left_out is not None:
        left_out += found.lost_runs()
    runs = pa.concat_tables([RUNS_SCHEMA.empty_table()]
                            + [attempt.runs for attempt in found.attempts])
    curves = pa.concat_tables([CURVES_SCHEMA.empty_table()]
                              + [attempt.curves for attempt in found.attempts])
    return curves.to_pandas(), runs.to_pandas()


def incomplete_reason(curve_rows: int, epochs_done: int | None) -> str:
    """Why a runs row is not a committed run: its curves do not match it."""
    import pandas as pd

    done = 0 if epochs_done is None or pd.isna(epochs_done) else int(epochs_done)
    return (f"run left out: its curves hold {curve_rows} rows for {done} epochs done "
            "(missing, unreadable or cut short)")


RESULT_NAME = re.compile(r"^([0-9a-f]{16})-(\d{8}T\d{6}-[0-9a-f]{8})\.parquet$")
"""The name of every result file mlpbench writes: ``<run_id>-<attempt_id>.parquet``."""

DEBRIS = ".debris"
"""Where files that are not committed results are moved (``clear_debris``, ``set_aside``): out
of every reader's way, kept rather than deleted."""


def attempt_name(row: dict[str, Any]) -> str:
    """The file name ``write_run`` gives an attempt, in ``curves/`` and in ``runs/`` alike."""
    return f"{row['run_id']}-{row['attempt_id']}.parquet"


@dataclass(frozen=True, eq=False)
class Attempt:
    """One committed attempt: its runs row, its two files and what they hold."""

    row: dict[str, Any]
    runs_path: Path
    curves_path: Path
    runs: pa.Table
    curves: pa.Table


@dataclass(frozen=True, eq=False)
class LeftOut:
    """A file in ``curves/`` or ``runs/`` that is not part of exactly one committed attempt.

    ``attempt`` is the name of the attempt it belongs to (None for a file that holds no attempt
    or several), ``cause`` why that attempt is not committed (one line for all its files),
    ``row`` that attempt's runs row where one was readable, ``in_flight`` whether
    it is a curves file without a runs file of its name: what a write under way looks like
    between its two renames, so only its run's claim may decide to move it (``clear_debris``).
    """

    path: Path
    reason: str
    attempt: str | None = None
    cause: str | None = None
    row: dict[str, Any] | None = None
    in_flight: bool = False


@dataclass(frozen=True, eq=False)
class Committed:
    """A results folder sorted by ``committed``: the committed attempts and every other file."""

    attempts: list[Attempt]
    left_out: list[LeftOut]

    def rows(self, run_id: str) -> list[dict[str, Any]]:
        """The committed runs rows of ``run_id``, oldest first (what resume decides on)."""
        rows = [a.row for a in self.attempts if a.row["run_id"] == run_id]
        return sorted(rows, key=lambda row: (row["started_at"] is not None,
                                             str(row["started_at"] or "")))

    def lost_runs(self) -> list[dict[str, Any]]:
        """One runs row per run that has no committed attempt but a readable uncommitted one:
        the runs a report must call left out, and that resume will run again."""
        done = {a.row["run_id"] for a in self.attempts}
        lost: dict[str, dict[str, Any]] = {}
        for entry in self.left_out:
            if entry.row is not None and entry.row["run_id"] not in done:
                lost.setdefault(entry.row["run_id"], entry.row)
        return list(lost.values())


_LOADED: dict[Path, tuple[tuple[int, int, int], pa.Table | str]] = {}
"""Files already read, by path and (inode, size, mtime): every run start judges the whole folder,
and result files are never changed in place, so a worker that runs many runs reads each once."""


def _load(path: Path, schema: pa.Schema) -> pa.Table | str | None:
    """``path`` read as a result of ``schema``; the reason as a string when it cannot be; None
    when it is gone (moved aside by another process since the folder was listed)."""
    try:
        stat = path.stat()
        key = (stat.st_ino, stat.st_size, stat.st_mtime_ns)
        cached = _LOADED.get(path)
        if cached is not None and cached[0] == key:
            return cached[1]
        try:
            loaded: pa.Table | str = read_table(path, schema)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError, ValueError) as ex:
            loaded = unreadable_reason(ex)
    except FileNotFoundError:
        _LOADED.pop(path, None)
        return None
    _LOADED[path] = (key, loaded)
    return loaded


def unreadable_reason(ex: BaseException) -> str:
    """Why a file could not be read, in one short line: "not a parquet file: ..." rather than
    pyarrow's sentence that repeats the whole path the caller names anyway."""
    text = (str(ex).splitlines() or [type(ex).__name__])[0]
    if text.startswith("Could not open Parquet input source"):
        return "not a parquet file: " + text.split("': ", 1)[-1]
    return text


Key = tuple[str, str]
"""An attempt: (run_id, attempt_id)."""


def _key_of_name(name: str) -> Key | None:
    """The attempt a file's name says it holds (for a file whose contents cannot say)."""
    match = RESULT_NAME.match(name)
    return (match.group(1), match.group(2)) if match else None


def committed(results_dir: Path) -> Committed:
    """The one rule of what a committed run is, used by resume, the reader and the report.

    An attempt is committed when exactly one runs file holds exactly one row for it, exactly
    one curves file holds its curve rows and no other attempt's, those rows are as many as
    ``epochs_done`` with distinct epochs, and both files carry the name ``write_run`` gives the
    attempt. A copy ("<name> (1).parquet"), a renamed file, a duplicated row, a cut or foreign
    file breaks that, and then every file involved is left out with its reason: none is a
    result, the report names them, the next run moves them to ``.debris/`` (``set_aside``) and
    resume runs the run again. ``runs/`` is listed before ``curves/``: the writer renames the
    curves file first, so a runs file seen here always has its curves file listed too, and a
    write under way can only look like a curves file without its runs file (``in_flight``).
    """
    results_dir = Path(results_dir)
    runs_dir, curves_dir = results_dir / "runs", results_dir / "curves"
    listed = [(path, RUNS_SCHEMA) for path in result_files(runs_dir)]
    listed += [(path, CURVES_SCHEMA) for path in result_files(curves_dir)]
    problem: dict[Path, str] = {}
    tables: dict[Path, pa.Table] = {}
    holders: dict[Key, dict[str, list[Path]]] = {}
    rows: dict[Key, dict[str, Any]] = {}
    for path, schema in listed:
        loaded = _load(path, schema)
        if loaded is None:
            continue
        folder = path.parent.name
        if isinstance(loaded, str):
            problem[path] = loaded
            keys = [key] if (key := _key_of_name(path.name)) else []
        else:
            tables[path] = loaded
            ids = loaded.select(["run_id", "attempt_id"]).to_pylist()
            keys = list(dict.fromkeys((r["run_id"], r["attempt_id"]) for r in ids))
            if not keys and (key := _key_of_name(path.name)) is not None:
                keys = [key]  # an attempt that stopped before its first epoch: no curve rows
            if folder == "runs" and loaded.num_rows != 1:
                problem[path] = f"holds {loaded.num_rows} rows, where a runs file holds one"
            elif len(keys) > 1:
                problem[path] = f"holds the rows of {len(keys)} attempts, where a file holds one"
            elif not keys:
                problem[path] = "holds no rows and is not named as an attempt"
            elif path.name != (name := f"{keys[0][0]}-{keys[0][1]}.parquet"):
                problem[path] = (f"not the name the writer gives the attempt it holds ({name}): "
                                 "a copy or a renamed file")
            if folder == "runs":
                for row in loaded.to_pylist():
                    rows.setdefault((row["run_id"], row["attempt_id"]), row)
        for key in keys:
            holders.setdefault(key, {"runs": [], "curves": []})[folder].append(path)

    attempts: list[Attempt] = []
    why: dict[Key, str] = {}
    for key, held in holders.items():
        reason = _not_committed(held, problem, tables, rows.get(key))
        if reason is None:
            runs_path, curves_path = held["runs"][0], held["curves"][0]
            attempts.append(Attempt(rows[key], runs_path, curves_path, tables[runs_path],
                                    tables[curves_path]))
        else:
            why[key] = reason
    done = {a.row["run_id"] for a in attempts}
    left_out: dict[Path, LeftOut] = {}
    for key, reason in why.items():
        held = holders[key]
        then = ("a committed attempt of the same run is used" if key[0] in done
                else "resume runs it again")
        row = rows.get(key)
        for path in held["runs"] + held["curves"]:
            # Judged on the listing alone: a runs file that exists *now* but was not listed is
            # a commit that landed between the two listings, so its curves are in flight too.
            in_flight = path.parent.name == "curves" and not held["runs"]
            text = problem.get(path, reason)
            left_out.setdefault(path, LeftOut(path, f"{text}; {then}", f"{key[0]}-{key[1]}",
                                              reason, row, in_flight))
    for path, text in problem.items():  # files that name no attempt at all
        left_out.setdefault(path, LeftOut(path, text))
    attempts.sort(key=lambda a: a.runs_path.name)
    return Committed(attempts, sorted(left_out.values(), key=lambda e: (e.path.parent.name,
                                                                         e.path.name)))


def _not_committed(
    held: dict[str, list[Path]],
    problem: dict[Path, str],
    tables: dict[Path, pa.Table],
    row: dict[str, Any] | None,
) -> str | None:
    """Why the attempt held in these files is not committed, or None when it is."""
    def names(paths: list[Path]) -> str:
        return ", ".join(f"{p.parent.name}/{p.name}" for p in paths)

    if not held["runs"]:
        return "a curves file without its runs file (a write under way or killed)"
    if len(held["runs"]) > 1:
        return f"its runs row is in {len(held['runs'])} files ({names(held['runs'])})"
    if len(held["curves"]) > 1:
        return f"its curve rows are in {len(held['curves'])} files ({names(held['curves'])})"
    bad = [p for p in held["runs"] + held["curves"] if p in problem]
    if bad or row is None:
        return f"{names(bad[:1])}: {problem[bad[0]]}"
    if not held["curves"]:
        return incomplete_reason(0, row["epochs_done"])
    curves = tables[held["curves"][0]]
    done = row["epochs_done"] or 0
    if curves.num_rows != done:
        return incomplete_reason(curves.num_rows, done)
    if len(set(curves.column("epoch").to_pylist())) != curves.num_rows:
        return "its curve rows repeat an epoch"
    return None


@dataclass(frozen=True)
class AttemptScan:
    """The attempts of one run on disk: those committed, and the files of those that are not."""

    committed: list[dict[str, Any]]
    broken: list[tuple[list[Path], str]]


def scan_attempts(results_dir: Path, run_id: str, found: Committed | None = None) -> AttemptScan:
    """The attempts of ``run_id`` by ``committed``'s rule: the committed runs rows, oldest
    first, and each uncommitted attempt's files with why (resume runs those again).

    ``found`` is a judgement of the folder already made (``set_aside`` judges before it moves
    anything, so the decision is the one the report showed).
    """
    found = committed(results_dir) if found is None else found
    broken: dict[str, tuple[list[Path], str]] = {}
    for entry in found.left_out:
        if entry.attempt is not None and entry.attempt.startswith(f"{run_id}-"):
            broken.setdefault(entry.attempt, ([], entry.reason))[0].append(entry.path)
    return AttemptScan(found.rows(run_id), list(broken.values()))


def attempts_of(results_dir: Path, run_id: str) -> list[dict[str, Any]]:
    """The committed attempts of one run (see ``committed``), oldest first."""
    return committed(results_dir).rows(run_id)


def set_aside(
    results_dir: Path, found: Committed, say: Callable[[str], None]
) -> list[Path]:
    """Move every file ``found`` left out to ``.debris/``, one line per attempt or file.

    ``found`` is judged before ``clear_debris`` moves anything, so that what resume then
    decides is what a report of the folder said. Curves files without their runs file are
    skipped: a write may be under way there, and only ``clear_debris``, holding the run's
    claim, may move them. Every other left-out file is stable (no writer changes a file once
    it is in place, nor writes a name but its attempt's), so no claim is needed; a file
    another process moved first is skipped.
    """
    results_dir = Path(results_dir)
    debris = results_dir / DEBRIS
    groups: dict[str, list[LeftOut]] = {}
    for entry in found.left_out:
        if not entry.in_flight:
            groups.setdefault(entry.attempt or str(entry.path), []).append(entry)
    moved: list[Path] = []
    for group in groups.values():
        gone = quarantine(results_dir, [entry.path for entry in group])
        if not gone:
            continue
        moved += gone
        first = group[0]
        files = ", ".join(f"{p.parent.name}/{p.name}" for p in gone)
        if first.attempt is None:
            say(f"mlpbench: {files} is not a result mlpbench wrote ({first.reason}); moved to "
                f"{debris}")
            continue
        who = ("" if first.row is None
               else f" of {first.row['method']} seed={first.row['seed']}")
        say(f"mlpbench: attempt {first.attempt}{who} is not a whole result ({first.cause}); "
            f"moved {files} to {debris}")
    return moved


def find_debris(results_dir: Path) -> list[Path]:
    """Files a killed write left in ``curves/`` and ``runs/``: temporaries, orphan curves.

    A dot-named ``.tmp-`` file is a write that never finished; a curves file named like a result
    with no runs file of the same name is a run whose commit never happened. Every other file
    that is not a committed result is ``set_aside``'s, which needs no claim. The caller decides
    whether a write is still under way (its run is claimed) before moving anything.
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
