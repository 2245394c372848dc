"""Choosing KSG's number of neighbours `k` from the data."""

import dataclasses

import numpy as np

from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.knn import _check_k
from invariant_reps.estimators.knn import ksg_mi

DEFAULT_CANDIDATES = (2, 3, 5, 8, 12, 20)


@dataclasses.dataclass(frozen=True)
class KSelection:
    """The `k` chosen by `select_ksg_k`, with the numbers behind it.

    Attributes:
        k: the chosen number of neighbours.
        estimates: `{k: KSG estimate on all samples}`, nats.
        errors: `{k: estimated root-mean-square error}`, nats.
    """

    k: int
    estimates: dict
    errors: dict


def select_ksg_k(x, y, candidates=DEFAULT_CANDIDATES, *, splits=3, seed=0, variant=1):
    """Picks the `k` of KSG with the smallest estimated mean-square error.

    Small `k` gives low bias and high variance; large `k` averages more
    neighbours but stretches each neighbourhood, which biases the estimate
    towards 0 when the dependence is strong or the dimension high. For each
    candidate, the estimate on all `N` samples is compared with estimates
    on `splits` random halves:

    - bias: if the bias falls like `1/N`, halving the sample doubles it, so
      `full - mean(halves)` estimates the bias at `N`;
    - variance: the two halves of a split differ by `sqrt(2)` standard
      deviations at `N / 2`, so `(h1 - h2)^2 / 4` estimates the variance
      at `N`.

    Args:
        x: `[N, d_x]` samples.
        y: `[N, d_y]` samples paired with `x`.
        candidates: positive ints to try; each needs `N >= 2 (k + 1)`.
        splits: random halvings averaged, a positive int.
        seed: seed of the halvings.
        variant: KSG estimator 1 or 2.

    Returns:
        A `KSelection`.

    Example:
        >>> x, y = correlated_gaussian(4000, dim=1, rho=0.9, seed=0)
        >>> select_ksg_k(x, y).k  # the candidate with the smallest estimated error
        12
    """
    x, y = as_sample_pair(x, y, min_samples=4)
    candidates = tuple(candidates)
    if not candidates:
        raise ValueError("`candidates` must hold at least one k.")
    for k in candidates:
        _check_k(k)
        if 2 * (k + 1) > x.shape[0]:
            raise ValueError(
                f"k={k} needs at least {2 * (k + 1)} samples to estimate on halves; "
                f"got {x.shape[0]}."
            )
    if not isinstance(splits, int) or splits <= 0:
        raise ValueError(f"`splits` must be a positive int, got splits={splits!r}.")
    rng = np.random.default_rng(seed)
    halvings = [np.array_split(rng.permutation(x.shape[0]), 2) for _ in range(splits)]
    estimates, errors = {}, {}
    for k in candidates:
        full = ksg_mi(x, y, k=k, variant=variant)
        halves = np.array(
            [[ksg_mi(x[part], y[part], k=k, variant=variant) for part in halving]
             for halving in halvings]
        )
        bias = full - halves.mean()
        variance = np.mean((halves[:, 0] - halves[:, 1]) ** 2) / 4.0
        estimates[k] = float(full)
        errors[k] = float(np.sqrt(bias * bias + variance))
    best = min(candidates, key=lambda k: errors[k])
    return KSelection(k=int(best), estimates=estimates, errors=errors)
