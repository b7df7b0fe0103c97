"""SPSA and MeZO: the gradient from two loss values along a random direction of all parameters.

Each direction z moves every parameter at once; (L(theta + h z) - L(theta - h z)) / 2h is the
directional derivative along z to O(h^2), and that times z is an unbiased estimate of the
gradient (of the loss smoothed over the step), because E[z z^T] = I. With
``distribution=rademacher`` (entries +-1) this is Spall's SPSA (1992); with
``distribution=gaussian`` it is the estimator of MeZO (Malladi et al. 2023). ``directions``
estimates are averaged: two loss evaluations each, whatever the number of parameters. Its price
is variance: one direction's estimate has a cosine of about 1/sqrt(P) with the gradient. Yet
the expected step is the gradient step, and most of the noise falls in directions where the
loss barely curves, so from about 10 directions the seed's learning rate still trains; one
direction needs a smaller one (see ``default_lr``).

The two losses are computed as MeZO computes them, without a copy of the parameters
(``_directions.losses_along``), and each direction, drawn once, is scaled into the estimate.
MeZO also regenerates z from a stored seed rather than keeping it, because it updates the
parameters itself; an estimator here returns its gradient, an array of the parameters' size, so
keeping z costs no more memory than that array. Directions are drawn afresh (``noise=fresh``:
Rademacher signs cost under half a forward pass of 784-50-10) or, for Gaussian ones, sliced
from a noise table drawn once per run (``noise=table``, ``_directions.NoiseTable``). With
``orthogonal=true`` (Gaussian directions) each block of up to P directions is orthogonalised
(``_directions.orthogonalised``), which lowers the variance at the same count; it matters only
where the count is a sizeable share of P.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.errors import ConfigError
from mlpbench.methods import _directions
from mlpbench.methods.base import Estimator, GradientMethod, GradientResult
from mlpbench.model import Params
from mlpbench.settings import Column, at_least, one_of, setting


@dataclass(frozen=True)
class Config:
    """``method=spsa``; the perturbation size is the top-level ``h``."""

    name: str = "spsa"
    directions: int = setting(1, "directions averaged per step; two loss evaluations each",
                              check=at_least(1))
    distribution: str = setting("rademacher", "rademacher (SPSA) | gaussian (MeZO)",
                                check=one_of(*_directions.DISTRIBUTIONS))
    noise: str = setting("fresh", "fresh (drawn per direction) | table (gaussian only: slices "
                         "of a table drawn once per run)", check=one_of(*_directions.NOISES))
    orthogonal: bool = setting(False, "true (gaussian only): each block of up to P directions "
                               "orthogonalised, rows of norm sqrt(P)", column=Column(null_at=False))


class Spsa(GradientMethod):
    """SPSA (Rademacher directions) and MeZO (Gaussian ones)."""

    NAME = "spsa"
    Config = Config
    USES_H = True

    def default_h(self, cfg: Config) -> float:
        """MeZO's perturbation size, 1e-3."""
        return 1e-3

    def default_lr(self, cfg: Config) -> float:
        """0.1, or 0.03 for one direction (see ``_directions.learning_rate``)."""
        return _directions.learning_rate(cfg.directions)

    def check(self, cfg: Config) -> None:
        """The declared checks, then: a noise table holds Gaussian noise only."""
        super().check(cfg)
        if cfg.noise == "table" and cfg.distribution != "gaussian":
            raise ConfigError("method.noise: 'table' holds Gaussian noise; allowed with "
                              "method.distribution=gaussian only (rademacher signs are cheap "
                              "to draw)")
        if cfg.orthogonal and cfg.distribution != "gaussian":
            raise ConfigError("method.orthogonal: true orthogonalises Gaussian blocks; allowed "
                              "with method.distribution=gaussian only")

    def forward_passes(self, cfg: Config, sizes: tuple[int, ...]) -> float:
        """Two loss evaluations per direction (``losses_along``: the first layer's products x W1
        and x Z1, then the rest of the network twice): 2 per direction."""
        return 2.0 * cfg.directions

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check the options and bind them, h and the run's random stream."""
        self.check(cfg)
        direction = _directions.sampler(cfg.noise, cfg.distribution, rng)

        def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
            def slope(z: Params) -> float:
                (plus, minus), = _directions.losses_along(params, [z], h, x, t, log_eps, activation)
                return (plus - minus) / (2 * h)

            drawn = _directions.directions_of(cfg.directions, lambda: direction(params),
                                              cfg.orthogonal)
            grads = _directions.averaged(params, cfg.directions, drawn.__next__, slope)
            return GradientResult(grads, loss_evals=2 * cfg.directions)

        return estimate
