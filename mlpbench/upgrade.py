"""``python -m mlpbench.upgrade --results-dir DIR``: results written before runs recorded their
methods' roles get them, so that their report finds the reference and the engine pairs again.

The report never names a method: it reads ``role`` and ``engine_role`` from the rows (see
``methods.base``). Runs and scaling files written before those columns existed read them as
null, and their report then shows no ratios. This command fills the two columns of such files
from what each method declares for the configuration the row records, and changes nothing else:
every other column and value, the file name and the run ids stay as they were. Each file is
rewritten atomically (``results.write_atomic``); a file that already has the columns, or whose
rows have no role to record (or a method no longer registered), is left alone, so running it
twice is the same as once.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, get_type_hints

import pyarrow as pa
import pyarrow.parquet as pq

from mlpbench import methods, results
from mlpbench.errors import EXIT_USAGE, MlpbenchError, ResultsError
from mlpbench.settings import plain_type

ROLE_COLUMNS = ("role", "engine_role")


def method_config(row: dict[str, Any]) -> Any | None:
    """The method's ``Config`` a result row records (its scheme, engine and options), or None
    when the method is not registered."""
    if row["method"] not in methods.available():
        return None
    method = methods.get(row["method"])
    types = get_type_hints(method.Config)
    names = {f.name for f in fields(method.Config)}
    given: dict[str, Any] = {k: row[k] for k in ("scheme", "engine")
                             if k in names and row.get(k) is not None}
    for part in (row.get("options") or "").split(", "):
        if "=" in part:
            key, text = part.split("=", 1)
            kind = plain_type(types.get(key, str))
            given[key] = text == "true" if kind is bool else kind(text)
    return method.Config(**given)


def roles_of(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(``role``, ``engine_role``) as the row's method declares them for its configuration."""
    cfg = method_config(row)
    if cfg is None:
        return None, None
    method = methods.get(row["method"])
    return method.role(cfg), method.engine_role(cfg)


def scaling_roles(row: dict[str, Any]) -> tuple[str | None, str | None]:
    """(``role``, ``engine_role``) of a scaling row, as the scaling study writes them."""
    from mlpbench.studies.scaling_study import ROLES_BY_ENGINE

    return ROLES_BY_ENGINE.get(row["engine"], (None, None))


def upgrade_file(path: Path, roles: Any) -> bool:
    """Add or fill the role columns of one file; True when it was rewritten."""
    table = pq.read_table(path)
    if all(c in table.column_names for c in ROLE_COLUMNS):
        return False  # written with its roles (null where the method has none)
    filled = [roles(row) for row in table.to_pylist()]
    if not any(any(pair) for pair in filled):
        return False  # no role to record: the missing columns already read as null
    for i, name in enumerate(ROLE_COLUMNS):
        column = pa.array([pair[i] for pair in filled], pa.string())
        if name in table.column_names:
            table = table.set_column(table.column_names.index(name), name, column)
        else:
            table = table.append_column(name, column)
    results.write_atomic(path, lambda fh: pq.write_table(table, fh), replace=True)
    return True


def upgrade(results_dir: Path) -> dict[str, int]:
    """Upgrade every runs and scaling file under ``results_dir``; files rewritten per folder."""
    if not (results_dir / "runs").is_dir() and not (results_dir / "scaling").is_dir():
        raise ResultsError(f"--results-dir: no runs/ or scaling/ folder in '{results_dir}'")
    done = {"runs": 0, "scaling": 0}
    for folder, roles in (("runs", roles_of), ("scaling", scaling_roles)):
        for path in results.result_files(results_dir / folder):
            try:
                done[folder] += upgrade_file(path, roles)
            except (pa.ArrowException, OSError, KeyError, ValueError, TypeError) as ex:
                print(f"mlpbench: left out '{path}': {type(ex).__name__}: {ex}",
                      file=sys.stderr)
    return done


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlpbench.upgrade", description=__doc__)
    parser.add_argument("--results-dir", type=Path, required=True,
                        help="the folder holding runs/ (and scaling/), as given to a run")
    args = parser.parse_args(argv)
    try:
        done = upgrade(args.results_dir)
    except MlpbenchError as ex:
        print(f"mlpbench: error: {ex}", file=sys.stderr)
        return EXIT_USAGE
    print(f"{done['runs']} runs files and {done['scaling']} scaling files given their roles "
          f"in {args.results_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
