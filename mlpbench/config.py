"""Configuration: Hydra's view of the run schema, and the checks Hydra cannot make.

The schema is ``mlpbench.settings``. Hydra rejects unknown keys and values of the wrong type
using its dataclasses (stored in the ConfigStore with every method's ``Config`` as
``method=NAME``); ``settings_from`` then applies the checks the schema declares, resolves what
defaults to the method's choice, and returns the validated, frozen ``RunConfig`` that the rest
of the harness uses, so no function below the entry point ever sees a DictConfig.
"""

from __future__ import annotations

import difflib
import os
import secrets
from collections.abc import Sequence
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, ListConfig, OmegaConf

from mlpbench import memory_estimate, methods, optimizers, settings
from mlpbench.data import DATASETS
from mlpbench.errors import ConfigError
from mlpbench.settings import INT64_MAX, DatasetConfig, ModelConfig, RunConfig, leaves

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
KEYS_HINT = "python -m mlpbench --help lists every method's keys"


def default_choice(group: str) -> str:
    """The option conf/config.yaml's defaults list picks for ``group`` (``method``:
    backprop), read from the file so that no other place repeats it."""
    config = yaml.safe_load((CONF_DIR / "config.yaml").read_text())
    for entry in config["defaults"]:
        if isinstance(entry, dict) and group in entry:
            return str(entry[group])
    return ""


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


def help_template() -> str:
    """``--help``'s text (``hydra.help.template``), generated from the declarations it shows
    (``mlpbench.help``); imported only when asked for, so no run pays for it."""
    from mlpbench import help as app_help

    return app_help.template()


if not OmegaConf.has_resolver("mlpbench.help"):
    OmegaConf.register_new_resolver("mlpbench.help", help_template)


def writable_node(schema: type) -> DictConfig:
    """``schema`` as a Hydra config node that overrides can change.

    The schema's dataclasses are frozen, so that validated settings cannot change; OmegaConf
    would carry that into read-only nodes, which Hydra cannot merge overrides into.
    """
    node = OmegaConf.structured(schema)

    def clear(config: DictConfig) -> None:
        config._set_flag("readonly", None)
        for key in config:
            child = config._get_node(key)
            if isinstance(child, DictConfig):
                clear(child)

    clear(node)
    return node


def register_configs() -> None:
    """Store the run schema, the dataset schema and every method's config (``method=NAME``)."""
    store = ConfigStore.instance()
    store.store(name="run_schema", node=writable_node(RunConfig))
    store.store(group="dataset", name="dataset_schema", node=writable_node(DatasetConfig))
    for name, method in methods.available().items():
        store.store(group="method", name=name, node=writable_node(method.Config))
    for name, schema in optimizers.OPTIMIZERS.items():
        store.store(group="optimizer", name=name, node=writable_node(schema))


NAME_MAX = 255
"""The longest file or folder name (in bytes) the usual file systems accept."""


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def known_keys(method_config: type | None = None) -> list[str]:
    """Every key of the run schema, nested ones dotted (``model.hidden_size``); the method keys
    of ``method_config``, or of every method when it is None."""
    keys = [leaf.key for leaf in leaves() if leaf.key not in ("method", "dataset")]
    keys += [f"dataset.{f.name}" for f in fields(DatasetConfig) if f.name != "name"]
    keys += ["method", "dataset", "optimizer"]
    keys += list(dict.fromkeys(f"optimizer.{f.name}" for schema in optimizers.OPTIMIZERS.values()
                               for f in fields(schema) if f.name != "name"))
    schemas = ([method_config] if method_config is not None
               else [m.Config for m in methods.available().values()])
    for schema in schemas:
        keys += [f"method.{f.name}" for f in fields(schema)
                 if f.name != "name" and f"method.{f.name}" not in keys]
    return keys


def methods_with(key: str) -> list[str]:
    """The methods that have ``key`` (``method.directions``) among their options."""
    if not key.startswith("method."):
        return []
    name = key.split(".", 1)[1]
    return [method for method, spec in methods.available().items()
            if name != "name" and name in {f.name for f in fields(spec.Config)}]


