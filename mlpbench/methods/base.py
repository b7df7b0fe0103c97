"""The one interface every gradient method implements.

A method is a module in ``mlpbench.methods`` that defines:

- ``NAME``: the value of ``method=`` that selects it (and the name of ``conf/method/NAME.yaml``);
- ``Config``: a dataclass, the schema of ``conf/method/NAME.yaml`` (Hydra rejects unknown keys);
- ``USES_H``: whether the top-level step ``h`` means anything to it;
- optionally ``SINGLE_THREADED_BLAS = True``: runs of it limit BLAS to one thread (for methods
  that parallelise themselves);
- optionally ``check(cfg)``: raises ``ConfigError`` naming the key and what is allowed when an
  option is out of range; the harness calls it while validating a run or every job of a sweep,
  before anything runs;
- optionally ``default_h(cfg)`` and ``default_lr(cfg)``: the step and learning rate used when the
  user gives none (otherwise 1e-4 and 0.1, the seed's);
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

import numpy as np

from mlpbench.model import Params


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
