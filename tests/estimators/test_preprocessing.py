"""Copula (rank -> normal score) and standardisation transforms."""

import math

import numpy as np
import pytest
from scipy.special import ndtr

from invariant_reps.estimators import copula_transform
from invariant_reps.estimators import gaussian_copula_mi
from invariant_reps.estimators import gaussian_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import ksg_mi
from invariant_reps.estimators import standardize
from invariant_reps.estimators.preprocessing import preprocess


def test_copula_scores_are_normal_quantiles_of_the_ranks():
    # Ranks 2, 1, 3 of 3 -> Phi^-1(2/4), Phi^-1(1/4), Phi^-1(3/4).
    np.testing.assert_allclose(
        copula_transform([[10.0], [-3.0], [1e9]])[:, 0], [0.0, -0.6744897502, 0.6744897502]
    )
    # Ties share their average rank: ranks 1.5, 1.5, 3 -> scores of 1.5/4 twice.
    scores = copula_transform([1.0, 1.0, 2.0])[:, 0]
    assert scores[0] == scores[1] == pytest.approx(-0.3186393640)


def test_copula_is_unchanged_by_increasing_maps_column_by_column():
    values = np.random.default_rng(0).normal(size=(200, 3))
    distorted = np.stack([values[:, 0] ** 3, np.exp(values[:, 1]), np.arctan(values[:, 2])], 1)
    np.testing.assert_array_equal(copula_transform(values), copula_transform(distorted))


def test_standardize_hand_computed_and_constant_column():
    out = standardize([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0]])
    np.testing.assert_allclose(out[:, 0], [-1.224744871, 0.0, 1.224744871])
    np.testing.assert_array_equal(out[:, 1], [0.0, 0.0, 0.0])


def test_preprocess_rejects_unknown_names():
    with pytest.raises(ValueError, match="'ranks'.*'none', 'standardize', 'copula'"):
        preprocess(np.zeros((3, 1)), np.zeros((3, 1)), "ranks")
    with pytest.raises(ValueError, match="`values` contains NaN"):
        copula_transform([1.0, np.nan])


def test_copula_leaves_ksg_unchanged_on_a_gaussian_pair():
    x, y = ground_truth.correlated_gaussian(2000, 1, ground_truth.rho_for_mi(1.0, 1), seed=0)
    assert ksg_mi(copula_transform(x), copula_transform(y)) == pytest.approx(
        ksg_mi(x, y), abs=0.02
    )


def test_copula_fixes_a_cauchy_case():
    # A Gaussian copula with standard Cauchy margins: the true MI is still
    # 1 nat, the Gaussian pair mapped by the increasing t -> tan(pi (Phi(t) - 1/2)).
    x, y = ground_truth.correlated_gaussian(2000, 1, ground_truth.rho_for_mi(1.0, 1), seed=0)
    cauchy_x, cauchy_y = (np.tan(math.pi * (ndtr(v) - 0.5)) for v in (x, y))
    raw_ksg = ksg_mi(cauchy_x, cauchy_y)
    copula_ksg = ksg_mi(copula_transform(cauchy_x), copula_transform(cauchy_y))
    assert copula_ksg == ksg_mi(copula_transform(x), copula_transform(y))  # ranks only
    assert copula_ksg == pytest.approx(1.0, abs=0.05)
    assert ksg_mi(x, y) - raw_ksg > 0.04  # the tails cost raw KSG 6%
    # The Gaussian estimator is far off on the raw pair, exact on the scores.
    assert abs(gaussian_mi(cauchy_x, cauchy_y) - 1.0) > 0.5
    assert gaussian_copula_mi(cauchy_x, cauchy_y) == pytest.approx(1.0, abs=0.03)
