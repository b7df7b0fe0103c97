"""Every setting of a run, declared once: its type, default, meaning, check and results column.

The dataclasses below are the one schema of a run. Hydra type-checks overrides against them
(``config.register_configs`` stores them); ``config.settings_from`` applies the checks declared
here and returns a validated, frozen ``RunConfig``, which is what ``train`` and ``run`` receive;
the results columns of a run (``columns``), their parquet types (``SETTING_FIELDS`` in
``results.schemas``) and the report's grouping keys (``GROUP_KEYS`` there) are read from the
same fields.
So adding a setting means adding a field here with ``setting(...)``, the code that uses it,
and a test (docs/development.md, "Adding a setting").

This module imports neither Hydra nor OmegaConf nor the training stack, so the results package
and the report read the schema without them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import Field, dataclass, field, fields, is_dataclass
from typing import Any, Optional, get_args, get_origin, get_type_hints

from mlpbench.errors import ConfigError
from mlpbench.model import ACTIVATIONS, DTYPES, INITS

REQUIRED = "???"
"""OmegaConf's marker of a value the config must provide (``omegaconf.MISSING``)."""

INT64_MAX = 2**63 - 1
"""The largest integer a results column (int64 in parquet) holds: the bound of every integer
setting, checked before training so that no value passes validation and then fails to be
written."""

NOT_NULLED = object()
"""``Column.null_at`` when no value of the setting is recorded as null."""

