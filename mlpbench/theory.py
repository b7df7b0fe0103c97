"""What theory predicts for the measurements: pure math, no NumPy, so the report can set it beside
the measured numbers without importing any of the code that measured them.

One result so far: the cosine between the gradient g and an estimate averaged over k random
directions, est ∝ Σ (g·v_i) v_i, the form shared by SPSA (MeZO), forward gradients and ES on raw
losses (k pairs). Write v_i = a_i ĝ + w_i with a_i ~ N(0, 1) and w_i ⊥ ĝ; then
est ∝ S ĝ + Σ a_i w_i with S = Σ a_i² ~ χ²_k, and ||Σ a_i w_i||² = S·W with W ~ χ²_{P-1}
independent of S, so cos² = S / (S + W) ~ Beta(k/2, (P-1)/2) exactly. For P ≫ k, W ≈ P and
cos ≈ sqrt(S/P): E[cos] ≈ E[χ_k] / sqrt(P) = sqrt(2/P)·Γ((k+1)/2)/Γ(k/2), which is
sqrt(2/(πP)) for one direction and tends to sqrt(k/P) for many. Rademacher directions (entries
±1) give the same to O(1/P): a_i is then a sum of P independent ±g_j/|g| terms, normal to that
order, and ||v_i||² = P exactly.
"""

from __future__ import annotations

import math

EXPECTED_COSINE_FORMULA = "sqrt(2/P)·Γ((k+1)/2)/Γ(k/2)"
"""``expected_cosine`` as the report prints it, once, beside the values it computes."""


ASYMPTOTIC_FROM = 1000.0
"""From this x on, ``_log_gamma_half_ratio`` uses its asymptotic series: lgamma(x) itself is
then so large that the difference of two of them loses the digits that matter."""


def _log_gamma_half_ratio(x: float) -> float:
    """ln Γ(x + 1/2) - ln Γ(x), accurate for every x > 0: by ``math.lgamma`` for small x, by
    ½ ln x - 1/(8x) + 1/(192x³) (error O(x⁻⁵), under 1e-15 from ``ASYMPTOTIC_FROM``) for large
    x, where subtracting two lgammas of 1e13 would leave only three correct digits."""
    if x < ASYMPTOTIC_FROM:
        return math.lgamma(x + 0.5) - math.lgamma(x)
    return 0.5 * math.log(x) - 1 / (8 * x) + 1 / (192 * x**3)


def _check(directions: int, params: int) -> None:
    """Both counts must be positive integers: k directions, P parameters (P > 1 for a cosine)."""
    if directions < 1 or params < 2:
        raise ValueError(f"need directions >= 1 and params >= 2, got {directions}, {params}")


def expected_cosine(directions: int, params: int) -> float:
    """E[cos(est, g)] for k random directions and P parameters, P ≫ k:
    sqrt(2/P)·Γ((k+1)/2)/Γ(k/2) (``EXPECTED_COSINE_FORMULA``, derived in the module docstring).

    The form the report states, because it reads at a glance (sqrt(2/(πP)) for k = 1, sqrt(k/P)
    for large k); it overstates the exact mean (``expected_cosine_exact``) by a relative
    O(k/P): 0.12% for k = 100 at P = 39,760. The Gamma ratio is taken in logs
    (``_log_gamma_half_ratio``), so a large k neither overflows nor loses precision.
    """
    _check(directions, params)
    return math.sqrt(2 / params) * math.exp(_log_gamma_half_ratio(directions / 2))


def expected_cosine_exact(directions: int, params: int) -> float:
    """E[cos(est, g)] for k Gaussian directions, any P: the mean of sqrt(B) with
    B ~ Beta(k/2, (P-1)/2), i.e. Γ((k+1)/2)·Γ((P+k-1)/2) / (Γ(k/2)·Γ((P+k)/2)).

    Exact where ``expected_cosine`` is asymptotic, so it is the one to check against a Monte
    Carlo estimate at a small P, where k/P is not small.
    """
    _check(directions, params)
    k, p = directions, params
    return math.exp(_log_gamma_half_ratio(k / 2) - _log_gamma_half_ratio((p + k - 1) / 2))


def orthogonal_cosine(directions: int, params: int) -> float:
    """E[cos(est, g)] for k <= P orthogonal directions (a Gaussian block orthogonalised): the
    estimate is Q Q^T g for a uniformly random k-dimensional subspace, so cos^2 = ||Q^T ĝ||^2
    ~ Beta(k/2, (P-k)/2) and E[cos] = Γ((k+1)/2)·Γ(P/2) / (Γ(k/2)·Γ((P+1)/2)); 1 at k = P."""
    _check(directions, params)
    if directions > params:
        raise ValueError(f"orthogonal blocks hold at most P = {params} directions")
    return math.exp(_log_gamma_half_ratio(directions / 2) - _log_gamma_half_ratio(params / 2))


MSE_FORMULAS = {"gaussian": "(P + 1)/k", "rademacher": "(P - 1)/k", "orthogonal": "P/k - 1"}
"""``relative_mse`` as the report prints it, by kind of directions."""


def relative_mse(directions: int, params: int, kind: str) -> float:
    """E||est - g||^2 / ||g||^2 for the average of k directions' (g·v) v, exactly, any P:

    - ``gaussian`` (independent N(0, I)): one direction's E[(g·v)^2 ||v||^2] = (P + 2)||g||^2
      (Isserlis), so (P + 2 - 1)/k = (P + 1)/k;
    - ``rademacher`` (entries ±1, ||v||^2 = P exactly): (P - 1)/k;
    - ``orthogonal`` (k <= P rows of norm sqrt(P), a random subspace): est = (P/k) Q Q^T g and
      E||Q^T ĝ||^2 = k/P, so (P/k)^2 (k/P) - 2 + 1 = P/k - 1, 0 at k = P.
    """
    _check(directions, params)
    k, p = directions, params
    if kind == "gaussian":
        return (p + 1) / k
    if kind == "rademacher":
        return (p - 1) / k
    if kind == "orthogonal":
        if k > p:
            raise ValueError(f"orthogonal blocks hold at most P = {p} directions")
        return p / k - 1
    raise ValueError(f"unknown kind {kind!r}; allowed: {', '.join(MSE_FORMULAS)}")
