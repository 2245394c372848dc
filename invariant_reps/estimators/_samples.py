"""Validation of paired samples `(x, y)` shared by the MI estimators."""

import numpy as np


def as_sample_matrix(values, name, dtype=np.float64):
    """Returns `values` as a 2-D `[N, d]` array, one row per sample.

    `[N]` becomes `[N, 1]`; `[N, d1, d2, ...]` is flattened to
    `[N, d1 * d2 * ...]`.

    Args:
        values: array-like with the sample axis first.
        name: the argument's name, for error messages.
        dtype: dtype of the returned array.

    Returns:
        A 2-D NumPy array.

    Raises:
        ValueError: if `values` is a scalar, empty, not numeric, or holds NaN
            or infinite entries.
    """
    try:
        array = np.asarray(values, dtype=dtype)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be numeric, got {type(values).__name__}.") from None
    if array.ndim == 0:
        raise ValueError(f"`{name}` must have a sample axis, got a scalar.")
    if array.shape[0] == 0:
        raise ValueError(f"`{name}` has no samples (shape {array.shape}).")
    array = array.reshape(array.shape[0], -1)
    if array.shape[1] == 0:
        raise ValueError(f"`{name}` has no features (shape {np.shape(values)}).")
    if np.isnan(array).any():
        raise ValueError(f"`{name}` contains NaN values ({int(np.isnan(array).sum())} entries).")
    if not np.isfinite(array).all():
        raise ValueError(f"`{name}` contains infinite values.")
    return array


def as_sample_pair(x, y, min_samples=2, dtype=np.float64):
    """Validates paired samples and returns them as `[N, d_x]`, `[N, d_y]` arrays.

    Args:
        x: array-like, sample axis first.
        y: array-like, sample axis first, as many samples as `x`.
        min_samples: the fewest samples the caller can work with.
        dtype: dtype of the returned arrays.

    Returns:
        A tuple of two 2-D NumPy arrays.

    Raises:
        ValueError: on NaN or infinite entries, mismatched sample counts, or
            fewer than `min_samples` samples.
    """
    x = as_sample_matrix(x, "x", dtype=dtype)
    y = as_sample_matrix(y, "y", dtype=dtype)
    if x.shape[0] != y.shape[0]:
        raise ValueError(
            "`x` and `y` must hold the same number of samples, got "
            f"{x.shape[0]} and {y.shape[0]}."
        )
    if x.shape[0] < min_samples:
        raise ValueError(f"Need at least {min_samples} samples, got {x.shape[0]}.")
    return x, y
