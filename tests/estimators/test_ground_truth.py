"""Samplers with known MI."""

import math

import numpy as np
import pytest

from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import ksg_mi


def test_rho_for_mi_inverts_the_closed_form():
    for mi in (0.1, 2.0, 10.0):
        rho = ground_truth.rho_for_mi(mi, dim=20)
        assert ground_truth.correlated_gaussian_mi(rho, dim=20) == pytest.approx(mi)
    # 20 dims at 2 nats: rho^2 = 1 - e^{-0.2} = 0.181269, rho = 0.425757.
    assert ground_truth.rho_for_mi(2.0, 20) == pytest.approx(0.4257569, abs=1e-6)
    assert ground_truth.rho_for_mi(0.0, 3) == 0.0


def test_staircase_schedule_is_2_to_10_nats_in_20_dims():
    schedule = ground_truth.staircase_schedule()
    assert [mi for mi, _ in schedule] == [2.0, 4.0, 6.0, 8.0, 10.0]
    rhos = [rho for _, rho in schedule]
    assert rhos == sorted(rhos) and all(0 < rho < 1 for rho in rhos)


def test_correlated_gaussian_has_the_requested_correlation():
    x, y = ground_truth.correlated_gaussian(20000, dim=3, rho=0.6, seed=0)
    assert x.shape == y.shape == (20000, 3)
    for column in range(3):
        assert np.corrcoef(x[:, column], y[:, column])[0, 1] == pytest.approx(0.6, abs=0.02)
    assert abs(np.corrcoef(x[:, 0], y[:, 1])[0, 1]) < 0.03
    np.testing.assert_array_equal(x, ground_truth.correlated_gaussian(20000, 3, 0.6, seed=0)[0])


def test_uniform_additive_noise_closed_form_and_ksg_agree():
    # a = 1: h(Y) = 1/2 (triangle), h(Z) = 0, so I = 1/2 nat.
    assert ground_truth.uniform_additive_noise_mi(1.0) == pytest.approx(0.5)
    # a = 0.1: I = 0.05 - log 0.1 = 2.352585 nats.
    assert ground_truth.uniform_additive_noise_mi(0.1) == pytest.approx(2.3525851, abs=1e-6)
    x, y = ground_truth.uniform_additive_noise(4000, noise_width=0.1, seed=1)
    assert ksg_mi(x, y) == pytest.approx(2.3525851, rel=0.05)
    assert np.all((y - x >= 0) & (y - x <= 0.1))


def test_transformed_gaussian_keeps_mi_but_not_normality():
    rho = 0.8
    x, y = ground_truth.transformed_gaussian(5000, 1, rho, transform="cube", seed=2)
    assert ksg_mi(x, y) == pytest.approx(-0.5 * math.log(1 - rho**2), rel=0.1)
    excess_kurtosis = np.mean(y**4) / np.mean(y**2) ** 2 - 3.0
    assert excess_kurtosis > 5.0  # y^3 of a normal is heavy-tailed


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: ground_truth.correlated_gaussian(10, 2, 1.0), "rho=1.0"),
        (lambda: ground_truth.correlated_gaussian(0, 2, 0.5), "num_samples=0"),
        (lambda: ground_truth.rho_for_mi(-1.0, 2), "mi=-1.0"),
        (lambda: ground_truth.rho_for_mi(1.0, 0), "dim=0"),
        (lambda: ground_truth.transformed_gaussian(10, 1, 0.5, "exp"), "'exp'"),
        (lambda: ground_truth.uniform_additive_noise(10, 2.0), "noise_width=2.0"),
    ],
)
def test_rejects_bad_arguments(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_student_t_mi_closed_form_hand_value_and_monte_carlo():
    # d = 1, nu = 1, rho = 0: log Gamma(1/2) + log Gamma(3/2) - 2 log Gamma(1)
    # + 2 [psi(1) - psi(1/2)] - 3/2 [psi(3/2) - psi(1/2)]
    # = log(pi / 2) + 4 log 2 - 3 = 0.224171 nats of pure tail dependence.
    assert ground_truth.student_t_mi(0.0, 1, 1) == pytest.approx(
        math.log(math.pi / 2) + 4 * math.log(2) - 3, abs=1e-12
    )
    assert ground_truth.student_t_mi(0.5, 2, 1e6) == pytest.approx(
        ground_truth.correlated_gaussian_mi(0.5, 2), abs=1e-5
    )
    # Monte Carlo of E[log p(x, y) - log p(x) - log p(y)] with scipy's densities.
    from scipy.stats import multivariate_t

    rho, dim, dof = 0.6, 2, 2
    x, y = ground_truth.student_t(20000, dim, rho, dof, seed=4)
    scale = np.block([[np.eye(dim), rho * np.eye(dim)], [rho * np.eye(dim), np.eye(dim)]])
    marginal = multivariate_t(np.zeros(dim), np.eye(dim), df=dof)
    pointwise = (multivariate_t(np.zeros(2 * dim), scale, df=dof).logpdf(np.hstack([x, y]))
                 - marginal.logpdf(x) - marginal.logpdf(y))
    standard_error = pointwise.std() / math.sqrt(pointwise.size)
    assert abs(pointwise.mean() - ground_truth.student_t_mi(rho, dim, dof)) < 4 * standard_error
    with pytest.raises(ValueError, match="dof=0"):
        ground_truth.student_t(10, 1, 0.5, 0)
