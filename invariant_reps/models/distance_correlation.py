"""Distance correlation: DisCo's decorrelation penalty, as pure differentiable math.

DisCo (Kasieczka & Shih, "Robust jet classifiers through distance
correlation", PRL 125 (2020) 122001, arXiv:2001.05310) adds
`lambda * dCorr^2(f(x), m)` to a classifier's loss, where `m` is the nuisance
(a jet mass, a beam-constrained mass) and dCorr^2 is Szekely's squared
distance correlation of the batch, optionally event-weighted.

With normalised weights `w` (mean 1 over the batch of N events) and the
pairwise distances `a_ij = |x_i - x_j|` (Euclidean norm for vectors), the
weighted double centring is

    r_i  = (1/N) sum_j a_ij w_j               (weighted row mean)
    abar = (1/N) sum_i r_i w_i                (weighted grand mean)
    A_ij = a_ij - r_i - r_j + abar

and likewise `B` from `b_ij = |y_i - y_j|`. Then

    dCov^2(x, y) = (1/N^2) sum_ij w_i w_j A_ij B_ij
    dCorr^2(x, y) = dCov^2(x, y) / sqrt(dCov^2(x, x) dCov^2(y, y))

and the function returns `(dCorr^2)^power`, DisCo's `power` option (1: the
squared distance correlation itself, 2: its square). With all weights equal
this is Szekely, Rizzo & Bakirov's (2007) V-statistic. It lies in [0, 1], is
invariant to shifting and (positive) scaling of x and y, is 1 when y is an
affine function of a 1-D x, and its population value is 0 iff x and y are
independent.

Memory. The direct form (`block_size=None`) builds N x N matrices and lets
autodiff keep them for the backward pass: O(N^2) floats, about a dozen
N x N float32 buffers with gradients (~0.8 GB at N = 4096). `block_size=k`
never holds more than O(N * k * d) floats, forward AND backward: the rows of
A and B are rebuilt block by block from the O(N) vectors r and q, and the
gradient is computed by hand in the same blocked way, using that for a
weight-double-centred B, `d/da_ij sum_kl w_k w_l A_kl B_kl = w_i w_j B_ij`
(and `2 w_i w_j A_ij` for `dCov^2(x, x)`). A blocked call costs three passes
over the pairs instead of one.
"""

import numbers

import numpy as np
import tensorflow as tf

from invariant_reps.models.pairwise import pairwise_squared_distances


def distance_correlation(x, y, weights=None, power=1, block_size=None):
    """DisCo's (event-weighted) squared distance correlation, differentiable.

    Computed in float32 with TensorFlow ops; gradients flow to `x` and `y`
    (not to `weights`, which are treated as constants). Where `x` or `y` is
    constant over the batch, dCorr is undefined; 0 is returned, with a zero
    gradient.

    Args:
        x: `[N]`, `[N, 1]` or `[N, d]` tensor, e.g. the classifier's scores.
        y: `[N]`, `[N, 1]` or `[N, d']` tensor, e.g. the nuisance (mass).
        weights: optional `[N]` positive event weights; they are normalised to
            mean 1 over the batch (as in the DisCo reference). None: all 1.
        power: exponent > 0 applied to dCorr^2 (DisCo's `power`; 1 returns
            dCorr^2).
        block_size: None for the direct O(N^2)-memory form; an int >= 1 to
            process `block_size` rows at a time, with peak memory
            O(N * block_size * d) in the forward and backward passes.

    Returns:
        float32 scalar `(dCorr^2(x, y))^power`.

    Example:
        >>> scores = tf.random.normal([1024])
        >>> mass = scores + tf.random.normal([1024])
        >>> penalty = distance_correlation(scores, mass, block_size=256)
    """
    if not isinstance(power, numbers.Real) or isinstance(power, bool) or not power > 0:
        raise ValueError(f"`power` must be a number > 0; received {power!r}.")
    if block_size is not None and (
        not isinstance(block_size, (int, np.integer))
        or isinstance(block_size, bool)
        or block_size < 1
    ):
        raise ValueError(f"`block_size` must be None or an int >= 1; received {block_size!r}.")
    x = _as_matrix(x, "x")
    y = _as_matrix(y, "y")
    weights = _normalised_weights(weights, x, y)
    if block_size is None:
        s_xy, s_xx, s_yy = _dcov_sums_direct(x, y, weights)
    else:
        s_xy, s_xx, s_yy = _dcov_sums_blocked(x, y, weights, int(block_size))
    return _ratio(s_xy, s_xx, s_yy, power)


