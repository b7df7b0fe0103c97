"""``python -m mlpbench.upgrade``: files written before runs recorded their roles get the roles
their methods declare, and nothing else of them changes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from mlpbench import results
from mlpbench.methods import backprop, numerical, spsa
from mlpbench.run import execute
from mlpbench.upgrade import ROLE_COLUMNS, main, method_config, roles_of
from tests.run_settings import run_settings

REPO = Path(__file__).resolve().parents[1]


def as_written_before_roles(path: Path) -> pa.Table:
    """Drop the role columns from a runs file, as results of earlier versions have none."""
    table = pq.read_table(path)
    old = table.drop_columns(list(ROLE_COLUMNS))
    results.write_atomic(path, lambda fh: pq.write_table(old, fh), replace=True)
    return table


def test_roles_are_filled_from_the_methods_and_nothing_else_changes(tmp_path, capsys):
    out = tmp_path / "results"
    for cfg in (backprop.Config(), numerical.Config(engine="naive"),
                numerical.Config(scheme="complex_step"), spsa.Config(directions=2)):
        execute(run_settings(method=cfg, epochs=1, batch_size=5, hidden_size=2, h=1e-4, lr=0.1,
                             results_dir=out, progress=False))
    paths = results.result_files(out / "runs")
    written = {p: as_written_before_roles(p) for p in paths}
    assert results.read_results(out, [])[1]["role"].isna().all()

    assert main(["--results-dir", str(out)]) == 0
    # spsa's file needs nothing: it has no role, and a missing column reads as null
    assert capsys.readouterr().out.startswith("3 runs files and 0 scaling files")
    for path, table in written.items():  # every column as written, the roles as a run writes
        upgraded = pq.read_table(path)
        assert upgraded.equals(table.select(upgraded.column_names))
        missing = [c for c in table.column_names if c not in upgraded.column_names]
        assert all(table[c].null_count == table.num_rows for c in missing)
    runs = results.read_results(out, [])[1]
    assert sorted(runs["role"].fillna("-")) == ["-", "-", "reference", "seed_kind"]
    assert sorted(runs["engine_role"].fillna("-")) == ["-", "-", "fast", "seed_loop"]

    assert main(["--results-dir", str(out)]) == 0  # twice is once
    assert capsys.readouterr().out.startswith("0 runs files")


def test_method_config_reads_options_back():
    cfg = method_config({"method": "spsa", "scheme": None, "engine": None,
                         "options": "directions=10, distribution=gaussian, noise=table"})
    assert cfg == spsa.Config(directions=10, distribution="gaussian", noise="table")
    assert method_config({"method": "gone", "options": None}) is None


def test_a_folder_without_results_is_one_line_and_exit_2(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "mlpbench.upgrade", "--results-dir",
                           str(tmp_path)], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"mlpbench: error: --results-dir: no runs/ or scaling/ folder in '{tmp_path}'"]


def test_the_committed_reference_roles_are_what_the_methods_declare():
    """The reference results were given their roles once, by rule; the methods agree."""
    folders = [p for p in (REPO / "results" / "reference").iterdir() if (p / "runs").is_dir()]
    for folder in folders:
        runs = results.read_results(folder, [])[1]
        for row in runs.to_dict("records"):
            clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
            assert roles_of(clean) == (clean["role"], clean["engine_role"]), clean["run_id"]


def test_old_scaling_files_get_the_roles_the_study_writes(tmp_path):
    source = REPO / "results" / "reference" / "seed_table" / "scaling"
    (tmp_path / "scaling").mkdir()
    for path in results.result_files(source):
        table = pq.read_table(path)
        old = table.drop_columns(list(ROLE_COLUMNS))
        pq.write_table(old, tmp_path / "scaling" / path.name)
        assert main(["--results-dir", str(tmp_path)]) == 0
        upgraded = pq.read_table(tmp_path / "scaling" / path.name)
        assert upgraded.select(table.column_names).equals(table)
