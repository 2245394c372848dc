"""Samplers with known mutual information, to test and benchmark estimators.

- Correlated Gaussians: `x, y` in `R^d`, each coordinate pair with
  correlation `rho`, independent across coordinates:
  `I = -(d / 2) log(1 - rho^2)`. The staircase of Poole et al. (ICML 2019,
  sec. 5) raises the MI of a 20-D pair through 2, 4, 6, 8, 10 nats.
- Transformed Gaussians: MI is invariant under invertible maps of each
  variable, so `(x, g(y))` with `g = cube` or `asinh` keeps the Gaussian MI
  while the joint law is no longer normal (the "half-cube"/"asinh" tasks of
  Czyz et al., "Beyond Normal", NeurIPS 2023).
- Uniform additive noise: `x ~ U(0, 1)`, `y = x + z`, `z ~ U(0, a)`, a
  bounded, non-Gaussian case with `I = a/2 - log a` per coordinate.
- Multivariate Student-t: the correlated Gaussian pair divided by one
  shared `sqrt(W / nu)`, `W ~ chi^2_nu`. Heavy tails (Cauchy marginals at
  `nu = 1`) and more MI than the Gaussian with the same correlation:
  `student_t_mi` adds a closed-form term that vanishes as `nu -> inf`.

Every sampler takes `seed` (an int, a `numpy.random.Generator` or None) and
returns float64 arrays `(x, y)` of shape `[num_samples, dim]`.
"""

import math
import numbers

import numpy as np
from scipy.special import digamma

STAIRCASE_MI_NATS = (2.0, 4.0, 6.0, 8.0, 10.0)
STAIRCASE_DIM = 20

TRANSFORMS = {
    "identity": lambda values: values,
    "cube": lambda values: values**3,
    "asinh": np.arcsinh,
}


def correlated_gaussian_mi(rho, dim):
    """`I = -(d / 2) log(1 - rho^2)` nats, the MI of `correlated_gaussian`."""
    _check_rho(rho)
    _check_positive_int(dim, "dim")
    return -0.5 * dim * math.log1p(-rho * rho)


def rho_for_mi(mi, dim):
    """The componentwise correlation giving `mi` nats in `dim` dimensions.

    Inverts `correlated_gaussian_mi`: `rho = sqrt(1 - exp(-2 I / d))`.

    Args:
        mi: target MI in nats, >= 0.
        dim: number of coordinate pairs, a positive int.

    Returns:
        `rho` in `[0, 1)`.

    Example:
        >>> rho_for_mi(2.0, dim=20)
        0.4276...
    """
    if not mi >= 0:
        raise ValueError(f"`mi` must be >= 0 nats, got mi={mi!r}.")
    _check_positive_int(dim, "dim")
    return math.sqrt(-math.expm1(-2.0 * mi / dim))


def staircase_schedule(levels=STAIRCASE_MI_NATS, dim=STAIRCASE_DIM):
    """The benchmark's MI steps as `(mi, rho)` pairs.

    Args:
        levels: MI values in nats, in the order they are visited.
        dim: dimension of `x` and `y`.

    Returns:
        A list of `(mi, rho)` tuples.
    """
    return [(float(mi), rho_for_mi(mi, dim)) for mi in levels]


def correlated_gaussian(num_samples, dim, rho, seed=None):
    """Samples `x ~ N(0, I)`, `y = rho x + sqrt(1 - rho^2) e`, `e ~ N(0, I)`.

    Args:
        num_samples: positive int.
        dim: dimension of `x` and `y`, a positive int.
        rho: componentwise correlation in `(-1, 1)`.
        seed: int, `numpy.random.Generator` or None.

    Returns:
        `(x, y)`, two `[num_samples, dim]` arrays; true MI is
        `correlated_gaussian_mi(rho, dim)`.

    Example:
        >>> x, y = correlated_gaussian(1000, dim=20, rho=rho_for_mi(4.0, 20))
    """
    _check_positive_int(num_samples, "num_samples")
    _check_positive_int(dim, "dim")
    _check_rho(rho)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((num_samples, dim))
    noise = rng.standard_normal((num_samples, dim))
    return x, rho * x + math.sqrt(1.0 - rho * rho) * noise


