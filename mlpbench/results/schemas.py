"""Every on-disk format of mlpbench: the pyarrow schema of each parquet table it writes.

- ``CURVES_SCHEMA``: one row per epoch of a run (``results_dir/curves``);
- ``RUNS_SCHEMA``: one row per run attempt (``results_dir/runs``), its commit record, with the
  costs measured in the run's own process before training: ``forward_time_s`` (one loss
  evaluation), ``peak_mem_bytes`` (tracemalloc peak of one gradient computation) and
  ``forward_peak_mem_bytes`` (the same for one loss evaluation: inference memory);
  ``theory_forward_passes``, the method's theoretical cost of one gradient in forward passes
  (``GradientMethod.forward_passes``), beside which the report sets the measured one;
  ``role`` and ``engine_role`` (``ROLES``, ``ENGINE_ROLES``), what the run's method and engine
  are to the comparison, which the report reads instead of method and engine names;
  ``load_avg_start``/``load_avg_end`` (the machine's 1-minute load average when the run started
  and ended) and ``blas_threads``/``numba_threads`` (the threads its timings used; numba's null
  when the method never loaded it), so a report can say when a timing came from a busy machine;
- ``SCALING_SCHEMA``: one row per (engine, hidden size, batch size) timed by the scaling study
  (``results_dir/scaling``), with the engine's ``role`` and ``engine_role``;
- ``GRADCHECK_SCHEMA``: one row per (weights, scheme, dtype, h) of the h error curve
- ``QUALITY_SCHEMA``: one row per setting and tensor of the gradient-quality study
  (``results_dir/gradcheck``);
- ``SWEEPS_SCHEMA``: one row per sweep run into a results folder, its title and question
  (``results_dir/sweeps``), so the report can say what the folder holds without Hydra.

Explicit schemas let a column that is null in one file (h for backprop) and a number in another
read as one dataset. The writers (training, the studies) and the one reader (the report) both
import them from here, so a reader never needs the code that measured.
"""

from __future__ import annotations

import pyarrow as pa

from mlpbench import settings

ARROW_TYPES: dict[type, pa.DataType] = {int: pa.int64(), float: pa.float64(), str: pa.string(),
                                        bool: pa.bool_()}

METHOD_KEYS: tuple[str, ...] = ("method", "scheme", "engine", "h", "options")
"""The columns that name a gradient method (``methods.labels``); the others describe the
protocol. ``options`` holds a method's own settings ("directions=10, distribution=gaussian")."""

DATA_FIELDS: list[pa.Field] = [
    pa.field("dataset", pa.string()),
    pa.field("n_train", pa.int64()),
    pa.field("n_test", pa.int64()),
    pa.field("n_validation", pa.int64()),
    pa.field("validation_seed", pa.int64()),
]
"""The data a run actually used (a fallback to the embedded subset included): ``n_train`` counts
the samples it trained on, after ``n_validation`` were held out with ``validation_seed`` (both
null without a validation split)."""

SETTING_FIELDS: list[pa.Field] = [
    pa.field(settings.column_name(leaf), ARROW_TYPES[settings.column_type(leaf)])
    for leaf in settings.recorded()
]
"""One column per setting that results record, declared in ``mlpbench.settings``."""

CONFIG_FIELDS: list[pa.Field] = [
    pa.field("run_id", pa.string()),
    pa.field("attempt_id", pa.string()),
    pa.field("method", pa.string()),
    pa.field("scheme", pa.string()),
    pa.field("engine", pa.string()),
    pa.field("options", pa.string()),
    pa.field("h", pa.float64()),
    *DATA_FIELDS,
    *SETTING_FIELDS,
]
"""What a run was asked to do and on what data: the columns its run id is the hash of."""

ROLE_REFERENCE = "reference"
"""``role`` of the exact gradient every other one is measured against."""
ROLE_SEED_KIND = "seed_kind"
"""``role`` of the post's kind of numerical gradient: plain central, forward or backward finite
differences, on any engine."""
ROLES: tuple[str, ...] = (ROLE_REFERENCE, ROLE_SEED_KIND)
"""The values of ``role`` (runs and scaling rows); null for any other estimator. Not a config
field: a run's role follows from its method, so it never changes a run id."""

