"""CLUB and L1Out upper bounds, the Gaussian conditional, and the standalone estimate."""

import math
import warnings

import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.estimators import GaussianConditional
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import categorical_log_prob_matrix
from invariant_reps.estimators import club_bound
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import l1out_bound
from invariant_reps.estimators import split_pair_scores


def _true_conditional_log_probs(x, y, rho):
    """`[i, j] = log p(y_j | x_i)` for `y | x ~ N(rho x, 1 - rho^2)`."""
    variance = 1.0 - rho * rho
    residual = y[None, :, 0] - rho * x[:, None, 0]
    return -0.5 * (residual ** 2 / variance + math.log(2 * math.pi * variance))


def test_bounds_on_hand_computed_log_probs():
    assert float(club_bound([-1.0, -1.0], [-3.0, -5.0])) == pytest.approx(3.0)
    # Each column: log q(y_i|x_i) = 0, the other entry -2: 0 - log(e^-2) = 2.
    assert float(l1out_bound([[0.0, -2.0], [-2.0, 0.0]])) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="l1out_bound"):
        l1out_bound([1.0, 2.0])


def test_club_is_an_upper_bound_on_a_gaussian_pair():
    # With the true conditional, E_p log p(y|x) = -1/2 log(2 pi (1 - rho^2)) - 1/2
    # and E_{p(x)p(y)} log p(y|x) adds -(1 + rho^2) / (2 (1 - rho^2)) instead, so
    # CLUB = rho^2 / (1 - rho^2) = 1.778 nats at rho = 0.8 >= I = 0.511 nats.
    rho = 0.8
    x, y = ground_truth.correlated_gaussian(2000, 1, rho, seed=0)
    log_probs = _true_conditional_log_probs(x, y, rho)
    club = float(club_bound(*split_pair_scores(log_probs)))
    true_mi = ground_truth.correlated_gaussian_mi(rho, 1)
    assert club == pytest.approx(rho ** 2 / (1 - rho ** 2), abs=0.1)
    assert club > true_mi
    # L1Out with the true conditional is an upper bound in expectation, and tight.
    assert float(l1out_bound(log_probs)) == pytest.approx(true_mi, abs=0.05)


def test_trained_club_estimate_stays_above_the_true_mi():
    rho = 0.8
    x, y = ground_truth.correlated_gaussian(2000, 1, rho, seed=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MIEstimationWarning)
        club = estimate_mi(x, y, method="club", max_steps=200, batch_size=64, eval_every=25,
                           learning_rate=3e-3, cross_check=False, seed=0)
    true_mi = ground_truth.correlated_gaussian_mi(rho, 1)
    assert club.mi_nats > true_mi + 0.5
    assert club.mi_nats == pytest.approx(rho ** 2 / (1 - rho ** 2), abs=0.3)
    assert club.best_step in club.curve.steps.tolist()
    assert club.interval[0] < club.mi_nats < club.interval[1]


def test_gradient_reaches_the_representation_in_a_training_step():
    rng = np.random.default_rng(2)
    z = tf.Variable(rng.normal(size=(16, 3)).astype("float32"))
    s = tf.constant(rng.normal(size=(16, 1)).astype("float32"))
    conditional = GaussianConditional(hidden_units=(8,), seed=0)
    with tf.GradientTape(persistent=True) as tape:
        penalty = club_bound(*split_pair_scores(conditional.pair_log_probs(z, s)))
        fit = conditional.negative_log_likelihood(tf.stop_gradient(z), s)
    assert float(tf.norm(tape.gradient(penalty, z))) > 0.0
    assert tape.gradient(fit, z) is None
    assert all(g is not None for g in tape.gradient(fit, conditional.trainable_variables))
    # Diagonal of the pair matrix = log q(y_i | x_i) from a direct call.
    np.testing.assert_allclose(
        np.diag(conditional.pair_log_probs(z, s).numpy()), conditional((z, s)).numpy(), rtol=1e-5
    )


def test_categorical_log_prob_matrix_and_config():
    matrix = categorical_log_prob_matrix([[0.0, 0.0], [math.log(3.0), 0.0]], [0, 1, 1])
    np.testing.assert_allclose(
        matrix.numpy(),
        [[math.log(0.5)] * 3, [math.log(0.75), math.log(0.25), math.log(0.25)]],
        rtol=1e-6,
    )
    config = GaussianConditional(hidden_units=(4, 2), log_scale_bound=3.0, seed=1).get_config()
    rebuilt = GaussianConditional.from_config(config)
    assert rebuilt.hidden_units == (4, 2) and rebuilt.log_scale_bound == 3.0
    with pytest.raises(ValueError, match="log_scale_bound"):
        GaussianConditional(log_scale_bound=0.0)
