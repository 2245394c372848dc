"""Finite-sample MI benchmark cases, each with its ground truth derived in code.

Every case draws one fixed sample `(x, y)` from a law whose MI is known:

- Gaussian pairs (`ground_truth.correlated_gaussian`): `-(d/2) log(1 - rho^2)`.
- Invertible maps of a Gaussian pair (cube, asinh, half-cube, a monotone
  "wiggle" `t + 0.3 sin 3t`, normal-CDF and Cauchy-quantile margins, and a
  spiral that rotates `x` by an angle growing with `|x|^2`): MI is
  unchanged by invertible maps of each variable, so the Gaussian value.
- Multivariate Student-t (`ground_truth.student_t`): the closed form of
  `ground_truth.student_t_mi` (Gaussian term plus a `nu`-dependent term;
  checked against Monte Carlo in tests/estimators/test_ground_truth.py).
- Gaussian mixtures and discrete-continuous pairs: `E[log p(x, y) -
  log p(x) - log p(y)]` by Monte Carlo on `MC_SAMPLES` fresh draws with the
  exact densities (its standard error is reported with the truth).
- A discrete pair: the exact sum over the joint table.
"""

import dataclasses
import math

import numpy as np
from scipy.special import logsumexp
from scipy.special import ndtr
from scipy.stats import multivariate_normal

from invariant_reps.estimators import ground_truth

