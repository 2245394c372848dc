"""I(X;T) and I(Y;T) of an information-bottleneck representation.

The evaluation of the IB family (VIB, NIB, squared IB, DisenIB; Pan et al.,
AAAI 2021, and its code's `MIEvaluator`):

- **I(X;T), Monte Carlo.** The data set `D = {x_1..x_N}` is taken as the
  uniform distribution over its `N` examples, so `H(X) = log N`. Each
  example `x_i` gives one code `z_i` (a sample of the stochastic encoder for
  VIB/NIB; the deterministic mean for DisenIB), and the posterior over the
  data set is `p(x_j | z_i) ∝ q(z_i | x_j)` with the encoder's diagonal
  Gaussian `q(. | x_j) = N(mu_j, diag sigma_j^2)`. Then
  `I(X;T) = log N - mean_i H(p(. | z_i))`, always `<= log N`, and equal to
  `log N` when every code is far closer to its own mean than to any other.
- **I(Y;T).** `H(Y)` of the empirical label frequencies minus the mean
  *predictive* entropy `H(softmax(logits_i))` (not the cross-entropy against
  the true labels).

Both are in nats. The pairwise part is O(Q * N * d) work, done in blocks so
that a 60,000 x 60,000 evaluation runs in bounded memory (see
`posterior_entropies`).
"""

import math

import numpy as np
import tensorflow as tf
from scipy import special

_DTYPES = ("float32", "float64")


