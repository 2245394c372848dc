"""Non-neural MI estimators: KSG k-nearest neighbours, histograms, Gaussian (CCA).

They need no training and serve as references: KSG is accurate in low
dimension, the histogram estimator for 1-D or discrete variables, the
Gaussian estimator exact for jointly normal data. All return nats.
"""

import numbers

import numpy as np
from scipy.special import digamma
from sklearn.neighbors import KDTree

from invariant_reps.estimators._samples import as_sample_pair

_UNIT_CORRELATION_TOLERANCE = 1e-10


def ksg_mi(x, y, k=3):
    """Kraskov-Stoegbauer-Grassberger estimator 1 of `I(X; Y)` in nats.

    With `eps_i` the max-norm distance from sample `i` to its `k`-th nearest
    neighbour in the joint space `(x, y)`, and `n_x(i)` (`n_y(i)`) the number
    of other samples strictly closer than `eps_i` to it in `x` (`y`) alone
    (Kraskov et al., Phys. Rev. E 69, 066138 (2004), eq. 8):

        I = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >.

    Accurate in low dimension; biased towards zero in high dimension or at
    high MI. Meant for continuous variables: ties (repeated values) break
    the neighbour counts, so add a tiny jitter to discrete data or use
    `binned_mi`. The estimate can be slightly negative for independent
    variables; it is returned as is.

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`.
        k: number of neighbours, a positive int smaller than `N`; 3 to 10
            trades variance (small k) against bias (large k).

    Returns:
        The estimate in nats, a float.

    Example:
        >>> x, y = correlated_gaussian(5000, dim=1, rho=0.8, seed=0)
        >>> ksg_mi(x, y, k=3)  # true value -0.5 log(1 - 0.64) = 0.511
        0.51...
    """
    if not isinstance(k, numbers.Integral) or k <= 0:
        raise ValueError(f"`k` must be a positive int, got k={k!r}.")
    x, y = as_sample_pair(x, y, min_samples=k + 1)
    num_samples = x.shape[0]
    joint = np.concatenate([x, y], axis=1)
    # k + 1 neighbours: the nearest is the sample itself, at distance 0.
    distances, _ = KDTree(joint, metric="chebyshev").query(joint, k=k + 1)
    # "Strictly closer than eps_i": KDTree counts distances <= r, so shrink r
    # by one ulp; then drop the sample itself from the count.
    radius = np.nextafter(distances[:, -1], 0.0)
    x_counts = KDTree(x, metric="chebyshev").query_radius(x, radius, count_only=True) - 1
    y_counts = KDTree(y, metric="chebyshev").query_radius(y, radius, count_only=True) - 1
    return float(
        digamma(k)
        + digamma(num_samples)
        - np.mean(digamma(x_counts + 1) + digamma(y_counts + 1))
    )


def binned_mi(x, y, bins=16):
    """Plug-in histogram estimate of `I(X; Y)` in nats.

    `I = sum_ab p(a, b) log [p(a, b) / (p(a) p(b))]` over the cells of a
    2-D histogram. Continuous variables must be 1-D; discrete variables
    (`bins="discrete"`) may have several columns, each distinct row being a
    category. The plug-in estimate is biased upwards by about
    `(B_x - 1)(B_y - 1) / 2N` nats (Miller-Madow), so keep `N` large
    compared with the number of cells.

    Args:
        x: `[N]` or `[N, d_x]` samples.
        y: `[N]` or `[N, d_y]` samples paired with `x`.
        bins: how to discretize, for both variables or as a tuple
            `(x_bins, y_bins)`. Each is an int (that many equal-width bins
            over the sample range), a list or array of increasing bin edges
            (values outside fall in the first or last bin), or `"discrete"`
            (every distinct value is its own category).

    Returns:
        The estimate in nats, a float.

    Example:
        >>> labels = np.random.randint(0, 4, size=10000)
        >>> binned_mi(labels, labels, bins="discrete")  # H(uniform 4) = log 4
        1.38...
    """
    x, y = as_sample_pair(x, y)
    x_bins, y_bins = bins if isinstance(bins, tuple) and len(bins) == 2 else (bins, bins)
    x_codes, num_x_cells = _discretize(x, x_bins, "x")
    y_codes, num_y_cells = _discretize(y, y_bins, "y")
    joint_counts = np.bincount(x_codes * num_y_cells + y_codes, minlength=num_x_cells * num_y_cells)
    joint = joint_counts.reshape(num_x_cells, num_y_cells) / x.shape[0]
    x_marginal = joint.sum(axis=1, keepdims=True)
    y_marginal = joint.sum(axis=0, keepdims=True)
    occupied = joint > 0
    ratio = joint[occupied] / (x_marginal @ y_marginal)[occupied]
    return float(np.sum(joint[occupied] * np.log(ratio)))


def gaussian_mi(x, y):
    """MI in nats of a Gaussian with the samples' covariance (CCA estimate).

    `I = -1/2 sum_i log(1 - rho_i^2)` over the canonical correlations
    `rho_i` of `x` and `y`, the singular values of `U_x^T U_y` where `U_x`,
    `U_y` are orthonormal bases of the centred samples' column spaces. Exact
    (up to sampling error) for jointly normal data; for other data it is the
    MI of the Gaussian with the same covariance, which ignores non-linear
    dependence. Linearly dependent `x` and `y` (a canonical correlation
    within 1e-10 of 1) give `inf`. Directions without variance are dropped.

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`; `N` should well exceed
            `d_x + d_y`.

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
        return float(-0.5 * np.sum(np.log1p(-np.square(canonical_correlations))))


def _orthonormal_basis(centred):
    left, singular_values, _ = np.linalg.svd(centred, full_matrices=False)
    if singular_values.size == 0 or singular_values[0] == 0.0:
        return left[:, :0]
    tolerance = singular_values[0] * max(centred.shape) * np.finfo(centred.dtype).eps
    return left[:, singular_values > tolerance]


def _discretize(values, bins, name):
    """Maps each row of `values` to an integer cell id in `[0, num_cells)`."""
    if isinstance(bins, str):
        if bins != "discrete":
            raise ValueError(
                f"`bins` for {name} must be an int, a list of edges or 'discrete', got {bins!r}."
            )
        _, codes = np.unique(values, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        return codes, int(codes.max()) + 1
    if values.shape[1] != 1:
        raise ValueError(
            f"`binned_mi` bins continuous variables in 1-D only, but {name} has "
            f"{values.shape[1]} columns; pass bins='discrete' for discrete data."
        )
    column = values[:, 0]
    if isinstance(bins, numbers.Integral) and not isinstance(bins, bool):
        if bins <= 0:
            raise ValueError(f"The number of bins for {name} must be positive, got {bins}.")
        low, high = column.min(), column.max()
        if low == high:
            return np.zeros(column.shape[0], dtype=np.int64), 1
        edges = np.linspace(low, high, bins + 1)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError(
                f"Bin edges for {name} must be a 1-D increasing sequence of at least "
                f"2 values, got {bins!r}."
            )
    num_cells = edges.size - 1
    codes = np.clip(np.searchsorted(edges, column, side="right") - 1, 0, num_cells - 1)
    return codes, num_cells
