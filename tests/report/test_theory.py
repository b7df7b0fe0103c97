"""The cosine theory expects of a k-direction estimate Σ (g·v_i) v_i (``mlpbench.theory``),
checked against its closed forms and a Monte Carlo estimate of the estimator itself."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlpbench.theory import expected_cosine, expected_cosine_exact

P_SEED = 39_760  # parameters of the seed's 784-50-10 network


def monte_carlo_cosine(directions: int, params: int, draws: int, distribution: str,
                       seed: int = 0) -> tuple[float, float]:
    """Mean and standard error of cos(Σ (g·v_i) v_i, g) over ``draws`` sets of ``directions``
    random vectors, for one fixed random g: the estimator itself, not its decomposition."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(params)
    cosines = []
    chunk = 100
    for start in range(0, draws, chunk):
        shape = (min(chunk, draws - start), directions, params)
        v = (rng.standard_normal(shape) if distribution == "gaussian"
             else rng.choice((-1.0, 1.0), size=shape))
        est = np.einsum("nkp,nk->np", v, v @ g)
        cosines.append(est @ g / (np.linalg.norm(est, axis=1) * np.linalg.norm(g)))
    values = np.concatenate(cosines)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values)))


def test_one_direction_is_the_readmes_sqrt_2_over_pi_p() -> None:
    assert expected_cosine(1, P_SEED) == pytest.approx(math.sqrt(2 / (math.pi * P_SEED)),
                                                       abs=1e-12)
    assert round(expected_cosine(1, P_SEED), 4) == 0.0040


def test_values_at_the_seeds_parameter_count() -> None:
    assert [round(expected_cosine(k, P_SEED), 4) for k in (1, 10, 100)] == [
        0.0040, 0.0155, 0.0500]


def test_many_directions_tend_to_sqrt_k_over_p_without_overflow() -> None:
    k, p = 1_000_000, 10**12
    assert expected_cosine(k, p) == pytest.approx(math.sqrt(k / p), rel=1e-6)
    assert expected_cosine_exact(k, p) == pytest.approx(math.sqrt(k / p), rel=1e-6)


def test_large_p_form_is_the_exact_one_to_order_k_over_p() -> None:
    for k in (1, 10, 100, 1000):
        exact, approx = expected_cosine_exact(k, P_SEED), expected_cosine(k, P_SEED)
        assert abs(approx / exact - 1) < k / P_SEED


def test_exact_form_is_continuous_where_its_gamma_ratio_turns_asymptotic() -> None:
    """Around P = 2,000 the Gamma ratio of P switches from lgamma to its series."""
    values = [expected_cosine_exact(10, p) for p in range(1990, 2012)]
    steps = np.diff(values)
    assert (steps < 0).all()
    assert np.allclose(np.diff(steps), 0, atol=1e-3 * abs(steps).max())


@pytest.mark.parametrize(("directions", "draws"), [(10, 8000), (100, 2000)])
def test_exact_form_matches_monte_carlo_of_the_estimator(directions: int, draws: int) -> None:
    """P = 2,000, where k/P is not small (the large-P form is 2.4% high at k = 100). Tolerance
    1% of the mean: the standard error is 0.25% (k = 10) and 0.15% (k = 100) of it."""
    mean, stderr = monte_carlo_cosine(directions, 2000, draws, "gaussian")
    theory = expected_cosine_exact(directions, 2000)
    assert stderr < 0.003 * theory
    assert mean == pytest.approx(theory, rel=0.01)


def test_large_p_form_matches_monte_carlo_where_k_is_small_against_p() -> None:
    mean, _ = monte_carlo_cosine(10, 2000, 8000, "gaussian", seed=1)
    assert mean == pytest.approx(expected_cosine(10, 2000), rel=0.01)


def test_rademacher_directions_give_the_same() -> None:
    mean, stderr = monte_carlo_cosine(10, 2000, 8000, "rademacher", seed=2)
    assert stderr < 0.003 * mean
    assert mean == pytest.approx(expected_cosine_exact(10, 2000), rel=0.01)


def test_rejects_counts_without_a_cosine() -> None:
    with pytest.raises(ValueError):
        expected_cosine(0, 100)
    with pytest.raises(ValueError):
        expected_cosine_exact(1, 1)
