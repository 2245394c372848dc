"""KSG, histogram and Gaussian estimators against known values."""

import math

import numpy as np
import pytest

from invariant_reps.estimators import binned_mi
from invariant_reps.estimators import gaussian_mi
from invariant_reps.estimators import ksg_mi
from invariant_reps.estimators import ground_truth


@pytest.mark.parametrize("rho", [0.6, 0.8, 0.9])
def test_ksg_within_five_percent_on_2d_gaussians(rho):
    x, y = ground_truth.correlated_gaussian(4000, dim=1, rho=rho, seed=1)
    true_mi = ground_truth.correlated_gaussian_mi(rho, dim=1)
    assert ksg_mi(x, y, k=3) == pytest.approx(true_mi, rel=0.05)


@pytest.mark.parametrize("transform", ["cube", "asinh"])
def test_ksg_nearly_invariant_to_monotone_transform(transform):
    rho = ground_truth.rho_for_mi(1.0, dim=1)
    x, y = ground_truth.correlated_gaussian(4000, dim=1, rho=rho, seed=2)
    _, transformed = ground_truth.transformed_gaussian(4000, 1, rho, transform, seed=2)
    np.testing.assert_allclose(transformed, ground_truth.TRANSFORMS[transform](y))
    assert ksg_mi(x, transformed) == pytest.approx(ksg_mi(x, y), abs=0.08)
    assert ksg_mi(x, transformed) == pytest.approx(1.0, rel=0.1)


def test_ksg_near_zero_for_independent_variables():
    rng = np.random.default_rng(3)
    assert abs(ksg_mi(rng.normal(size=3000), rng.normal(size=3000))) < 0.03


def test_ksg_rejects_bad_k():
    with pytest.raises(ValueError, match="k=0"):
        ksg_mi(np.zeros(10), np.zeros(10), k=0)
    with pytest.raises(ValueError, match="at least 6 samples, got 5"):
        ksg_mi(np.arange(5.0), np.arange(5.0), k=5)


def test_binned_hand_computed_table():
    # p(0,0) = p(0,1) = 1/4, p(1,1) = 1/2; p(x) = (1/2, 1/2), p(y) = (1/4, 3/4).
    # I = 1/4 log 2 + 1/4 log(2/3) + 1/2 log(4/3) = 0.215762 nats.
    value = binned_mi([0, 0, 1, 1], [0, 1, 1, 1], bins="discrete")
    expected = 0.25 * math.log(2) + 0.25 * math.log(2 / 3) + 0.5 * math.log(4 / 3)
    assert value == pytest.approx(expected)
    assert value == pytest.approx(0.2157616, abs=1e-6)


def test_binned_identical_discrete_variables_give_the_entropy():
    # Frequencies 1/4, 1/4, 1/2: H = 2 (1/4 log 4) + 1/2 log 2 = 1.039721 nats.
    labels = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    assert binned_mi(labels, labels, bins="discrete") == pytest.approx(1.5 * math.log(2.0))
    uniform = np.random.default_rng(4).integers(0, 4, size=20000)
    assert binned_mi(uniform, uniform, bins="discrete") == pytest.approx(math.log(4.0), abs=0.01)


def test_binned_independent_variables_near_zero():
    rng = np.random.default_rng(5)
    # Plug-in bias is about (10 - 1)^2 / (2 * 20000) = 0.002 nats.
    value = binned_mi(rng.uniform(size=20000), rng.uniform(size=20000), bins=10)
    assert value == pytest.approx((10 - 1) ** 2 / (2 * 20000), abs=0.001)


def test_binned_mixes_discrete_and_continuous_and_takes_edges():
    labels = np.repeat([0, 1], 500)
    values = labels + np.random.default_rng(6).uniform(0.0, 0.9, size=1000)
    # Edges split the values exactly at the class boundary: I = H(label) = log 2.
    edges = [0.0, 0.95, 2.0]
    assert binned_mi(labels, values, bins=("discrete", edges)) == pytest.approx(math.log(2))
    assert binned_mi(labels, values, bins=("discrete", 8)) == pytest.approx(math.log(2))


def test_binned_rejects_bad_bins():
    with pytest.raises(ValueError, match="in 1-D only, but x has 2 columns"):
        binned_mi(np.zeros((10, 2)), np.zeros(10), bins=4)
    with pytest.raises(ValueError, match="'auto'"):
        binned_mi(np.zeros(10), np.zeros(10), bins="auto")
    with pytest.raises(ValueError, match="increasing"):
        binned_mi(np.arange(10.0), np.arange(10.0), bins=[0.0, 2.0, 1.0])