Check = Callable[[str, Any], None]
"""``check(key, value)`` raises ``ConfigError`` naming ``key`` when ``value`` is not allowed."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def at_least(low: int, note: str = "") -> Check:
    """An integer >= ``low`` (and, like every integer setting, at most ``INT64_MAX``)."""

    def check(key: str, value: Any) -> None:
        _require(value is None or value >= low,
                 f"{key}: must be an integer >= {low}{note}, got {value}")

    return check


def positive(note: str = "", *, or_zero: bool = False, at_most: float | None = None) -> Check:
    """A finite number > 0 (>= 0 with ``or_zero``, and <= ``at_most`` when given); ``note``
    says what null means or why the bound."""
    bound = ">= 0" if or_zero else "> 0"
    if at_most is not None:
        bound += f" and <= {at_most:g}"

    def check(key: str, value: Any) -> None:
        _require(value is None or (math.isfinite(value) and (value >= 0 if or_zero else value > 0)
                                   and (at_most is None or value <= at_most)),
                 f"{key}: must be a finite number {bound}{note}, got {value}")

    return check


def one_of(*allowed: str) -> Check:
    """One of ``allowed``."""

    def check(key: str, value: Any) -> None:
        _require(value in allowed, f"{key}: unknown '{value}'; allowed: {', '.join(allowed)}")

    return check


@dataclass(frozen=True)
class Column:
    """How a setting is recorded in the results: under ``name`` (the setting's own by
    default), null where it equals ``null_at`` or where the setting ``only_with`` names does
    not have that value. Both keep the run ids of results written before the setting existed:
    a null column is left out of the id (``results.LATER_COLUMNS``)."""

    name: str | None = None
    null_at: Any = NOT_NULLED
    only_with: tuple[str, Any] | None = None
    record: Callable[[Any], Any] | None = None  # value from the owning config, when derived
    type: type | None = None  # the column's type, when not the setting's
    nullable: bool = False  # null for the seed's choice by ``record`` itself


def setting(
    default: Any,
    help: str,
    *,
    check: Check | None = None,
    column: Column | bool = True,
    required_with: tuple[str, Any] | None = None,
    excludes: str | None = None,
    group: bool = True,
    affects: frozenset[str] = frozenset(),
) -> Any:
    """A field of the schema: its default, what it means (``help``), its check, how results
    record it (``column``; False: not a results column) and whether runs that differ in it are
    different configurations (``group``; False for the seed, whose runs are one
    configuration's repeats). With ``required_with=(key, value)`` the setting must be given
    exactly when ``key`` has ``value``, and is null otherwise; with ``excludes=key`` the two
    cannot both be given. ``affects`` says what else a setting fixes, for the report: "init"
    (with the seed, the initial weights and the batch sequence; ``train.streams``), "work" (the
    work of one gradient step, so runs that differ in it are timed apart)."""
    meta = {"help": help, "check": check, "column": column, "required_with": required_with,
            "excludes": excludes, "group": group, "affects": affects}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: default.copy(), metadata=meta)
    return field(default=default, metadata=meta)


LOG_EPS_MAX = 1e-2
"""The largest ``log_eps``. -log(p + eps) guards log(0); it is the cross-entropy only while eps is
small beside the probabilities p in [0, 1] it is added to. At 1e-2 a right answer (p = 1) still
costs -0.00995, not a negative loss of -log(1 + eps) that training can chase, and a 1/10 guess
2.21 instead of 2.30; at 1e9 every loss is about -20.7 and means nothing."""


DEFAULT_HIDDEN = 50
"""The seed's hidden layer: 50 sigmoid units."""


INIT, WORK = "init", "work"
"""The values of ``setting(affects=...)``."""


def _optimizer_label(optimizer: Any) -> str | None:
    """The ``optimizer`` column: null for plain SGD without clipping (the seed's), so every run
    written before optimizers existed keeps its id (``optimizers.label``)."""
    from mlpbench import optimizers

    return None if optimizer is None else optimizers.label(optimizer)


def widths_check(key: str, value: Any) -> None:
    """A non-empty list of integers from 1 to ``INT64_MAX``, or null."""
    if value is None:
        return
    widths = list(value)
    _require(len(widths) >= 1 and all(isinstance(w, int) and not isinstance(w, bool)
                                      and 1 <= w <= INT64_MAX for w in widths),
             f"{key}: must be a non-empty list of integers >= 1 (one width per hidden layer, "
             f"e.g. [64,32]), got {_as_given(widths)}")


def _as_given(value: Any) -> str:
    """A list value written as on the command line: nested lists (tuples once frozen) as
    ``[[1]]``, not ``[(1,)]``."""
    if isinstance(value, list | tuple):
        return f"[{', '.join(_as_given(v) for v in value)}]"
    return str(value)


def _widths_column(model: ModelConfig) -> str | None:
    widths = model.widths
    return "-".join(map(str, widths)) if len(widths) > 1 else None


@dataclass(frozen=True)
class ModelConfig:
    """The network: 784 -> hidden layers -> 10 (softmax); by default the seed's, 784-50-10
    sigmoid with its N(0, 1)/sqrt(fan_in) init."""

    hidden_size: Optional[int] = setting(  # noqa: UP045  (OmegaConf 2.3 needs Optional)
        None, "one hidden layer of this width (null and no hidden_sizes: 50)",
        check=at_least(1), column=Column(record=lambda model: model.widths[0]),
        affects=frozenset({INIT, WORK}))
    hidden_sizes: Optional[list[int]] = setting(  # noqa: UP045
        None, "or a width per hidden layer, e.g. [64,32] for 784-64-32-10",
        check=widths_check, excludes="hidden_size",
        column=Column(record=_widths_column, type=str, nullable=True),
        affects=frozenset({INIT, WORK}))
    activation: str = setting("sigmoid", "of every hidden layer", check=one_of(*ACTIVATIONS),
                              column=Column(null_at="sigmoid"), affects=frozenset({WORK}))
    init: str = setting("seed", "seed: N(0,1)/sqrt(fan_in) | he: N(0,1)*sqrt(2/fan_in) | "
                        "normal: N(0, init_std^2)", check=one_of(*INITS),
                        column=Column(null_at="seed"), affects=frozenset({INIT}))
    init_std: float = setting(0.01, "the std of init=normal (Deep Learning from Scratch: 0.01)",
                              check=positive(), column=Column(only_with=("init", "normal")),
                              affects=frozenset({INIT}))

    @property
    def widths(self) -> tuple[int, ...]:
        """The width of every hidden layer."""
        if self.hidden_sizes is not None:
            return tuple(self.hidden_sizes)
        return (DEFAULT_HIDDEN if self.hidden_size is None else self.hidden_size,)


@dataclass(frozen=True)
class DatasetConfig:
    """Schema of ``conf/dataset/*.yaml``. Results record the dataset actually used (a fallback
    to the embedded subset included) with its sizes, not this choice."""

    name: str = setting("mnist", "the dataset (conf/dataset/)", column=False)
    download: bool = setting(True, "download (and checksum-verify) missing files",
                             column=False)
    validation: int = setting(
        0, "training samples held out as a validation split before any batch is drawn "
        "(0: none, the seed's protocol); results record it as n_validation",
        check=at_least(0), column=False)
    validation_seed: int = setting(
        0, "picks the held-out samples; fixed apart from the run's seed, so every seed of a "
        "sweep is tuned and scored on one validation split", check=at_least(0), column=False)


@dataclass(frozen=True)
class RunConfig:
    """One training run; by default under the seed's protocol. Its fields are in the order the
    report groups and sorts configurations by."""

    method: Any = setting(REQUIRED, "the gradient method (methods.available())", column=False)
    dataset: DatasetConfig = setting(REQUIRED, "the data (conf/dataset/)", column=False)
    model: ModelConfig = field(default_factory=ModelConfig)
    batch_size: int = setting(100, "samples per step", check=at_least(1),
                              affects=frozenset({INIT, WORK}))
    lr: Optional[float] = setting(  # noqa: UP045
        None, "the learning rate; null: the method's default (docs/methods.md)",
        check=positive(" (or null for the method's default)"))
    optimizer: Any = setting(
        None, "the update rule (conf: optimizer=sgd|momentum|adam, mlpbench.optimizers); "
        "null: plain SGD, the seed's",
        column=Column(record=lambda run: _optimizer_label(run.optimizer), type=str,
                      nullable=True))
    lr_schedule: str = setting(
        "constant", "constant, or exp_decay: lr * exp(-lr_decay * step), step counted from 0",
        check=one_of("constant", "exp_decay"), column=Column(null_at="constant"))
    lr_decay: Optional[float] = setting(  # noqa: UP045
        None, "k of lr_schedule=exp_decay (Baydin et al. 2022: 1e-4)",
        check=positive(" with lr_schedule=exp_decay (lr * exp(-lr_decay * step))"),
        required_with=("lr_schedule", "exp_decay"))
    sampling: str = setting(
        "without_replacement",
        "a batch's indices: distinct (the seed's), or with_replacement (Deep Learning from "
        "Scratch's np.random.choice)",
        check=one_of("without_replacement", "with_replacement"),
        column=Column(null_at="without_replacement"), affects=frozenset({INIT}))
    epochs: int = setting(100, "an epoch is steps_per_epoch mini-batch steps (the seed: one)",
                          check=at_least(1))
    steps_per_epoch: int = setting(1, "SGD steps per epoch", check=at_least(1),
                                   affects=frozenset({WORK}))
    seed: int = setting(0, "fixes the initial weights and the batch sequence, not the method",
                        check=at_least(0), group=False)
    dtype: str = setting("float64", "the parameters' and the data's floating-point type",
                         check=one_of(*DTYPES), affects=frozenset({INIT, WORK}))
    log_eps: float = setting(
        1e-7, "the seed's -log(p + 1e-7)",
        check=positive(" (0: the textbook loss; the seed: 1e-7); a larger eps changes what the "
                       "loss measures", or_zero=True, at_most=LOG_EPS_MAX))
    h: Optional[float] = setting(  # noqa: UP045
        None, "the step of methods that use one; null: the method's default",
        check=positive(" (or null for the method's default)"), column=False)
    data_dir: Optional[str] = setting(  # noqa: UP045
        None, "null: $MLPBENCH_DATA, else a per-user cache directory", column=False)
    results_dir: str = setting(
        "results", "parquet lands in results_dir/curves and results_dir/runs", column=False)
    progress: bool = setting(True, "a progress bar on a terminal, plain log lines elsewhere",
                             column=False)
    resume: bool = setting(True, "skip a run whose result (same run_id) is in results_dir",
                           column=False)
    force: bool = setting(False, "run even so (a new attempt; nothing is overwritten)",
                          column=False)
    retry_failed: bool = setting(False, "rerun a run whose earlier attempts diverged or failed",
                                 column=False)
    fidelity_every: Optional[int] = setting(  # noqa: UP045
        None, "compare with backprop every N epochs (0: never; null: 1, the reference 0)",
        check=at_least(0, " (0: never; null: every epoch except for backprop)"), column=False)
    claim_wait: bool = setting(
        False, "a run another process is computing: skip it (false) or wait for it",
        column=False)


@dataclass(frozen=True)
class SchemaField:
    """One leaf setting: its dotted key, the dataclass field, and its type without Optional."""

    key: str
    field: Field
    type: Any

    @property
    def name(self) -> str:
        return self.field.name


def plain_type(hint: Any) -> Any:
    """``Optional[X]`` as X."""
    args = get_args(hint)
    if get_origin(hint) is not None and type(None) in args and len(args) == 2:
        return next(a for a in args if a is not type(None))
    return hint


def leaves(schema: type = RunConfig, prefix: str = "") -> Iterator[SchemaField]:
    """Every leaf setting of ``schema`` in declaration order, nested configs (fields declared
    without ``setting``) walked in place (``model.hidden_size``). The method and the dataset
    are leaves: their own keys belong to their config groups."""
    hints = get_type_hints(schema)
    for f in fields(schema):
        kind = plain_type(hints[f.name])
        if is_dataclass(kind) and "help" not in f.metadata:
            yield from leaves(kind, f"{prefix}{f.name}.")
        else:
            yield SchemaField(f"{prefix}{f.name}", f, kind)


def value_at(config: Any, key: str) -> Any:
    """The value of dotted ``key`` in a config object."""
    for part in key.split("."):
        config = getattr(config, part)
    return config


def owner_of(config: Any, key: str) -> Any:
    """The config object that holds dotted ``key``."""
    for part in key.split(".")[:-1]:
        config = getattr(config, part)
    return config


def column_name(leaf: SchemaField) -> str | None:
    """The results column of a setting, or None when results do not record it."""
    spec = leaf.field.metadata.get("column", False)
    if spec is False:
        return None
    return (spec.name if isinstance(spec, Column) else None) or leaf.name


def recorded(schema: type = RunConfig) -> list[SchemaField]:
    """The settings results record, in column order."""
    return [leaf for leaf in leaves(schema) if column_name(leaf) is not None]


def column_type(leaf: SchemaField) -> type:
    """The Python type of a setting's column (int, float, str or bool)."""
    spec = leaf.field.metadata["column"]
    return spec.type if isinstance(spec, Column) and spec.type is not None else leaf.type


def column_value(settings: Any, leaf: SchemaField) -> Any:
    """The value a run's results record for one setting."""
    spec = leaf.field.metadata["column"]
    owner = owner_of(settings, leaf.key)
    if not isinstance(spec, Column):
        return getattr(owner, leaf.name)
    if spec.only_with is not None and getattr(owner, spec.only_with[0]) != spec.only_with[1]:
        return None
    value = spec.record(owner) if spec.record is not None else getattr(owner, leaf.name)
    if spec.null_at is not NOT_NULLED and value == spec.null_at:
        return None
    return value


def columns(settings: Any) -> dict[str, Any]:
    """The settings columns of a run's result rows, in column order."""
    return {column_name(leaf): column_value(settings, leaf) for leaf in recorded(type(settings))}


def nullable_columns(schema: type = RunConfig) -> tuple[str, ...]:
    """The settings columns that are null for the seed's choice: a null one is left out of the
    run id, so adding such a setting keeps every earlier run's id."""
    names = []
    for leaf in recorded(schema):
        spec = leaf.field.metadata["column"]
        if leaf.field.metadata["required_with"] is not None or (isinstance(spec, Column) and (
                spec.null_at is not NOT_NULLED or spec.only_with is not None or spec.nullable)):
            names.append(column_name(leaf))
    return tuple(names)


def group_columns(schema: type = RunConfig) -> tuple[str, ...]:
    """The settings columns that tell configurations apart (the seed's do not)."""
    return tuple(column_name(leaf) for leaf in recorded(schema) if leaf.field.metadata["group"])


def columns_affecting(what: str, schema: type = RunConfig) -> tuple[str, ...]:
    """The settings columns declared to affect ``what`` (``INIT`` or ``WORK``)."""
    return tuple(column_name(leaf) for leaf in recorded(schema)
                 if what in leaf.field.metadata["affects"])


def check(settings: Any, prefix: str = "") -> None:
    """Apply every setting's declared check; the first failure raises ``ConfigError`` naming
    the key (``prefix`` before it: "method." for a method's options)."""
    for leaf in leaves(type(settings)):
        key, meta = prefix + leaf.key, leaf.field.metadata
        value = value_at(settings, leaf.key)
        owner = owner_of(settings, leaf.key)
        if meta.get("required_with") is not None:
            other, wanted = meta["required_with"]
            actual = getattr(owner, other)
            if actual != wanted:
                _require(value is None,
                         f"{key}: only with {other}={wanted}, got {value} with {other}={actual}")
                continue
            _require(value is not None, f"{key}: must be given with {other}={wanted}")
        excluded = meta.get("excludes")
        if excluded is not None and value is not None:
            other_key = key[: -len(leaf.name)] + excluded
            _require(getattr(owner, excluded) is None,
                     f"{key}: give {key} or {other_key}, not both")
        if meta.get("check") is not None:
            meta["check"](key, value)
        if leaf.type is int and value is not None:
            _require(value <= INT64_MAX,
                     f"{key}: must be at most {INT64_MAX} (2**63 - 1), got {value}")
