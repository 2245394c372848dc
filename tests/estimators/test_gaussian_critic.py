"""The Gaussian-residual critic starts from the exact Gaussian log-density ratio."""

import math

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from invariant_reps.estimators import GaussianResidualCritic
from invariant_reps.estimators import dv_bound
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import split_pair_scores


def test_untrained_scores_are_the_gaussian_log_density_ratio_of_the_adapted_sample():
    x, y = ground_truth.correlated_gaussian(4000, 2, 0.6, seed=0)
    critic = GaussianResidualCritic(hidden_units=(8,), embedding_dim=4, seed=0)
    critic.adapt(x, y)
    joint = np.hstack([x, y])
    mean, covariance = joint.mean(0), np.cov(joint, rowvar=False)
    pairs_x, pairs_y = x[:5], y[5:8]
    expected = np.array([[
        multivariate_normal(mean, covariance).logpdf(np.hstack([a, b]))
        - multivariate_normal(mean[:2], covariance[:2, :2]).logpdf(a)
        - multivariate_normal(mean[2:], covariance[2:, 2:]).logpdf(b)
        for b in pairs_y] for a in pairs_x])
    scores = critic.pair_scores(pairs_x.astype("float32"), pairs_y.astype("float32")).numpy()
    np.testing.assert_allclose(scores, expected, atol=1e-3)
    np.testing.assert_allclose(
        critic((pairs_x[:3].astype("float32"), pairs_y.astype("float32"))).numpy(),
        np.diag(expected[:3]), atol=1e-3,
    )


def test_its_bound_before_training_is_the_gaussian_mi():
    # 2 + 2 dimensions, rho = 0.6: I = -log(1 - 0.36) = 0.446 nats.
    x, y = ground_truth.correlated_gaussian(6000, 2, 0.6, seed=1)
    critic = GaussianResidualCritic(hidden_units=(8,), embedding_dim=4, seed=0)
    critic.adapt(x[:4000], y[:4000])
    scores = critic.pair_scores(x[4000:4500].astype("float32"), y[4000:4500].astype("float32"))
    assert float(dv_bound(*split_pair_scores(scores))) == pytest.approx(
        -math.log(1 - 0.36), abs=0.06
    )
    config = critic.get_config()
    assert config["residual"] == "separable" and config["embedding_dim"] == 4
    with pytest.raises(ValueError, match="'mlp'"):
        GaussianResidualCritic(residual="mlp")
