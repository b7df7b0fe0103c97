"""Each run records the load it ran under and the threads its timings used, and the report says
when timings came from a busy machine."""

from __future__ import annotations

import os

import pandas as pd

from mlpbench.methods import backprop, numerical
from mlpbench.report.describe import load_text
from mlpbench.run import BLAS_THREADS, execute
from tests.run_settings import run_settings


def _settings(tmp_path, method):
    return run_settings(method=method, dataset="mnist_subset", hidden_size=4, epochs=2,
                        batch_size=20, lr=0.1, h=1e-4, results_dir=tmp_path / "results",
                        progress=False)


def test_a_run_records_its_load_and_threads(tmp_path):
    run = execute(_settings(tmp_path, backprop.Config()))
    written = pd.read_parquet(tmp_path / "results" / "runs").iloc[0]
    for row in (run, written):
        assert 0 <= row["load_avg_start"] < 10 * os.cpu_count()
        assert 0 <= row["load_avg_end"] < 10 * os.cpu_count()
        assert row["blas_threads"] == BLAS_THREADS == 1


def test_numba_threads_are_recorded_where_the_engine_ran(tmp_path):
    run = execute(_settings(tmp_path, numerical.Config()))
    import numba

    assert run["numba_threads"] == numba.get_num_threads() >= 1


def _runs(loads: list[tuple[float | None, float | None]], cpus: int = 2) -> pd.DataFrame:
    return pd.DataFrame({"load_avg_start": [a for a, _ in loads],
                         "load_avg_end": [b for _, b in loads], "cpu_count": cpus})


def test_the_report_names_the_runs_that_ran_on_a_busy_machine():
    text = load_text(_runs([(0.5, 1.0), (1.5, 3.2), (2.5, 1.0)]))
    assert text.startswith("Load average (1 min) during the runs: 1.00 to 3.20 on 2 CPUs")
    assert "2 runs of 3 ran while the load exceeded the cores" in text


def test_an_idle_machine_says_so_and_older_runs_say_nothing():
    assert load_text(_runs([(0.2, 0.4)])).endswith("no run saw more load than cores.")
    assert load_text(_runs([(None, None)])) == ""
    assert load_text(pd.DataFrame({"cpu_count": [2]})) == ""
