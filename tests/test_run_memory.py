"""The memory columns of a run (``peak_mem_bytes``, ``forward_peak_mem_bytes``): measured for
every method, sized as the arrays they must hold, leaving training untouched, and absent (null)
in results written before them."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from mlpbench import measure, methods, results
from mlpbench.data import Dataset, fixed_batch
from mlpbench.methods import backprop, numerical, spsa
from mlpbench.model import init_network, param_count
from mlpbench.run import execute
from mlpbench.settings import RunConfig
from tests.run_settings import run_settings

HIDDEN, BATCH = 4, 30


def settings(tmp_path: Path, **changes: object) -> RunConfig:
    """A run of a 784-4-10 network, one step: milliseconds for every method."""
    base = dict(
        method=backprop.Config(), dataset="mnist_subset", download=False, hidden_size=HIDDEN,
        epochs=1, steps_per_epoch=1, batch_size=BATCH, lr=0.1, h=1e-4, seed=1,
        dtype="float64", log_eps=1e-7, data_dir=None, results_dir=tmp_path / "results",
        progress=False,
    )
    return run_settings(**{**base, **changes})


def method_config(name: str) -> object:
    return methods.get(name).Config()


@pytest.mark.parametrize("name", sorted(methods.available()))
def test_every_method_records_peaks_as_large_as_the_arrays_it_must_hold(tmp_path, name):
    """The gradient's peak holds at least the returned gradient (one array per parameter, in
    the run's dtype); the forward pass's holds at least the hidden activations, but not the
    batch or the parameters, which exist before the baseline."""
    cfg = method_config(name)
    run_row = execute(settings(tmp_path, method=cfg, h=methods.get(name).default_h(cfg)))
    read = pd.read_parquet(tmp_path / "results" / "runs")
    assert str(read["peak_mem_bytes"].dtype) == "int64"
    assert str(read["forward_peak_mem_bytes"].dtype) == "int64"
    peak, forward = int(read["peak_mem_bytes"].iloc[0]), int(read["forward_peak_mem_bytes"].iloc[0])
    assert (peak, forward) == (run_row["peak_mem_bytes"], run_row["forward_peak_mem_bytes"])
    params_bytes = run_row["param_count"] * 8
    batch_bytes = BATCH * 784 * 8
    assert peak >= params_bytes
    assert BATCH * HIDDEN * 8 <= forward < batch_bytes
    assert forward < params_bytes


def test_float32_peaks_count_four_byte_gradients(tmp_path):
    execute(settings(tmp_path, dtype="float32"))
    row = pd.read_parquet(tmp_path / "results" / "runs").iloc[0]
    assert row["param_count"] * 4 <= row["peak_mem_bytes"] < row["param_count"] * 8


@pytest.mark.parametrize("name", ["spsa", "numerical"])
def test_measuring_changes_no_number_of_the_run(tmp_path, monkeypatch, name):
    """The estimator measured has a generator of its own and works on a copy, so a run's
    curves are bitwise those of the same run without the measurement."""
    cfg = spsa.Config() if name == "spsa" else numerical.Config()
    measured = execute(settings(tmp_path / "a", method=cfg, epochs=3, steps_per_epoch=2))
    monkeypatch.setattr(measure, "gradient_peak_bytes", lambda *args: None)
    monkeypatch.setattr(measure, "forward_peak_bytes", lambda *args: None)
    plain = execute(settings(tmp_path / "b", method=cfg, epochs=3, steps_per_epoch=2))
    assert measured["peak_mem_bytes"] > 0 and plain["peak_mem_bytes"] is None
    assert measured["final_loss"] == plain["final_loss"]
    a, b = (pd.read_parquet(tmp_path / d / "results" / "curves").sort_values("epoch")
            for d in ("a", "b"))
    np.testing.assert_array_equal(a["loss"].to_numpy(), b["loss"].to_numpy())
    assert measured["run_id"] == plain["run_id"]


@pytest.mark.parametrize("name", sorted(methods.available()))
def test_measurement_leaves_the_parameters_as_they_were(subset: Dataset, name):
    cfg = method_config(name)
    s = settings(Path("/nonexistent"), method=cfg, h=methods.get(name).default_h(cfg))
    params = init_network((HIDDEN,), np.random.default_rng(0), "float64")
    before = {k: v.copy() for k, v in params.items()}
    x, t = fixed_batch(subset, s.batch_size, 0, s.dtype)
    peak = measure.gradient_peak_bytes(methods.get(name), params, x, t, s)
    assert peak >= param_count(params) * 8
    for key in params:
        np.testing.assert_array_equal(params[key], before[key])


def test_traced_peak_counts_what_is_allocated_inside_and_leaves_tracing_as_found():
    """A 1,000-element float64 array is 8,000 bytes of the peak; tracemalloc is stopped again
    when it was off, and left tracing when a caller had started it."""
    assert not tracemalloc.is_tracing()
    peak = measure.traced_peak_bytes(lambda: np.ones(1000))
    assert 8000 <= peak < 8000 + 1024
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        kept = np.ones(100_000)  # allocated before the baseline: not counted
        assert 8000 <= measure.traced_peak_bytes(lambda: np.ones(1000)) < 8000 + 1024
        assert tracemalloc.is_tracing()
        del kept
    finally:
        tracemalloc.stop()


def test_numba_kernels_allocations_are_traced():
    """numba's runtime allocates through Python's raw allocator, which tracemalloc hooks, so
    the incremental engine's arrays are in its figure (the docstrings rely on this)."""
    from mlpbench.methods.incremental.grouping import distinct_values

    x = np.zeros((2, 50_000))
    x[:, ::2] = np.arange(25_000)  # 25,000 nonzero pixels per sample: ~800 KB of index arrays
    distinct_values(np.ascontiguousarray(x[:1, :10]))  # compiled or loaded before measuring
    assert measure.traced_peak_bytes(lambda: distinct_values(x)) > 50_000 * 8


def test_runs_written_before_the_columns_read_them_as_null(tmp_path):
    execute(settings(tmp_path))
    path = next((tmp_path / "results" / "runs").glob("*.parquet"))
    table = pq.read_table(path)
    pq.write_table(table.drop(["peak_mem_bytes", "forward_peak_mem_bytes"]), path)
    _, runs = results.read_results(tmp_path / "results")
    assert runs["peak_mem_bytes"].isna().all() and runs["forward_peak_mem_bytes"].isna().all()
    assert {"peak_mem_bytes", "forward_peak_mem_bytes"} <= results.LATER_COLUMNS


def test_the_seeds_own_loop_is_not_measured(tmp_path):
    """engine=naive: two more steps of the loop would cost more than the run; null, not 0."""
    cfg = numerical.Config(engine="naive")
    run_row = execute(settings(tmp_path, method=cfg, hidden_size=2, batch_size=5))
    read = pd.read_parquet(tmp_path / "results" / "runs")
    assert run_row["peak_mem_bytes"] is None and read["peak_mem_bytes"].isna().all()
    assert int(read["forward_peak_mem_bytes"].iloc[0]) > 0
