"""The one interface every gradient method implements: ``GradientMethod``.

A method is a module in ``mlpbench.methods`` that satisfies the ``GradientMethod`` protocol
(the registry checks every module it finds, and a test checks every registered method):

- ``NAME``: the value of ``method=`` that selects it (and the name of ``conf/method/NAME.yaml``);
- ``Config``: a dataclass, the schema of ``conf/method/NAME.yaml`` (Hydra rejects unknown keys);
- ``USES_H``: whether the top-level step ``h`` means anything to it;
- ``check(cfg)``: raises ``ConfigError`` naming the key and what is allowed when an option is out
  of range; the harness calls it while validating a run or every job of a sweep, before
  anything runs;
- ``default_h(cfg)`` and ``default_lr(cfg)``: the step and learning rate used when the user gives
  none (``DEFAULT_H`` and ``DEFAULT_LR``, the seed's, unless the method has a reason);
- ``forward_passes(cfg, sizes)``: the theoretical cost of one gradient of the network with layer
  sizes ``sizes`` (784, ..., 10), in forward passes of the same network and batch: the
  multiply-adds of its matrix products, which dominate every method's work, over a forward
  pass's (``first_layer_share`` helps), or its count of loss evaluations;
- ``make_estimator(cfg, h, log_eps, rng) -> Estimator``: checks ``cfg`` and returns the function
  that computes gradients. ``rng`` is the run's own stream for random directions, derived from
  the run's seed apart from the streams of the initial weights and the batches; deterministic
  methods ignore it, so adding a stochastic method changes no other method's results.

Every ``Config`` field other than ``name``, ``scheme`` and ``engine`` is an option of the method
(``directions``, ``population``, ...); results record them in one ``options`` column.

An estimator takes the parameters and a batch and returns gradients under the same keys as the
parameters, plus how many times it evaluated the loss. Nothing else in the harness knows which
methods exist: the registry discovers the modules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Protocol, runtime_checkable

import numpy as np

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


@runtime_checkable
class GradientMethod(Protocol):
    """What a method module defines (see the module docstring); modules satisfy it structurally."""

    NAME: str
    USES_H: bool
    Config: type

    def check(self, cfg: Any) -> None:
        """Raise ``ConfigError`` naming the first option out of range."""

    def default_h(self, cfg: Any) -> float:
        """The step h when the user sets none."""

    def default_lr(self, cfg: Any) -> float:
        """The learning rate when the user sets none."""

    def check_network(self, cfg: Any, hidden_sizes: tuple[int, ...], activation: str) -> None:
        """Raise ``ConfigError`` when ``cfg`` cannot compute gradients of this network."""

    def forward_passes(self, cfg: Any, sizes: tuple[int, ...]) -> float:
        """One gradient's theoretical cost in forward passes (see the module docstring)."""

    def make_estimator(
        self, cfg: Any, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check ``cfg`` and return the gradient function bound to it, h, ``rng`` and the
        hidden layers' ``activation`` (the depth is read from the parameters)."""


def first_layer_share(sizes: tuple[int, ...]) -> float:
    """The first layer's share of a forward pass's multiply-adds, n0 n1 / sum_l n_(l-1) n_l:
    0.987 for 784-50-10, 0.431 for 784-1024-1024-10. Products with the input are the ones a
    forward-mode or zeroth-order pass can share or skip (the input never moves) and the ones
    backprop's backward pass skips (no gradient is propagated to the input)."""
    products = [a * b for a, b in pairwise(sizes)]
    return products[0] / sum(products)


def missing_members(module: object) -> list[str]:
    """The ``GradientMethod`` members ``module`` does not define (empty when it satisfies it)."""
    members = [*GradientMethod.__annotations__,
               *(name for name, value in vars(GradientMethod).items()
                 if callable(value) and not name.startswith("_"))]
    return [name for name in members if not hasattr(module, name)]
