"""KSG variants, LNC, the mixed estimator and k selection, against hand and brute force."""

import math

import numpy as np
import pytest
from scipy.special import digamma

from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import ksg_mi
from invariant_reps.estimators import lnc_alpha
from invariant_reps.estimators import lnc_mi
from invariant_reps.estimators import mixed_ksg_mi
from invariant_reps.estimators import select_ksg_k
from invariant_reps.estimators.knn import count_within
from invariant_reps.estimators.lnc import SEED_ALPHA
from invariant_reps.estimators.lnc import lnc_correction


def _max_norm_distances(points):
    return np.abs(points[:, None, :] - points[None, :, :]).max(axis=2)


def _brute_force_ksg(x, y, k, variant):
    joint = _max_norm_distances(np.hstack([x, y]))
    dx, dy = _max_norm_distances(x), _max_norm_distances(y)
    np.fill_diagonal(joint, np.inf)
    n = len(x)
    terms = []
    for i in range(n):
        neighbours = np.argsort(joint[i], kind="stable")[:k]
        others = np.arange(n) != i
        if variant == 1:
            eps = joint[i, neighbours].max()
            nx, ny = (dx[i, others] < eps).sum(), (dy[i, others] < eps).sum()
            terms.append(digamma(nx + 1) + digamma(ny + 1))
        else:
            ex, ey = dx[i, neighbours].max(), dy[i, neighbours].max()
            nx, ny = (dx[i, others] <= ex).sum(), (dy[i, others] <= ey).sum()
            terms.append(digamma(nx) + digamma(ny))
    extra = 0.0 if variant == 1 else -1.0 / k
    return digamma(k) + extra + digamma(n) - np.mean(terms)


def test_ksg_hand_computed_four_points():
    # Joint max-norm kNN distances (k=1): 2, 2, 2, 6; strict marginal counts
    # n_x = 1, 1, 0, 1 and n_y = 0, 1, 1, 0, so
    # I = psi(1) + psi(4) - (5 psi(2) + 3 psi(1)) / 4 = 11/6 - 5/4 = 7/12.
    x, y = [0.0, 1.0, 3.0, 7.0], [0.0, 2.0, 3.0, 9.0]
    assert ksg_mi(x, y, k=1) == pytest.approx(7.0 / 12.0)


@pytest.mark.parametrize("variant", [1, 2])
@pytest.mark.parametrize("dims", [(1, 1), (2, 2), (3, 1)])
def test_ksg_matches_brute_force(variant, dims):
    rng = np.random.default_rng(sum(dims) + variant)
    x = rng.normal(size=(60, dims[0]))
    y = x[:, :1] + rng.normal(size=(60, dims[1]))
    assert ksg_mi(x, y, k=3, variant=variant) == pytest.approx(
        _brute_force_ksg(x, y, 3, variant), abs=1e-12
    )


def test_chunking_does_not_change_the_estimate():
    x, y = ground_truth.correlated_gaussian(500, 2, 0.7, seed=1)
    assert ksg_mi(x, y, chunk_size=7) == ksg_mi(x, y)
    assert lnc_mi(x, y, chunk_size=13) == pytest.approx(lnc_mi(x, y), abs=1e-12)


@pytest.mark.parametrize("dim", [1, 2, 3])
def test_counts_are_exact_at_the_boundary(dim):
    values = np.round(np.random.default_rng(dim).normal(size=(300, dim)), 1)  # many ties
    radius = np.round(np.random.default_rng(9).uniform(0, 0.6, size=300), 1)
    expected = (_max_norm_distances(values) <= radius[:, None]).sum(axis=1)
    np.testing.assert_array_equal(count_within(values, radius), expected)


def test_mixed_ksg_matches_ross_formula_and_separated_classes():
    # Two far-apart classes: every neighbour is in the own class, m_i = k,
    # so I = psi(N) - psi(N / 2) = H(C) up to O(1/N).
    labels = np.repeat([0, 1], 500)
    values = labels * 100.0 + np.random.default_rng(0).normal(size=1000)
    expected = digamma(1000) - digamma(500)
    assert mixed_ksg_mi(values, labels, k=3) == pytest.approx(expected, abs=1e-12)
    assert expected == pytest.approx(math.log(2.0), abs=1e-3)
    with pytest.raises(ValueError, match="every class has 1"):
        mixed_ksg_mi([0.0, 1.0, 2.0], [0, 1, 2])


def test_mixed_ksg_on_gaussian_classes():
    # y uniform on {0, 1}, x | y ~ N(2y, 1): I = h(X) - h(X | Y) = 0.3368 nats
    # (numerical integration of the two-component density).
    grid = np.linspace(-10, 12, 200001)
    density = lambda m: np.exp(-0.5 * (grid - m) ** 2) / math.sqrt(2 * math.pi)  # noqa: E731
    mixture = 0.5 * (density(0.0) + density(2.0))
    true_mi = -np.trapezoid(mixture * np.log(mixture), grid) - 0.5 * math.log(2 * math.pi * math.e)
    assert true_mi == pytest.approx(0.3368, abs=1e-4)
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 2, size=4000)
    assert mixed_ksg_mi(2.0 * labels + rng.normal(size=4000), labels) == pytest.approx(
        true_mi, abs=0.03
    )


def test_lnc_alpha_reproduces_the_seed_threshold():
    assert lnc_alpha(5, 2) == pytest.approx(SEED_ALPHA, abs=0.03)
    assert lnc_alpha(5, 2) == lnc_alpha(5, 2)  # seeded
    with pytest.raises(ValueError, match="k > dim"):
        lnc_alpha(2, 2)


def test_lnc_correction_is_zero_for_an_axis_aligned_neighbourhood_and_helps_strong_dependence():
    # Independent uniforms: neighbourhoods look uniform and LNC stays at KSG 2.
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=2000), rng.uniform(size=2000)
    assert lnc_correction(x[:, None], y[:, None], 5, lnc_alpha(5, 2)) < 0.005
    # y = x + 1e-3 noise: I = 0.5 log(1 + 1e6) = 6.908 nats; KSG saturates.
    x = rng.normal(size=1000)
    y = x + 1e-3 * rng.normal(size=1000)
    true_mi = 0.5 * math.log1p(1e6)
    assert lnc_mi(x, y) - ksg_mi(x, y) > 0.5
    assert lnc_mi(x, y) == pytest.approx(true_mi, rel=0.1)
    with pytest.raises(ValueError, match="k=2 but d_x \\+ d_y = 2"):
        lnc_mi(x, y, k=2)
    with pytest.raises(ValueError, match="alpha=1.5"):
        lnc_mi(x, y, alpha=1.5)


def test_select_k_reports_every_candidate_and_picks_the_smallest_error():
    x, y = ground_truth.correlated_gaussian(1000, 1, 0.8, seed=4)
    selection = select_ksg_k(x, y, candidates=(2, 5, 10))
    assert set(selection.estimates) == set(selection.errors) == {2, 5, 10}
    assert selection.k == min(selection.errors, key=selection.errors.get)
    assert selection.estimates[5] == ksg_mi(x, y, k=5)
    with pytest.raises(ValueError, match="k=600 needs at least 1202 samples"):
        select_ksg_k(x, y, candidates=(600,))


def test_ksg_rejects_bad_arguments():
    with pytest.raises(ValueError, match="variant"):
        ksg_mi(np.zeros(10), np.zeros(10), variant=3)
    with pytest.raises(ValueError, match="k=True"):
        ksg_mi(np.zeros(10), np.zeros(10), k=True)
