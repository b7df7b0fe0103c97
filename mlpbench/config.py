"""Configuration: the schema Hydra checks overrides against, and the checks it cannot make.

Hydra rejects unknown keys and values of the wrong type using the dataclasses below (stored in
the ConfigStore). ``settings_from`` then checks ranges (h > 0, epochs >= 1, ...) and turns the
composed config into a plain frozen ``RunSettings`` that the rest of the harness uses, so no
function below the entry point ever sees a DictConfig.
"""

from __future__ import annotations

import difflib
import math
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf

from mlpbench import methods
from mlpbench.data import DATASETS
from mlpbench.errors import ConfigError
from mlpbench.model import ACTIVATIONS, INITS
from mlpbench.problem import DTYPES


@dataclass
class ModelConfig:
    """The network: 784 -> hidden layers -> 10 (softmax); by default the seed's, 784-50-10
    sigmoid with its N(0, 1)/sqrt(fan_in) init. ``hidden_size`` is the one-layer shorthand of
    ``hidden_sizes``; with neither, one layer of ``DEFAULT_HIDDEN`` units."""

    hidden_size: Optional[int] = None  # noqa: UP045  (OmegaConf 2.3 needs Optional)
    hidden_sizes: Optional[list[int]] = None  # noqa: UP045
    activation: str = "sigmoid"
    init: str = "seed"
    init_std: float = 0.01


@dataclass
class DatasetConfig:
    """Schema of ``conf/dataset/*.yaml``."""

    name: str = "mnist"
    download: bool = True


@dataclass
class RunConfig:
    """Schema of ``conf/config.yaml``: one training run under the seed's protocol by default."""

    method: Any = MISSING
    dataset: DatasetConfig = MISSING
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 100
    steps_per_epoch: int = 1
    batch_size: int = 100
    lr: Optional[float] = None  # noqa: UP045  (None: the method's default learning rate)
    lr_schedule: str = "constant"
    lr_decay: Optional[float] = None  # noqa: UP045  (k of exp_decay: lr * exp(-k * step))
    sampling: str = "without_replacement"
    h: Optional[float] = None  # noqa: UP045  (None: the method's default step)
    seed: int = 0
    dtype: str = "float64"
    log_eps: float = 1e-7
    data_dir: Optional[str] = None  # noqa: UP045 (OmegaConf 2.3 needs Optional)
    results_dir: str = "results"
    progress: bool = True
    resume: bool = True
    force: bool = False
    retry_failed: bool = False
    fidelity_every: Optional[int] = None  # noqa: UP045  (None: 1, or 0 for backprop)
    claim_wait: bool = False


def sweep_id() -> str:
    """A name part unique to this invocation (pid and 4 random hex digits).

    Two copies of one sweep started in the same second share the timestamp of the sweep
    folder (``hydra.sweep.dir``); this part keeps their folders apart. The resolver caches its
    value in the config, and Hydra copies that cache into every job's config, so all jobs of one
    sweep agree on it.
    """
    return f"{os.getpid()}-{secrets.token_hex(2)}"


if not OmegaConf.has_resolver("mlpbench.sweep_id"):
    OmegaConf.register_new_resolver("mlpbench.sweep_id", sweep_id, use_cache=True)


def register_configs() -> None:
    """Store the run schema and every method's schema, so yaml files can extend them."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=RunConfig)
    store.store(group="dataset", name="dataset_schema", node=DatasetConfig)
    for name, method in methods.available().items():
        store.store(group="method", name=f"{name}_schema", node=method.Config)


@dataclass(frozen=True)
class RunSettings:
    """A validated run: plain values only, every range already checked."""

    method: Any  # the method's own Config dataclass instance
    dataset: str
    download: bool
    hidden_size: int  # the first hidden layer's width
    epochs: int
    steps_per_epoch: int
    batch_size: int
    lr: float
    h: float
    seed: int
    dtype: str
    log_eps: float
    data_dir: Path | None
    results_dir: Path
    progress: bool
    resume: bool = True
    force: bool = False
    retry_failed: bool = False
    fidelity_every: int = 0
    claim_wait: bool = False
    lr_decay: float = 0.0  # k of lr * exp(-k * step); 0: a constant learning rate
    with_replacement: bool = False  # a batch's indices drawn with replacement (DLFS)
    hidden_sizes: tuple[int, ...] = ()  # every hidden layer's width; () means (hidden_size,)
    activation: str = "sigmoid"
    init: str = "seed"
    init_std: float = 0.01

    @property
    def widths(self) -> tuple[int, ...]:
        """The width of every hidden layer."""
        return self.hidden_sizes or (self.hidden_size,)


INT64_MAX = 2**63 - 1
"""The largest integer a results column (int64 in parquet) holds: the bound of every integer key,
checked before training so that no value passes validation and then fails to be written."""

NAME_MAX = 255
"""The longest file or folder name (in bytes) the usual file systems accept."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def known_keys(method_config: type | None = None) -> list[str]:
    """Every key of the run schema, nested ones dotted (``model.hidden_size``); the method keys
    of ``method_config``, or of every method when it is None."""
    keys = [f.name for f in fields(RunConfig) if f.name not in ("model", "dataset", "method")]
    keys += [f"model.{f.name}" for f in fields(ModelConfig)]
    keys += [f"dataset.{f.name}" for f in fields(DatasetConfig) if f.name != "name"]
    keys += ["method", "dataset"]
    schemas = ([method_config] if method_config is not None
               else [m.Config for m in methods.available().values()])
    for schema in schemas:
        keys += [f"method.{f.name}" for f in fields(schema)
                 if f.name != "name" and f"method.{f.name}" not in keys]
    return keys


