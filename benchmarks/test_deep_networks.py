"""The incremental engine on networks deeper than the seed's: at least 100x the naive loop.

784-32-32-10 and 784-100-100-10 (sigmoid, the seed's init), a batch of 100 real digits,
float64, central differences at h = 1e-4, BLAS on one thread as in runs. A whole naive step of
784-100-100-10 is 179,220 loss evaluations (about two minutes here), so the naive loop is timed
on a sample of entries drawn uniformly from all parameters and its per-entry mean multiplied by
the parameter count, as the scaling study does (``studies.scaling_study``); the incremental
engine is timed on whole steps. Both in this process, side by side. `make bench` runs this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.conftest import MEDIANS, RATIOS, real_batch, record
from mlpbench.methods import numerical
from mlpbench.model import init_network, param_count
from mlpbench.studies import scaling_study

X, T = real_batch(100)
NETWORKS = {"784-32-32-10": (32, 32), "784-100-100-10": (100, 100)}
SAMPLED_ENTRIES = 400


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
    MEDIANS[f"deep naive {name}"] = MEDIANS[f"deep naive sample {name}"] * (
        param_count(params) / len(entries))


@pytest.mark.parametrize("name", NETWORKS)
def test_deep_targets(name):
    """At least 100x the naive loop per step, the ratio saved with the timings."""
    if f"deep naive {name}" not in MEDIANS or f"deep incremental {name}" not in MEDIANS:
        pytest.skip("needs both engines measured in this session")
    speedup = MEDIANS[f"deep naive {name}"] / MEDIANS[f"deep incremental {name}"]
    RATIOS[f"deep {name}, batch 100"] = {"incremental_vs_naive": speedup}
    print(f"\n{name}: incremental {MEDIANS[f'deep incremental {name}']:.3f} s per step, "
          f"naive {MEDIANS[f'deep naive {name}']:.1f} s (from {SAMPLED_ENTRIES} sampled entries): "
          f"{speedup:.0f}x")
    assert speedup >= 100
