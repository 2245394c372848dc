"""Histogram (plug-in) MI and entropy estimates, with a quantiser for vectors.

Each variable is mapped to integer cells, the joint cell counts give the
empirical `p(a, b)`, and the plug-in `sum p(a, b) log [p(a, b) / (p(a) p(b))]`
is the estimate. Everything is a sort or a `bincount`, so time grows like
`N log N` and memory like `N + cells`.
"""

import numbers

import numpy as np
from scipy.cluster.vq import kmeans2
from scipy.spatial import cKDTree

from invariant_reps.estimators._samples import as_sample_matrix
from invariant_reps.estimators._samples import as_sample_pair

BIN_STRATEGIES = ("uniform", "quantile")
QUANTIZERS = (None, "kmeans")
# k-means is fitted on at most this many rows, then assigns all of them.
_KMEANS_FIT_ROWS = 20000
_ASSIGN_CHUNK = 65536


def binned_mi(x, y, bins=16, *, strategy="uniform", quantizer=None, bias_correction=False,
              seed=0):
    """Plug-in histogram estimate of `I(X; Y)` in nats.

    `I = sum_ab p(a, b) log [p(a, b) / (p(a) p(b))]` over the occupied cells.
    How each variable becomes cells:

    - `"discrete"`: every distinct row is a category (any number of columns);
    - an int `B` for a 1-D variable: `B` bins, of equal width over the
      sample range (`strategy="uniform"`) or holding equal counts
      (`strategy="quantile"`, robust to heavy tails);
    - an int `B` for a multi-column continuous variable: `B` cells of a
      k-means vector quantiser (`quantizer="kmeans"`, seeded). Without a
      quantiser this raises a ValueError that names the alternatives:
      `ksg_mi` up to about 3 + 3 dimensions, or `estimate_mi(method="auto")`;
    - a 1-D array of increasing edges for a 1-D variable (values outside go
      to the first or last bin).

    Quantising loses information (the estimate tends to a lower bound as the
    cells shrink), while the plug-in is biased upwards by about
    `(B_xy - B_x - B_y + 1) / 2N` nats over the occupied cells;
    `bias_correction=True` subtracts that (Miller-Madow) term.

    Args:
        x: `[N]` or `[N, d_x]` samples.
        y: `[N]` or `[N, d_y]` samples paired with `x`.
        bins: for both variables, or a tuple `(x_bins, y_bins)`.
        strategy: `"uniform"` or `"quantile"`, for int bins of 1-D variables.
        quantizer: None or `"kmeans"`, for int bins of multi-column variables.
        bias_correction: subtract the Miller-Madow term.
        seed: seed of the k-means quantiser.

    Returns:
        The estimate in nats, a float.

    Example:
        >>> labels = np.random.randint(0, 4, size=10000)
        >>> binned_mi(labels, labels, bins="discrete")  # H(uniform 4) = log 4
        1.38...
    """
    if strategy not in BIN_STRATEGIES:
        raise ValueError(f"Unknown strategy {strategy!r}; expected one of {BIN_STRATEGIES}.")
    if quantizer not in QUANTIZERS:
        raise ValueError(f"Unknown quantizer {quantizer!r}; expected one of {QUANTIZERS}.")
    x, y = as_sample_pair(x, y)
    x_bins, y_bins = bins if isinstance(bins, tuple) and len(bins) == 2 else (bins, bins)
    options = dict(strategy=strategy, quantizer=quantizer, seed=seed)
    x_codes, num_x_cells = discretize(x, x_bins, "x", **options)
    y_codes, num_y_cells = discretize(y, y_bins, "y", **options)
    joint_counts = np.bincount(x_codes * num_y_cells + y_codes, minlength=num_x_cells * num_y_cells)
    joint = joint_counts.reshape(num_x_cells, num_y_cells) / x.shape[0]
    x_marginal = joint.sum(axis=1, keepdims=True)
    y_marginal = joint.sum(axis=0, keepdims=True)
    occupied = joint > 0
    ratio = joint[occupied] / (x_marginal @ y_marginal)[occupied]
    value = float(np.sum(joint[occupied] * np.log(ratio)))
    if bias_correction:
        cells = occupied.sum() - (x_marginal > 0).sum() - (y_marginal > 0).sum() + 1
        value -= cells / (2.0 * x.shape[0])
    return value


