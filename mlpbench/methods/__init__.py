"""Registry of gradient methods: every ``GradientMethod`` subclass defined in a module here.

Adding a method means adding one module with one subclass of ``base.GradientMethod``
(docs/development.md, "Adding a method"); the registry finds it, and ``config.register_configs``
hands its ``Config`` to Hydra's ConfigStore as ``method=NAME``. Only the method modules are
imported: helper modules (named ``_*``) and engine packages (``incremental``, whose kernels load
numba) are imported by a method when it builds an estimator, so a command that never computes one
never loads them."""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from functools import cache
from typing import Any

from mlpbench import settings
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
    "DEFAULT_H", "DEFAULT_LR", "Estimator", "GradientMethod", "GradientResult",
    "MethodLabels", "available", "get", "labels", "options_text", "reference", "register",
]

_registered: dict[str, GradientMethod] = {}
"""Methods defined outside this package, added by ``register``."""


@cache
def _discovered() -> dict[str, GradientMethod]:
    """One instance of every ``GradientMethod`` subclass defined in this package's modules.

    A subclass that lacks a required member is a bug, reported here by name rather than later
    as an AttributeError in the middle of a run.
    """
    found: dict[str, GradientMethod] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.ispkg or info.name.startswith("_") or info.name == "base":
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if (isinstance(value, type) and issubclass(value, GradientMethod)
                    and value is not GradientMethod and value.__module__ == module.__name__):
                found[value.NAME if hasattr(value, "NAME") else value.__name__] = _checked(value)
    return found


def _checked(method: type[GradientMethod]) -> GradientMethod:
    missing = missing_members(method)
    if missing:
        raise TypeError(f"method {method.__module__}.{method.__name__} lacks "
                        f"{', '.join(missing)}")
    return method()


def register(method: type[GradientMethod]) -> type[GradientMethod]:
    """Add a method defined outside this package (usable as a class decorator)."""
    _registered[method.NAME] = _checked(method)
    return method


def available() -> dict[str, GradientMethod]:
    """Every method, keyed by its ``NAME``, in name order."""
    return dict(sorted({**_discovered(), **_registered}.items()))


def get(name: str) -> GradientMethod:
    """The method selected by ``method=name``, or a one-line error listing the choices."""
    methods = available()
    if name not in methods:
        raise ConfigError(f"method: unknown '{name}'; allowed: {', '.join(methods)}")
    return methods[name]


def reference() -> GradientMethod:
    """The method whose gradient is exact, every other one's reference (its role says so)."""
    from mlpbench.results.schemas import ROLE_REFERENCE

    return next(m for m in available().values() if m.role(m.Config()) == ROLE_REFERENCE)


LABEL_FIELDS = ("name", "scheme", "engine")
"""Config fields with a results column of their own; every other field is an option."""


def options_text(method_cfg: Any) -> str | None:
    """A method's options as one stable string, "directions=10, distribution=gaussian".

    An option that is null (off: ``clip_jvp`` unset), or at the value its ``setting`` declares
    ``Column(null_at=...)`` (``orthogonal=false``, ``perturb=weights``), is left out, so adding
    an option whose default changes nothing keeps the labels, and the run ids, of every run
    written before it."""
    parts = [
        f"{f.name}={str(getattr(method_cfg, f.name)).lower()}"
        if isinstance(getattr(method_cfg, f.name), bool)
        else f"{f.name}={getattr(method_cfg, f.name)}"
        for f in dataclasses.fields(method_cfg)
        if f.name not in LABEL_FIELDS and not _left_out(f, getattr(method_cfg, f.name))
    ]
    return ", ".join(parts) or None


def _left_out(option: dataclasses.Field, value: Any) -> bool:
    """Whether ``options_text`` leaves the option out: null, or its declared neutral value."""
    column = option.metadata.get("column")
    return value is None or (isinstance(column, settings.Column)
                             and column.null_at is not settings.NOT_NULLED
                             and value == column.null_at)


def labels(method_cfg: Any, h: float) -> tuple[MethodLabels, float | None]:
    """Result labels for a configured method: scheme, engine, options and h are null where
    unused."""
    method = get(method_cfg.name)
    return (
        MethodLabels(
            method=method.NAME,
            scheme=getattr(method_cfg, "scheme", None),
            engine=getattr(method_cfg, "engine", None),
            options=options_text(method_cfg),
        ),
        h if method.USES_H else None,
    )
