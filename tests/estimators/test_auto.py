"""`method="auto"`: what it chooses, why, and what it reports."""

import math
import warnings

import numpy as np
import pytest
from scipy.special import ndtr

from invariant_reps.estimators import EstimatorDisagreementWarning
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import select_method


def _continuous(n, d, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d))


@pytest.mark.parametrize(
    "x_dim, y_dim, x_discrete, y_discrete, expected, one_hot",
    [
        (1, 1, False, False, "ksg", ()),
        (3, 3, False, False, "ksg", ()),
        (5, 5, False, False, "smile", ()),
        (2, 1, False, True, "mixed_ksg", ()),
        (10, 1, False, True, "smile", ("y",)),
        (1, 1, True, True, "binned", ()),
    ],
)
def test_selection_rule(x_dim, y_dim, x_discrete, y_discrete, expected, one_hot):
    selection = select_method(
        _continuous(100, x_dim), _continuous(100, y_dim), x_discrete, y_discrete
    )
    assert selection.method == expected and selection.one_hot == one_hot
    assert f"d_x={x_dim}, d_y={y_dim}" in selection.reason
    assert selection.preprocessing == ("none" if expected == "binned" else "copula")


def test_auto_on_a_cauchy_margined_gaussian_copula_says_what_it_did():
    x, y = ground_truth.correlated_gaussian(3000, 1, ground_truth.rho_for_mi(1.0, 1), seed=1)
    y = np.tan(math.pi * (ndtr(y) - 0.5))  # Cauchy margins, same MI (1 nat)
    result = estimate_mi(x, y, method="auto", seed=0)
    assert result.method == "auto" and result.selected_method == "ksg"
    assert result.preprocessing == "copula" and "KSG on the normal scores" in result.reason
    assert result.mi_nats == pytest.approx(1.0, abs=0.05)
    assert result.interval[0] < 1.0 < result.interval[1]
    assert result.converged and result.warnings == ()
    assert {reference.method for reference in result.references} == {"gaussian_copula"}


def test_auto_on_discrete_pairs_uses_the_plug_in_below_its_ceiling():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4, size=4000)
    y = np.where(rng.uniform(size=4000) < 0.8, x, rng.integers(0, 4, size=4000))
    # p(y = x) = 0.8 + 0.2/4 = 0.85; I = log 4 + 0.85 log 0.85 + 0.15 log(0.05).
    true_mi = math.log(4) + 0.85 * math.log(0.85) + 0.15 * math.log(0.05)
    result = estimate_mi(x, y, method="auto", seed=0)
    assert result.selected_method == "binned"
    assert result.mi_nats == pytest.approx(true_mi, abs=0.03)
    assert result.ceiling_nats == pytest.approx(math.log(4), abs=0.01)
    assert result.mi_nats < result.ceiling_nats


def test_auto_reports_the_copula_bound_when_knn_falls_below_it():
    # A 3 + 3 Gaussian at 4 nats: KSG (about 3.2 nats on 1,000 pairs) is biased
    # low by the strong dependence, far below the Gaussian-copula bound (exact here).
    x, y = ground_truth.correlated_gaussian(1000, 3, ground_truth.rho_for_mi(4.0, 3), seed=3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MIEstimationWarning)
        result = estimate_mi(x, y, method="auto", seed=0)
    assert result.selected_method == "gaussian_copula"
    assert "so that estimate is reported instead" in result.reason
    assert any(issubclass(w.category, EstimatorDisagreementWarning) for w in caught)
    assert not result.converged
    bound = next(r for r in result.references if r.method == "gaussian_copula")
    assert result.mi_nats == bound.mi_nats == pytest.approx(4.0, abs=0.1)
    assert result.interval == bound.interval


def test_classifier_bound_backs_the_critic_for_a_discrete_variable_in_high_dimension():
    from invariant_reps.estimators import classifier_lower_bound

    # Two classes, x | y ~ N(2y e_1, I_8): only the first coordinate carries
    # I = 0.3368 nats (numerical integration, see test_knn), and a logistic
    # regression is the exact model family, so its held-out bound is tight.
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, size=3000)
    x = rng.normal(size=(3000, 8))
    x[:, 0] += 2.0 * labels
    bound, (low, high) = classifier_lower_bound(x, labels, seed=0)
    assert bound == pytest.approx(0.3368, abs=0.03) and low < bound < high
    reference = next(
        r for r in estimate_mi(x, labels, method="ksg", k=3, seed=0).references
        if r.method == "classifier"
    )
    assert reference.lower_bound and reference.mi_nats == bound
