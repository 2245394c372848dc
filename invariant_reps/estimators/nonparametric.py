"""Non-neural MI estimators: Gaussian (CCA), Gaussian copula, and re-exports.

They need no training. `ksg_mi` (k nearest neighbours, `knn.py`), `lnc_mi`
(KSG with a local non-uniformity correction, `lnc.py`) and `binned_mi`
(histograms, `binned.py`) live in their own modules and are re-exported
here. `gaussian_mi` is exact for jointly normal data; `gaussian_copula_mi`
applies it after `copula_transform`, which makes it exact for any monotone
distortion of a Gaussian and, for scalar `x` and `y`, a lower bound on the
MI of any continuous pair. All return nats.
"""

import numpy as np
from scipy.special import digamma

from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.binned import binned_mi  # noqa: F401
from invariant_reps.estimators.knn import ksg_mi  # noqa: F401
from invariant_reps.estimators.knn import mixed_ksg_mi  # noqa: F401
from invariant_reps.estimators.lnc import lnc_mi  # noqa: F401
from invariant_reps.estimators.preprocessing import copula_transform

_UNIT_CORRELATION_TOLERANCE = 1e-10


def gaussian_mi(x, y, *, bias_correction=False):
    """MI in nats of a Gaussian with the samples' covariance (CCA estimate).

    `I = -1/2 sum_i log(1 - rho_i^2)` over the canonical correlations
    `rho_i` of `x` and `y`, the singular values of `U_x^T U_y` where `U_x`,
    `U_y` are orthonormal bases of the centred samples' column spaces. Exact
    (up to sampling error) for jointly normal data; for other data it is the
    MI of the Gaussian with the same covariance, which ignores non-linear
    dependence. Linearly dependent `x` and `y` (a canonical correlation
    within 1e-10 of 1) give `inf`. Directions without variance are dropped.

    The sample canonical correlations overfit: for independent variables the
    estimate is about `d_x d_y / 2N` nats on average. `bias_correction=True`
    removes that bias exactly for Gaussian data, using
    `E[log det S] = log det Sigma + sum_{i=1}^d psi((N - i) / 2) - d log((N - 1) / 2)`
    for the `d`-dimensional sample covariance `S` of `N` normal samples (the
    mean of a log-Wishart determinant; Ince et al., Human Brain Mapping 38,
    2017, correct Gaussian-copula MI the same way). The corrected value is
    unbiased for Gaussian data and may be slightly negative.

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`; `N` should well exceed
            `d_x + d_y`.
        bias_correction: subtract the finite-sample bias of Gaussian data.

    Returns:
        The estimate in nats, a float.

    Example:
        >>> x, y = correlated_gaussian(100000, dim=4, rho=0.5, seed=0)
        >>> gaussian_mi(x, y)  # true value -2 log(0.75) = 0.575
        0.57...
    """
    x, y = as_sample_pair(x, y, min_samples=3)
    x_basis = _orthonormal_basis(x - x.mean(axis=0))
    y_basis = _orthonormal_basis(y - y.mean(axis=0))
    if x_basis.shape[1] == 0 or y_basis.shape[1] == 0:
        return 0.0
    canonical_correlations = np.linalg.svd(x_basis.T @ y_basis, compute_uv=False)
    # Round-off leaves exact linear dependence a hair below 1.
    canonical_correlations[canonical_correlations > 1.0 - _UNIT_CORRELATION_TOLERANCE] = 1.0
    with np.errstate(divide="ignore"):
        value = float(-0.5 * np.sum(np.log1p(-np.square(canonical_correlations))))
    if bias_correction:
        num_samples, x_rank, y_rank = x.shape[0], x_basis.shape[1], y_basis.shape[1]
        if num_samples <= x_rank + y_rank + 1:
            raise ValueError(
                f"The bias correction needs more samples than dimensions: N={num_samples} "
                f"but x and y span {x_rank} + {y_rank} dimensions."
            )
        value -= 0.5 * (
            _log_det_bias(x_rank, num_samples) + _log_det_bias(y_rank, num_samples)
            - _log_det_bias(x_rank + y_rank, num_samples)
        )
    return value


def gaussian_copula_mi(x, y, *, bias_correction=True):
    """Gaussian-copula MI in nats: `gaussian_mi` on the normal scores.

    Each column of `x` and `y` is replaced by its normal scores
    (`copula_transform`), then the Gaussian estimate is taken. It is:

    - exact (up to sampling error) when some monotone map of each column
      makes the pair jointly normal (cubes, `asinh`, any Gaussian copula
      with arbitrary marginals, Cauchy ones included);
    - for scalar `x` and `y`, a lower bound on the MI of any continuous
      pair: with normal marginals fixed, the joint law of given covariance
      with the largest entropy, hence the smallest MI, is the Gaussian
      (Ince et al. 2017). For vectors it is the MI of the Gaussian copula
      with the same normal-score correlations, usually but not always
      below the truth;
    - blind to dependence that the normal scores do not correlate
      (`y = x^2`), and low for heavy-tailed copulas (a Student-t pair has
      extra MI that no correlation shows).

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`.
        bias_correction: see `gaussian_mi`; on by default here.

    Returns:
        The estimate in nats, a float.

    Example:
        >>> x, y = correlated_gaussian(5000, dim=1, rho=0.8, seed=0)
        >>> gaussian_copula_mi(x, np.tan(0.4 * y))  # a monotone map of y; 0.511 nats
        0.51...
    """
    x, y = as_sample_pair(x, y, min_samples=3)
    return gaussian_mi(copula_transform(x), copula_transform(y), bias_correction=bias_correction)


def _log_det_bias(dim, num_samples):
    """`E[log det S] - log det Sigma` for a `dim`-D Gaussian sample covariance."""
    if dim == 0:
        return 0.0
    terms = np.arange(1, dim + 1)
    expected = np.sum(digamma((num_samples - terms) / 2.0))
    return float(expected - dim * np.log((num_samples - 1) / 2.0))


def _orthonormal_basis(centred):
    left, singular_values, _ = np.linalg.svd(centred, full_matrices=False)
    if singular_values.size == 0 or singular_values[0] == 0.0:
        return left[:, :0]
    tolerance = singular_values[0] * max(centred.shape) * np.finfo(centred.dtype).eps
    return left[:, singular_values > tolerance]
