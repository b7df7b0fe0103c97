"""Sweep records: one file per sweep name, replaced atomically, read back by the report, and
never mistaken for a run by the readers, resume or the debris handling."""

from __future__ import annotations

import pytest

from mlpbench import results
from mlpbench.errors import ResultsError


def test_a_record_reads_back_and_a_rerun_replaces_it(tmp_path):
    out = tmp_path / "results"
    path = results.write_sweep(out, "h_scan", "Finite differences across h", "How?")
    assert path == out / "sweeps" / "h_scan.parquet"
    results.write_sweep(out, "h_scan", "Reworded", None)
    results.write_sweep(out, "dlfs", "The book's run", "What?")
    bad: list = []
    records = results.read_sweeps(out, bad)
    assert bad == []
    assert records.to_dict("records") == [
        {"sweep": "dlfs", "title": "The book's run", "question": "What?"},
        {"sweep": "h_scan", "title": "Reworded", "question": None}]
    assert sorted(p.name for p in (out / "sweeps").iterdir()) == ["dlfs.parquet",
                                                                  "h_scan.parquet"]


def test_no_folder_is_no_record_and_a_stray_file_is_left_out_and_named(tmp_path):
    out = tmp_path / "results"
    bad: list = []
    assert results.read_sweeps(out, bad).empty and bad == []
    results.write_sweep(out, "seed_table", "The post's table", None)
    junk = out / "sweeps" / "notes.parquet"
    junk.write_bytes(b"not parquet")
    records = results.read_sweeps(out, bad)
    assert list(records["sweep"]) == ["seed_table"]
    assert [path for path, _ in bad] == [junk]


def test_a_nested_sweep_name_is_one_file_name():
    assert results.sweep_path(results.SWEEPS, "papers/dlfs").name == "papers-dlfs.parquet"
    assert results.sweep_path(results.SWEEPS, ".hidden").name == "hidden.parquet"
    with pytest.raises(ValueError):
        results.sweep_path(results.SWEEPS, "._")


def test_an_unwritable_folder_is_one_results_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ResultsError, match=r"cannot write .*/file/sweeps: Not a directory"):
        results.write_sweep(blocker, "seed_table", "t", "q")


def test_runs_readers_and_debris_handling_ignore_the_records(tmp_path):
    out = tmp_path / "results"
    results.ensure_writable(out)
    row = {"run_id": "0123456789abcdef", "attempt_id": "20250101T000000-0123abcd",
           "status": "ok", "epochs_done": 1}
    results.write_run(out, [{**row, "epoch": 1}], row)
    results.write_sweep(out, "seed_table", "The post's table", "Can it?")
    curves, runs = results.read_results(out)
    assert len(runs) == 1 and len(curves) == 1
    assert results.find_debris(out) == []
    assert results.scan_attempts(out, row["run_id"]).broken == []

