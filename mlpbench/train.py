"""Training under the seed's protocol, and one complete run from settings to parquet.

``train`` is the loop and nothing else: SGD on mini-batches, the batch loss after each epoch's
last update, test accuracy after every epoch. Only the gradient computation is counted in
``grad_time_s``; ``elapsed_s`` is the wall time of the whole loop including evaluation, as the
seed measured it. Every ``fidelity_every`` epochs the loop also computes the backprop gradient
on the step's batch and parameters, to record how close the method's gradient was; that time is
kept out of both and recorded as ``fidelity_time_s``. ``execute`` wraps the loop with
validation, data, results and progress.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from mlpbench import methods, results
from mlpbench.config import RunSettings
from mlpbench.data import Dataset, load_dataset
from mlpbench.errors import ConfigError
from mlpbench.methods import Estimator, backprop
from mlpbench.model import Params, accuracy, init_params, loss, one_hot, param_count

N_CLASSES = 10


@dataclass(frozen=True)
class EpochRecord:
    """What is known at the end of one epoch."""

    epoch: int
    step: int
    loss: float
    test_acc: float
    elapsed_s: float
    grad_time_s: float
    loss_evals: int
    grad_cos: float | None = None
    grad_rel_err: float | None = None
    fidelity_time_s: float = 0.0


@dataclass(frozen=True)
class Streams:
    """Independent random streams derived from ``seed``: changing the method changes none.

    They are the children of ``SeedSequence(seed)`` in this order; a child's state depends only
    on its index, so the directions a stochastic method draws from ``method`` leave the initial
    weights and the batches exactly as every other method sees them.
    """

    init: np.random.Generator
    batches: np.random.Generator
    method: np.random.Generator


def streams(seed: int) -> Streams:
    init, batches, method = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(3)
    )
    return Streams(init=init, batches=batches, method=method)


def fidelity(grads: Params, reference: Params) -> tuple[float, float]:
    """Cosine similarity and relative error ||g - g_ref|| / ||g_ref|| over all parameters."""
    g = np.concatenate([np.ravel(grads[key]).astype(np.float64) for key in reference])
    r = np.concatenate([np.ravel(reference[key]) for key in reference])
    norm_g, norm_r = float(np.linalg.norm(g)), float(np.linalg.norm(r))
    cos = float(g @ r) / (norm_g * norm_r) if norm_g > 0 and norm_r > 0 else math.nan
    rel_err = float(np.linalg.norm(g - r)) / norm_r if norm_r > 0 else math.nan
    return cos, rel_err


def batch_indices(rng: np.random.Generator, n_train: int, batch_size: int) -> Iterator[np.ndarray]:
    """Endless batches of ``batch_size`` indices drawn without replacement, as the seed does."""
    while True:
        yield rng.choice(n_train, batch_size, replace=False)


def train(
    params: Params,
    estimator: Estimator,
    data: Dataset,
    *,
    epochs: int,
    steps_per_epoch: int,
    batch_size: int,
    lr: float,
    log_eps: float,
    dtype: str,
    batch_rng: np.random.Generator,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    fidelity_every: int = 0,
) -> str:
    """SGD for ``epochs`` x ``steps_per_epoch`` steps, reporting each epoch to ``on_epoch``.

    With ``fidelity_every`` = N > 0, the last step of every N-th epoch also compares the
    method's gradient with backprop's (in float64, at the same parameters and batch, before the
    update); the comparison is not used for training and its time is not in the timings.

    Returns the status: "diverged" as soon as a loss is NaN or infinite (training stops
    there), else "ok".
    """
    x_train = data.x_train.astype(dtype) / 255
    t_train = one_hot(data.y_train, N_CLASSES, dtype)
    x_test = data.x_test.astype(dtype) / 255
    batches = batch_indices(batch_rng, data.n_train, batch_size)
    grad_time = 0.0
    fidelity_time = 0.0
    evals = 0
    start = time.perf_counter()
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for epoch in range(1, epochs + 1):
            measured: tuple[float, float] | tuple[None, None] = (None, None)
            for step in range(steps_per_epoch):
                idx = next(batches)
                x, t = x_train[idx], t_train[idx]
                tick = time.perf_counter()
                result = estimator(params, x, t)
                grad_time += time.perf_counter() - tick
                evals += result.loss_evals
                if fidelity_every and epoch % fidelity_every == 0 and step == steps_per_epoch - 1:
                    tick = time.perf_counter()
                    measured = fidelity(result.grads, backprop_reference(params, x, t, log_eps))
                    fidelity_time += time.perf_counter() - tick
                for key, grad in result.grads.items():
                    params[key] -= lr * grad
            batch_loss = loss(params, x, t, log_eps)
            acc = accuracy(params, x_test, data.y_test)
            record = EpochRecord(
                epoch=epoch,
                step=epoch * steps_per_epoch,
                loss=batch_loss,
                test_acc=acc,
                elapsed_s=time.perf_counter() - start - fidelity_time,
                grad_time_s=grad_time,
                loss_evals=evals,
                grad_cos=measured[0],
                grad_rel_err=measured[1],
                fidelity_time_s=fidelity_time,
            )
            on_epoch(record)
            if not math.isfinite(batch_loss):
                return "diverged"
    return "ok"


def backprop_reference(params: Params, x: np.ndarray, t: np.ndarray, log_eps: float) -> Params:
    """The exact gradient in float64, whatever the run's dtype: what fidelity is measured to."""
    as64 = {key: value.astype(np.float64) for key, value in params.items()}
    return backprop.gradient(as64, x.astype(np.float64), t.astype(np.float64), log_eps)


