"""LNC: KSG with a local non-uniformity correction for strongly dependent variables.

Gao, Ver Steeg & Galstyan, "Efficient Estimation of Mutual Information for
Strongly Dependent Variables", AISTATS 2015 (Algorithm 1). KSG assumes the
density is uniform inside each sample's max-norm neighbourhood. When `x`
and `y` are strongly dependent the `k` neighbours lie along a thin,
oblique ridge, the axis-aligned box overstates the volume they occupy, and
KSG comes out low (it saturates near `log N` whatever the true MI). LNC
compares, for each sample `i`, the volume `V(i)` of the axis-aligned box
around `i` that holds its `k` neighbours with the volume `Vbar(i)` of the
box aligned with the neighbours' principal axes, and adds

    < log(V(i) / Vbar(i)) >  over the samples with  Vbar(i) / V(i) < alpha

to KSG estimator 2. The threshold `alpha` keeps the correction off where the
neighbourhood is merely a random draw from a uniform density.
"""

import functools
import math

import numpy as np

from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.knn import DEFAULT_CHUNK_SIZE
from invariant_reps.estimators.knn import _check_k
from invariant_reps.estimators.knn import ksg_mi
from invariant_reps.estimators.knn import neighbour_indices

SEED_K = 5
SEED_ALPHA = 0.2


def lnc_mi(x, y, k=SEED_K, alpha=None, *, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """LNC estimate of `I(X; Y)` in nats (KSG estimator 2 + local correction).

    For each sample, its `k` nearest neighbours in the joint max-norm are
    centred on the sample; `log V(i)` is the sum over the `d = d_x + d_y`
    coordinates of the log of the largest absolute offset, and
    `log Vbar(i)` the same sum along the eigenvectors of the offsets'
    second-moment matrix. Both boxes are centred on the sample and measured
    by their half-widths, so `Vbar / V` is 1 for an axis-aligned
    neighbourhood. The original code of the seed compared the full width of
    the principal box with the half-widths of the axis box, which switches
    the correction on less often and makes it `d log 2` smaller per sample.

    Use it for scalar pairs with strong dependence (a classifier's logit
    against a nuisance parameter, say). Time and memory grow like KSG's
    (chunked tree queries, `N log N`), plus one small eigendecomposition per
    sample.

    Args:
        x: `[N, d_x]` samples (`[N]` is read as `[N, 1]`).
        y: `[N, d_y]` samples paired with `x`.
        k: neighbours; must exceed `d_x + d_y` so that the local PCA is
            defined. The seed uses 5.
        alpha: threshold on `Vbar / V` in `(0, 1)`. None uses
            `lnc_alpha(k, d_x + d_y)`, which gives 0.22 at the seed's
            `k = 5` in 2-D (the seed uses `SEED_ALPHA` = 0.2).
        chunk_size: query points per neighbour query; bounds the memory.
        workers: threads for the tree queries.

    Returns:
        The estimate in nats, a float.

    Example:
        >>> x, y = correlated_gaussian(5000, dim=1, rho=rho_for_mi(8.0, 1), seed=0)
        >>> ksg_mi(x, y), lnc_mi(x, y, k=5)  # true value 8 nats
        (6.98..., 7.43...)
    """
    _check_k(k)
    x, y = as_sample_pair(x, y, min_samples=k + 1)
    dim = x.shape[1] + y.shape[1]
    if k <= dim:
        raise ValueError(
            f"`lnc_mi` needs more neighbours than dimensions for the local PCA: "
            f"k={k} but d_x + d_y = {dim}. Pass k >= {dim + 1}."
        )
    if alpha is None:
        alpha = lnc_alpha(k, dim)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must be in (0, 1), got alpha={alpha!r}.")
    base = ksg_mi(x, y, k=k, variant=2, chunk_size=chunk_size, workers=workers)
    return base + lnc_correction(x, y, k, alpha, chunk_size=chunk_size, workers=workers)


def lnc_correction(x, y, k, alpha, *, chunk_size=DEFAULT_CHUNK_SIZE, workers=1):
    """The term LNC adds to KSG: `< log(V / Vbar) ; Vbar / V < alpha >` in nats.

    Args:
        x: `[N, d_x]` array.
        y: `[N, d_y]` array.
        k: neighbours.
        alpha: the non-uniformity threshold.
        chunk_size: query points per neighbour query.
        workers: threads for the tree queries.

    Returns:
        The correction, a float >= 0.
    """
    joint = np.concatenate([x, y], axis=1)
    total = 0.0
    for start, indices in neighbour_indices(joint, k, chunk_size, workers):
        centres = joint[start:start + indices.shape[0]]
        offsets = joint[indices] - centres[:, None, :]
        log_ratio = _log_volume_ratio(offsets, k)
        applies = log_ratio < math.log(alpha)
        total += float(-log_ratio[applies].sum())
    return total / joint.shape[0]


@functools.lru_cache(maxsize=64)
def lnc_alpha(k, dim, quantile=1e-3, draws=20000):
    """The LNC threshold for `k` neighbours in `dim` dimensions.

    The `quantile` of `Vbar / V` over neighbourhoods drawn from a uniform
    density: `k - 1` points uniform in the unit max-norm ball and the `k`-th
    on its boundary. Below it, a neighbourhood is unlikely to be uniform,
    and the correction applies (Gao et al. choose `alpha` the same way).
    Seeded, so the same arguments always give the same value.

    Args:
        k: neighbours, greater than `dim`.
        dim: dimension of the joint space.
        quantile: share of uniform neighbourhoods that would be corrected.
        draws: Monte Carlo draws.

    Returns:
        `alpha`, a float in `(0, 1)`.

    Example:
        >>> lnc_alpha(5, 2)  # the seed uses 0.2
        0.21...
    """
    _check_k(k)
    if k <= dim:
        raise ValueError(f"Need k > dim for the local PCA, got k={k}, dim={dim}.")
    rng = np.random.default_rng(12345)
    points = rng.uniform(-1.0, 1.0, size=(draws, k, dim))
    boundary_axis = rng.integers(0, dim, size=draws)
    points[np.arange(draws), -1, boundary_axis] = rng.choice([-1.0, 1.0], size=draws)
    offsets = np.concatenate([np.zeros((draws, 1, dim)), points], axis=1)
    return float(np.exp(np.quantile(_log_volume_ratio(offsets, k), quantile)))


def _log_volume_ratio(offsets, k):
    """`log(Vbar / V)` for a batch of centred neighbourhoods `[M, k + 1, d]`."""
    second_moment = np.einsum("mki,mkj->mij", offsets, offsets) / k
    _, axes = np.linalg.eigh(second_moment)
    projected = np.einsum("mki,mij->mkj", offsets, axes)
    with np.errstate(divide="ignore", invalid="ignore"):
        log_axis_box = np.log(np.abs(offsets).max(axis=1)).sum(axis=1)
        log_principal_box = np.log(np.abs(projected).max(axis=1)).sum(axis=1)
        log_ratio = log_principal_box - log_axis_box
    # Tied samples give zero widths; leave those neighbourhoods uncorrected.
    return np.where(np.isfinite(log_ratio), log_ratio, 0.0)