def posterior_entropies(codes, means, stddevs, *, block_size=1024, column_block_size=4096,
                        dtype="float64"):
    """Entropy of `p(x_j | z_i) ∝ N(z_i; mu_j, diag sigma_j^2)` over `j`, per code.

    For each code `z_i` the log-densities `log q(z_i | x_j)` against all `N`
    components are streamed over column blocks with a running log-sum-exp:
    with `m` the running maximum, `S = sum_j exp(l_j - m)` and
    `U = sum_j exp(l_j - m) (l_j - m)`, the entropy is `log S - U / S`. Every
    term stays in `[-1/e, 1]`, so the result is accurate in float32 too, and
    it is `>= 0` by construction (`S >= 1`, `U <= 0`).

    The quadratic form is expanded into two matrix products after both
    `codes` and `means` are centred on the mean of `means`; its rounding error
    is about `eps * (|z|^2 + |mu|^2) / sigma^2` per entry (`eps` = 1e-16 in
    float64, 6e-8 in float32), negligible in float64.

    Memory: besides the inputs, one row block holds a few
    `block_size x column_block_size` tiles, about
    `5 * block_size * column_block_size * itemsize` bytes (160 MB for the
    defaults in float64), whatever `Q` and `N`. The block sizes change the
    result only through floating-point rounding (about 1e-15 nats in
    float64): rows are independent, and column blocks are merged exactly in
    real arithmetic.

    Args:
        codes: `[Q, d]` the codes `z_i` (one per example; `Q` may differ from
            `N` to average over a random subset of queries).
        means: `[N, d]` the Gaussian means `mu_j` of the `N` data-set examples.
        stddevs: the standard deviations `sigma`: `[N, d]` per example (VIB),
            `[d]` shared per dimension, or a scalar shared by everything (NIB's
            learned sigma, DisenIB's 1.0). Must be finite and > 0.
        block_size: codes (rows) per block.
        column_block_size: components (columns) per block.
        dtype: "float64" (default) or "float32", the precision of the pairwise
            computation.

    Returns:
        A float64 array `[Q]` of entropies in nats, each in `[0, log N]`.

    Example:
        >>> h = posterior_entropies(np.zeros((2, 1)), np.array([[0.0], [0.0]]), 1.0)
        >>> h  # two identical components: the posterior is uniform
        array([0.69314718, 0.69314718])
    """
    codes, means, stddevs = _validate_gaussians(codes, means, stddevs)
    block_size = _positive_int(block_size, "block_size")
    column_block_size = _positive_int(column_block_size, "column_block_size")
    if dtype not in _DTYPES:
        raise ValueError(f"`dtype` must be one of {list(_DTYPES)}; received {dtype!r}.")

    center = means.mean(axis=0)
    codes, means = codes - center, means - center
    inv_var = np.broadcast_to(1.0 / stddevs**2, means.shape)
    # Per component: w_j = 1/sigma_j^2, mu_j w_j, sum_k mu_jk^2 w_jk, sum_k log sigma_jk.
    weighted_means = means * inv_var
    mean_terms = np.sum(means * weighted_means, axis=1)
    log_norms = np.sum(np.broadcast_to(np.log(stddevs), means.shape), axis=1)

    cast = lambda a: tf.constant(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    columns = [
        (
            cast(inv_var[start : start + column_block_size].T),
            cast(weighted_means[start : start + column_block_size].T),
            cast(mean_terms[start : start + column_block_size]),
            cast(log_norms[start : start + column_block_size]),
        )
        for start in range(0, len(means), column_block_size)
    ]
    entropies = []
    for start in range(0, len(codes), block_size):
        z = cast(codes[start : start + block_size])
        entropies.append(_row_block_entropies(z, tf.square(z), columns).numpy())
    return np.concatenate(entropies).astype(np.float64)


def _row_block_entropies(z, z_squared, columns):
    """Streamed posterior entropies of one row block of codes."""
    running_max = total = weighted = None
    for inv_var, weighted_means, mean_terms, log_norms in columns:
        # Mahalanobis distance sum_k (z_k - mu_jk)^2 / sigma_jk^2, clamped at 0 against rounding.
        distance = tf.matmul(z_squared, inv_var) - 2.0 * tf.matmul(z, weighted_means) + mean_terms
        log_density = -0.5 * tf.maximum(distance, 0.0) - log_norms
        block_max = tf.reduce_max(log_density, axis=1)
        new_max = block_max if running_max is None else tf.maximum(running_max, block_max)
        shifted = log_density - new_max[:, None]
        terms = tf.exp(shifted)
        block_total = tf.reduce_sum(terms, axis=1)
        block_weighted = tf.reduce_sum(terms * shifted, axis=1)
        if running_max is None:
            total, weighted = block_total, block_weighted
        else:
            step = running_max - new_max  # <= 0
            rescale = tf.exp(step)
            weighted = rescale * (weighted + step * total) + block_weighted
            total = rescale * total + block_total
        running_max = new_max
    return tf.math.log(total) - weighted / total


def mutual_information_xt(codes, means, stddevs, *, block_size=1024, column_block_size=4096,
                          dtype="float64"):
    """Monte-Carlo I(X;T) = log N - mean_i H(p(. | z_i)) over a data set of `N` examples.

    `p(x_j | z_i) ∝ q(z_i | x_j) = N(z_i; mu_j, diag sigma_j^2)` over all `N`
    examples; see `posterior_entropies` for the computation and its memory
    bound (a few `block_size x column_block_size` tiles, whatever `N`).

    What to pass, per model of the IB family:

    - VIB: `codes` one encoder sample per example, `means`/`stddevs` the
      encoder's per-example `mu`, `sigma` (`[N, d]` each).
    - NIB: the same with `stddevs` the single learned scalar `sigma`.
    - DisenIB: `codes = means = E_t(x)` (no noise) and `stddevs=1.0`.

    Args:
        codes: `[Q, d]` codes `z_i`, usually `Q = N` (one per example).
        means: `[N, d]` Gaussian means of the data set's examples.
        stddevs: `[N, d]`, `[d]` or scalar standard deviations (> 0).
        block_size: codes per block.
        column_block_size: components per block.
        dtype: "float64" (default) or "float32" pairwise precision.

    Returns:
        I(X;T) in nats, a Python float `<= log N`.

    Example:
        >>> mu = np.random.normal(size=(10_000, 16))
        >>> z = mu + 0.5 * np.random.normal(size=mu.shape)
        >>> mutual_information_xt(z, mu, 0.5)   # <= log(10_000) = 9.21
    """
    entropies = posterior_entropies(
        codes, means, stddevs, block_size=block_size, column_block_size=column_block_size, dtype=dtype
    )
    return float(math.log(len(np.asarray(means))) - np.mean(entropies))


def predictive_entropies(logits):
    """Entropy `H(softmax(logits_i))` in nats, per row of `[N, K]` logits (float64)."""
    logits = _finite_matrix(logits, "logits")
    log_probs = special.log_softmax(logits, axis=1)
    return -np.sum(np.exp(log_probs) * log_probs, axis=1)


def label_entropy(labels=None, *, class_priors=None, num_classes=None):
    """H(Y) in nats of empirical label frequencies, or of given class priors.

    Args:
        labels: `[N]` integer class ids in `[0, num_classes)`.
        class_priors: `[K]` probabilities (non-negative, summing to 1), instead
            of `labels`.
        num_classes: with `labels`, the number of classes `K` (checked).

    Returns:
        The entropy as a Python float.
    """
    return _entropy(_class_distribution(labels, class_priors, num_classes, None))


def mutual_information_yt(logits, labels=None, *, class_priors=None):
    """I(Y;T) = H(Y) - mean_i H(softmax(logits_i)), in nats.

    `H(Y)` comes from the empirical frequencies of `labels` (the split's own
    labels, as the seed's class counter: 2.3012 nats on MNIST train) or from
    `class_priors`; the second term is the mean *predictive* entropy of the
    classifier on the codes, not its cross-entropy against the labels.

    Args:
        logits: `[N, K]` the decoder's logits on the codes `z_i` (one per
            example; for VIB/NIB the same sampled codes as for I(X;T)).
        labels: `[N]` integer class ids of the same examples, in `[0, K)`.
        class_priors: `[K]` class probabilities, instead of `labels`.

    Returns:
        I(Y;T) in nats, a Python float `<= H(Y)`.

    Example:
        >>> mutual_information_yt(model.predict(x), y)
    """
    logits = _finite_matrix(logits, "logits")
    priors = _class_distribution(labels, class_priors, logits.shape[1], len(logits))
    return float(_entropy(priors) - np.mean(predictive_entropies(logits)))


def _entropy(probabilities):
    positive = probabilities[probabilities > 0]
    return float(-np.sum(positive * np.log(positive)))


def _class_distribution(labels, class_priors, num_classes, num_examples):
    if (labels is None) == (class_priors is None):
        raise ValueError("Pass exactly one of `labels` and `class_priors`.")
    if class_priors is not None:
        priors = np.asarray(class_priors, dtype=np.float64)
        if priors.ndim != 1 or priors.size == 0:
            raise ValueError(f"`class_priors` must be a non-empty 1-D array; got shape {priors.shape}.")
        if num_classes is not None and priors.size != num_classes:
            raise ValueError(
                f"`class_priors` has {priors.size} entries but the logits have {num_classes} classes."
            )
        if not np.isfinite(priors).all() or (priors < 0).any():
            raise ValueError("`class_priors` must be finite and non-negative.")
        if abs(priors.sum() - 1.0) > 1e-6:
            raise ValueError(f"`class_priors` must sum to 1; they sum to {priors.sum()!r}.")
        return priors / priors.sum()
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(f"`labels` must be a non-empty 1-D array of class ids; got shape {labels.shape}.")
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"`labels` must be integer class ids; got dtype {labels.dtype}.")
    if num_examples is not None and len(labels) != num_examples:
        raise ValueError(f"`labels` has {len(labels)} entries but `logits` has {num_examples} rows.")
    out_of_range = labels < 0
    if num_classes is not None:
        out_of_range |= labels >= num_classes
    bad = np.flatnonzero(out_of_range)
    if bad.size:
        upper = num_classes if num_classes is not None else "K"
        raise ValueError(f"`labels` must lie in [0, {upper}); example {bad[0]} is {labels[bad[0]]}.")
    counts = np.bincount(labels, minlength=num_classes or 0).astype(np.float64)
    return counts / counts.sum()