def distance_correlation_numpy(x, y, weights=None, power=1):
    """Float64 NumPy reference of `distance_correlation` (direct O(N^2) form).

    Args:
        x: array `[N]` or `[N, d]`.
        y: array `[N]` or `[N, d']`.
        weights: optional `[N]` non-negative weights (normalised to mean 1).
        power: exponent > 0 applied to dCorr^2.

    Returns:
        Python float `(dCorr^2(x, y))^power`; 0.0 when x or y is constant.

    Example:
        >>> distance_correlation_numpy([0.0, 1.0, 2.0], [5.0, 3.0, 1.0])  # 1.0
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    x = x.reshape(len(x), -1)
    y = y.reshape(len(y), -1)
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` must have the same length; received {len(x)} and {len(y)}.")
    if len(x) < 2:
        raise ValueError(f"Distance correlation needs at least 2 events; received {len(x)}.")
    if weights is None:
        w = np.ones(len(x))
    else:
        w = np.asarray(weights, dtype=np.float64).reshape(-1)
        if w.shape != (len(x),) or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("`weights` must be N finite, non-negative values with a positive sum.")
        w = w / w.mean()

    def centred(v):
        a = np.sqrt(((v[:, None, :] - v[None, :, :]) ** 2).sum(-1))
        r = (a * w[None, :]).mean(axis=1)
        return a - r[:, None] - r[None, :] + (r * w).mean()

    a, b = centred(x), centred(y)
    ww = w[:, None] * w[None, :]
    s_xy, s_xx, s_yy = (np.mean(ww * a * b), np.mean(ww * a * a), np.mean(ww * b * b))
    if s_xx <= 0 or s_yy <= 0:
        return 0.0
    return float(max(s_xy / np.sqrt(s_xx * s_yy), 0.0) ** power)


def _as_matrix(value, name):
    value = tf.cast(tf.convert_to_tensor(value), tf.float32)
    if value.shape.rank == 1:
        value = value[:, None]
    if value.shape.rank != 2:
        raise ValueError(f"`{name}` must have shape [N] or [N, d]; received {tuple(value.shape)}.")
    return value


def _normalised_weights(weights, x, y):
    n_x, n_y = x.shape[0], y.shape[0]
    if n_x is not None and n_y is not None and n_x != n_y:
        raise ValueError(f"`x` and `y` must have the same length; received {n_x} and {n_y}.")
    if weights is None:
        return tf.ones_like(x[:, 0])
    weights = tf.cast(tf.convert_to_tensor(weights), tf.float32)
    if weights.shape.rank == 2 and weights.shape[1] == 1:
        weights = weights[:, 0]
    if weights.shape.rank != 1 or (
        n_x is not None and weights.shape[0] is not None and weights.shape[0] != n_x
    ):
        raise ValueError(
            f"`weights` must have shape [N] with N = {n_x}; received {tuple(weights.shape)}."
        )
    weights = tf.stop_gradient(weights)
    return weights / tf.reduce_mean(weights)


def _pairwise(rows, cols):
    """Distances `[R, C]` and unit difference vectors `[R, C, d]`.

    At coincident points the distance is 0 and the unit vector 0 (the
    subgradient that `abs` uses), so no NaN reaches the gradient.
    """
    diff = rows[:, None, :] - cols[None, :, :]
    if rows.shape[-1] == 1:
        return tf.abs(diff[..., 0]), tf.sign(diff)
    squared = tf.reduce_sum(tf.square(diff), axis=-1)
    positive = squared > 0
    dist = tf.where(positive, tf.sqrt(tf.where(positive, squared, 1.0)), 0.0)
    unit = diff / tf.where(positive, dist, 1.0)[..., None]
    return dist, unit


def _gram_distances(v):
    """`[N, N]` Euclidean distances of the rows of `v` from `pairwise_squared_distances` (O(N^2) memory).

    The square root's gradient is cut where the squared distance is 0 (the
    diagonal, coincident rows), so no NaN or inf reaches the gradient.
    """
    squared = pairwise_squared_distances(v)
    positive = squared > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, squared, 1.0)), 0.0)


def _dcov_sums_direct(x, y, w):
    """`dCov^2(x, y)`, `dCov^2(x, x)`, `dCov^2(y, y)` from full N x N matrices."""

    def centred(v):
        if v.shape[-1] == 1:
            a = tf.abs(v - tf.transpose(v))
        else:
            a = _gram_distances(v)
        r = tf.reduce_mean(a * w[None, :], axis=1)
        return a - r[:, None] - r[None, :] + tf.reduce_mean(r * w)

    a, b = centred(x), centred(y)
    ww = w[:, None] * w[None, :]
    return (
        tf.reduce_mean(ww * a * b),
        tf.reduce_mean(ww * a * a),
        tf.reduce_mean(ww * b * b),
    )


def _dcov_sums_blocked(x, y, w, block_size):
    """The three dCov^2 of `_dcov_sums_direct`, `block_size` rows at a time.

    Rows are padded to a multiple of the block size with zero-weight events,
    which contribute nothing to any weighted sum or gradient.
    """
    n = tf.shape(x)[0]
    num_blocks = (n + block_size - 1) // block_size
    padding = num_blocks * block_size - n
    n_float = tf.cast(n, tf.float32)
    w_padded = tf.pad(w, [[0, padding]])
    w_blocks = tf.reshape(w_padded, [num_blocks, block_size])

    def blocks_of(v):
        padded = tf.pad(v, [[0, padding], [0, 0]])
        return padded, tf.reshape(padded, [num_blocks, block_size, v.shape[-1]])

    def row_means(padded, blocks):
        def body(i, array):
            dist, _ = _pairwise(blocks[i], padded)
            return i + 1, array.write(i, tf.reduce_sum(dist * w_padded[None, :], axis=1) / n_float)

        array = tf.TensorArray(tf.float32, size=num_blocks, element_shape=[block_size])
        _, array = tf.while_loop(
            lambda i, _: i < num_blocks, body, (0, array), parallel_iterations=1
        )
        means = tf.reshape(array.stack(), [-1])
        return means, tf.reduce_sum(means * w_padded) / n_float

    def centred_block(i, padded, blocks, means, grand):
        dist, unit = _pairwise(blocks[i], padded)
        start = i * block_size
        rows = means[start : start + block_size]
        return dist - rows[:, None] - means[None, :] + grand, unit

    @tf.custom_gradient
    def sums(x, y):
        x_padded, x_blocks = blocks_of(x)
        y_padded, y_blocks = blocks_of(y)
        r, r_grand = row_means(x_padded, x_blocks)
        q, q_grand = row_means(y_padded, y_blocks)

        def body(i, s_xy, s_xx, s_yy):
            a, _ = centred_block(i, x_padded, x_blocks, r, r_grand)
            b, _ = centred_block(i, y_padded, y_blocks, q, q_grand)
            ww = w_blocks[i][:, None] * w_padded[None, :]
            return (
                i + 1,
                s_xy + tf.reduce_sum(ww * a * b),
                s_xx + tf.reduce_sum(ww * a * a),
                s_yy + tf.reduce_sum(ww * b * b),
            )

        zero = tf.constant(0.0)
        _, s_xy, s_xx, s_yy = tf.while_loop(
            lambda i, *_: i < num_blocks, body, (0, zero, zero, zero), parallel_iterations=1
        )
        scale = n_float * n_float

        def grad(g_xy, g_xx, g_yy):
            def gbody(i, grads_x, grads_y):
                a, unit_x = centred_block(i, x_padded, x_blocks, r, r_grand)
                b, unit_y = centred_block(i, y_padded, y_blocks, q, q_grand)
                ww = w_blocks[i][:, None] * w_padded[None, :] / scale
                # d S / d a_ij, then chain through a_ij = |x_i - x_j| (both
                # (i, j) and (j, i) depend on x_i: hence the factor 2).
                coef_x = ww * (g_xy * b + 2.0 * g_xx * a)
                coef_y = ww * (g_xy * a + 2.0 * g_yy * b)
                grads_x = grads_x.write(i, 2.0 * tf.reduce_sum(coef_x[..., None] * unit_x, axis=1))
                grads_y = grads_y.write(i, 2.0 * tf.reduce_sum(coef_y[..., None] * unit_y, axis=1))
                return i + 1, grads_x, grads_y

            grads_x = tf.TensorArray(tf.float32, size=num_blocks, element_shape=[block_size, x.shape[-1]])
            grads_y = tf.TensorArray(tf.float32, size=num_blocks, element_shape=[block_size, y.shape[-1]])
            _, grads_x, grads_y = tf.while_loop(
                lambda i, *_: i < num_blocks, gbody, (0, grads_x, grads_y), parallel_iterations=1
            )
            grad_x = tf.reshape(grads_x.stack(), [-1, x.shape[-1]])[:n]
            grad_y = tf.reshape(grads_y.stack(), [-1, y.shape[-1]])[:n]
            return grad_x, grad_y

        return (s_xy / scale, s_xx / scale, s_yy / scale), grad

    return sums(x, y)


def _ratio(s_xy, s_xx, s_yy, power):
    """`(s_xy / sqrt(s_xx s_yy))^power`, 0 (zero gradient) where undefined."""
    denominator = s_xx * s_yy
    defined = denominator > 0
    value = tf.where(defined, s_xy / tf.sqrt(tf.where(defined, denominator, 1.0)), 0.0)
    if power == 1:
        return value
    return tf.pow(tf.maximum(value, 0.0), float(power))
