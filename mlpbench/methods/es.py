"""Evolution strategies: antithetic Gaussian pairs, optionally with centred-rank shaping.

For ``population`` pairs eps_j ~ N(0, I) over all parameters, the estimate is
sum_j (u(theta + s eps_j) - u(theta - s eps_j)) eps_j / (2 n s), with s the top-level ``h``
(ES's sigma) and u the loss itself, or with ``rank_shaping=true`` the centred rank of each of
the 2n losses in [-0.5, 0.5] (Salimans et al. 2017). Raw losses make this MeZO's estimator
with n directions; rank shaping makes it invariant to the loss's scale and robust to outliers,
at the price of a bias and an estimate whose size no longer follows the gradient's, so it
needs its own learning rate. Two loss evaluations per pair.

Its noise comes from a table drawn once per run, as Salimans et al. ran it (``noise=table``,
``_directions.NoiseTable``), or fresh for every pair (``noise=fresh``). The population is
evaluated in one batch without copies of the parameters
(``_directions.losses_along``): the first layer's product with every pair's noise is one
matrix product, shared by the pair's two losses. With ``orthogonal=true`` the population's
directions are orthogonalised in blocks of up to P (``_directions.orthogonalised``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mlpbench.methods import _directions
from mlpbench.methods.base import Estimator, GradientMethod, GradientResult, first_layer_share
from mlpbench.model import Params
from mlpbench.settings import Column, at_least, one_of, setting


@dataclass(frozen=True)
class Config:
    """``method=es``; sigma is the top-level ``h``."""

    name: str = "es"
    population: int = setting(10, "antithetic pairs per step; two loss evaluations each",
                              check=at_least(1))
    rank_shaping: bool = setting(False, "true: centred ranks of the 2 x population losses "
                                 "instead of the losses")
    noise: str = setting("table", "table (Salimans et al.'s shared noise, drawn once per run) "
                         "| fresh", check=one_of(*_directions.NOISES))
    orthogonal: bool = setting(False, "true: each block of up to P directions orthogonalised, "
                               "rows of norm sqrt(P)", column=Column(null_at=False))


def centred_ranks(values: np.ndarray) -> np.ndarray:
    """Each value's rank among all, mapped linearly onto [-0.5, 0.5] (ties keep input order)."""
    ranks = np.empty(values.size)
    ranks[np.argsort(values, kind="stable")] = np.arange(values.size)
    return ranks / max(values.size - 1, 1) - 0.5


class EvolutionStrategies(GradientMethod):
    """Evolution strategies: antithetic Gaussian pairs, sigma = h."""

    NAME = "es"
    Config = Config
    USES_H = True

    def default_h(self, cfg: Config) -> float:
        """sigma = 1e-2: a smoothing radius, larger than a finite-difference step."""
        return 1e-2

    def default_lr(self, cfg: Config) -> float:
        """0.1 on raw losses (as SPSA with 10 or more directions); 0.003 with rank shaping, whose
        estimate is scaled by ranks, not by the loss (docs/methods.md, "Defaults per method")."""
        return 0.003 if cfg.rank_shaping else _directions.learning_rate(cfg.population)

    def forward_passes(self, cfg: Config, sizes: tuple[int, ...]) -> float:
        """x W1 once for the population, then per pair x Z1 and the rest of the network twice:
        s + n (2 - s) with s the first layer's share (11.1 for 10 pairs on 784-50-10, against
        the 2n = 20 of evaluating every loss whole)."""
        share = first_layer_share(sizes)
        return share + cfg.population * (2 - share)

    def make_estimator(
        self, cfg: Config, h: float, log_eps: float, rng: np.random.Generator | None = None,
        activation: str = "sigmoid",
    ) -> Estimator:
        """Check the options and bind them, sigma and the run's random stream."""
        self.check(cfg)
        direction = _directions.sampler(cfg.noise, "gaussian", rng)

        def estimate(params: Params, x: np.ndarray, t: np.ndarray) -> GradientResult:
            noise = list(_directions.directions_of(cfg.population, lambda: direction(params),
                                                   cfg.orthogonal))
            losses = _directions.losses_along(params, noise, h, x, t, log_eps, activation)
            utility = centred_ranks(losses.ravel()).reshape(losses.shape) if cfg.rank_shaping \
                else losses
            slopes = list(utility[:, 0] - utility[:, 1])
            grads = _directions.combine(slopes, noise, 1 / (2 * cfg.population * h))
            return GradientResult(grads, loss_evals=2 * cfg.population)

        return estimate