MC_SAMPLES = 400000
_TRUTH_SEED = 20251125


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case.

    Attributes:
        name: short description.
        group: "gaussian", "transform", "heavy tails", "mixture" or "discrete".
        dims: `"d_x+d_y"`.
        true_mi: the ground truth in nats.
        truth_se: standard error of a Monte Carlo truth (0 for closed forms).
        sample: `sample(num_samples, seed) -> (x, y)`.
    """

    name: str
    group: str
    dims: str
    true_mi: float
    truth_se: float
    sample: object


def gaussian_case(mi, dim, transform=None, name=None):
    rho = ground_truth.rho_for_mi(mi, dim)

    def sample(num_samples, seed):
        x, y = ground_truth.correlated_gaussian(num_samples, dim, rho, seed=seed)
        return (x, y) if transform is None else transform(x, y)

    label = name or f"Gaussian, {mi:g} nats"
    group = "gaussian" if transform is None else "transform"
    return Case(label, group, f"{dim}+{dim}", float(mi), 0.0, sample)


def student_t_case(gaussian_mi, dim, dof, transform=None, name=None):
    rho = ground_truth.rho_for_mi(gaussian_mi, dim) if gaussian_mi > 0 else 0.0

    def sample(num_samples, seed):
        x, y = ground_truth.student_t(num_samples, dim, rho, dof, seed=seed)
        return (x, y) if transform is None else transform(x, y)

    label = name or f"Student-t, nu={dof:g}, rho={rho:.2f}"
    return Case(label, "heavy tails", f"{dim}+{dim}", ground_truth.student_t_mi(rho, dim, dof),
                0.0, sample)


# Invertible maps (applied to x, y or both).
def cube(x, y):
    return x, y ** 3


def asinh_both(x, y):
    return np.arcsinh(x), np.arcsinh(y)


def half_cube(x, y):
    return x * np.sqrt(np.abs(x)), y * np.sqrt(np.abs(y))


def wiggle(x, y):
    # t + 0.3 sin(3t) has derivative 1 + 0.9 cos(3t) >= 0.1: strictly increasing.
    return x + 0.3 * np.sin(3.0 * x), y + 0.3 * np.sin(3.0 * y)


def uniform_and_cauchy_margins(x, y):
    # Phi makes x uniform; tan(pi (Phi - 1/2)) gives y standard Cauchy margins.
    return ndtr(x), np.tan(math.pi * (ndtr(y) - 0.5))


def spiral(x, y, speed=0.5):
    # Rotates the first two coordinates of x by speed |x|^2; |x| is kept,
    # so the angle, hence the map, can be undone.
    angle = speed * np.sum(x * x, axis=1)
    cos, sin = np.cos(angle), np.sin(angle)
    turned = x.copy()
    turned[:, 0] = cos * x[:, 0] - sin * x[:, 1]
    turned[:, 1] = sin * x[:, 0] + cos * x[:, 1]
    return turned, y


def asinh_y(x, y):
    return x, np.arcsinh(y)


def mixture_case(dim, separation, correlations, name):
    """Two equally likely Gaussian components, means +-separation, given correlations."""
    means = [np.full(2 * dim, separation), np.full(2 * dim, -separation)]
    covariances = []
    for rho in correlations:
        block = np.eye(2 * dim)
        block[:dim, dim:] = block[dim:, :dim] = rho * np.eye(dim)
        covariances.append(block)

    def draw(num_samples, rng):
        component = rng.integers(0, 2, size=num_samples)
        joint = np.empty((num_samples, 2 * dim))
        for index in range(2):
            rows = component == index
            joint[rows] = rng.multivariate_normal(means[index], covariances[index], rows.sum())
        return joint[:, :dim], joint[:, dim:]

    def log_density(values, parts):
        terms = [multivariate_normal(means[i][parts], covariances[i][np.ix_(parts, parts)])
                 .logpdf(values) for i in range(2)]
        return logsumexp(np.stack(terms), axis=0) - math.log(2.0)

    x, y = draw(MC_SAMPLES, np.random.default_rng(_TRUTH_SEED))
    joint_parts, x_parts = np.arange(2 * dim), np.arange(dim)
    y_parts = np.arange(dim, 2 * dim)
    pointwise = (log_density(np.hstack([x, y]), joint_parts) - log_density(x, x_parts)
                 - log_density(y, y_parts))
    return Case(name, "mixture", f"{dim}+{dim}", float(pointwise.mean()),
                float(pointwise.std() / math.sqrt(MC_SAMPLES)),
                lambda num_samples, seed: draw(num_samples, np.random.default_rng(seed)))


def class_conditional_case(centres, name):
    """`y` uniform on the labels, `x | y ~ N(centres[y], I)`; `I = E log p(x|y)/p(x)`."""
    centres = np.asarray(centres, dtype=np.float64)
    num_classes, dim = centres.shape

    def draw(num_samples, rng):
        labels = rng.integers(0, num_classes, size=num_samples)
        return centres[labels] + rng.normal(size=(num_samples, dim)), labels.astype(np.float64)

    x, labels = draw(MC_SAMPLES, np.random.default_rng(_TRUTH_SEED))
    squared = ((x[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    log_conditionals = -0.5 * squared  # the normalising constants cancel
    own = log_conditionals[np.arange(MC_SAMPLES), labels.astype(int)]
    pointwise = own - (logsumexp(log_conditionals, axis=1) - math.log(num_classes))
    return Case(name, "discrete", f"{dim}+1 (y discrete)", float(pointwise.mean()),
                float(pointwise.std() / math.sqrt(MC_SAMPLES)),
                lambda num_samples, seed: draw(num_samples, np.random.default_rng(seed)))


def noisy_copy_case(num_values, keep):
    """`x` uniform on `num_values`; `y = x` with probability `keep`, else uniform."""
    same = keep + (1.0 - keep) / num_values
    other = (1.0 - keep) / num_values
    joint = np.full((num_values, num_values), other / num_values)
    np.fill_diagonal(joint, same / num_values)
    marginal = 1.0 / num_values
    true_mi = float(np.sum(joint * np.log(joint / (marginal * marginal))))

    def sample(num_samples, seed):
        rng = np.random.default_rng(seed)
        x = rng.integers(0, num_values, size=num_samples)
        y = np.where(rng.uniform(size=num_samples) < keep, x,
                     rng.integers(0, num_values, size=num_samples))
        return x.astype(np.float64), y.astype(np.float64)

    return Case(f"noisy copy of {num_values} values, keep {keep:g}", "discrete",
                "1+1 (both discrete)", true_mi, 0.0, sample)


def finite_sample_cases():
    """The benchmark's cases, in table order."""
    return [
        gaussian_case(0.5, 1),
        gaussian_case(2.0, 1),
        gaussian_case(4.0, 1),
        gaussian_case(8.0, 1),
        gaussian_case(1.0, 2),
        gaussian_case(4.0, 3),
        gaussian_case(2.0, 5),
        gaussian_case(8.0, 5),
        gaussian_case(1.29, 25),
        gaussian_case(4.0, 25),
        gaussian_case(2.0, 50),
        gaussian_case(8.0, 50),
        gaussian_case(1.0, 1, cube, "Gaussian, y -> y^3"),
        gaussian_case(1.0, 1, asinh_y, "Gaussian, y -> asinh(y)"),
        gaussian_case(1.0, 1, wiggle, "Gaussian, t -> t + 0.3 sin 3t"),
        gaussian_case(1.0, 1, uniform_and_cauchy_margins, "Gaussian copula, uniform x, Cauchy y"),
        gaussian_case(1.0, 2, spiral, "Gaussian, x spiralled"),
        gaussian_case(2.0, 3, spiral, "Gaussian, x spiralled"),
        gaussian_case(2.0, 5, half_cube, "Gaussian, half-cube both"),
        gaussian_case(1.29, 25, asinh_both, "Gaussian, asinh both"),
        student_t_case(0.0, 1, 1, name="Student-t, nu=1, rho=0 (tail dependence only)"),
        student_t_case(1.0, 1, 1),
        student_t_case(1.0, 1, 2),
        student_t_case(1.0, 1, 5),
        student_t_case(1.0, 1, 1, asinh_both, "asinh(Student-t), nu=1"),
        student_t_case(1.0, 2, 1),
        student_t_case(1.0, 2, 3),
        student_t_case(2.0, 5, 3),
        student_t_case(2.0, 5, 5),
        mixture_case(1, 1.0, (0.9, -0.9), "Gaussian mixture, rho +-0.9"),
        mixture_case(2, 1.0, (0.8, 0.0), "Gaussian mixture, rho 0.8 / 0"),
        mixture_case(5, 0.5, (0.6, -0.6), "Gaussian mixture, rho +-0.6"),
        class_conditional_case([[0.0], [2.0], [4.0], [6.0]], "4 classes, x | y ~ N(2y, 1)"),
        class_conditional_case(np.random.default_rng(7).normal(size=(10, 10)),
                               "10 classes, x | y ~ N(mu_y, I), mu_y ~ N(0, I)"),
        noisy_copy_case(8, 0.7),
    ]


def sample_size_cases():
    """Cases repeated at other sample sizes: `(case, num_samples)`."""
    cases = finite_sample_cases()
    gaussian_1d, gaussian_25d, cauchy_1d = cases[0], cases[8], cases[21]
    return [(case, size) for case in (gaussian_1d, gaussian_25d, cauchy_1d)
            for size in (1000, 10000)]
