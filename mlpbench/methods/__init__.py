"""Registry of gradient methods: every module here that defines ``NAME`` is a method.

Adding a method means adding one module (see ``base.py`` for what it defines) and one
``conf/method/NAME.yaml``; the registry finds the module, and ``schema_nodes`` hands its
``Config`` to Hydra's ConfigStore so that the yaml is type-checked.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType
from typing import Any

from mlpbench.errors import ConfigError
from mlpbench.methods.base import Estimator, GradientResult, MethodLabels

__all__ = ["Estimator", "GradientResult", "MethodLabels", "available", "get", "labels"]


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


def labels(method_cfg: Any, h: float) -> tuple[MethodLabels, float | None]:
    """Result labels for a configured method: scheme, engine and h are null where unused."""
    module = get(method_cfg.name)
    return (
        MethodLabels(
            method=module.NAME,
            scheme=getattr(method_cfg, "scheme", None),
            engine=getattr(method_cfg, "engine", None),
        ),
        h if module.USES_H else None,
    )
