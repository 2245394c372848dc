"""Confidence intervals, their coverage, and the permutation baseline."""

import math

import numpy as np
import pytest
from scipy.stats import t as student_t

from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import fold_interval
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import ksg_mi
from invariant_reps.estimators import permutation_baseline
from invariant_reps.estimators.uncertainty import batch_interval
from invariant_reps.estimators.uncertainty import intervals_overlap


def test_batch_interval_hand_computed():
    # std (ddof 1) of 1, 2, 3 is 1; t_{0.975, 2} = 4.3027; half width 4.3027 / sqrt(3).
    low, high = batch_interval([1.0, 2.0, 3.0], 2.0)
    assert high - 2.0 == pytest.approx(4.302653 / math.sqrt(3.0), rel=1e-5)
    assert 2.0 - low == pytest.approx(high - 2.0)
    assert all(math.isnan(v) for v in batch_interval([1.0], 1.0))
    with pytest.raises(ValueError, match="confidence=1.5"):
        batch_interval([1.0, 2.0], 1.5, confidence=1.5)


def test_fold_interval_scales_the_fold_spread_to_the_full_sample():
    x = np.random.default_rng(0).normal(size=(1000, 1))
    mean = lambda a, b: float(a.mean())  # noqa: E731
    low, high = fold_interval(mean, x, x, mean(x, x), folds=10, seed=3)
    order = np.random.default_rng(3).permutation(1000)
    fold_means = [x[part].mean() for part in np.array_split(order, 10)]
    half = student_t.ppf(0.975, 9) * np.std(fold_means, ddof=1) / math.sqrt(10)
    assert (low, high) == pytest.approx((x.mean() - half, x.mean() + half))
    # About 1.96 / sqrt(1000) = 0.062, the standard error of a mean of 1000.
    assert half == pytest.approx(0.062, abs=0.025)
    # Too few samples for two folds of 50: no interval.
    assert all(math.isnan(v) for v in fold_interval(mean, x[:60], x[:60], 0.0))


def test_fold_intervals_cover_the_truth_in_most_repeats():
    # KSG on 500 pairs of a 1-D Gaussian (rho = 0.6, I = 0.2231 nats), 95%
    # fold intervals: 36 of these 40 seeds cover the truth (90%); over seeds
    # 0-99 the rate is 92%. The interval ignores KSG's small bias, hence a
    # little under 95%.
    truth = ground_truth.correlated_gaussian_mi(0.6, 1)
    covered = 0
    for seed in range(40):
        x, y = ground_truth.correlated_gaussian(500, 1, 0.6, seed=seed)
        low, high = fold_interval(ksg_mi, x, y, ksg_mi(x, y), seed=seed)
        covered += low <= truth <= high
    assert covered >= 34


def test_auto_intervals_cover_the_truth_in_most_repeats():
    # End to end, as a user sees it: estimate_mi(method="auto") on 500 pairs of
    # the same 1-D Gaussian (I = 0.2231 nats). Measured: 38 of these 40 seeds
    # (95%) cover the truth; over seeds 0-99 the rate is 93%.
    truth = ground_truth.correlated_gaussian_mi(0.6, 1)
    covered = 0
    for seed in range(40):
        x, y = ground_truth.correlated_gaussian(500, 1, 0.6, seed=seed)
        result = estimate_mi(x, y, method="auto", seed=seed)
        covered += result.interval[0] <= truth <= result.interval[1]
    assert covered >= 36


def test_permutation_baseline_is_near_zero_and_seeded():
    x, y = ground_truth.correlated_gaussian(2000, 1, 0.9, seed=1)
    null = permutation_baseline(ksg_mi, x, y, repeats=2, seed=5)
    assert abs(null) < 0.03
    assert null == permutation_baseline(ksg_mi, x, y, repeats=2, seed=5)
    with pytest.raises(ValueError, match="repeats=0"):
        permutation_baseline(ksg_mi, x, y, repeats=0)


def test_every_estimate_carries_an_interval_and_a_null_value():
    x, y = ground_truth.correlated_gaussian(2000, 1, 0.8, seed=2)
    for method in ("ksg", "lnc", "gaussian", "gaussian_copula", "binned"):
        result = estimate_mi(x, y, method=method, seed=0)
        low, high = result.interval
        assert low < result.mi_nats < high, method
        assert not result.consistent_with_independence, method
        if method == "binned":
            # The baseline shows the plug-in bias, (16 - 1)^2 / (2 * 2000) = 0.056 nats.
            assert result.null_nats == pytest.approx(0.056, abs=0.015)
        else:
            assert abs(result.null_nats) < 0.03, method
    rng = np.random.default_rng(3)
    independent = estimate_mi(rng.normal(size=2000), rng.normal(size=2000), method="ksg")
    assert independent.consistent_with_independence


def test_intervals_overlap():
    assert intervals_overlap((0.0, 1.0), (0.5, 2.0))
    assert not intervals_overlap((0.0, 1.0), (1.5, 2.0))
    assert intervals_overlap((math.nan, math.nan), (1.5, 2.0))
