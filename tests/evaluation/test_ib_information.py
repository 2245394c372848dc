"""I(X;T) (Monte Carlo over the data set) and I(Y;T) (H(Y) - predictive entropy), checked by value."""

import math

import numpy as np
import pytest

from invariant_reps.evaluation import (
    label_entropy,
    mutual_information_xt,
    mutual_information_yt,
    posterior_entropies,
    predictive_entropies,
)


def _entropy(p):
    p = np.asarray(p, np.float64)
    p = p / p.sum()
    return -np.sum(p[p > 0] * np.log(p[p > 0]))


def _overlapping(num=40, dim=3, seed=0):
    rng = np.random.default_rng(seed)
    means = rng.normal(size=(num, dim))
    stddevs = rng.uniform(0.3, 1.5, size=(num, dim))
    codes = means + stddevs * rng.normal(size=(num, dim))
    return codes, means, stddevs


# ---------------------------------------------------------------------------------------------- I(X;T)


@pytest.mark.parametrize("stddevs", [0.1, np.full(3, 0.1), np.full((50, 3), 0.1)])
def test_well_separated_codes_give_log_n(stddevs):
    means = 100.0 * np.random.default_rng(0).normal(size=(50, 3))
    assert mutual_information_xt(means, means, stddevs) == pytest.approx(math.log(50), abs=1e-6)


def test_identical_components_give_zero():
    codes = np.random.default_rng(0).normal(size=(7, 2))
    means = np.zeros((5, 2))
    np.testing.assert_allclose(posterior_entropies(codes, means, 0.4), math.log(5), rtol=0, atol=1e-12)
    assert mutual_information_xt(codes, means, 0.4) == pytest.approx(0.0, abs=1e-12)


def test_three_points_by_hand_shared_sigma():
    # 1-D, means 0, 1, 3, sigma 1: p(x_j | z) ∝ exp(-(z - mu_j)^2 / 2).
    means, codes = np.array([[0.0], [1.0], [3.0]]), np.array([[0.5], [1.0], [2.0]])
    # z = 0.5: squared distances (0.25, 0.25, 6.25) -> weights (1, 1, e^-3).
    # z = 1.0: (1, 0, 4) -> (e^-1/2, 1, e^-2).   z = 2.0: (4, 1, 1) -> (e^-3/2, 1, 1).
    expected = [
        _entropy([1.0, 1.0, math.exp(-3.0)]),
        _entropy([math.exp(-0.5), 1.0, math.exp(-2.0)]),
        _entropy([math.exp(-1.5), 1.0, 1.0]),
    ]
    np.testing.assert_allclose(posterior_entropies(codes, means, 1.0), expected, rtol=0, atol=1e-13)
    assert mutual_information_xt(codes, means, 1.0) == pytest.approx(math.log(3) - np.mean(expected), abs=1e-13)


def test_three_points_by_hand_per_example_sigma():
    # Per-example sigma_j: q(z | x_j) = exp(-(z - mu_j)^2 / (2 sigma_j^2)) / sigma_j (the 1/sigma_j matters).
    means, sigmas, z = np.array([0.0, 1.0, 3.0]), np.array([1.0, 2.0, 0.5]), 1.5
    weights = [math.exp(-((z - m) ** 2) / (2 * s**2)) / s for m, s in zip(means, sigmas)]
    got = posterior_entropies([[z]], means[:, None], sigmas[:, None])
    np.testing.assert_allclose(got, [_entropy(weights)], rtol=0, atol=1e-13)


def test_at_most_log_n_and_non_negative():
    codes, means, stddevs = _overlapping()
    value = mutual_information_xt(codes, means, stddevs)
    assert 0.0 < value <= math.log(40)
    entropies = posterior_entropies(codes, means, stddevs)
    assert np.all(entropies >= 0) and np.all(entropies <= math.log(40) + 1e-12)


