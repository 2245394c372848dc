"""The bounds against hand-computed score matrices."""

import math

import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.estimators import bounds

# A 2x2 score matrix used throughout: joint scores 1 and 3 on the diagonal,
# marginal scores log 2 and log 4 off it, so e^marginal = 2 and 4.
SCORES = np.array([[1.0, math.log(2.0)], [math.log(4.0), 3.0]])


def test_split_pair_scores_takes_diagonal_and_off_diagonal_row_major():
    scores = np.arange(9.0).reshape(3, 3)
    joint, marginal = bounds.split_pair_scores(scores)
    np.testing.assert_array_equal(joint.numpy(), [0.0, 4.0, 8.0])
    np.testing.assert_array_equal(marginal.numpy(), [1.0, 2.0, 3.0, 5.0, 6.0, 7.0])


def test_dv_bound_hand_computed():
    # mean(1, 3) - log mean(2, 4) = 2 - log 3 = 0.901388
    value = bounds.dv_bound(*bounds.split_pair_scores(SCORES))
    assert float(value) == pytest.approx(2.0 - math.log(3.0), abs=1e-12)
    assert float(value) == pytest.approx(0.9013877, abs=1e-6)


def test_nwj_bound_hand_computed():
    # mean(1, 3) - e^{-1} mean(2, 4) = 2 - 3/e = 0.896362
    value = bounds.nwj_bound(*bounds.split_pair_scores(SCORES))
    assert float(value) == pytest.approx(0.8963617, abs=1e-6)


def test_infonce_bound_hand_computed():
    # Row 0: 1 - log(e^1 + 2) = -0.551444; row 1: 3 - log(4 + e^3) = -0.181608.
    # Mean -0.366526, plus log 2 = 0.326619.
    assert float(bounds.infonce_bound(SCORES)) == pytest.approx(0.3266191, abs=1e-6)


def test_smile_bound_hand_computed():
    # clip = 1: log 2 = 0.693 stays, log 4 = 1.386 becomes 1, so the
    # partition term is log mean(2, e) = 0.858297 and SMILE = 2 - 0.858297.
    value = bounds.smile_bound(*bounds.split_pair_scores(SCORES), clip=1.0)
    assert float(value) == pytest.approx(1.1417025, abs=1e-6)


def test_smile_with_huge_clip_equals_dv():
    rng = np.random.default_rng(0)
    joint, marginal = rng.normal(3.0, 2.0, size=16), rng.normal(0.0, 4.0, size=240)
    smile = bounds.smile_bound(joint, marginal, clip=1e6)
    assert float(smile) == pytest.approx(float(bounds.dv_bound(joint, marginal)), abs=1e-9)


def test_js_bound_at_zero_scores_is_minus_two_log_two():
    assert float(bounds.js_bound([0.0, 0.0], [0.0])) == pytest.approx(-2.0 * math.log(2.0))


def test_smile_gradient_is_the_jensen_shannon_gradient():
    joint = tf.Variable([2.0, 7.0])
    marginal = tf.Variable([-1.0, 6.0, 9.0])
    with tf.GradientTape(persistent=True) as tape:
        smile = bounds.smile_bound(joint, marginal, clip=5.0)
        js = bounds.js_bound(joint, marginal)
    for variable in (joint, marginal):
        np.testing.assert_allclose(
            tape.gradient(smile, variable).numpy(), tape.gradient(js, variable).numpy(), rtol=1e-6
        )


@pytest.mark.parametrize("batch_size", [2, 8, 64])
def test_infonce_never_exceeds_log_batch_size(batch_size):
    rng = np.random.default_rng(batch_size)
    for scale in (0.1, 10.0, 1000.0):
        scores = rng.normal(0.0, scale, size=(batch_size, batch_size))
        assert float(bounds.infonce_bound(scores)) <= math.log(batch_size) + 1e-6
    # A perfect critic (huge diagonal) reaches the ceiling and no further.
    perfect = 100.0 * np.eye(batch_size)
    assert float(bounds.infonce_bound(perfect)) == pytest.approx(math.log(batch_size), abs=1e-6)


def test_bounds_stay_finite_for_large_scores():
    joint, marginal = [900.0, 1000.0], [1000.0, 1000.0]
    # log mean(e^1000, e^1000) = 1000, so DV = 950 - 1000.
    assert float(bounds.dv_bound(joint, marginal)) == pytest.approx(-50.0)
    assert float(bounds.log_mean_exp([1000.0, 1000.0])) == pytest.approx(1000.0)
    # Rows: 1000 - log(e^1000 + e^999) = -log(1 + e^-1), 1000 - log(e^998 + e^1000) =
    # -log(1 + e^-2); InfoNCE = their mean + log 2 = 0.47305, with no overflow.
    expected = math.log(2.0) - 0.5 * (math.log1p(math.exp(-1.0)) + math.log1p(math.exp(-2.0)))
    assert float(bounds.infonce_bound([[1000.0, 999.0], [998.0, 1000.0]])) == pytest.approx(
        expected, abs=1e-5
    )


def test_infonce_rejects_non_square_scores():
    with pytest.raises(ValueError, match=r"square \[N, N\] score matrix.*\(2, 3\)"):
        bounds.infonce_bound(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="split_pair_scores"):
        bounds.split_pair_scores(np.zeros(4))


def test_smile_rejects_non_positive_clip():
    with pytest.raises(ValueError, match="clip=0"):
        bounds.smile_bound([1.0], [0.0], clip=0)


def test_adaptive_clip_is_a_joint_score_quantile_with_a_floor():
    assert float(bounds.adaptive_clip([1.0, 7.5, 6.0, 3.0], quantile=0.75)) == pytest.approx(6.0)
    assert float(bounds.adaptive_clip([1.0, 2.0])) == pytest.approx(5.0)  # the floor
    # With tau above the marginal scores SMILE is DV; "adaptive" clips at 9 here.
    joint, marginal = [9.0, 9.0], [8.0, 12.0]
    expected = 9.0 - math.log((math.exp(8.0) + math.exp(9.0)) / 2.0)
    adaptive = float(bounds.smile_bound(joint, marginal, clip="adaptive"))
    assert adaptive == pytest.approx(expected, abs=1e-5)
    with pytest.raises(ValueError, match="'tight'"):
        bounds.smile_bound(joint, marginal, clip="tight")