def result_config(settings: RunSettings, data: Dataset) -> dict[str, Any]:
    """The config columns of every result row: what was asked for and what data was used."""
    labels, h = methods.labels(settings.method, settings.h)
    return {
        "method": labels.method,
        "scheme": labels.scheme,
        "engine": labels.engine,
        "options": labels.options,
        "h": h,
        "dataset": data.name,
        "n_train": data.n_train,
        "n_test": data.n_test,
        "hidden_size": settings.hidden_size,
        "batch_size": settings.batch_size,
        "lr": settings.lr,
        "epochs": settings.epochs,
        "steps_per_epoch": settings.steps_per_epoch,
        "seed": settings.seed,
        "dtype": settings.dtype,
        "log_eps": settings.log_eps,
    }


class Progress:
    """A tqdm bar with ETA on a terminal; on a pipe, a plain log line every ``every_s`` seconds."""

    def __init__(self, label: str, total: int, enabled: bool, every_s: float = 10.0) -> None:
        self.label, self.total, self.every_s = label, total, every_s
        self.tty = enabled and sys.stderr.isatty()
        self.plain = enabled and not self.tty
        self.bar = tqdm(total=total, desc=label, unit="epoch", delay=2.0, leave=False,
                        disable=not self.tty, file=sys.stderr)
        self.last_log = time.perf_counter()

    def update(self, record: EpochRecord) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{record.loss:.4f}", acc=f"{record.test_acc:.4f}",
                             refresh=False)
        now = time.perf_counter()
        if self.plain and now - self.last_log >= self.every_s:
            self.last_log = now
            eta = record.elapsed_s / record.epoch * (self.total - record.epoch)
            print(f"{self.label}: epoch {record.epoch}/{self.total} loss {record.loss:.4f} "
                  f"test_acc {record.test_acc:.4f} elapsed {record.elapsed_s:.1f}s "
                  f"eta {eta:.0f}s", file=sys.stderr, flush=True)

    def close(self) -> None:
        self.bar.close()