def unknown_key(key: str, method_config: type | None = None, method: str | None = None) -> str:
    """Name the unknown key and the nearest known ones; a key of other methods than the one
    chosen (``method``, or ``method_config``'s) names the methods that have it."""
    if key.startswith("optimizer."):
        return unknown_optimizer_key(key)
    method = method or getattr(method_config, "name", None)
    having = methods_with(key)
    if having and method not in having:
        where = ", ".join(having)
        if method is None:
            return f"{key}: a key of {where} only, not of the method chosen ({KEYS_HINT})"
        return f"{key}: not a key of {method}; a key of {where} ({KEYS_HINT})"
    known = known_keys(method_config)
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known keys: {', '.join(known)}"
    return f"{key}: unknown key; {hint}"


def unknown_optimizer_key(key: str) -> str:
    """Name an optimizer key the chosen optimizer lacks, and the optimizers that have it."""
    name = key.split(".", 1)[1]
    having = [option for option, schema in optimizers.OPTIMIZERS.items()
              if name != "name" and name in {f.name for f in fields(schema)}]
    if having:
        return (f"{key}: a key of optimizer={', optimizer='.join(having)} only, not of the "
                f"optimizer chosen ({KEYS_HINT})")
    known = [k for k in known_keys() if k.startswith("optimizer.")]
    close = difflib.get_close_matches(key, known, n=3)
    hint = f"did you mean {' or '.join(close)}?" if close else f"known keys: {', '.join(known)}"
    return f"{key}: unknown key; {hint}"


def check_method_keys(jobs: Sequence[Sequence[str]], default_method: str) -> None:
    """Every ``method.KEY`` a sweep's jobs are given is a key of the method each job runs.

    A key given once on the command line goes to every job of a sweep (``__main__``'s
    ``sweep_arguments``), so a sweep over several methods can give it to one that lacks it;
    composing that job would fail naming neither the method nor the others. This names them
    all, for the whole sweep, before anything runs. ``default_method`` is the method of a job
    whose overrides name none. A key no method has, or a method that does not exist, is left to
    the composition's own message (with its did-you-mean).
    """
    job_methods: list[str] = []
    given_to: dict[str, set[str]] = {}
    for job in jobs:
        method = default_method
        keys = []
        for text in job:
            key, _, value = text.partition("=")
            if key == "method":
                method = value
            elif key.startswith("method."):
                keys.append(key)
        job_methods.append(method)
        for key in keys:
            given_to.setdefault(key, set()).add(method)
    known = methods.available()
    swept = [m for m in dict.fromkeys(job_methods) if m in known]
    for key, used_with in given_to.items():
        having = methods_with(key)
        lacking = [m for m in swept if m in used_with and m not in having]
        if having and lacking:
            raise ConfigError(f"{key}: a key of {', '.join(having)}, not of "
                              f"{', '.join(lacking)} (swept: {', '.join(swept)})")


def check_no_extra_keys(
    cfg: DictConfig, method_config: type, optimizer_config: type | None = None
) -> None:
    """Reject keys the schema does not have, however they got in.

    Hydra checks a plain ``key=value`` against the schema, but ``+key=value`` and ``++key=value``
    add keys to it; a misspelt ``+epoch=3`` would otherwise run silently with the default.
    """
    schemas = {"": RunConfig, "model.": ModelConfig, "dataset.": DatasetConfig,
               "method.": method_config, "optimizer.": optimizer_config}
    for prefix, schema in schemas.items():
        node = cfg if not prefix else cfg.get(prefix[:-1])
        if not isinstance(node, DictConfig) or schema is None:
            continue
        allowed = {f.name for f in fields(schema)} | ({"hydra"} if not prefix else set())
        for key in node:
            if key not in allowed:
                if prefix == "optimizer.":
                    raise ConfigError(unknown_optimizer_key(f"optimizer.{key}"))
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


