"""One complete run: from validated settings to committed parquet and a summary line.

``execute`` is the pipeline around the SGD loop (``train.train``): it builds the method's
estimator, checks that results can be written, loads the data, claims the run in the results
folder, moves aside what killed writes left there, skips a run already done (or resumes a sweep),
keeps BLAS on one thread for every method, shows progress, and writes
the run's curve rows and summary row atomically (``results.write_run``) with the environment
columns. Nothing is written unless the run completes (ok or diverged); a crash is recorded as
status failed and then raised.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from threadpoolctl import threadpool_limits
from tqdm import tqdm

from mlpbench import measure, methods, results
from mlpbench.data import Dataset, fixed_batch, hold_out, load_dataset
from mlpbench.errors import ConfigError
from mlpbench.model import INPUT_SIZE, N_CLASSES, init_network, param_count
from mlpbench.settings import DEFAULT_HIDDEN, DatasetConfig, RunConfig, columns
from mlpbench.train import EpochRecord, Streams, streams, train


def result_config(settings: RunConfig, data: Dataset) -> dict[str, Any]:
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
        "n_validation": getattr(data, "n_validation", 0) or None,
        "validation_seed": (settings.dataset.validation_seed
                            if getattr(data, "n_validation", 0) else None),
        **columns(settings),
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


BLAS_THREADS = 1
"""BLAS threads of every run, whatever the method and the launcher. OpenBLAS splits a matrix
product differently on one thread than on two, which changes the last bits of a sum: one run id
must always mean one bitwise result, whether it ran alone, in a joblib pool (which would limit
BLAS to cores / n_jobs) or on a cluster node. The price is backprop's step on a machine with
idle cores (both are in docs/benchmarks.md, "The committed measurements"); a sweep
fills the cores with runs anyway, and the numerical engines parallelise themselves (numba)."""


def _print_line(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def execute(
    settings: RunConfig,
    *,
    say: Callable[[str], None] = _print_line,
    warn_fallback: bool = True,
) -> dict[str, Any]:
    """Validate, load data, claim, train and write one run; returns the run's summary row.

    Everything that can be known wrong is checked before training starts, and nothing is
    written unless the run completes (ok or diverged). The run is computed only while this
    process holds its claim in the results folder (``results.claim``): a run another process is
    computing is skipped (``busy`` in the row) or, with ``claim_wait``, waited for. ``say``
    receives the one-line notices (debris moved aside); ``warn_fallback=False`` leaves the
    offline-data warning to the caller (a sweep prints it once).
    """
    method = methods.get(settings.method.name)
    rng = streams(settings.seed)
    estimator = method.make_estimator(settings.method, settings.h, settings.log_eps, rng.method,
                                      settings.model.activation)
    results_dir = Path(settings.results_dir)
    made = results.ensure_writable(results_dir)  # before the data, which may be a download
    data = load_dataset(settings.dataset.name,
                        Path(settings.data_dir) if settings.data_dir else None,
                        download=settings.dataset.download,
                        warn=None if warn_fallback else _ignore)
    try:
        data = split_checked(data, settings)
    except ConfigError:
        results.remove_if_empty(made)  # a refused run leaves no folder behind
        raise
    config = result_config(settings, data)
    run_id = results.run_id_for(config)
    with results.claim(results_dir, run_id, wait=settings.claim_wait) as mine:
        if not mine:
            who = results.holder(results_dir, run_id)
            return {**config, "run_id": run_id, "busy": True,
                    "skipped": f"being computed by {who} (claim_wait=true waits for it)"}
        # Judged once, before anything moves, so resume decides what a report of the folder
        # said; every file that is not one committed attempt then goes to .debris/, named.
        found = results.committed(results_dir)
        results.clear_debris(results_dir, run_id, say)
        results.set_aside(results_dir, found, say)
        scan = results.scan_attempts(results_dir, run_id, found)
        reason = skip_reason(scan.committed, settings)
        if reason is not None:
            return {**scan.committed[-1], "skipped": reason}
        return train_and_write(settings, method, estimator, rng, data, config, run_id)


def split_checked(data: Dataset, settings: RunConfig) -> Dataset:
    """The data a run trains on: its validation split held out (``data.hold_out``), and the
    batch checked to fit what is left; ``ConfigError`` naming the key otherwise."""
    data = hold_out(data, settings.dataset.validation, settings.dataset.validation_seed)
    if settings.batch_size > data.n_train:
        held = f" after {data.n_validation} held out" if data.n_validation else ""
        raise ConfigError(
            f"batch_size: must be at most the training set size ({data.n_train} for "
            f"{data.name}{held}), got {settings.batch_size}"
        )
    return data


def _ignore(line: str) -> None:
    """A ``warn`` that prints nothing."""


def train_and_write(
    settings: RunConfig,
    method: methods.GradientMethod,
    estimator: methods.Estimator,
    rng: Streams,
    data: Dataset,
    config: dict[str, Any],
    run_id: str,
) -> dict[str, Any]:
    """Train one claimed run and write it; a crash is written as status failed, then raised."""
    attempt_id = results.new_attempt_id()
    model = settings.model
    params = init_network(model.widths, rng.init, settings.dtype, init=model.init,
                          init_std=model.init_std)
    started_at = datetime.now(UTC)
    label = f"{config['method']} seed={settings.seed}"
    progress = Progress(label, settings.epochs, settings.progress)
    records: list[EpochRecord] = []

    def on_epoch(record: EpochRecord) -> None:
        records.append(record)
        progress.update(record)

    theory_passes = method.forward_passes(settings.method, (INPUT_SIZE, *model.widths, N_CLASSES))
    failure: Exception | None = None
    forward_time = peak_mem = forward_peak_mem = None
    load_start = load_average()
    try:
        with threadpool_limits(limits=BLAS_THREADS, user_api="blas"):
            # One batch of the run's size, from a generator of its own (the run's streams stay
            # untouched), on which the forward pass is timed and both peaks are measured.
            x, t = fixed_batch(data, settings.batch_size, 0, settings.dtype)
            forward_time = measure.forward_seconds(params, x, t, settings)
            forward_peak_mem = measure.forward_peak_bytes(params, x, t, settings)
            peak_mem = measure.gradient_peak_bytes(method, params, x, t, settings)
            del x, t
            status = train(params, estimator, data, settings, rng.batches, on_epoch,
                           passes_per_step=theory_passes)
    except Exception as ex:  # a bug or exhausted resource mid-run: record it, then re-raise
        status, failure = "failed", ex
    finally:
        progress.close()
    ids = {"run_id": run_id, "attempt_id": attempt_id, **config}
    curves = [{**ids, **vars(r), "status": status} for r in records]
    run = {
        **ids,
        "param_count": param_count(params),
        "role": method.role(settings.method),
        "engine_role": method.engine_role(settings.method),
        "fidelity_every": settings.fidelity_every,
        "forward_time_s": forward_time,
        "theory_forward_passes": theory_passes,
        "peak_mem_bytes": peak_mem,
        "forward_peak_mem_bytes": forward_peak_mem,
        "load_avg_start": load_start,
        "load_avg_end": load_average(),
        "blas_threads": BLAS_THREADS,
        "numba_threads": numba_threads(),
        "started_at": started_at,
        "status": status,
        "error": None if failure is None else f"{type(failure).__name__}: {failure}",
        **summarise(records),
        **results.environment(),
    }
    results.write_run(Path(settings.results_dir), curves, run)
    if failure is not None:
        raise failure
    return run


def load_average() -> float | None:
    """The machine's 1-minute load average: above the core count, other work competed with the
    run for the cores its timings were taken on. None where the platform has none."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


