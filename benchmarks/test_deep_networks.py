"""The incremental engine on networks deeper than the seed's: at least 40x the naive loop per core.

784-32-32-10 and 784-100-100-10 (sigmoid, the seed's init), a batch of 100 real digits,
float64, central differences at h = 1e-4, BLAS on one thread as in runs. A whole naive step of
784-100-100-10 is 179,220 loss evaluations (about two minutes here), so the naive loop is timed
on a sample of entries drawn uniformly from all parameters and its per-entry mean multiplied by
the parameter count, as the scaling study does (``studies.scaling_study``); the incremental
engine is timed on whole steps. Both in this process, side by side. `make bench` runs this file.

The target is per core: both sides on one thread, timed together in CPU time
(``conftest.interleaved``), which a busy machine does not flip. The first target here (at least
100x, set when the any-depth engine was built) was a wall-clock ratio with the engine's threads
on every core of an idle machine; that ratio is still computed from the steps timed for the
record (``incremental_vs_naive_all_threads``, about 100x on two cores here, where the engine's
threads make a step about 1.7x faster than one thread does) but not asserted, since another
busy process halves it. Per core the engine measured about 50-80x here, so the floor of 40x
still fails an engine 1.5x slower.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import MEDIANS, RATIOS, real_batch, record, sampled_naive_speedup
from mlpbench.methods import numerical
from mlpbench.model import init_network, param_count
from mlpbench.studies import scaling_study

X, T = real_batch(100)
NETWORKS = {"784-32-32-10": (32, 32), "784-100-100-10": (100, 100)}
SAMPLED_ENTRIES = 400
TARGET_ROUNDS = 3
MIN_SPEEDUP_PER_CORE = 40.0


def network(widths: tuple[int, ...]) -> dict[str, np.ndarray]:
    return init_network(widths, np.random.default_rng(0))


@pytest.mark.parametrize("name", NETWORKS)
def test_deep_incremental_step(benchmark, name, one_blas_thread):
    params = network(NETWORKS[name])
    result = benchmark.pedantic(
        lambda: numerical.gradient(params, X, T, h=1e-4, scheme="central", log_eps=1e-7,
                                   engine="incremental"),
        rounds=3, warmup_rounds=1)
    record(f"deep incremental {name}", benchmark)
    assert result.loss_evals == 2 * param_count(params)


@pytest.mark.parametrize("name", NETWORKS)
def test_deep_naive_step_sampled(benchmark, name, one_blas_thread):
    params = network(NETWORKS[name])
    entries = scaling_study.sample_entries(params, SAMPLED_ENTRIES, np.random.default_rng(1))
    step = scaling_study.naive_sample_step(params, X, T, entries)
    benchmark.pedantic(step, rounds=3, warmup_rounds=0)
    record(f"deep naive sample {name}", benchmark)


@pytest.mark.parametrize("name", NETWORKS)
def test_deep_targets(benchmark, name):
    """At least 40x the naive loop per step on one core, the two timed together
    (``conftest.interleaved``: one thread each, alternated, least CPU time), so that a busy
    machine does not flip it; beside it, the ratio of the two steps timed above with the
    engine's threads on every core, for the record."""
    params = network(NETWORKS[name])
    entries = scaling_study.sample_entries(params, SAMPLED_ENTRIES, np.random.default_rng(1))
    label = f"deep {name}, batch 100"
    speedup = sampled_naive_speedup(benchmark, params, X, T, entries, TARGET_ROUNDS, label)
    recorded = (MEDIANS.get(f"deep incremental {name}"), MEDIANS.get(f"deep naive sample {name}"))
    if None not in recorded:
        incremental, naive_sample = recorded
        RATIOS[label]["incremental_vs_naive_all_threads"] = (
            naive_sample * param_count(params) / len(entries) / incremental)
        benchmark.extra_info.update(RATIOS[label])
    assert speedup >= MIN_SPEEDUP_PER_CORE
