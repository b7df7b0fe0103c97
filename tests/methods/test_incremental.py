"""The incremental engine computes the naive loop's finite differences, only faster."""

from __future__ import annotations

import numpy as np
import pytest

from mlpbench.data import fixed_batch, inputs, targets
from mlpbench.methods import backprop, numerical
from mlpbench.methods.incremental.driver import incremental_gradient
from mlpbench.methods.incremental.grouping import distinct_values
from mlpbench.model import PARAM_KEYS, init_network

from .test_gradients import max_rel_err


@pytest.fixture(scope="module")
def batch100(subset):
    """100 real digits: the seed's batch size."""
    return fixed_batch(subset, 100, seed=11)


WHOLE_GRADIENT_CASES = [(3, scheme) for scheme in numerical.SCHEMES] + [
    (9, "central"), (9, "complex_step")]
"""Every scheme on 784-3-10; on 784-9-10 (more units than threads, an odd count) the two kernels
(real and complex): forward, backward and Richardson share the real kernel with central."""


@pytest.mark.parametrize(("hidden", "scheme"), WHOLE_GRADIENT_CASES)
def test_equals_naive_on_whole_gradient(batch100, scheme, hidden):
    x, t = batch100
    params = init_network(hidden, np.random.default_rng(hidden))
    inc = numerical.gradient(params, x, t, h=1e-4, scheme=scheme, log_eps=1e-7)
    naive = numerical.gradient(params, x, t, h=1e-4, scheme=scheme, log_eps=1e-7,
                               engine=numerical.NAIVE)
    assert max_rel_err(inc.grads, naive.grads) <= 1e-9  # measured: about 4e-11
    assert inc.loss_evals == naive.loss_evals


def naive_entries(params, x, t, h, scheme, entries):
    """The naive loop's formula, restricted to the listed (key, index) entries."""
    if scheme == "richardson":
        coarse = naive_entries(params, x, t, h, "central", entries)
        return (4 * naive_entries(params, x, t, h / 2, "central", entries) - coarse) / 3
    if scheme == "complex_step":
        return np.array([
            numerical.complex_loss_with_moved(params, key, index, h, x, t, 1e-7).imag / h
            for key, index in entries])
    base = numerical.loss(params, x, t, 1e-7)
    out = []
    for key, index in entries:
        plus = numerical.loss_with_moved(params, key, index, h, x, t, 1e-7)
        minus = numerical.loss_with_moved(params, key, index, -h, x, t, 1e-7)
        out.append({"central": (plus - minus) / (2 * h), "forward": (plus - base) / h,
                    "backward": (base - minus) / h}[scheme])
    return np.array(out)


@pytest.mark.parametrize("scheme", numerical.SCHEMES)
def test_equals_naive_on_the_seed_architecture(batch100, scheme):
    """784-50-10: the naive loop on 400 sampled entries (all of it takes about 20 s)."""
    x, t = batch100
    params = init_network(50, np.random.default_rng(0))
    rng = np.random.default_rng(5)
    entries = [(key, tuple(int(rng.integers(n)) for n in params[key].shape))
               for key in rng.choice(PARAM_KEYS, 400, p=[0.7, 0.1, 0.1, 0.1])]
    # make sure the sample includes W1 entries of pixels that are nonzero in the batch
    busy = np.flatnonzero((x != 0).sum(axis=0) > 30)
    entries += [("W1", (int(i), int(i) % 50)) for i in busy[:50]]
    inc = numerical.gradient(params, x, t, h=1e-4, scheme=scheme, log_eps=1e-7).grads
    got = np.array([inc[key][index] for key, index in entries])
    want = naive_entries(params, x, t, 1e-4, scheme, entries)
    scale = max(np.abs(backprop.gradient(params, x, t, 1e-7)[k]).max() for k in PARAM_KEYS)
    assert np.max(np.abs(got - want)) / scale <= 1e-9