def numba_threads() -> int | None:
    """numba's thread count where the run's method loaded numba (the incremental engine);
    None otherwise, so that no method pays numba's import to have it recorded."""
    numba = sys.modules.get("numba")
    return int(numba.get_num_threads()) if numba is not None else None


def skip_reason(prior: list[dict[str, Any]], settings: RunConfig) -> str | None:
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


LABELLED = ("hidden_size", "hidden_sizes", "activation", "lr", "seed", "epochs")
"""Settings columns ``run_label`` words itself (the network as one shape, epochs as a count)."""


@cache
def _default_columns() -> dict[str, Any]:
    """The settings columns of a run at every default (a method's lr aside: it has its own)."""
    return columns(RunConfig(method=None, dataset=DatasetConfig()))


def _value(value: Any) -> str:
    """A setting as a command line gives it: 0.001, 1e-07, true."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def network_label(run: dict[str, Any]) -> str | None:
    """"784-64-32-10 relu" for a network that is not the seed's 784-50-10 sigmoid, else None."""
    widths = run.get("hidden_sizes") or str(run.get("hidden_size") or DEFAULT_HIDDEN)
    activation = run.get("activation")
    if widths == str(DEFAULT_HIDDEN) and activation is None:
        return None
    return f"{INPUT_SIZE}-{widths}-{N_CLASSES} {activation or 'sigmoid'}"


def epochs_label(count: int) -> str:
    """"1 epoch", "3 epochs"."""
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def run_label(run: dict[str, Any]) -> str:
    """What tells a run from the other runs of its sweep, in the words of its result row:
    the method with its scheme, engine and options, h where the method uses one, lr, the
    network where it is not the seed's, every other setting not at its default, the seed.

    Read from the row (``result_config``'s columns), so a run resumed from disk is labelled
    as one just computed, and a setting added to the schema is shown without a change here.
    """
    given = [f"{key}={run[key]}" for key in ("scheme", "engine") if run.get(key) is not None]
    given += [run["options"]] if run.get("options") else []
    words = [f"{run['method']} ({', '.join(given)})" if given else run["method"]]
    words += [f"{key}={_value(run[key])}" for key in ("h", "lr") if run.get(key) is not None]
    words += [network] if (network := network_label(run)) else []
    words += [f"{key}={_value(run[key])}" for key, default in _default_columns().items()
              if key not in LABELLED and key in run and run[key] is not None
              and run[key] != default]
    words.append(f"seed={run['seed']}")
    return " ".join(words)


def summary_line(run: dict[str, Any], results_dir: Path) -> str:
    """One line a person reads after a run: which run (``run_label``, so each run of a sweep
    prints its own), what it measured, where it went; or why it was skipped."""
    label = f"{run_label(run)} on {run['dataset']}"
    if run.get("skipped"):
        return (f"skipped {label}, {epochs_label(run['epochs'])} (run_id {run['run_id']}): "
                f"{run['skipped']}")
    held = f"{run['n_validation']} validation / " if run.get("n_validation") else ""
    done = epochs_label(run["epochs_done"])
    if run["epochs_done"] != run.get("epochs", run["epochs_done"]):
        done = f"{run['epochs_done']} of {epochs_label(run['epochs'])}"
    return (
        f"{label} ({run['n_train']} train / {held}{run['n_test']} test): {done}, "
        f"status {run['status']}, loss {run['final_loss']:.4f}, "
        f"test_acc {run['final_test_acc']:.4f}, elapsed {run['elapsed_s']:.2f}s "
        f"(gradients {run['grad_time_s']:.2f}s) -> {results_dir}"
    )