def unknown_key(key: str, method_config: type | None = None) -> str:
    """Name the unknown key and the nearest known ones."""
    if method_config is None and key in known_keys():
        return f"{key}: not a key of the method chosen (see conf/method/ for each method's keys)"
    known = known_keys(method_config)
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known keys: {', '.join(known)}"
    return f"{key}: unknown key; {hint}"


def check_no_extra_keys(cfg: DictConfig, method_config: type) -> None:
    """Reject keys the schema does not have, however they got in.

    Hydra checks a plain ``key=value`` against the schema, but ``+key=value`` and ``++key=value``
    add keys to it; a misspelt ``+epoch=3`` would otherwise run silently with the default.
    """
    schemas = {"": RunConfig, "model.": ModelConfig, "dataset.": DatasetConfig,
               "method.": method_config}
    for prefix, schema in schemas.items():
        node = cfg if not prefix else cfg.get(prefix[:-1])
        if not isinstance(node, DictConfig):
            continue
        allowed = {f.name for f in fields(schema)} | ({"hydra"} if not prefix else set())
        for key in node:
            if key not in allowed:
                raise ConfigError(unknown_key(f"{prefix}{key}", method_config))


def check_path(key: str, value: str | None) -> None:
    """A folder path the file system can take: no name over NAME_MAX bytes, none too long."""
    if value is None:
        return
    parts = Path(value).parts
    longest = max((len(os.fsencode(part)) for part in parts), default=0)
    _require(longest <= NAME_MAX and len(os.fsencode(value)) < 4096,
             f"{key}: path too long (a folder name is at most {NAME_MAX} bytes, "
             f"the whole path under 4096)")


LR_SCHEDULES: tuple[str, ...] = ("constant", "exp_decay")
SAMPLINGS: tuple[str, ...] = ("without_replacement", "with_replacement")
"""How a step's batch is drawn: distinct samples (the seed's), or independent draws ("Deep
Learning from Scratch"'s ``np.random.choice(train_size, batch_size)``)."""

DEFAULT_HIDDEN = 50
"""The seed's hidden layer: 50 sigmoid units."""


def hidden_widths(model: DictConfig) -> tuple[int, ...]:
    """The hidden layers' widths from ``model.hidden_sizes`` or its shorthand ``hidden_size``."""
    if model.hidden_size is not None and model.hidden_sizes is not None:
        raise ConfigError("model.hidden_sizes: give model.hidden_sizes or its one-layer "
                          "shorthand model.hidden_size, not both")
    if model.hidden_sizes is not None:
        widths = tuple(model.hidden_sizes)
        _require(len(widths) >= 1 and all(1 <= w <= INT64_MAX for w in widths),
                 "model.hidden_sizes: must be a non-empty list of integers >= 1, got "
                 f"[{', '.join(map(str, widths))}]")
        return widths
    width = DEFAULT_HIDDEN if model.hidden_size is None else model.hidden_size
    _require(1 <= width <= INT64_MAX,
             f"model.hidden_size: must be an integer >= 1, got {width}")
    return (width,)


def results_dir_from(value: str) -> Path:
    """``results_dir`` as an absolute path; empty and the file system root are refused.

    Both would scatter ``curves/`` and ``runs/`` where nobody looks for results: an empty value
    into the current folder, the root into ``/curves`` and ``/runs``.
    """
    _require(value.strip() != "",
             "results_dir: must name a folder (e.g. results_dir=results), got an empty value")
    check_path("results_dir", value)
    path = Path(value).expanduser().absolute()
    _require(path != Path(path.anchor),
             f"results_dir: must not be the file system root, got '{value}'")
    return path