@pytest.mark.parametrize("h", [1e-1, 1e-2, 1e-3, 1e-5, 1e-6])
def test_equals_naive_across_h(batch100, h):
    """Large h exercises the library-exp path, small h the series path; both stay exact."""
    x, t = batch100
    params = init_network(3, np.random.default_rng(1))
    inc = incremental_gradient(params, x, t, h=h, scheme="central", log_eps=1e-7)
    naive = numerical.naive_gradient(params, x, t, h=h, scheme="central", log_eps=1e-7)
    # both carry round-off of about eps * loss / h; their difference stays near it
    assert max_rel_err(inc.grads, naive.grads) <= max(1e-12, 1e-14 / h)


def test_float32_stays_float32_and_close_to_backprop(batch100):
    x, t = batch100
    params = init_network(5, np.random.default_rng(2), np.float32)
    x32, t32 = x.astype(np.float32), t.astype(np.float32)
    inc = incremental_gradient(params, x32, t32, h=1e-2, scheme="central", log_eps=1e-7)
    assert {g.dtype for g in inc.grads.values()} == {np.dtype(np.float32)}
    exact = backprop.gradient({k: v.astype(np.float64) for k, v in params.items()},
                              x, t, 1e-7)
    assert max_rel_err(inc.grads, exact) < 1e-2


def test_non_one_hot_targets(batch100):
    """The loss is -sum t log(p + eps) for any t; soft targets follow the same path."""
    x, t = batch100
    soft = 0.8 * t + 0.02
    params = init_network(3, np.random.default_rng(3))
    inc = incremental_gradient(params, x[:20], soft[:20], h=1e-4, scheme="central",
                               log_eps=1e-7)
    naive = numerical.naive_gradient(params, x[:20], soft[:20], h=1e-4, scheme="central",
                                     log_eps=1e-7)
    assert max_rel_err(inc.grads, naive.grads) <= 1e-9


def test_distinct_values_groups_pixels():
    x = np.array([[0.0, 0.5, 0.2, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0], [0.3, 0.0, 0.0, 0.0, 0.3]])
    values, value_ptr, pixels, pixel_ptr = distinct_values(x)
    assert list(values) == [0.2, 0.5, 0.3]
    assert list(value_ptr) == [0, 2, 2, 3]
    groups = [sorted(pixels[pixel_ptr[u]:pixel_ptr[u + 1]]) for u in range(3)]
    assert groups == [[2], [1, 3], [0, 4]]


def test_training_curves_match_naive(tmp_path):
    """Same seed, both engines: losses equal within 1e-6 at every epoch."""
    from mlpbench.run import execute
    from tests.run_settings import run_settings

    runs = {}
    for engine in ("naive", "incremental"):
        runs[engine] = execute(run_settings(
            method=numerical.Config(engine=engine), dataset="mnist_subset", download=False,
            hidden_size=4, epochs=6, steps_per_epoch=1, batch_size=50, lr=0.1, h=1e-4, seed=2,
            dtype="float64", log_eps=1e-7, data_dir=None, results_dir=tmp_path / engine,
            progress=False))
    import pandas as pd

    naive = pd.read_parquet(tmp_path / "naive" / "curves").sort_values("epoch")
    inc = pd.read_parquet(tmp_path / "incremental" / "curves").sort_values("epoch")
    np.testing.assert_allclose(inc["loss"], naive["loss"], atol=1e-6, rtol=0)
    np.testing.assert_array_equal(inc["test_acc"], naive["test_acc"])
    assert runs["incremental"]["engine"] == "incremental"


@pytest.mark.parametrize(("hidden", "batch", "blank"), [(1, 1, False), (2, 3, False), (3, 2, True)])
def test_edge_shapes_and_blank_images(subset, hidden, batch, blank):
    """One unit, one sample, and images with no ink at all (no W1 entry can move the loss)."""
    x = inputs(subset.x_train[:batch])
    if blank:
        x = np.zeros_like(x)
    t = targets(subset.y_train[:batch])
    params = init_network(hidden, np.random.default_rng(hidden))
    inc = incremental_gradient(params, x, t, h=1e-4, scheme="central", log_eps=1e-7)
    naive = numerical.naive_gradient(params, x, t, h=1e-4, scheme="central", log_eps=1e-7)
    assert max(np.abs(inc.grads[k] - naive.grads[k]).max() for k in PARAM_KEYS) < 1e-10
    if blank:
        assert not inc.grads["W1"].any()
