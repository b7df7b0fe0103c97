"""The SGD loop under the seed's protocol, and the random streams a run draws from.

``train`` is the loop and nothing else: SGD on mini-batches, the batch loss after each epoch's
last update, test accuracy after every epoch. Only the gradient computation is counted in
``grad_time_s``; ``elapsed_s`` is the wall time of the whole loop including evaluation, as the
seed measured it. Every ``fidelity_every`` epochs the loop also computes the backprop gradient
on the step's batch and parameters, to record how close the method's gradient was; that time is
kept out of both and recorded as ``fidelity_time_s``. One complete run (skip or resume, data,
thread limits, progress, result rows) is ``run.execute``; the studies use this loop without it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from mlpbench import methods, optimizers
from mlpbench.data import Dataset, inputs, targets
from mlpbench.methods import Estimator, GradientResult
from mlpbench.model import Params, accuracy, loss
from mlpbench.settings import RunConfig


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
    forward_passes: float | None = None
    val_loss: float | None = None
    val_acc: float | None = None
    test_loss: float | None = None


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


def batch_indices(
    rng: np.random.Generator, n_train: int, batch_size: int, replace: bool = False
) -> Iterator[np.ndarray]:
    """Endless batches of ``batch_size`` indices: distinct within a batch, as the seed draws
    them, or with ``replace`` independent draws, as "Deep Learning from Scratch" does."""
    while True:
        yield rng.choice(n_train, batch_size, replace=replace)


def learning_rate(settings: RunConfig, step: int) -> float:
    """The schedule: step ``step`` (from 0) moves by lr, or by lr * exp(-lr_decay * step) with
    ``lr_schedule=exp_decay``."""
    if settings.lr_schedule == "exp_decay":
        return settings.lr * math.exp(-settings.lr_decay * step)
    return settings.lr


def train(
    params: Params,
    estimator: Estimator,
    data: Dataset,
    settings: RunConfig,
    batch_rng: np.random.Generator,
    on_epoch: Callable[[EpochRecord], None] = lambda record: None,
    passes_per_step: float | None = None,
) -> str:
    """The optimizer of ``settings`` (plain SGD by default) for ``epochs`` x
    ``steps_per_epoch`` steps, reporting each epoch to ``on_epoch``: the batch loss, test
    accuracy, validation loss and accuracy where the data has a validation split, and the
    cumulative cost on two axes, seconds of gradient computation and, given the method's
    ``passes_per_step``, forward passes by count.

    With ``fidelity_every`` = N > 0, the last step of every N-th epoch also compares the
    method's gradient with backprop's (in float64, at the same parameters and batch, before the
    update); the comparison is not used for training and its time is not in the timings.

    Returns the status: "diverged" as soon as a loss is NaN or infinite (training stops
    there), else "ok".
    """
    epochs, steps_per_epoch = settings.epochs, settings.steps_per_epoch
    log_eps, activation = settings.log_eps, settings.model.activation
    fidelity_every = settings.fidelity_every or 0
    reference = reference_gradient(log_eps, activation) if fidelity_every else None
    x_train = inputs(data.x_train, settings.dtype)
    t_train = targets(data.y_train, settings.dtype)
    x_test = inputs(data.x_test, settings.dtype)
    validation = t_test = None
    if data.x_validation is not None:
        validation = (inputs(data.x_validation, settings.dtype),
                      targets(data.y_validation, settings.dtype), data.y_validation)
        t_test = targets(data.y_test, settings.dtype)
    update = optimizers.make_update(settings.optimizer or optimizers.SGDConfig(), params)
    batches = batch_indices(batch_rng, data.n_train, settings.batch_size,
                            settings.sampling == "with_replacement")
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
                    measured = fidelity(result.grads, reference(params, x, t).grads)
                    fidelity_time += time.perf_counter() - tick
                update(params, result.grads,
                       learning_rate(settings, (epoch - 1) * steps_per_epoch + step))
            batch_loss = loss(params, x, t, log_eps, activation)
            acc = accuracy(params, x_test, data.y_test, activation)
            val_loss = val_acc = test_loss = None
            if validation is not None:  # a tuned protocol: the held-out and the test losses
                x_val, t_val, y_val = validation
                val_loss = loss(params, x_val, t_val, log_eps, activation)
                val_acc = accuracy(params, x_val, y_val, activation)
                test_loss = loss(params, x_test, t_test, log_eps, activation)
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
                forward_passes=(None if passes_per_step is None
                                else passes_per_step * epoch * steps_per_epoch),
                val_loss=val_loss,
                val_acc=val_acc,
                test_loss=test_loss,
            )
            on_epoch(record)
            if not math.isfinite(batch_loss):
                return "diverged"
    return "ok"


def reference_gradient(log_eps: float, activation: str = "sigmoid") -> Estimator:
    """The exact gradient in float64, whatever the run's dtype: what fidelity is measured to
    (the reference method's estimator; its gradient is exact, so it draws nothing)."""
    reference = methods.reference()
    estimate = reference.make_estimator(reference.Config(), 0.0, log_eps, None, activation)

    def in_float64(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
        as64 = {key: value.astype(np.float64) for key, value in params.items()}
        return estimate(as64, x.astype(np.float64), t.astype(np.float64))

    return in_float64