ENGINE_ROLE_SEED_LOOP = "seed_loop"
"""``engine_role`` of the post's own loop, kept slow on purpose."""
ENGINE_ROLE_FAST = "fast"
"""``engine_role`` of an engine computing the same finite differences as the seed's loop, faster."""
ENGINE_ROLES: tuple[str, ...] = (ENGINE_ROLE_SEED_LOOP, ENGINE_ROLE_FAST)
"""The values of ``engine_role`` (runs and scaling rows); null for a method without engines."""

ROLE_FIELDS: list[pa.Field] = [
    pa.field("role", pa.string()),
    pa.field("engine_role", pa.string()),
]
"""What a row's method and engine are to the comparison (``ROLES``, ``ENGINE_ROLES``)."""

ENVIRONMENT_FIELDS: list[pa.Field] = [
    pa.field("numpy_version", pa.string()),
    pa.field("blas", pa.string()),
    pa.field("cpu_count", pa.int64()),
    pa.field("cpu_model", pa.string()),
    pa.field("platform", pa.string()),
    pa.field("python_version", pa.string()),
    pa.field("git_revision", pa.string()),
]
"""Where a measurement ran: the columns ``environment()`` fills."""

CURVES_SCHEMA = pa.schema(
    [
        *CONFIG_FIELDS,
        pa.field("epoch", pa.int64()),
        pa.field("step", pa.int64()),
        pa.field("loss", pa.float64()),
        pa.field("test_acc", pa.float64()),
        pa.field("elapsed_s", pa.float64()),
        pa.field("grad_time_s", pa.float64()),
        pa.field("loss_evals", pa.int64()),
        pa.field("grad_cos", pa.float64()),
        pa.field("grad_rel_err", pa.float64()),
        pa.field("fidelity_time_s", pa.float64()),
        pa.field("forward_passes", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("val_acc", pa.float64()),
        pa.field("test_loss", pa.float64()),
        pa.field("status", pa.string()),
    ]
)
"""One row per evaluation (epoch). Beside the cumulative seconds of gradient computation
(``grad_time_s``), ``forward_passes`` is the cumulative cost by count: the method's theoretical
forward passes per gradient times the steps so far, so runs of different methods can be
compared at one budget on either axis. ``val_loss`` and ``val_acc`` are measured on the
validation split, and ``test_loss`` on the test set where there is one (all three null
without a split, so the seed's protocol evaluates as it always did)."""

RUNS_SCHEMA = pa.schema(
    [
        *CONFIG_FIELDS,
        *ROLE_FIELDS,
        pa.field("param_count", pa.int64()),
        pa.field("epochs_done", pa.int64()),
        pa.field("final_loss", pa.float64()),
        pa.field("final_test_acc", pa.float64()),
        pa.field("elapsed_s", pa.float64()),
        pa.field("grad_time_s", pa.float64()),
        pa.field("loss_evals", pa.int64()),
        pa.field("grad_time_per_step_s", pa.float64()),
        pa.field("loss_evals_per_step", pa.float64()),
        pa.field("fidelity_every", pa.int64()),
        pa.field("fidelity_time_s", pa.float64()),
        pa.field("forward_time_s", pa.float64()),
        pa.field("theory_forward_passes", pa.float64()),
        pa.field("peak_mem_bytes", pa.int64()),
        pa.field("forward_peak_mem_bytes", pa.int64()),
        pa.field("load_avg_start", pa.float64()),
        pa.field("load_avg_end", pa.float64()),
        pa.field("blas_threads", pa.int64()),
        pa.field("numba_threads", pa.int64()),
        pa.field("status", pa.string()),
        pa.field("error", pa.string()),
        pa.field("started_at", pa.timestamp("us", tz="UTC")),
        *ENVIRONMENT_FIELDS,
    ]
)

MODEL_COLUMNS: tuple[str, ...] = tuple(
    settings.column_name(leaf) for leaf in settings.recorded() if leaf.key.startswith("model."))
"""The columns that describe the network (``hidden_size`` first)."""

SEED_NULL_COLUMNS: tuple[str, ...] = settings.nullable_columns()
"""The settings columns that are null for the seed's choices (one sigmoid layer, its init, a
constant rate, distinct samples per batch, and any setting added since), so runs of the seed's
kind keep their run ids and are recognised as the post's kind of training."""

GROUP_KEYS: tuple[str, ...] = (*METHOD_KEYS, "dataset", "n_validation",
                                *settings.group_columns())
"""Runs that agree on these are one configuration: they differ only in seed."""

LATER_COLUMNS = frozenset(
    {"options", "grad_cos", "grad_rel_err", "fidelity_time_s", "fidelity_every",
     *SEED_NULL_COLUMNS, "hidden_layers", "forward_time_s", "peak_mem_bytes",
     "forward_peak_mem_bytes", "theory_forward_passes", "role", "engine_role",
     "load_avg_start", "load_avg_end", "blas_threads", "numba_threads", "n_validation",
     "validation_seed", "forward_passes", "val_loss", "val_acc", "test_loss"}
)
"""Columns added after the first results were written: files without them read as null, and a
null one is left out of the run id."""


SCALING_SCHEMA = pa.schema(
    [
        pa.field("measurement_id", pa.string()),
        pa.field("engine", pa.string()),
        pa.field("method", pa.string()),
        pa.field("scheme", pa.string()),
        pa.field("h", pa.float64()),
        *ROLE_FIELDS,
        pa.field("dataset", pa.string()),
        pa.field("hidden_size", pa.int64()),
        pa.field("hidden_layers", pa.int64()),
        pa.field("batch_size", pa.int64()),
        pa.field("param_count", pa.int64()),
        pa.field("dtype", pa.string()),
        pa.field("seed", pa.int64()),
        pa.field("seconds_per_step_median", pa.float64()),
        pa.field("seconds_per_step_min", pa.float64()),
        pa.field("repeats", pa.int64()),
        pa.field("sampled_params", pa.int64()),
        pa.field("extrapolated", pa.bool_()),
        pa.field("measured_at", pa.timestamp("us", tz="UTC")),
        pa.field("numba_threads", pa.int64()),
        pa.field("blas_threads_env", pa.string()),
        pa.field("load_avg_1m", pa.float64()),
        *ENVIRONMENT_FIELDS,
    ]
)
"""One row per (engine, hidden size, hidden layers, batch size): the network is 784-H-10 with
``hidden_layers`` layers of H units (null in files from before depth was an axis: one).
``sampled_params`` is null where the whole
gradient was timed; ``blas_threads_env`` is the BLAS thread count in force (null: the
library's default, usually every core; the numerical engines run with one, as in runs)."""

GRADCHECK_SCHEMA = pa.schema(
    [
        pa.field("measurement_id", pa.string()),
        pa.field("weights", pa.string()),
        pa.field("trained_epochs", pa.int64()),
        pa.field("scheme", pa.string()),
        pa.field("dtype", pa.string()),
        pa.field("h", pa.float64()),
        pa.field("rel_err", pa.float64()),
        pa.field("cos", pa.float64()),
        pa.field("max_abs_err", pa.float64()),
        pa.field("grad_time_s", pa.float64()),
        pa.field("loss_evals", pa.int64()),
        pa.field("dataset", pa.string()),
        pa.field("n_train", pa.int64()),
        pa.field("batch_size", pa.int64()),
        pa.field("hidden_size", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("log_eps", pa.float64()),
        pa.field("measured_at", pa.timestamp("us", tz="UTC")),
        *ENVIRONMENT_FIELDS,
    ]
)
"""One row per (weights, scheme, dtype, h). ``trained_epochs`` is the number of backprop epochs
the weights had (0 for ``init``); rel_err, cos and max_abs_err are NaN where the gradient had a
non-finite entry."""

QUALITY_SCHEMA = pa.schema(
    [
        pa.field("measurement_id", pa.string()),
        pa.field("network", pa.string()),
        pa.field("hidden_size", pa.int64()),
        pa.field("total_params", pa.int64()),
        pa.field("weights", pa.string()),
        pa.field("trained_steps", pa.int64()),
        pa.field("batch", pa.int64()),
        pa.field("estimator", pa.string()),
        pa.field("method", pa.string()),
        pa.field("perturb", pa.string()),
        pa.field("orthogonal", pa.bool_()),
        pa.field("directions_kind", pa.string()),
        pa.field("directions", pa.int64()),
        pa.field("h", pa.float64()),
        pa.field("tensor", pa.string()),
        pa.field("n_params", pa.int64()),
        pa.field("repeats", pa.int64()),
        pa.field("cos_mean", pa.float64()),
        pa.field("cos_se", pa.float64()),
        pa.field("mse_rel", pa.float64()),
        pa.field("mse_rel_se", pa.float64()),
        pa.field("bias_rel", pa.float64()),
        pa.field("bias_floor_rel", pa.float64()),
        pa.field("variance_rel", pa.float64()),
        pa.field("cos_theory", pa.float64()),
        pa.field("mse_rel_theory", pa.float64()),
        pa.field("grad_norm", pa.float64()),
        pa.field("seconds_per_estimate", pa.float64()),
        pa.field("dataset", pa.string()),
        pa.field("n_train", pa.int64()),
        pa.field("batch_size", pa.int64()),
        pa.field("seed", pa.int64()),
        pa.field("log_eps", pa.float64()),
        pa.field("measured_at", pa.timestamp("us", tz="UTC")),
        *ENVIRONMENT_FIELDS,
    ]
)
"""One row per (network, weights, batch, estimator, directions, h, tensor) of the gradient-quality
study (``mlpbench.studies.quality_study``): statistics of ``repeats`` estimates against backprop;
``tensor`` "all" is every parameter together, the only rows with theory (null where none
applies: activity perturbation); ``h`` null for forward gradients."""

GRADCHECK_WEIGHTS: tuple[str, ...] = ("init", "trained")
"""The values of the gradcheck ``weights`` column, in the order they are shown."""


SWEEPS_SCHEMA = pa.schema(
    [
        pa.field("sweep", pa.string()),
        pa.field("title", pa.string()),
        pa.field("question", pa.string()),
    ]
)
"""One row per sweep (``results_dir/sweeps/<sweep>.parquet``): the sweep file's name (the
``sweep`` config group option), and the ``title`` and ``question`` it declares (null where it
declares none). Written by the grids sweeper before it launches, read by the report's title."""


TUNING_KEYS: tuple[str, ...] = tuple(k for k in GROUP_KEYS
                                     if k not in ("lr", "seed", "epochs", "steps_per_epoch"))
"""The columns that make one tuned configuration: a method with its options, an optimizer, a
network and protocol (``mlpbench.tuning``); the grid varies lr, the stages vary the seed, and
the run length follows from the budget (recorded beside it, not part of it)."""

_CONFIG_TYPES = {f.name: f.type for f in CONFIG_FIELDS}

TUNING_SCHEMA = pa.schema(
    [
        pa.field("sweep", pa.string()),
        pa.field("configuration", pa.string()),
        *(pa.field(k, _CONFIG_TYPES[k]) for k in TUNING_KEYS),
        pa.field("epochs", pa.int64()),
        pa.field("steps_per_epoch", pa.int64()),
        pa.field("lr", pa.float64()),
        pa.field("select", pa.string()),
        pa.field("score", pa.float64()),
        pa.field("scored_seeds", pa.int64()),
        pa.field("unstable_seeds", pa.int64()),
        pa.field("chosen", pa.bool_()),
        pa.field("edge", pa.string()),
        pa.field("seconds_per_step", pa.float64()),
        pa.field("forward_passes_per_step", pa.float64()),
        pa.field("budget_seconds", pa.float64()),
        pa.field("budget_forward_passes", pa.float64()),
        pa.field("targets", pa.list_(pa.float64())),
        pa.field("tuning_seeds", pa.list_(pa.int64())),
        pa.field("final_seeds", pa.list_(pa.int64())),
    ]
)
"""One row per (configuration, lr) of a tuned sweep (``results_dir/tuning/<sweep>.parquet``):
the mean ``score`` over the tuning seeds (``select``: the final validation loss; +inf where a
run diverged), whether the rate is the ``chosen`` one and, for it, whether it lies at an
``edge`` of the grid ("lowest", "highest"); the configuration's measured ``seconds_per_step``
(which, with ``forward_passes_per_step`` and the budgets, set every run's length: ``epochs`` x
``steps_per_epoch``; a rerun reuses it, so it resumes runs of the same length); the
validation-accuracy ``targets`` and the seeds of each stage. ``configuration`` is
``tuning.configuration_id`` of the rows' key columns, so the report finds the final runs."""
