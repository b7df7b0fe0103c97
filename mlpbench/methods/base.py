"""The one interface every gradient method implements: a subclass of ``GradientMethod``.

A method is a class in a module of ``mlpbench.methods`` (the registry imports those modules;
``methods.register`` adds one defined elsewhere, a test's say). It must give:

- ``NAME``: the value of ``method=`` that selects it;
- ``Config``: a dataclass, the schema of its options (``method.KEY=...``); its defaults are the
  config Hydra composes for ``method=NAME``, and Hydra rejects keys it does not have;
- ``make_estimator(cfg, h, log_eps, rng, activation) -> Estimator``: the function that computes
  gradients. ``rng`` is the run's own stream for random directions, derived from the run's seed
  apart from the streams of the initial weights and the batches; deterministic methods ignore
  it, so adding a stochastic method changes no other method's results;
- ``forward_passes(cfg, sizes)``: the theoretical cost of one gradient of the network with
  layer sizes ``sizes`` (784, ..., 10), in forward passes of the same network and batch: the
  multiply-adds of its matrix products over a forward pass's (``first_layer_share`` helps), or
  its count of loss evaluations.

And may override what has a default here:

- ``USES_H`` (False): whether the top-level step ``h`` means anything to it;
- ``check(cfg)``: raise ``ConfigError`` naming the key and what is allowed when an option is
  out of range (default: the checks its ``Config`` declares with ``settings.setting``); called
  while validating a run or every job of a sweep, before anything runs;
- ``default_h(cfg)``, ``default_lr(cfg)``: the step and learning rate when the user gives none
  (``DEFAULT_H`` and ``DEFAULT_LR``, the seed's);
- ``role(cfg)``, ``engine_role(cfg)``: what the report needs to know of it, recorded with every
  run (``results.ROLES``, ``results.ENGINE_ROLES``): None unless it is the reference, the
  post's kind of gradient, or an engine of it.

Every ``Config`` field other than ``name``, ``scheme`` and ``engine`` is an option of the method
(``directions``, ``population``, ...); results record them in one ``options`` column. An
estimator takes the parameters and a batch and returns gradients under the same keys as the
parameters, plus how many times it evaluated the loss. Only the registry knows which methods
exist; the rest of the harness asks it, or reads the roles the runs recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, ClassVar

import numpy as np

from mlpbench import settings
from mlpbench.model import Params

DEFAULT_H = 1e-4
"""The seed's finite-difference step."""
DEFAULT_LR = 0.1
"""The seed's learning rate."""


@dataclass(frozen=True)
class GradientResult:
    """Gradients keyed like the parameters, and the loss evaluations spent computing them.

    ``loss_evals`` counts evaluations of the batch loss, real or complex, each one forward pass
    (backprop counts its forward pass; its backward pass is not a loss evaluation).
    """

    grads: Params
    loss_evals: int


Estimator = Callable[[Params, np.ndarray, np.ndarray], GradientResult]
"""``estimator(params, x, t)``: gradients of the batch loss at ``params``."""


@dataclass(frozen=True)
class MethodLabels:
    """How a configured method is labelled in results; None where a field does not apply."""

    method: str
    scheme: str | None
    engine: str | None
    options: str | None = None


class GradientMethod:
    """Base of every gradient method (see the module docstring): subclasses set ``NAME`` and
    ``Config`` and define ``make_estimator`` and ``forward_passes``."""

    NAME: ClassVar[str]
    Config: ClassVar[type]
    USES_H: ClassVar[bool] = False

    def check(self, cfg: Any) -> None:
        """Raise ``ConfigError`` naming the first option out of range."""
        settings.check(cfg, prefix="method.")

    def default_h(self, cfg: Any) -> float:
        """The step h when the user sets none."""
        return DEFAULT_H

    def default_lr(self, cfg: Any) -> float:
        """The learning rate when the user sets none."""
        return DEFAULT_LR

    def role(self, cfg: Any) -> str | None:
        """``results.ROLE_REFERENCE`` or ``ROLE_SEED_KIND`` where that is what it is."""
        return None

    def engine_role(self, cfg: Any) -> str | None:
        """``results.ENGINE_ROLE_SEED_LOOP`` or ``ENGINE_ROLE_FAST`` for an engine of the post's
        finite differences."""
        return None

    def forward_passes(self, cfg: Any, sizes: tuple[int, ...]) -> float:
        """One gradient's theoretical cost in forward passes (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} does not state its cost")

    def make_estimator(
        self, cfg: Any, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Return the gradient function bound to ``cfg``, h, ``rng`` and the hidden layers'
        ``activation`` (the depth is read from the parameters)."""
        raise NotImplementedError(f"{type(self).__name__} has no estimator")


def first_layer_share(sizes: tuple[int, ...]) -> float:
    """The first layer's share of a forward pass's multiply-adds, n0 n1 / sum_l n_(l-1) n_l:
    0.987 for 784-50-10, 0.431 for 784-1024-1024-10. Products with the input are the ones a
    forward-mode or zeroth-order pass can share or skip (the input never moves) and the ones
    backprop's backward pass skips (no gradient is propagated to the input)."""
    products = [a * b for a, b in pairwise(sizes)]
    return products[0] / sum(products)


def missing_members(method: type) -> list[str]:
    """What a ``GradientMethod`` subclass must define and does not (empty when complete)."""
    missing = [name for name in ("NAME", "Config") if not hasattr(method, name)]
    missing += [name for name in ("make_estimator", "forward_passes")
                if getattr(method, name) is getattr(GradientMethod, name)]
    return missing
