"""The optimizers of a training run: how a step turns the method's gradient into a parameter
update, in place.

``optimizer=sgd`` (the default) is the seed's plain SGD, ``params[key] -= lr * grad``, kept as
that exact expression so that runs under the seed's protocol stay bitwise what they were.
``momentum`` (heavy ball or Nesterov) and ``adam`` follow PyTorch's conventions. Any of them may
clip the gradient to a global L2 norm first. The gradient arrays are only read, never written:
an estimator may own them and hand the same arrays out again. State (velocity, moments, scratch)
is allocated once, in the parameters' dtype, so a float32 run stays float32.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from mlpbench import settings
from mlpbench.errors import ConfigError
from mlpbench.model import Params
from mlpbench.settings import positive, setting

Update = Callable[[Params, Params, float], None]
"""``update(params, grads, lr)``: one step, changing ``params`` in place."""


def _decay(key: str, value: Any) -> None:
    """A decay rate: finite, in [0, 1) (at 1 the average never forgets, or never forms)."""
    if value is None or not (math.isfinite(value) and 0 <= value < 1):
        raise ConfigError(f"{key}: must be a finite number >= 0 and < 1, got {value}")


def _clip() -> Any:
    return setting(None, "scale the gradient to this global L2 norm when above it (null: never)",
                   check=positive(" (or null: no clipping)"), column=False)


@dataclass(frozen=True)
class SGDConfig:
    """The seed's plain SGD, p -= lr g."""

    name: str = "sgd"
    clip: Optional[float] = _clip()  # noqa: UP045  (OmegaConf 2.3 needs Optional)


@dataclass(frozen=True)
class MomentumConfig:
    """Heavy ball: v = beta v + g, p -= lr v; with nesterov p -= lr (g + beta v)."""

    name: str = "momentum"
    beta: float = setting(0.9, "the velocity's decay", check=_decay, column=False)
    nesterov: bool = setting(False, "step along g + beta v (Nesterov, PyTorch's form)",
                             column=False)
    clip: Optional[float] = _clip()  # noqa: UP045


@dataclass(frozen=True)
class AdamConfig:
    """Kingma & Ba's Adam with bias correction."""

    name: str = "adam"
    beta1: float = setting(0.9, "the first moment's decay", check=_decay, column=False)
    beta2: float = setting(0.999, "the second moment's decay", check=_decay, column=False)
    eps: float = setting(1e-8, "added to sqrt(v) against division by zero", check=positive(),
                         column=False)
    clip: Optional[float] = _clip()  # noqa: UP045


OPTIMIZERS: dict[str, type] = {"sgd": SGDConfig, "momentum": MomentumConfig, "adam": AdamConfig}


def check(cfg: Any) -> None:
    """Every setting's check; the first failure raises ``ConfigError`` naming
    ``optimizer.KEY``."""
    settings.check(cfg, prefix="optimizer.")


def label(cfg: Any) -> str | None:
    """The optimizer as results record it. None for plain SGD without clipping, so that runs
    under the seed's protocol keep their ids."""
    if isinstance(cfg, AdamConfig):
        text = f"adam(beta1={cfg.beta1:g}, beta2={cfg.beta2:g}, eps={cfg.eps:g})"
    elif isinstance(cfg, MomentumConfig):
        text = f"{'nesterov' if cfg.nesterov else 'momentum'}(beta={cfg.beta:g})"
    elif cfg.clip is None:
        return None
    else:
        text = "sgd"
    return text if cfg.clip is None else f"{text}, clip={cfg.clip:g}"


def clip_scale(grads: Params, clip: float | None) -> float:
    """The factor the gradient is multiplied by: clip / ||g|| when the global norm (in float64,
    over all arrays together) exceeds ``clip``, else 1. A non-finite norm leaves the gradient
    as it is, so that a diverging run diverges and is reported as such."""
    if clip is None:
        return 1.0
    total = 0.0
    for grad in grads.values():
        flat = grad.ravel().astype(np.float64, copy=False)
        total += float(flat @ flat)
    norm = math.sqrt(total)
    return clip / norm if math.isfinite(norm) and norm > clip else 1.0


def clipped(grads: Params, clip: float | None, buffers: Params) -> Params:
    """The gradient the optimizer uses: the method's own arrays, or their scaled copies in
    ``buffers``, ours to overwrite."""
    scale = clip_scale(grads, clip)
    if scale == 1.0:
        return grads
    return {key: np.multiply(grad, scale, out=buffers[key]) for key, grad in grads.items()}


def make_update(cfg: Any, params: Params) -> Update:
    """The update of optimizer ``cfg`` for ``params``; its state, zeros in each parameter's
    dtype, lives as long as the returned function (one per run)."""
    def zeros() -> Params:
        return {key: np.zeros_like(value) for key, value in params.items()}

    if isinstance(cfg, SGDConfig):
        def sgd(params: Params, grads: Params, lr: float) -> None:
            scale = clip_scale(grads, cfg.clip)
            for key, grad in grads.items():
                if scale == 1.0:
                    params[key] -= lr * grad  # the seed's expression, bitwise
                else:
                    params[key] -= (lr * scale) * grad
        return sgd

    scaled, tmp = zeros() if cfg.clip is not None else {}, zeros()
    if isinstance(cfg, MomentumConfig):
        velocity, beta = zeros(), cfg.beta

        def momentum(params: Params, grads: Params, lr: float) -> None:
            for key, g in clipped(grads, cfg.clip, scaled).items():
                v, step = velocity[key], tmp[key]
                v *= beta
                v += g
                if cfg.nesterov:
                    np.multiply(v, beta, out=step)
                    step += g
                    step *= lr
                else:
                    np.multiply(v, lr, out=step)
                params[key] -= step
        return momentum

    if isinstance(cfg, AdamConfig):
        first, second, b1, b2 = zeros(), zeros(), cfg.beta1, cfg.beta2
        steps = [0]

        def adam(params: Params, grads: Params, lr: float) -> None:
            steps[0] += 1
            correct1, correct2 = 1 - b1 ** steps[0], 1 - b2 ** steps[0]
            for key, g in clipped(grads, cfg.clip, scaled).items():
                m, v, step = first[key], second[key], tmp[key]
                m *= b1
                m += np.multiply(g, 1 - b1, out=step)
                v *= b2
                np.square(g, out=step)
                step *= 1 - b2
                v += step
                np.divide(v, correct2, out=step)  # step: the denominator, then the step
                np.sqrt(step, out=step)
                step += cfg.eps
                np.divide(m, step, out=step)
                step *= lr / correct1
                params[key] -= step
        return adam

    raise TypeError(f"not an optimizer config: {cfg!r}; known: {', '.join(OPTIMIZERS)}")