def execute(settings: RunSettings) -> dict[str, Any]:
    """Validate, load data, train and write one run; returns the run's summary row.

    Everything that can be known wrong is checked before training starts, and nothing is
    written unless the run completes (ok or diverged).
    """
    method = methods.get(settings.method.name)
    rng = streams(settings.seed)
    estimator = method.make_estimator(settings.method, settings.h, settings.log_eps, rng.method)
    results.ensure_writable(settings.results_dir)
    data = load_dataset(settings.dataset, settings.data_dir, download=settings.download)
    if settings.batch_size > data.n_train:
        raise ConfigError(
            f"batch_size: must be at most the training set size ({data.n_train} for "
            f"{data.name}), got {settings.batch_size}"
        )
    config = result_config(settings, data)
    run_id = results.run_id_for(config)
    prior = results.attempts_of(settings.results_dir, run_id)
    reason = skip_reason(prior, settings)
    if reason is not None:
        return {**prior[-1], "skipped": reason}
    attempt_id = results.new_attempt_id()
    params = init_params(784, settings.hidden_size, N_CLASSES, rng.init, settings.dtype)
    started_at = datetime.now(UTC)
    label = f"{config['method']} seed={settings.seed}"
    progress = Progress(label, settings.epochs, settings.progress)
    records: list[EpochRecord] = []

    def on_epoch(record: EpochRecord) -> None:
        records.append(record)
        progress.update(record)

    failure: Exception | None = None
    blas_limit = 1 if getattr(method, "SINGLE_THREADED_BLAS", False) else None
    try:
        with threadpool_limits(limits=blas_limit, user_api="blas"):
            status = train(
                params, estimator, data,
                epochs=settings.epochs, steps_per_epoch=settings.steps_per_epoch,
                batch_size=settings.batch_size, lr=settings.lr, log_eps=settings.log_eps,
                dtype=settings.dtype, batch_rng=rng.batches, on_epoch=on_epoch,
                fidelity_every=settings.fidelity_every,
            )
    except Exception as ex:  # a bug or exhausted resource mid-run: record it, then re-raise
        status, failure = "failed", ex
    finally:
        progress.close()
    ids = {"run_id": run_id, "attempt_id": attempt_id, **config}
    curves = [{**ids, **vars(r), "status": status} for r in records]
    run = {
        **ids,
        "param_count": param_count(params),
        "fidelity_every": settings.fidelity_every,
        "started_at": started_at,
        "status": status,
        "error": None if failure is None else f"{type(failure).__name__}: {failure}",
        **summarise(records),
        **results.environment(),
    }
    results.write_run(settings.results_dir, curves, run)
    if failure is not None:
        raise failure
    return run


def skip_reason(prior: list[dict[str, Any]], settings: RunSettings) -> str | None:
    """Why this run need not execute again, or None when it must.

    A run is done when an attempt finished ok. An attempt that diverged or failed is not a
    success: it is rerun only with ``retry_failed=true``, and otherwise reported, not hidden.
    """
    if settings.force or not settings.resume or not prior:
        return None
    if any(row["status"] == "ok" for row in prior):
        return "already in results_dir with status ok (force=true runs it again)"
    if settings.retry_failed:
        return None
    return (f"its last attempt ended with status {prior[-1]['status']} "
            "(retry_failed=true runs it again)")


def summarise(records: list[EpochRecord]) -> dict[str, Any]:
    """The run-level figures: the last epoch's, and per-step costs."""
    if not records:
        return {"epochs_done": 0}
    last = records[-1]
    return {
        "epochs_done": last.epoch,
        "final_loss": last.loss,
        "final_test_acc": last.test_acc,
        "elapsed_s": last.elapsed_s,
        "grad_time_s": last.grad_time_s,
        "loss_evals": last.loss_evals,
        "grad_time_per_step_s": last.grad_time_s / last.step,
        "loss_evals_per_step": last.loss_evals / last.step,
        "fidelity_time_s": last.fidelity_time_s,
    }


def summary_line(run: dict[str, Any], results_dir: Path) -> str:
    """One line a person reads after a run."""
    if run.get("skipped"):
        return (f"skipped {run['method']} seed={run['seed']} (run_id {run['run_id']}): "
                f"{run['skipped']}")
    return (
        f"{run['method']} seed={run['seed']} on {run['dataset']} "
        f"({run['n_train']} train / {run['n_test']} test): {run['epochs_done']} epochs, "
        f"status {run['status']}, loss {run['final_loss']:.4f}, "
        f"test_acc {run['final_test_acc']:.4f}, elapsed {run['elapsed_s']:.2f}s "
        f"(gradients {run['grad_time_s']:.2f}s) -> {results_dir}"
    )
