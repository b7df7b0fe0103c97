"""Optimizers, the validation split and the JVP clip in runs: what results record (and the run
ids they keep), what an evaluation records, and the one-line refusals of bad values."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from mlpbench import methods, results
from mlpbench.config import register_configs
from mlpbench.data import hold_out
from mlpbench.model import init_network
from mlpbench.optimizers import AdamConfig
from mlpbench.run import result_config
from mlpbench.train import EpochRecord, streams, train
from tests.run_settings import run_settings
from tests.test_bad_values import settings

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _store() -> None:
    register_configs()


def recorded(*overrides: str, n_validation: int = 0) -> dict:
    """The config columns of a run composed from ``overrides`` on the embedded subset."""
    data = type("Data", (), {"name": "mnist_subset", "n_train": 4000 - n_validation,
                             "n_test": 1000, "n_validation": n_validation})()
    return result_config(settings("dataset=mnist_subset", *overrides), data)


def test_plain_sgd_keeps_every_run_id_and_others_are_recorded():
    plain = recorded()
    assert plain["optimizer"] is None and plain["n_validation"] is None
    assert results.run_id_for(recorded("optimizer=sgd")) == results.run_id_for(plain)
    adam = recorded("optimizer=adam")
    assert adam["optimizer"] == "adam(beta1=0.9, beta2=0.999, eps=1e-08)"
    assert results.run_id_for(adam) != results.run_id_for(plain)
    assert recorded("optimizer.clip=1")["optimizer"] == "sgd, clip=1"
    assert recorded("optimizer=momentum", "optimizer.nesterov=true")["optimizer"] == \
        "nesterov(beta=0.9)"
    held = recorded("dataset.validation=500", n_validation=500)
    assert (held["n_validation"], held["validation_seed"], held["n_train"]) == (500, 0, 3500)


def test_an_unset_jvp_clip_keeps_the_forward_gradient_options():
    options = recorded("method=forward_gradient")["options"]
    assert options == "directions=1, jvp=dual, noise=table"
    assert recorded("method=forward_gradient", "method.clip_jvp=1")["options"] == \
        "directions=1, jvp=dual, noise=table, clip_jvp=1.0"


def test_the_jvp_clip_bounds_each_directions_derivative(real_batch):
    x, t = real_batch
    params = init_network(8, np.random.default_rng(0))
    method = methods.get("forward_gradient")
    free = method.make_estimator(method.Config(noise="fresh"), 0.0, 1e-7,
                                 np.random.default_rng(5))(params, x, t).grads
    bound = 1e-3
    clipped = method.make_estimator(method.Config(noise="fresh", clip_jvp=bound), 0.0, 1e-7,
                                    np.random.default_rng(5))(params, x, t).grads
    # one direction v: free = s v, clipped = clip(s) v, so the ratio is clip(s) / s everywhere
    ratios = np.concatenate([(clipped[k] / free[k]).ravel() for k in params])
    assert np.allclose(ratios, ratios[0]) and 0 < ratios[0] < 1


def test_an_evaluation_records_validation_and_both_costs(subset):
    data = hold_out(subset, 500, 0)
    config = run_settings(epochs=3, steps_per_epoch=2, lr=1e-3, seed=1, optimizer=AdamConfig(),
                          method=methods.get("backprop").Config())
    rng = streams(1)
    params = init_network(config.model.widths, rng.init)
    estimator = methods.get("backprop").make_estimator(config.method, 0.0, config.log_eps)
    records: list[EpochRecord] = []
    assert train(params, estimator, data, config, rng.batches, records.append,
                 passes_per_step=2.5) == "ok"
    assert [r.forward_passes for r in records] == [5.0, 10.0, 15.0]
    assert all(0 <= r.val_acc <= 1 and r.val_loss > 0 and r.test_loss > 0 for r in records)
    assert records[-1].val_loss < records[0].val_loss


def mlpbench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mlpbench", "dataset=mnist_subset", "epochs=1", "progress=false",
         *args], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)})


@pytest.mark.parametrize(("args", "line"), [
    (["optimizer=rmsprop"], "mlpbench: error: optimizer: unknown 'rmsprop'"),
    (["optimizer=adam", "optimizer.beta=0.9"],
     "mlpbench: error: optimizer.beta: a key of optimizer=momentum only"),
    (["optimizer=adam", "optimizer.beta1=1.0"],
     "mlpbench: error: optimizer.beta1: must be a finite number >= 0 and < 1"),
    (["optimizer.clip=0"], "mlpbench: error: optimizer.clip: must be a finite number > 0"),
    (["dataset.validation=-1"], "mlpbench: error: dataset.validation: must be an integer >= 0"),
    (["dataset.validation=4000"],
     "mlpbench: error: dataset.validation: must be less than the training set size (4000"),
    (["dataset.validation=3950"],
     "mlpbench: error: batch_size: must be at most the training set size (50 for "
     "mnist_subset after 3950 held out)"),
])
def test_a_bad_optimizer_or_split_is_one_line_and_writes_nothing(tmp_path, args, line):
    proc = mlpbench(f"results_dir={tmp_path / 'r'}", *args)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith(line), proc.stderr
    assert not (tmp_path / "r").exists()