def test_matches_direct_pairwise_computation():
    codes, means, stddevs = _overlapping(num=30, dim=4, seed=1)
    log_q = -0.5 * np.sum(((codes[:, None] - means[None]) / stddevs[None]) ** 2, -1) - np.log(stddevs).sum(-1)
    expected = [_entropy(np.exp(row - row.max())) for row in log_q]
    np.testing.assert_allclose(posterior_entropies(codes, means, stddevs), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("block_size,column_block_size", [(1, 1), (2, 3), (7, 40), (40, 7), (1000, 1000)])
def test_blocked_equals_unblocked(block_size, column_block_size):
    codes, means, stddevs = _overlapping()
    unblocked = posterior_entropies(codes, means, stddevs, block_size=40, column_block_size=40)
    blocked = posterior_entropies(
        codes, means, stddevs, block_size=block_size, column_block_size=column_block_size
    )
    np.testing.assert_allclose(blocked, unblocked, rtol=0, atol=1e-13)


def test_float32_agrees_with_float64():
    codes, means, stddevs = _overlapping()
    f64 = mutual_information_xt(codes, means, stddevs, column_block_size=7)
    f32 = mutual_information_xt(codes, means, stddevs, column_block_size=7, dtype="float32")
    assert f32 == pytest.approx(f64, abs=1e-5)


def test_stddev_shapes_are_equivalent():
    codes, means, _ = _overlapping()
    scalar = posterior_entropies(codes, means, 0.8)
    np.testing.assert_allclose(posterior_entropies(codes, means, np.full(3, 0.8)), scalar, rtol=0, atol=1e-13)
    np.testing.assert_allclose(posterior_entropies(codes, means, np.full((40, 3), 0.8)), scalar, rtol=0, atol=1e-13)


def test_translation_invariant_far_from_origin():
    codes, means, stddevs = _overlapping()
    shifted = mutual_information_xt(codes + 1e4, means + 1e4, stddevs)
    assert shifted == pytest.approx(mutual_information_xt(codes, means, stddevs), abs=1e-8)


def test_a_subset_of_codes_averages_its_own_entropies():
    codes, means, stddevs = _overlapping()
    entropies = posterior_entropies(codes, means, stddevs)
    subset = mutual_information_xt(codes[::4], means, stddevs)
    assert subset == pytest.approx(math.log(40) - entropies[::4].mean(), abs=1e-13)


@pytest.mark.parametrize(
    "codes,means,stddevs,match",
    [
        (np.zeros((3, 2)), np.zeros((4, 3)), 1.0, "same dimension d"),
        (np.array([[0.0, np.nan]]), np.zeros((4, 2)), 1.0, r"`codes` contains NaN/inf \(first at row 0, column 1\)"),
        (np.zeros((3, 2)), np.full((4, 2), np.inf), 1.0, "`means` contains NaN/inf"),
        (np.zeros((0, 2)), np.zeros((4, 2)), 1.0, "`codes` is empty"),
        (np.zeros(3), np.zeros((4, 3)), 1.0, r"`codes` must be 2-D"),
        (np.zeros((3, 2)), np.zeros((4, 2)), 0.0, "finite and > 0"),
        (np.zeros((3, 2)), np.zeros((4, 2)), np.ones((3, 2)), r"scalar, \[d\] = \[2\] or \[N, d\] = \[4, 2\]"),
        (np.zeros((3, 2)), np.zeros((4, 2)), np.ones(4), r"got shape \(4,\)"),
    ],
)
def test_bad_gaussians_raise(codes, means, stddevs, match):
    with pytest.raises(ValueError, match=match):
        mutual_information_xt(codes, means, stddevs)


def test_bad_options_raise():
    with pytest.raises(ValueError, match="`block_size` must be a positive int"):
        posterior_entropies(np.zeros((2, 1)), np.zeros((2, 1)), 1.0, block_size=0)
    with pytest.raises(ValueError, match="`column_block_size` must be a positive int"):
        posterior_entropies(np.zeros((2, 1)), np.zeros((2, 1)), 1.0, column_block_size=2.5)
    with pytest.raises(ValueError, match="`dtype` must be one of"):
        posterior_entropies(np.zeros((2, 1)), np.zeros((2, 1)), 1.0, dtype="float16")


# ---------------------------------------------------------------------------------------------- I(Y;T)


def test_mutual_information_yt_by_hand():
    # Row 1: uniform over 2 classes, H = log 2. Row 2: softmax(log 3, 0) = (3/4, 1/4).
    logits = np.array([[0.0, 0.0], [math.log(3.0), 0.0]])
    h2 = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    np.testing.assert_allclose(predictive_entropies(logits), [math.log(2), h2], rtol=0, atol=1e-14)
    # Labels (0, 1): H(Y) = log 2.
    expected = math.log(2) - (math.log(2) + h2) / 2
    assert mutual_information_yt(logits, np.array([0, 1])) == pytest.approx(expected, abs=1e-14)


def test_label_entropy_uses_empirical_frequencies():
    labels = np.array([0, 0, 0, 2])  # class 1 never occurs: frequencies (3/4, 0, 1/4)
    h = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert label_entropy(labels) == pytest.approx(h, abs=1e-14)
    confident = np.array([[50.0, 0.0, 0.0]] * 3 + [[0.0, 0.0, 50.0]])
    assert mutual_information_yt(confident, labels) == pytest.approx(h, abs=1e-12)


def test_class_priors_instead_of_labels():
    logits = np.zeros((5, 4))  # uniform predictions: H(Y|T) = log 4
    priors = np.array([0.1, 0.2, 0.3, 0.4])
    assert mutual_information_yt(logits, class_priors=priors) == pytest.approx(_entropy(priors) - math.log(4))
    assert label_entropy(class_priors=priors) == pytest.approx(_entropy(priors), abs=1e-14)


def test_extreme_logits_stay_finite_and_exact():
    logits = np.array([[2000.0, 0.0, -2000.0]])
    assert predictive_entropies(logits)[0] == pytest.approx(0.0, abs=1e-300)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(labels=None), "exactly one of `labels` and `class_priors`"),
        (dict(labels=np.array([0, 1]), class_priors=np.array([0.5, 0.5])), "exactly one"),
        (dict(labels=np.array([0, 1, 1])), "`labels` has 3 entries but `logits` has 2 rows"),
        (dict(labels=np.array([0, 2])), r"must lie in \[0, 2\); example 1 is 2"),
        (dict(labels=np.array([0.0, 1.0])), "integer class ids"),
        (dict(class_priors=np.array([0.5, 0.6])), "must sum to 1"),
        (dict(class_priors=np.array([1.0])), "has 1 entries but the logits have 2 classes"),
        (dict(class_priors=np.array([1.5, -0.5])), "non-negative"),
    ],
)
def test_bad_labels_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mutual_information_yt(np.zeros((2, 2)), **kwargs)


def test_bad_logits_raise():
    with pytest.raises(ValueError, match="`logits` contains NaN/inf"):
        mutual_information_yt(np.array([[0.0, np.nan]]), np.array([0]))
    with pytest.raises(ValueError, match="`logits` must be 2-D"):
        mutual_information_yt(np.zeros(3), np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="`logits` is empty"):
        mutual_information_yt(np.zeros((0, 3)), np.array([], dtype=int))