def test_gaussian_mi_matches_sample_correlation_exactly_in_1d():
    x, y = ground_truth.correlated_gaussian(500, dim=1, rho=0.7, seed=7)
    r = np.corrcoef(x[:, 0], y[:, 0])[0, 1]
    assert gaussian_mi(x, y) == pytest.approx(-0.5 * math.log(1 - r * r), rel=1e-10)


def test_gaussian_mi_recovers_the_staircase_level_on_large_samples():
    rho = ground_truth.rho_for_mi(6.0, dim=20)
    x, y = ground_truth.correlated_gaussian(100000, dim=20, rho=rho, seed=8)
    assert gaussian_mi(x, y) == pytest.approx(6.0, rel=0.01)


def test_gaussian_mi_drops_constant_columns_and_flags_linear_dependence():
    x, y = ground_truth.correlated_gaussian(2000, dim=1, rho=0.5, seed=9)
    padded = np.concatenate([x, np.ones_like(x)], axis=1)
    assert gaussian_mi(padded, y) == pytest.approx(gaussian_mi(x, y), rel=1e-9)
    assert gaussian_mi(x, 2.0 * x + 1.0) == math.inf


def test_inputs_are_validated_by_name():
    good = np.zeros((10, 2))
    bad = good.copy()
    bad[3, 1] = np.nan
    for estimator in (ksg_mi, gaussian_mi):
        with pytest.raises(ValueError, match="`x` contains NaN"):
            estimator(bad, good)
        with pytest.raises(ValueError, match="`y` contains NaN"):
            estimator(good, bad)
        with pytest.raises(ValueError, match="same number of samples, got 10 and 9"):
            estimator(good, good[:9])
    with pytest.raises(ValueError, match="`x` must have a sample axis"):
        binned_mi(1.0, [1.0])


def test_trailing_axes_are_flattened():
    x, y = ground_truth.correlated_gaussian(1000, dim=4, rho=0.6, seed=10)
    assert gaussian_mi(x.reshape(1000, 2, 2), y) == pytest.approx(gaussian_mi(x, y))


def test_binned_quantile_bins_and_miller_madow_hand_computed():
    # Four equal-count bins on 0..7 pair 0-1, 2-3, 4-5, 6-7; y copies x's bin.
    x = np.arange(8.0)
    assert binned_mi(x, x // 2, bins=(4, "discrete"), strategy="quantile") == pytest.approx(
        math.log(4.0)
    )
    # Miller-Madow: minus (occupied joint - occupied x - occupied y + 1) / 2N
    # = (4 - 4 - 4 + 1) / 16 -> adds 3/16 to log 4.
    assert binned_mi(x, x // 2, bins=(4, "discrete"), strategy="quantile",
                     bias_correction=True) == pytest.approx(math.log(4.0) + 3.0 / 16.0)


def test_binned_quantises_vectors_with_kmeans_and_names_alternatives():
    x, y = ground_truth.correlated_gaussian(4000, 2, 0.8, seed=11)
    with pytest.raises(ValueError, match="quantizer='kmeans'.*ksg_mi.*method='auto'"):
        binned_mi(x, y, bins=8)
    # Quantising loses information: below the true 1.022 nats, and seeded.
    value = binned_mi(x, y, bins=32, quantizer="kmeans", seed=0)
    assert 0.6 < value < ground_truth.correlated_gaussian_mi(0.8, 2)
    assert value == binned_mi(x, y, bins=32, quantizer="kmeans", seed=0)


def test_discrete_entropy_and_gaussian_bias_correction():
    from invariant_reps.estimators import discrete_entropy

    assert discrete_entropy([0, 0, 1, 1, 2, 2, 2, 2]) == pytest.approx(1.5 * math.log(2.0))
    # Independent 5 + 5 Gaussians on 200 samples: the raw CCA estimate is
    # biased up by about 5 * 5 / (2 * 200) = 0.0625 nats; the corrected one is not.
    raw, corrected = [], []
    for seed in range(20):
        rng = np.random.default_rng(seed)
        x, y = rng.normal(size=(200, 5)), rng.normal(size=(200, 5))
        raw.append(gaussian_mi(x, y))
        corrected.append(gaussian_mi(x, y, bias_correction=True))
    assert np.mean(raw) == pytest.approx(0.0625, abs=0.02)
    assert abs(np.mean(corrected)) < 0.01
    with pytest.raises(ValueError, match="more samples than dimensions"):
        gaussian_mi(np.zeros((5, 3)) + np.arange(15).reshape(5, 3) ** 2, np.eye(5)[:, :3],
                    bias_correction=True)