def results_dir_from(value: str) -> Path:
    """``results_dir`` as an absolute, normalised path; empty and the file system root are
    refused.

    Both would scatter ``curves/`` and ``runs/`` where nobody looks for results: an empty value
    into the current folder, the root into ``/curves`` and ``/runs``. The root is checked after
    ``..`` is folded away and links are followed, since ``/tmp/..`` or a link to ``/`` is the
    root too.
    """
    _require(value.strip() != "",
             "results_dir: must name a folder (e.g. results_dir=results), got an empty value")
    check_path("results_dir", value)
    path = Path(os.path.normpath(Path(value).expanduser().absolute()))
    real = path.resolve()
    _require(path != Path(path.anchor) and real != Path(real.anchor),
             f"results_dir: must not be the file system root, got '{value}'")
    return path


def _plain(value: Any) -> Any:
    """A config value as plain Python: lists as tuples (settings are frozen)."""
    if isinstance(value, ListConfig):
        return tuple(_plain(v) for v in value)
    return value


def _build(schema: type, node: DictConfig, **given: Any) -> Any:
    """An instance of a schema dataclass from its config node; ``given`` the fields already
    built (the nested configs)."""
    values = {f.name: _plain(node[f.name]) for f in fields(schema) if f.name not in given}
    return schema(**values, **given)


def optimizer_from(node: DictConfig | None) -> Any:
    """The validated optimizer config of ``optimizer=NAME`` (None: plain SGD)."""
    if node is None:
        return None
    schema = optimizers.OPTIMIZERS[node.name]
    built = _build(schema, node)
    optimizers.check(built)
    return built


def settings_from(cfg: DictConfig) -> RunConfig:
    """Check every range Hydra's types cannot express; return the validated, frozen settings
    with the method's defaults resolved (lr, h, fidelity_every) and absolute paths."""
    method = methods.get(cfg.method.name)
    optimizer_name = OmegaConf.select(cfg, "optimizer.name", default=None)
    _require(optimizer_name is None or optimizer_name in optimizers.OPTIMIZERS,
             f"optimizer: unknown '{optimizer_name}'; allowed: "
             f"{', '.join(optimizers.OPTIMIZERS)}")
    check_no_extra_keys(cfg, method.Config, optimizers.OPTIMIZERS.get(optimizer_name))
    method_cfg = OmegaConf.to_object(cfg.method)
    if not isinstance(method_cfg, method.Config):
        method_cfg = method.Config(**method_cfg)
    method.check(method_cfg)
    optimizer_cfg = optimizer_from(cfg.get("optimizer"))
    _require(cfg.dataset.name in DATASETS,
             f"dataset: unknown '{cfg.dataset.name}'; allowed: {', '.join(DATASETS)}")
    run = _build(RunConfig, cfg, method=method_cfg, optimizer=optimizer_cfg,
                 dataset=_build(DatasetConfig, cfg.dataset), model=_build(ModelConfig, cfg.model))
    settings.check(run)
    settings.check(run.dataset, prefix="dataset.")
    _require(run.epochs * run.steps_per_epoch <= INT64_MAX,
             f"epochs: epochs * steps_per_epoch must be at most {INT64_MAX} (2**63 - 1)")
    check_path("data_dir", run.data_dir)
    fidelity_every = run.fidelity_every
    if fidelity_every is None:  # the reference's own gradient needs no comparison
        fidelity_every = 0 if method is methods.reference() else 1
    checked = replace(
        run,
        lr=method.default_lr(method_cfg) if run.lr is None else run.lr,
        h=method.default_h(method_cfg) if run.h is None else run.h,
        fidelity_every=fidelity_every,
        data_dir=str(Path(run.data_dir).expanduser()) if run.data_dir else None,
        results_dir=str(results_dir_from(run.results_dir)),
    )
    memory_estimate.check(checked)  # a run too large for the machine fails here, not mid-step
    return checked
