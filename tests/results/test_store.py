"""The results store: atomic writes that never overwrite, readers that skip debris, run ids."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet
import pytest

from mlpbench import results
from mlpbench.errors import ResultsError
from mlpbench.run import execute

from ..test_run import settings


def test_write_never_overwrites_and_leaves_no_temp_files(tmp_path):
    out = tmp_path / "results"
    results.ensure_writable(out)
    row = {"run_id": "r", "attempt_id": "a", "status": "ok"}
    results.write_run(out, [{**row, "epoch": 1}], row)
    with pytest.raises(ResultsError, match="File exists"):
        results.write_run(out, [{**row, "epoch": 1}], row)
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == ["r-a.parquet", "r-a.parquet"]


def test_read_results_ignores_curves_without_a_runs_row(tmp_path):
    out = tmp_path / "results"
    results.ensure_writable(out)
    row = {"run_id": "r", "attempt_id": "a", "status": "ok"}
    results.write_run(out, [{**row, "epoch": 1}, {**row, "epoch": 2}], {**row, "epochs_done": 2})
    orphan = pa.Table.from_pylist([{"run_id": "x", "attempt_id": "b", "epoch": 1}],
                                  schema=results.CURVES_SCHEMA)
    results.write_table(orphan, out / "curves" / "x-b.parquet")
    curves, runs = results.read_results(out)
    assert len(runs) == 1 and list(curves["epoch"]) == [1, 2]


def test_run_id_ignores_paths_but_not_config():
    base = {"method": "backprop", "seed": 0, "lr": 0.1}
    assert results.run_id_for(base) == results.run_id_for(dict(reversed(base.items())))
    assert results.run_id_for(base) != results.run_id_for({**base, "seed": 1})


def test_results_written_before_fidelity_columns_still_read(tmp_path):
    """Files from before the options and fidelity columns read with those columns null."""
    execute(settings(tmp_path))
    for sub in ("curves", "runs"):
        for path in (tmp_path / "results" / sub).glob("*.parquet"):
            table = pa.parquet.read_table(path)
            keep = [n for n in table.column_names if n not in results.LATER_COLUMNS]
            pa.parquet.write_table(table.select(keep), path)
    curves, runs = results.read_results(tmp_path / "results")
    assert len(runs) == 1 and len(curves) == 5
    assert curves["grad_cos"].isna().all() and runs["options"].isna().all()
