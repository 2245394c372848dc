"""k-nearest-neighbour MI estimators: KSG and its discrete-continuous variant.

All neighbour searches use the max-norm. The `k` nearest neighbours come
from `scipy.spatial.cKDTree` queries in chunks of `chunk_size` points, and
the marginal counts of 1-D and 2-D variables from sorted arrays
(`range_count`), so time grows like `N log N` for scalar pairs (10^6 pairs
in about 10 s on one core) and memory stays `O(N + chunk_size * k)`.
"""

import numbers

import numpy as np
from scipy.spatial import cKDTree
from scipy.special import digamma

from invariant_reps.estimators import range_count
from invariant_reps.estimators._samples import as_sample_matrix
from invariant_reps.estimators._samples import as_sample_pair

DEFAULT_CHUNK_SIZE = 32768


def ksg_mi(x, y, k=3, *, variant=1, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """Kraskov-Stoegbauer-Grassberger estimate of `I(X; Y)` in nats.

    With `eps_i` the max-norm distance from sample `i` to its `k`-th nearest
    neighbour in the joint space `(x, y)` (Kraskov et al., Phys. Rev. E 69,
    066138 (2004)):

    - estimator 1 (`variant=1`, eq. 8): `n_x(i)` (`n_y(i)`) counts the other
      samples strictly closer than `eps_i` in `x` (`y`) alone, and
      `I = psi(k) + psi(N) - < psi(n_x + 1) + psi(n_y + 1) >`;
    - estimator 2 (`variant=2`, eq. 9): `eps_x(i)`, `eps_y(i)` are the
      extents of the `k` neighbours in each variable, `n_x(i)` counts the
      other samples within `eps_x(i)` in `x`, and
      `I = psi(k) - 1/k + psi(N) - < psi(n_x) + psi(n_y) >`.

    Accurate in low dimension; biased towards zero in high dimension (beyond
    about 3 + 3) and at high MI in several dimensions (strong dependence
    squeezes the joint neighbourhoods; `lnc_mi` corrects part of that).
    Meant for continuous variables: repeated values make `eps_i` zero and
    break the counts, so use `mixed_ksg_mi` or `binned_mi` for discrete
    data. Heavy tails hurt the max-norm neighbourhoods; `copula_transform`
    both variables first. Independent variables give values scattered
    around 0, some negative.

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`.
        k: neighbours, a positive int below `N`; 3 to 10 trades variance
            (small k) against bias (large k). See `select_ksg_k`.
        variant: 1 or 2, the KSG estimator.
        chunk_size: query points per tree query; bounds the memory.
        workers: threads for the tree queries (`-1`: all cores).

    Returns:
        The estimate in nats, a float.

    Example:
        >>> x, y = correlated_gaussian(5000, dim=1, rho=0.8, seed=0)
        >>> ksg_mi(x, y, k=3)  # true value -0.5 log(1 - 0.64) = 0.511
        0.51...
    """
    _check_k(k)
    if variant not in (1, 2):
        raise ValueError(f"`variant` must be 1 or 2 (KSG estimator 1 or 2), got {variant!r}.")
    x, y = as_sample_pair(x, y, min_samples=k + 1)
    num_samples = x.shape[0]
    if variant == 1:
        radius = joint_neighbour_radius(x, y, k, chunk_size, workers)
        # "Strictly closer than eps_i": counts are of distances <= r, so
        # shrink r by one ulp, then drop the sample itself.
        radius = np.nextafter(radius, 0.0)
        x_counts = count_within(x, radius, chunk_size, workers) - 1
        y_counts = count_within(y, radius, chunk_size, workers) - 1
        return float(
            digamma(k) + digamma(num_samples)
            - np.mean(digamma(x_counts + 1) + digamma(y_counts + 1))
        )
    x_extent, y_extent = _marginal_extents(x, y, k, chunk_size, workers)
    x_counts = np.maximum(count_within(x, x_extent, chunk_size, workers) - 1, 1)
    y_counts = np.maximum(count_within(y, y_extent, chunk_size, workers) - 1, 1)
    return float(
        digamma(k) - 1.0 / k + digamma(num_samples)
        - np.mean(digamma(x_counts) + digamma(y_counts))
    )


def mixed_ksg_mi(values, labels, k=3, *, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """`I(X; C)` between a continuous `X` and a discrete `C`, in nats.

    Ross's nearest-neighbour estimator (PLoS ONE 9, e87357 (2014), eq. 2):
    for sample `i` of class `c`, `d_i` is the max-norm distance to its
    `k`-th nearest neighbour among the `N_c` samples of its own class, and
    `m_i` counts the samples of any class within `d_i`:

        I = psi(N) - < psi(N_c) > + psi(k) - < psi(m_i) >.

    Classes with fewer than `k + 1` samples use `k = N_c - 1`; samples of
    singleton classes are left out. The estimate stays below `H(C)` up to
    the sampling error. Ties in `values` (within a class) break the
    neighbour distances like in `ksg_mi`.

    Args:
        values: `[N, d]` continuous samples (`[N]` is read as `[N, 1]`).
        labels: `[N]` or `[N, m]` discrete labels (each distinct row is a
            class), paired with `values`.
        k: neighbours within a class, a positive int.
        chunk_size: query points per tree query.
        workers: threads for the tree queries.

    Returns:
        The estimate in nats, a float.

    Example:
        >>> labels = np.repeat([0, 1], 2000)
        >>> mixed_ksg_mi(labels + 0.1 * rng.normal(size=4000), labels)  # H(C) = log 2
        0.69...
    """
    _check_k(k)
    values, labels = as_sample_pair(values, labels, min_samples=2)
    _, classes = np.unique(labels, axis=0, return_inverse=True)
    classes = classes.reshape(-1)
    radius = np.zeros(values.shape[0])
    neighbours = np.zeros(values.shape[0], dtype=np.int64)
    class_sizes = np.bincount(classes)[classes]
    for label in np.unique(classes):
        members = np.flatnonzero(classes == label)
        if members.size < 2:
            continue
        class_k = min(k, members.size - 1)
        tree = cKDTree(values[members])
        radius[members] = _kth_distance(tree, values[members], class_k, chunk_size, workers)
        neighbours[members] = class_k
    kept = class_sizes > 1
    if not kept.any():
        raise ValueError("`mixed_ksg_mi` needs a class with at least 2 samples; every class has 1.")
    counts = count_within(values, radius, chunk_size, workers) - 1
    kept_counts = np.maximum(counts[kept], neighbours[kept])
    return float(
        digamma(kept.sum()) - np.mean(digamma(class_sizes[kept]))
        + np.mean(digamma(neighbours[kept])) - np.mean(digamma(kept_counts))
    )


def joint_neighbour_radius(x, y, k, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """Max-norm distance from each sample to its `k`-th neighbour in `(x, y)`.

    Args:
        x: `[N, d_x]` array.
        y: `[N, d_y]` array.
        k: neighbours, not counting the sample itself.
        chunk_size: query points per tree query.
        workers: threads for the tree queries.

    Returns:
        A `[N]` float array.
    """
    joint = np.concatenate([x, y], axis=1)
    return _kth_distance(cKDTree(joint), joint, k, chunk_size, workers)


def count_within(values, radius, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """Counts, for each sample, the samples within `radius[i]` of it (itself too).

    The distance is the max-norm and the comparison `<= radius[i]` is done on
    the same floating-point differences `|v_j - v_i|` that the tree uses, so
    the count is exact at the boundary. One- and two-column samples are
    counted from sorted arrays (`range_count`, `N log N` and `N log^2 N`);
    wider ones by chunked tree queries, whose cost grows with the counts.

    Args:
        values: `[N, d]` array.
        radius: `[N]` non-negative radii.
        chunk_size: query points per tree query.
        workers: threads for the tree queries.

    Returns:
        A `[N]` int array of counts, each at least 1.
    """
    values = as_sample_matrix(values, "values")
    radius = np.asarray(radius, dtype=np.float64)
    if values.shape[1] == 1:
        return range_count.count_within_1d(values[:, 0], radius)
    if values.shape[1] == 2:
        return range_count.count_within_2d(values, radius)
    tree = cKDTree(values)
    counts = np.empty(values.shape[0], dtype=np.int64)
    for start in range(0, values.shape[0], chunk_size):
        stop = start + chunk_size
        counts[start:stop] = tree.query_ball_point(
            values[start:stop], radius[start:stop], p=np.inf, return_length=True,
            workers=workers,
        )
    return counts


def neighbour_indices(points, k, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """Yields `(start, indices)`: each chunk's `k + 1` max-norm nearest neighbours.

    Row `i` of `indices` lists the sample itself (usually first) and its `k`
    nearest neighbours, for the query points `points[start:start + len]`.

    Args:
        points: `[N, d]` array.
        k: neighbours, not counting the sample itself.
        chunk_size: query points per tree query.
        workers: threads for the tree queries.
    """
    tree = cKDTree(points)
    for start in range(0, points.shape[0], chunk_size):
        _, indices = tree.query(
            points[start:start + chunk_size], k=k + 1, p=np.inf, workers=workers
        )
        yield start, indices.reshape(-1, k + 1)


def _marginal_extents(x, y, k, chunk_size, workers):
    """KSG estimator 2's `eps_x(i)`, `eps_y(i)`: the extents of the k neighbours."""
    joint = np.concatenate([x, y], axis=1)
    x_extent = np.empty(x.shape[0])
    y_extent = np.empty(y.shape[0])
    for start, indices in neighbour_indices(joint, k, chunk_size, workers):
        stop = start + indices.shape[0]
        x_extent[start:stop] = _extent(x, indices, start)
        y_extent[start:stop] = _extent(y, indices, start)
    return x_extent, y_extent


def _extent(values, indices, start):
    centres = values[start:start + indices.shape[0]]
    return np.abs(values[indices] - centres[:, None, :]).max(axis=(1, 2))


def _kth_distance(tree, points, k, chunk_size, workers):
    distances = np.empty(points.shape[0])
    for start in range(0, points.shape[0], chunk_size):
        found, _ = tree.query(
            points[start:start + chunk_size], k=[k + 1], p=np.inf, workers=workers
        )
        distances[start:start + chunk_size] = found[:, 0]
    return distances


def _check_k(k):
    if not isinstance(k, numbers.Integral) or isinstance(k, bool) or k <= 0:
        raise ValueError(f"`k` must be a positive int, got k={k!r}.")
