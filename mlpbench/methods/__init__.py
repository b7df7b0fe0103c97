"""Registry of gradient methods: every module here that defines ``NAME`` is a method.

Adding a method means adding one module (see ``base.py`` for what it defines) and one
``conf/method/NAME.yaml``; the registry finds the module, and ``schema_nodes`` hands its
``Config`` to Hydra's ConfigStore so that the yaml is type-checked.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from mlpbench.errors import ConfigError
from mlpbench.methods.base import Estimator, GradientResult, MethodLabels

__all__ = [
    "Estimator", "GradientResult", "MethodLabels", "available", "defaults", "get", "labels",
    "options_text",
]


@cache
def available() -> dict[str, ModuleType]:
    """All method modules in this package, keyed by their ``NAME``."""
    found: dict[str, ModuleType] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "NAME"):
            found[module.NAME] = module
    return dict(sorted(found.items()))


def get(name: str) -> ModuleType:
    """The module implementing ``method=name``, or a one-line error listing the choices."""
    methods = available()
    if name not in methods:
        raise ConfigError(f"method: unknown '{name}'; allowed: {', '.join(methods)}")
    return methods[name]


DEFAULT_H = 1e-4
DEFAULT_LR = 0.1


def defaults(method_cfg: Any) -> tuple[float, float]:
    """The step h and learning rate a method runs with when the user sets neither.

    A module may define ``default_h(cfg)`` (the step can depend on the scheme: the complex step
    wants 1e-20) and ``default_lr(cfg)`` (a one-direction random estimate is too noisy for the
    seed's lr); otherwise the seed's h = 1e-4 and lr = 0.1 apply.
    """
    module = get(method_cfg.name)
    default_h = getattr(module, "default_h", None)
    default_lr = getattr(module, "default_lr", None)
    return (
        default_h(method_cfg) if default_h is not None else DEFAULT_H,
        default_lr(method_cfg) if default_lr is not None else DEFAULT_LR,
    )


LABEL_FIELDS = ("name", "scheme", "engine")
"""Config fields with a results column of their own; every other field is an option."""


def options_text(method_cfg: Any) -> str | None:
    """A method's options as one stable string, "directions=10, distribution=gaussian"."""
    parts = [
        f"{f.name}={str(getattr(method_cfg, f.name)).lower()}"
        if isinstance(getattr(method_cfg, f.name), bool)
        else f"{f.name}={getattr(method_cfg, f.name)}"
        for f in dataclasses.fields(method_cfg)
        if f.name not in LABEL_FIELDS
    ]
    return ", ".join(parts) or None


def labels(method_cfg: Any, h: float) -> tuple[MethodLabels, float | None]:
    """Result labels for a configured method: scheme, engine, options and h are null where
    unused."""
    module = get(method_cfg.name)
    return (
        MethodLabels(
            method=module.NAME,
            scheme=getattr(method_cfg, "scheme", None),
            engine=getattr(method_cfg, "engine", None),
            options=options_text(method_cfg),
        ),
        h if module.USES_H else None,
    )
