"""Confidence intervals and a permutation baseline for any MI estimator.

- `fold_interval`: split the samples into `K` disjoint folds, estimate on
  each, and scale the spread of the fold estimates to the full sample:
  an estimator whose variance falls like `1/N` has, on `N` samples, the
  standard error `s / sqrt(K)` of the folds' standard deviation `s`. The
  interval is `estimate +- t_{K-1} s / sqrt(K)`. Unlike a bootstrap, the
  folds hold no repeated samples, which would break nearest-neighbour
  estimators. It measures the sampling variance only, not a bias.
- `batch_interval`: the same from per-batch values of a bound that are
  averaged into the estimate (held-out batches of a neural estimator).
- `permutation_baseline`: the estimate on shuffled pairs, `(x_i, y_pi(i))`,
  which have no information by construction: an estimate within its
  interval of this value cannot be told apart from independence.
"""

import math

import numpy as np
from scipy.stats import t as student_t

DEFAULT_CONFIDENCE = 0.95


def fold_interval(estimator, x, y, estimate, *, folds=10, min_fold_size=50,
                  confidence=DEFAULT_CONFIDENCE, seed=0):
    """A confidence interval for `estimate = estimator(x, y)` from disjoint folds.

    Args:
        estimator: `estimator(x, y) -> float`, nats.
        x: `[N, d_x]` array.
        y: `[N, d_y]` array.
        estimate: the estimator's value on all `N` samples.
        folds: the most folds; fewer are used so that each holds at least
            `min_fold_size` samples.
        min_fold_size: the fewest samples per fold.
        confidence: coverage of the interval, in `(0, 1)`.
        seed: seed of the split into folds.

    Returns:
        `(low, high)`, or `(nan, nan)` when fewer than 2 folds fit or a fold
        estimate is not finite.

    Example:
        >>> x, y = correlated_gaussian(2000, dim=1, rho=0.8, seed=0)
        >>> fold_interval(ksg_mi, x, y, ksg_mi(x, y))  # around 0.51
        (0.43..., 0.57...)
    """
    _check_confidence(confidence)
    num_folds = min(int(folds), x.shape[0] // int(min_fold_size))
    if num_folds < 2 or not math.isfinite(estimate):
        return (math.nan, math.nan)
    order = np.random.default_rng(seed).permutation(x.shape[0])
    values = np.array(
        [estimator(x[part], y[part]) for part in np.array_split(order, num_folds)], dtype=np.float64
    )
    if not np.isfinite(values).all():
        return (math.nan, math.nan)
    half_width = _t_quantile(confidence, num_folds - 1) * values.std(ddof=1) / math.sqrt(num_folds)
    return (estimate - half_width, estimate + half_width)


def batch_interval(batch_values, estimate, confidence=DEFAULT_CONFIDENCE):
    """A confidence interval for a mean of per-batch values.

    Args:
        batch_values: `[B]` values whose mean is the estimate (they need not
            be centred on `estimate`, only spread like it).
        estimate: the reported value in nats.
        confidence: coverage of the interval, in `(0, 1)`.

    Returns:
        `(estimate - h, estimate + h)` with `h = t_{B-1} std / sqrt(B)`, or
        `(nan, nan)` with fewer than 2 finite values.

    Example:
        >>> batch_interval([1.0, 2.0, 3.0], 2.0)  # t_2 = 4.303, std 1
        (-0.48..., 4.48...)
    """
    _check_confidence(confidence)
    values = np.asarray(batch_values, dtype=np.float64).reshape(-1)
    if values.size < 2 or not np.isfinite(values).all() or not math.isfinite(estimate):
        return (math.nan, math.nan)
    spread = values.std(ddof=1) / math.sqrt(values.size)
    half_width = _t_quantile(confidence, values.size - 1) * spread
    return (estimate - half_width, estimate + half_width)


def permutation_baseline(estimator, x, y, *, repeats=1, seed=0):
    """The mean estimate on `repeats` shuffles of the pairing (no information).

    Args:
        estimator: `estimator(x, y) -> float`, nats.
        x: `[N, d_x]` array.
        y: `[N, d_y]` array, shuffled against `x`.
        repeats: number of shuffles averaged, a positive int.
        seed: seed of the shuffles.

    Returns:
        The mean estimate on shuffled pairs in nats; near 0 for an unbiased
        estimator, and its bias at zero MI otherwise.

    Example:
        >>> permutation_baseline(ksg_mi, x, y)  # any x, y: about 0
        0.01...
    """
    if not isinstance(repeats, int) or repeats <= 0:
        raise ValueError(f"`repeats` must be a positive int, got repeats={repeats!r}.")
    rng = np.random.default_rng(seed)
    return float(np.mean([estimator(x, y[rng.permutation(y.shape[0])]) for _ in range(repeats)]))


def intervals_overlap(first, second):
    """Whether two `(low, high)` intervals overlap.

    True when either holds a NaN: then no disagreement can be shown.
    """
    if not all(math.isfinite(value) for value in (*first, *second)):
        return True
    return first[0] <= second[1] and second[0] <= first[1]


def _t_quantile(confidence, degrees_of_freedom):
    return float(student_t.ppf(0.5 + confidence / 2.0, degrees_of_freedom))


def _check_confidence(confidence):
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"`confidence` must be in (0, 1), got confidence={confidence!r}.")