def transformed_gaussian(num_samples, dim, rho, transform="cube", seed=None):
    """A correlated Gaussian pair with `y` mapped through an invertible function.

    Invertible maps preserve MI, so the true value is still
    `correlated_gaussian_mi(rho, dim)`, but the joint law is not normal (and
    `gaussian_mi` no longer recovers it).

    Args:
        num_samples: positive int.
        dim: dimension of `x` and `y`.
        rho: componentwise correlation of the underlying Gaussian.
        transform: a name in `TRANSFORMS`: `"cube"` (`y^3`, heavy tails),
            `"asinh"` (compressed tails) or `"identity"`.
        seed: int, `numpy.random.Generator` or None.

    Returns:
        `(x, transform(y))`, two `[num_samples, dim]` arrays.
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"Unknown transform {transform!r}; expected one of {sorted(TRANSFORMS)}.")
    x, y = correlated_gaussian(num_samples, dim, rho, seed=seed)
    return x, TRANSFORMS[transform](y)


def uniform_additive_noise_mi(noise_width, dim=1):
    """`I = d (a/2 - log a)` nats, the MI of `uniform_additive_noise`.

    With `x ~ U(0, 1)` and `z ~ U(0, a)`, `a <= 1`, the density of `y = x + z`
    is a trapezoid: two linear ramps of width `a` contribute `a/4` nats of
    entropy each and the flat top none, so `h(Y) = a/2`; `h(Y | X) = log a`.
    """
    _check_noise_width(noise_width)
    _check_positive_int(dim, "dim")
    return dim * (0.5 * noise_width - math.log(noise_width))


def uniform_additive_noise(num_samples, noise_width, dim=1, seed=None):
    """Samples `x ~ U(0, 1)^d`, `y = x + z`, `z ~ U(0, a)^d`.

    Args:
        num_samples: positive int.
        noise_width: `a` in `(0, 1]`; smaller means more MI.
        dim: dimension of `x` and `y`.
        seed: int, `numpy.random.Generator` or None.

    Returns:
        `(x, y)`, two `[num_samples, dim]` arrays; true MI is
        `uniform_additive_noise_mi(noise_width, dim)`.
    """
    _check_positive_int(num_samples, "num_samples")
    _check_positive_int(dim, "dim")
    _check_noise_width(noise_width)
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(num_samples, dim))
    return x, x + rng.uniform(0.0, noise_width, size=(num_samples, dim))


def student_t_mi(rho, dim, dof):
    """MI in nats of `student_t`: the Gaussian term plus a `dof`-dependent term.

    With `h_p` the differential entropy of a `p`-dimensional Student-t with
    `nu` degrees of freedom and scale matrix `S`,
    `h_p = 1/2 log det S + log[Gamma(nu/2) (nu pi)^(p/2) / Gamma((nu+p)/2)]
    + (nu+p)/2 [psi((nu+p)/2) - psi(nu/2)]`, and the marginals of a
    multivariate t are t with the same `nu`, so `I = h_d(X) + h_d(Y) -
    h_2d(X, Y)` is

        -(d/2) log(1 - rho^2)
        + log Gamma(nu/2) + log Gamma((nu+2d)/2) - 2 log Gamma((nu+d)/2)
        + (nu+d) [psi((nu+d)/2) - psi(nu/2)]
        - (nu+2d)/2 [psi((nu+2d)/2) - psi(nu/2)].

    The `(nu pi)^(p/2)` factors cancel. For `d = 1, nu = 1` (a bivariate
    Cauchy) the second part is 0.224 nats, so uncorrelated Cauchy variables
    still share 0.224 nats.

    Args:
        rho: componentwise correlation of the underlying Gaussian, in (-1, 1).
        dim: dimension `d` of `x` and of `y`, a positive int.
        dof: degrees of freedom `nu > 0`.

    Returns:
        The MI in nats.

    Example:
        >>> student_t_mi(0.0, dim=1, dof=1)
        0.2241...
    """
    _check_rho(rho)
    _check_positive_int(dim, "dim")
    if not dof > 0:
        raise ValueError(f"`dof` must be > 0, got dof={dof!r}.")
    nu, d = float(dof), float(dim)
    half = nu / 2.0
    dof_term = (
        math.lgamma(half) + math.lgamma(half + d) - 2.0 * math.lgamma(half + d / 2.0)
        + (nu + d) * (digamma(half + d / 2.0) - digamma(half))
        - (nu + 2.0 * d) / 2.0 * (digamma(half + d) - digamma(half))
    )
    return correlated_gaussian_mi(rho, dim) + dof_term


def student_t(num_samples, dim, rho, dof, seed=None):
    """Samples the multivariate Student-t pair of `student_t_mi`.

    `(x, y) = (g_x, g_y) / sqrt(W / nu)` with `(g_x, g_y)` from
    `correlated_gaussian` and one `W ~ chi^2_nu` per sample, shared by `x`
    and `y`.

    Args:
        num_samples: positive int.
        dim: dimension of `x` and `y`.
        rho: componentwise correlation of the underlying Gaussian.
        dof: degrees of freedom `nu > 0` (1: Cauchy marginals).
        seed: int, `numpy.random.Generator` or None.

    Returns:
        `(x, y)`, two `[num_samples, dim]` arrays.
    """
    if not dof > 0:
        raise ValueError(f"`dof` must be > 0, got dof={dof!r}.")
    rng = np.random.default_rng(seed)
    x, y = correlated_gaussian(num_samples, dim, rho, seed=rng)
    scale = np.sqrt(rng.chisquare(dof, size=(num_samples, 1)) / dof)
    return x / scale, y / scale


def _check_positive_int(value, name):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")


def _check_rho(rho):
    if not -1.0 < rho < 1.0:
        raise ValueError(f"`rho` must be in (-1, 1), got rho={rho!r}.")


def _check_noise_width(noise_width):
    if not 0.0 < noise_width <= 1.0:
        raise ValueError(
            f"`noise_width` must be in (0, 1] for the closed form, got noise_width={noise_width!r}."
        )