def _finite_matrix(array, name):
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != 2:
        raise ValueError(f"`{name}` must be 2-D [N, d]; got shape {array.shape}.")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ValueError(f"`{name}` is empty (shape {array.shape}).")
    bad = np.argwhere(~np.isfinite(array))
    if bad.size:
        raise ValueError(f"`{name}` contains NaN/inf (first at row {bad[0][0]}, column {bad[0][1]}).")
    return array


def _validate_gaussians(codes, means, stddevs):
    codes = _finite_matrix(codes, "codes")
    means = _finite_matrix(means, "means")
    if codes.shape[1] != means.shape[1]:
        raise ValueError(
            f"`codes` and `means` must have the same dimension d; got {codes.shape} and {means.shape}."
        )
    stddevs = np.asarray(stddevs, dtype=np.float64)
    num, dim = means.shape
    if stddevs.shape not in ((), (dim,), (num, dim)):
        raise ValueError(
            f"`stddevs` must be a scalar, [d] = [{dim}] or [N, d] = [{num}, {dim}]; got shape "
            f"{stddevs.shape}."
        )
    if not np.isfinite(stddevs).all() or (stddevs <= 0).any():
        raise ValueError("`stddevs` must be finite and > 0.")
    return codes, means, stddevs


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {value!r}.")
    return int(value)
