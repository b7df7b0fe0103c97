"""Registry of gradient methods: every module here that defines ``NAME`` is a method.

Adding a method means adding one module (see ``base.py`` for the ``GradientMethod`` protocol it
satisfies) and one ``conf/method/NAME.yaml``; the registry finds the module, and
``config.register_configs`` hands its ``Config`` to Hydra's ConfigStore so that the yaml is
type-checked.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from mlpbench.errors import ConfigError
from mlpbench.methods.base import (
    DEFAULT_H,
    DEFAULT_LR,
    Estimator,
    GradientMethod,
    GradientResult,
    MethodLabels,
    missing_members,
)

__all__ = [
    "DEFAULT_H", "DEFAULT_LR", "REFERENCE", "Estimator", "GradientMethod", "GradientResult",
    "MethodLabels", "available", "get", "labels", "options_text",
]

REFERENCE = "backprop"
"""The method every other one is measured against: its gradient is exact."""


@cache
def available() -> dict[str, GradientMethod]:
    """All method modules in this package, keyed by their ``NAME``.

    A module that defines ``NAME`` but not the rest of ``GradientMethod`` is a bug, reported
    here by name rather than later as an AttributeError in the middle of a run.
    """
    found: dict[str, GradientMethod] = {}
    for info in pkgutil.iter_modules(__path__):
        module: ModuleType = importlib.import_module(f"{__name__}.{info.name}")
        if not hasattr(module, "NAME"):
            continue  # a helper module (base, _directions, _incremental)
        missing = missing_members(module)
        if missing:
            raise TypeError(f"method module {module.__name__} lacks {', '.join(missing)}")
        found[module.NAME] = module
    return dict(sorted(found.items()))


def get(name: str) -> GradientMethod:
    """The module implementing ``method=name``, or a one-line error listing the choices."""
    methods = available()
    if name not in methods:
        raise ConfigError(f"method: unknown '{name}'; allowed: {', '.join(methods)}")
    return methods[name]


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