def settings_from(cfg: DictConfig) -> RunSettings:
    """Check every range Hydra's types cannot express; return plain, validated settings."""
    method = methods.get(cfg.method.name)
    check_no_extra_keys(cfg, method.Config)
    method_cfg = OmegaConf.to_object(cfg.method)
    if not isinstance(method_cfg, method.Config):
        method_cfg = method.Config(**method_cfg)
    method.check(method_cfg)
    _require(cfg.dataset.name in DATASETS,
             f"dataset: unknown '{cfg.dataset.name}'; allowed: {', '.join(DATASETS)}")
    _require(cfg.epochs >= 1, f"epochs: must be an integer >= 1, got {cfg.epochs}")
    _require(cfg.steps_per_epoch >= 1,
             f"steps_per_epoch: must be an integer >= 1, got {cfg.steps_per_epoch}")
    _require(cfg.batch_size >= 1, f"batch_size: must be an integer >= 1, got {cfg.batch_size}")
    _require(cfg.lr is None or (math.isfinite(cfg.lr) and cfg.lr > 0),
             f"lr: must be a finite number > 0 (or null for the method's default), got {cfg.lr}")
    _require(cfg.lr_schedule in LR_SCHEDULES,
             f"lr_schedule: unknown '{cfg.lr_schedule}'; allowed: {', '.join(LR_SCHEDULES)}")
    if cfg.lr_schedule == "exp_decay":
        _require(cfg.lr_decay is not None and math.isfinite(cfg.lr_decay) and cfg.lr_decay > 0,
                 "lr_decay: must be a finite number > 0 with lr_schedule=exp_decay (lr * "
                 f"exp(-lr_decay * step)), got {cfg.lr_decay}")
    else:
        _require(cfg.lr_decay is None,
                 f"lr_decay: only with lr_schedule=exp_decay, got {cfg.lr_decay} with "
                 f"lr_schedule={cfg.lr_schedule}")
    _require(cfg.sampling in SAMPLINGS,
             f"sampling: unknown '{cfg.sampling}'; allowed: {', '.join(SAMPLINGS)}")
    _require(cfg.h is None or (math.isfinite(cfg.h) and cfg.h > 0),
             f"h: must be a finite number > 0 (or null for the method's default), got {cfg.h}")
    _require(cfg.fidelity_every is None or cfg.fidelity_every >= 0,
             "fidelity_every: must be an integer >= 0 (0: never; null: every epoch except for "
             f"backprop), got {cfg.fidelity_every}")
    _require(math.isfinite(cfg.log_eps) and cfg.log_eps >= 0,
             f"log_eps: must be a finite number >= 0, got {cfg.log_eps}")
    widths = hidden_widths(cfg.model)
    _require(cfg.model.activation in ACTIVATIONS,
             f"model.activation: unknown '{cfg.model.activation}'; allowed: "
             f"{', '.join(ACTIVATIONS)}")
    _require(cfg.model.init in INITS,
             f"model.init: unknown '{cfg.model.init}'; allowed: {', '.join(INITS)}")
    _require(math.isfinite(cfg.model.init_std) and cfg.model.init_std > 0,
             f"model.init_std: must be a finite number > 0, got {cfg.model.init_std}")
    method.check_network(method_cfg, widths, cfg.model.activation)
    _require(0 <= cfg.seed <= INT64_MAX,
             f"seed: must be an integer from 0 to {INT64_MAX} (2**63 - 1), got {cfg.seed}")
    for key in ("epochs", "steps_per_epoch", "batch_size", "fidelity_every"):
        value = cfg[key]
        _require(value is None or value <= INT64_MAX,
                 f"{key}: must be at most {INT64_MAX} (2**63 - 1), got {value}")
    _require(cfg.epochs * cfg.steps_per_epoch <= INT64_MAX,
             f"epochs: epochs * steps_per_epoch must be at most {INT64_MAX} (2**63 - 1)")
    check_path("data_dir", cfg.data_dir)
    _require(cfg.dtype in DTYPES,
             f"dtype: unknown '{cfg.dtype}'; allowed: {', '.join(DTYPES)}")
    fidelity_every = cfg.fidelity_every
    if fidelity_every is None:  # the reference's own gradient needs no comparison
        fidelity_every = 0 if method.NAME == methods.REFERENCE else 1
    return RunSettings(
        method=method_cfg,
        dataset=cfg.dataset.name,
        download=cfg.dataset.download,
        hidden_size=widths[0],
        hidden_sizes=widths if len(widths) > 1 else (),
        activation=cfg.model.activation,
        init=cfg.model.init,
        init_std=cfg.model.init_std,
        epochs=cfg.epochs,
        steps_per_epoch=cfg.steps_per_epoch,
        batch_size=cfg.batch_size,
        lr=method.default_lr(method_cfg) if cfg.lr is None else cfg.lr,
        h=method.default_h(method_cfg) if cfg.h is None else cfg.h,
        seed=cfg.seed,
        dtype=cfg.dtype,
        log_eps=cfg.log_eps,
        data_dir=Path(cfg.data_dir).expanduser() if cfg.data_dir else None,
        results_dir=results_dir_from(cfg.results_dir),
        progress=cfg.progress,
        resume=cfg.resume,
        force=cfg.force,
        retry_failed=cfg.retry_failed,
        fidelity_every=fidelity_every,
        claim_wait=cfg.claim_wait,
        lr_decay=cfg.lr_decay if cfg.lr_schedule == "exp_decay" else 0.0,
        with_replacement=cfg.sampling == "with_replacement",
    )
