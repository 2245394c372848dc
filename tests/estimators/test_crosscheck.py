"""Cross-checks and warning texts: every claim in a message matches its numbers."""

import math
import warnings

import numpy as np
import pytest

from invariant_reps.estimators import EstimatorDisagreementWarning
from invariant_reps.estimators import InvalidEstimateWarning
from invariant_reps.estimators import LooseBoundWarning
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import UnsuitableDataWarning
from invariant_reps.estimators import diagnostics
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators.crosscheck import Reference
from invariant_reps.estimators.crosscheck import check
from invariant_reps.estimators.crosscheck import heavy_tailed_columns
from invariant_reps.estimators.crosscheck import is_discrete

LOWER = Reference("gaussian_copula", 1.0, (0.9, 1.1), True, "a lower bound for scalar variables")
OTHER = Reference("ksg_copula", 1.0, (0.9, 1.1), False)


def _categories(messages):
    return [category for category, _ in messages]


def test_check_flags_negative_non_finite_and_above_ceiling():
    assert _categories(check("nwj", math.nan, (math.nan, math.nan), [], None, "")) == [
        InvalidEstimateWarning
    ]
    negative = check("ksg", -0.2, (-0.3, -0.1), [], None, "")
    assert _categories(negative) == [InvalidEstimateWarning]
    assert "(-0.200 nats, interval [-0.300, -0.100])" in negative[0][1]
    assert "whole interval is below 0" in negative[0][1]
    above = check("binned", 1.5, (1.4, 1.6), [], math.log(4), "H(Y)")
    assert "exceeds its ceiling 1.386 nats (H(Y)) by 0.114 nats" in above[0][1]
    assert check("binned", math.log(4), (1.3, 1.5), [], math.log(4), "H(Y)") == []


def test_lower_bound_reference_is_one_sided_and_the_text_follows_the_numbers():
    below = check("smile", 0.5, (0.4, 0.6), [LOWER], None, "")
    assert _categories(below) == [EstimatorDisagreementWarning]
    assert "0.500 nats [0.400, 0.600] is below the gaussian_copula estimate 1.000" in below[0][1]
    assert "so the smile estimate is too low" in below[0][1]
    assert check("smile", 2.0, (1.9, 2.1), [LOWER], None, "") == []  # above a lower bound: fine
    above = check("smile", 2.0, (1.9, 2.1), [OTHER], None, "")
    assert "is above the ksg_copula estimate" in above[0][1]
    assert "at least one of them is off" in above[0][1]
    assert check("smile", 1.05, (0.95, 1.15), [OTHER], None, "") == []


def test_not_converged_text_never_says_rose_for_a_fall():
    rising = diagnostics.not_converged_message(100, 0.2)
    falling = diagnostics.not_converged_message(100, -0.025)
    assert "still rising (+0.200 nats" in rising and "larger value" in rising
    assert "rose" not in falling and "rising" not in falling and "low" not in falling
    assert "changed by -0.025 nats" in falling
    assert "max_steps=100" in diagnostics.not_converged_message(100, math.nan)


def test_discrete_and_heavy_tail_detection():
    rng = np.random.default_rng(0)
    assert is_discrete(rng.integers(0, 5, size=(1000, 1)).astype(float))
    assert not is_discrete(rng.normal(size=(1000, 1)))
    assert not is_discrete(rng.integers(0, 5, size=(20, 1)).astype(float))  # 20 / 5 = 4 < 5
    tails = np.stack([rng.normal(size=5000), rng.standard_cauchy(size=5000),
                      rng.standard_t(5, size=5000)], axis=1)
    assert heavy_tailed_columns(tails) == [1]


def test_gaussian_estimator_warns_on_heavy_tails_and_is_not_converged():
    x, y = ground_truth.student_t(3000, 1, 0.0, 1, seed=1)  # Cauchy; I = 0.224 nats
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MIEstimationWarning)
        result = estimate_mi(x, y, method="gaussian", seed=0)
    assert not result.converged
    assert UnsuitableDataWarning in [w.category for w in caught]
    assert any("heavy tails" in message for message in result.warnings)


def test_ksg_on_discrete_data_warns_and_points_to_the_plug_in():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 3, size=2000)
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always", MIEstimationWarning)
        result = estimate_mi(x, x, method="ksg", seed=0)
    assert not result.converged
    assert any("method='binned' (bins='discrete')" in message for message in result.warnings)
    assert result.ceiling_nats == pytest.approx(math.log(3), abs=0.01)


def test_nwj_negative_estimate_is_never_converged():
    # 20 steps cannot train the critic: the NWJ bound is negative there.
    x, y = ground_truth.correlated_gaussian(2000, 2, 0.9, seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MIEstimationWarning)
        result = estimate_mi(x, y, "nwj", max_steps=20, batch_size=64, eval_every=10, seed=0)
    assert result.mi_nats < 0 and not result.converged
    assert any("is negative" in message for message in result.warnings)
    assert any("below the gaussian_copula estimate" in message for message in result.warnings)


def test_upper_bounds_are_checked_from_below_and_for_looseness():
    # Within 25% (+0.05 nats) of the largest reference's high end, 1.1: no warning.
    assert check("club", 1.35, (1.3, 1.4), [OTHER, LOWER], None, "", upper_bound=True) == []
    # Interval low 2.9 > 1.25 * 1.1 + 0.05 = 1.425: loose, with the ratio 3.0 / 1.0.
    loose = check("club", 3.0, (2.9, 3.1), [OTHER, LOWER], None, "", upper_bound=True)
    assert _categories(loose) == [LooseBoundWarning]
    assert "club upper bound 3.000 nats [2.900, 3.100] is 3.0 times the" in loose[0][1]
    assert "e^(2 I) - 1" in loose[0][1]
    assert "e^(2 I)" not in check("l1out", 3.0, (2.9, 3.1), [OTHER], None, "",
                                  upper_bound=True)[0][1]
    # Above a ceiling, one message says it: the bound is vacuous.
    vacuous = check("club", 3.0, (2.9, 3.1), [OTHER], math.log(2), "H(Y)", upper_bound=True)
    assert _categories(vacuous) == [InvalidEstimateWarning]
    assert "the upper bound holds but is vacuous" in vacuous[0][1]
    below = check("club", 0.5, (0.4, 0.6), [OTHER], None, "", upper_bound=True)
    assert _categories(below) == [EstimatorDisagreementWarning]
    assert "upper bound 0.500 nats [0.400, 0.600] is below the ksg_copula" in below[0][1]
