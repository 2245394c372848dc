"""Marginal transforms that leave mutual information unchanged.

`I(X; Y) = I(f(X); g(Y))` for invertible `f` and `g`, so an estimator may
reshape each variable before it looks at the pair. Two transforms act on
each column separately:

- `standardize`: subtract the mean, divide by the standard deviation. An
  affine map of each coordinate, hence invertible; it puts every input of a
  neural critic on the same scale.
- `copula_transform`: replace each value by its rank and map the rank
  through the inverse normal CDF, `Phi^-1(rank / (N + 1))`. This empirical
  version of the monotone map `Phi^-1(F(x))` turns every marginal into a
  standard normal one: Cauchy tails, cubes and other monotone distortions
  disappear, and only the dependence (the copula) is left.

A coordinatewise transform is invertible on the whole variable, so the MI of
multi-dimensional `x` and `y` is preserved too. The copula transform is exact
up to its use of empirical ranks (an `O(1/sqrt(N))` perturbation).
"""

import numpy as np
from scipy.special import ndtri
from scipy.stats import rankdata

from invariant_reps.estimators._samples import as_sample_matrix

PREPROCESSING = ("none", "standardize", "copula")


def copula_transform(values):
    """Maps each column to standard normal scores through its ranks.

    Column `c` becomes `Phi^-1(r_ic / (N + 1))`, where `r_ic` is the rank of
    `values[i, c]` within its column (ties get their average rank). The
    result is the same for any strictly increasing map of a column.

    Args:
        values: `[N, d]` samples (`[N]` is read as `[N, 1]`; trailing axes
            are flattened).

    Returns:
        A float64 `[N, d]` array whose columns are normal scores.

    Example:
        >>> copula_transform([[10.0], [-3.0], [1e9]])[:, 0]  # ranks 2, 1, 3
        array([ 0.        , -0.67448975,  0.67448975])
    """
    values = as_sample_matrix(values, "values")
    ranks = rankdata(values, method="average", axis=0)
    return ndtri(ranks / (values.shape[0] + 1.0))


def standardize(values):
    """Subtracts each column's mean and divides by its standard deviation.

    Constant columns are only centred (they carry no information and would
    otherwise divide by zero).

    Args:
        values: `[N, d]` samples (`[N]` is read as `[N, 1]`).

    Returns:
        A float64 `[N, d]` array with zero-mean, unit-variance columns.

    Example:
        >>> standardize([1.0, 2.0, 3.0])[:, 0]
        array([-1.22474487,  0.        ,  1.22474487])
    """
    values = as_sample_matrix(values, "values")
    centred = values - values.mean(axis=0)
    scale = centred.std(axis=0)
    return centred / np.where(scale > 0.0, scale, 1.0)


def transform_marginal(values, how):
    """Applies the transform named `how` to one variable.

    Args:
        values: `[N, d]` samples.
        how: one of `PREPROCESSING`: `"none"`, `"standardize"` or `"copula"`.

    Returns:
        The transformed `[N, d]` array (`values` itself for `"none"`).
    """
    if how not in PREPROCESSING:
        raise ValueError(f"Unknown preprocessing {how!r}; expected one of {PREPROCESSING}.")
    if how == "standardize":
        return standardize(values)
    if how == "copula":
        return copula_transform(values)
    return values


def preprocess(x, y, how):
    """Applies the transform named `how` to both variables.

    Args:
        x: `[N, d_x]` samples.
        y: `[N, d_y]` samples.
        how: one of `PREPROCESSING`: `"none"`, `"standardize"` or `"copula"`.

    Returns:
        The transformed pair `(x, y)`.
    """
    return transform_marginal(x, how), transform_marginal(y, how)