def discrete_entropy(labels):
    """Plug-in entropy in nats of a discrete variable (each distinct row a value).

    The ceiling of `I(X; Y)` when `Y` is discrete: `I <= H(Y)`.

    Args:
        labels: `[N]` or `[N, m]` discrete values.

    Returns:
        `-sum_c p_c log p_c`, a float.

    Example:
        >>> discrete_entropy([0, 0, 1, 1, 2, 2, 2, 2])  # 1.5 log 2
        1.0397...
    """
    labels = as_sample_matrix(labels, "labels")
    _, counts = np.unique(labels, axis=0, return_counts=True)
    probabilities = counts / labels.shape[0]
    return float(-np.sum(probabilities * np.log(probabilities)))


def discretize(values, bins, name, *, strategy="uniform", quantizer=None, seed=0):
    """Maps each row of `values` to an integer cell id in `[0, num_cells)`.

    Args:
        values: `[N, d]` array.
        bins: see `binned_mi`.
        name: the variable's name, for error messages.
        strategy: see `binned_mi`.
        quantizer: see `binned_mi`.
        seed: see `binned_mi`.

    Returns:
        A tuple `(codes, num_cells)`.
    """
    if isinstance(bins, str):
        if bins != "discrete":
            raise ValueError(
                f"`bins` for {name} must be an int, a list of edges or 'discrete', got {bins!r}."
            )
        _, codes = np.unique(values, axis=0, return_inverse=True)
        codes = codes.reshape(-1)
        return codes, int(codes.max()) + 1
    is_count = isinstance(bins, numbers.Integral) and not isinstance(bins, bool)
    if is_count and bins <= 0:
        raise ValueError(f"The number of bins for {name} must be positive, got {bins}.")
    if values.shape[1] != 1:
        if is_count and quantizer == "kmeans":
            return _kmeans_codes(values, int(bins), seed), int(bins)
        raise ValueError(
            f"`binned_mi` bins continuous variables in 1-D only, but {name} has "
            f"{values.shape[1]} columns. Pass quantizer='kmeans' (with an int `bins`) "
            "to quantise it, bins='discrete' for discrete data, or use ksg_mi (up to "
            "about 3 + 3 dimensions) or estimate_mi(method='auto') instead."
        )
    column = values[:, 0]
    if is_count:
        edges = _edges(column, int(bins), strategy)
        if edges is None:
            return np.zeros(column.shape[0], dtype=np.int64), 1
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


def _edges(column, bins, strategy):
    low, high = column.min(), column.max()
    if low == high:
        return None
    if strategy == "uniform":
        return np.linspace(low, high, bins + 1)
    # Equal counts; repeated quantiles (ties) merge into one bin.
    edges = np.unique(np.quantile(column, np.linspace(0.0, 1.0, bins + 1)))
    return edges if edges.size >= 2 else None


def _kmeans_codes(values, num_cells, seed):
    """Cells of a k-means quantiser fitted on at most `_KMEANS_FIT_ROWS` rows."""
    if num_cells > values.shape[0]:
        raise ValueError(
            f"Cannot quantise {values.shape[0]} samples into {num_cells} k-means cells."
        )
    rng = np.random.default_rng(seed)
    scale = values.std(axis=0)
    scaled = values / np.where(scale > 0, scale, 1.0)
    fit_rows = scaled
    if values.shape[0] > _KMEANS_FIT_ROWS:
        fit_rows = scaled[rng.choice(values.shape[0], _KMEANS_FIT_ROWS, replace=False)]
    centroids, _ = kmeans2(fit_rows, num_cells, minit="++", seed=rng)
    tree = cKDTree(centroids)
    codes = np.empty(values.shape[0], dtype=np.int64)
    for start in range(0, values.shape[0], _ASSIGN_CHUNK):
        _, codes[start:start + _ASSIGN_CHUNK] = tree.query(scaled[start:start + _ASSIGN_CHUNK])
    return codes
