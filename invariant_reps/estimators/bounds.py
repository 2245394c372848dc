"""Variational lower bounds on mutual information, as functions of critic scores.

A critic `f(x, y)` scores pairs. Joint pairs `(x_i, y_i)` come from `p(x, y)`;
marginal pairs `(x_i, y_j)`, `i != j`, or `(x_i, y_pi(i))` for a shuffle `pi`
of the batch, come from `p(x) p(y)`. Every bound here is a pure function of
those scores, so the same code serves an MI estimator (a critic maximizes the
bound) and an MI penalty (a classifier minimizes it against that critic).

Two input conventions:

- `dv_bound`, `nwj_bound`, `smile_bound` and `js_bound` take the scores of
  joint pairs and of marginal pairs as two tensors (any shapes, averaged
  over all entries), so they work with an `[N, N]` score matrix split by
  `split_pair_scores` (`N (N - 1)` marginal pairs) and with a concat critic
  scored on one shuffled batch (`N` marginal pairs) alike.
- `infonce_bound` needs the whole `[N, N]` matrix: row `i` holds
  `f(x_i, y_j)` for all `j`, and the joint pair sits on the diagonal.

Reference: Poole, Ozair, van den Oord, Alemi, Tucker, "On Variational Bounds
of Mutual Information", ICML 2019 (PO19 below); Song & Ermon,
"Understanding the Limitations of Variational Mutual Information
Estimators", ICLR 2020 (SE20).
"""

import tensorflow as tf


def split_pair_scores(scores):
    """Splits an `[N, N]` score matrix into joint and marginal scores.

    Args:
        scores: `[N, N]` tensor with `scores[i, j] = f(x_i, y_j)`.

    Returns:
        A tuple `(joint_scores, marginal_scores)`: the diagonal, shape `[N]`,
        and the off-diagonal entries, shape `[N * (N - 1)]`.

    Example:
        >>> joint, marginal = split_pair_scores([[1.0, 0.0], [2.0, 3.0]])
        >>> joint.numpy(), marginal.numpy()
        (array([1., 3.], dtype=float32), array([0., 2.], dtype=float32))
    """
    scores = _as_score_matrix(scores, "split_pair_scores")
    num_pairs = tf.shape(scores)[0]
    off_diagonal = tf.logical_not(tf.eye(num_pairs, dtype=tf.bool))
    return tf.linalg.diag_part(scores), tf.boolean_mask(scores, off_diagonal)


def dv_bound(joint_scores, marginal_scores):
    """Donsker-Varadhan bound, the value MINE maximizes.

    `I(X; Y) >= E_p[f] - log E_{p(x)p(y)}[e^f]` (PO19 eq. 9; Belghazi et al.,
    "MINE", ICML 2018, eq. 10). The log of the batch mean is a biased
    estimate of `log E[e^f]`, which biases the gradient; `MineObjective`
    corrects it with a moving average. Variance grows quickly with the MI.

    Args:
        joint_scores: critic scores of joint pairs, any shape.
        marginal_scores: critic scores of marginal pairs, any shape.

    Returns:
        Scalar tensor, the bound in nats.

    Example:
        >>> float(dv_bound([2.0, 4.0], [0.0, 0.0]))  # mean 3 - log 1
        3.0
    """
    joint_scores, marginal_scores = _as_score_pair(joint_scores, marginal_scores)
    return tf.reduce_mean(joint_scores) - log_mean_exp(marginal_scores)


def nwj_bound(joint_scores, marginal_scores):
    """Nguyen-Wainwright-Jordan (f-GAN KL) bound.

    `I(X; Y) >= E_p[f] - e^{-1} E_{p(x)p(y)}[e^f]` (PO19 eq. 11, the
    `I_NWJ` bound with the optimal critic `1 + log p(x|y) / p(x)`).
    Unbiased batch estimate, but its variance grows like `e^I`.

    Args:
        joint_scores: critic scores of joint pairs, any shape.
        marginal_scores: critic scores of marginal pairs, any shape.

    Returns:
        Scalar tensor, the bound in nats.

    Example:
        >>> float(nwj_bound([1.0, 1.0], [1.0, 1.0]))  # 1 - e^{-1} e^1
        0.0
    """
    joint_scores, marginal_scores = _as_score_pair(joint_scores, marginal_scores)
    # e^{-1} mean(e^f) = exp(log mean(e^f) - 1), computed without overflow.
    return tf.reduce_mean(joint_scores) - tf.exp(log_mean_exp(marginal_scores) - 1.0)


def infonce_bound(scores):
    """InfoNCE (contrastive predictive coding) bound.

    `I(X; Y) >= (1/N) sum_i log [e^{f_ii} / ((1/N) sum_j e^{f_ij})]`
    (PO19 eq. 12; van den Oord et al. 2018). Low variance, but never above
    `log N`: each term is at most `log N` because the numerator is one of
    the `N` terms of the denominator's sum. With batch size `N` the estimate
    saturates at `log N` nats however large the true MI is.

    Args:
        scores: `[N, N]` tensor with `scores[i, j] = f(x_i, y_j)`.

    Returns:
        Scalar tensor, the bound in nats, at most `log N`.

    Example:
        >>> float(infonce_bound([[0.0, 0.0], [0.0, 0.0]]))  # no information
        0.0
    """
    scores = _as_score_matrix(scores, "infonce_bound")
    num_pairs = tf.cast(tf.shape(scores)[0], scores.dtype)
    log_softmax_diagonal = tf.linalg.diag_part(scores) - tf.reduce_logsumexp(scores, axis=1)
    return tf.reduce_mean(log_softmax_diagonal) + tf.math.log(num_pairs)


def js_bound(joint_scores, marginal_scores):
    """Jensen-Shannon (f-GAN) objective used to train critics.

    `E_p[-softplus(-f)] - E_{p(x)p(y)}[softplus(f)]` (PO19 sec. 2.3; Nowozin
    et al. 2016). This bounds a Jensen-Shannon divergence, not the MI, but
    it is maximized by `f = log p(x, y) / (p(x) p(y))`, the critic the MI
    bounds need, and its gradients stay bounded. It is the binary
    cross-entropy of a joint-vs-marginal classifier with logits `f`, negated.

    Args:
        joint_scores: critic scores of joint pairs, any shape.
        marginal_scores: critic scores of marginal pairs, any shape.

    Returns:
        Scalar tensor (not in nats of MI).

    Example:
        >>> round(float(js_bound([0.0], [0.0])), 4)  # -2 log 2
        -1.3863
    """
    joint_scores, marginal_scores = _as_score_pair(joint_scores, marginal_scores)
    return -tf.reduce_mean(tf.math.softplus(-joint_scores)) - tf.reduce_mean(
        tf.math.softplus(marginal_scores)
    )


def smile_bound(joint_scores, marginal_scores, clip=5.0):
    """SMILE: the DV bound with clipped marginal scores (SE20 eq. 17).

    `E_p[f] - log E_{p(x)p(y)}[e^{clip(f, -tau, tau)}]`. Clipping bounds the
    variance of the partition term (`Var <= (e^tau - e^-tau)^2 / 4N`) at the
    price of a bias; `tau -> inf` recovers `dv_bound`.

    The returned tensor has the SMILE *value* but the *gradient* of
    `js_bound`, as in the authors' reference implementation: the clipped DV
    is unbounded in the critic (raising every score past `tau` raises `E_p[f]`
    and leaves the clipped term at `tau`), so SE20 train the critic with the
    Jensen-Shannon objective and read the estimate through SMILE.

    Args:
        joint_scores: critic scores of joint pairs, any shape.
        marginal_scores: critic scores of marginal pairs, any shape.
        clip: `tau > 0`, the clipping threshold (SE20 use 1, 5 and inf), or
            `"adaptive"` for `adaptive_clip(joint_scores)`.

    Returns:
        Scalar tensor: value in nats of SMILE, gradient of `js_bound`.

    Example:
        >>> float(smile_bound([3.0], [9.0, -9.0], clip=1.0))  # 3 - log cosh 1
        2.566...
    """
    joint_scores, marginal_scores = _as_score_pair(joint_scores, marginal_scores)
    if isinstance(clip, str):
        if clip != "adaptive":
            raise ValueError(f"`clip` must be > 0 or 'adaptive', got clip={clip!r}.")
        clip = adaptive_clip(joint_scores)
    elif not clip > 0:
        raise ValueError(f"`clip` must be > 0 (SMILE's tau) or 'adaptive', got clip={clip!r}.")
    clipped = tf.clip_by_value(marginal_scores, -clip, clip)
    smile_value = tf.reduce_mean(joint_scores) - log_mean_exp(clipped)
    surrogate = js_bound(joint_scores, marginal_scores)
    return surrogate + tf.stop_gradient(smile_value - surrogate)


def adaptive_clip(joint_scores, floor=5.0, quantile=0.9):
    """SMILE's `tau` from the batch: `max(floor, q-quantile of the joint scores)`.

    With a fixed `tau` below the MI, the clipped partition term misses the
    marginal pairs that score like joint pairs, and SMILE overestimates by
    about `-log P_p(f <= tau)` (+19% at 8 nats with `tau = 5`). Setting
    `tau` at a high quantile `q` of the joint scores bounds that bias by
    about `-log q` (0.1 nats at `q = 0.9`) whatever the MI, while the
    marginal pairs scored above most joint pairs, the outliers that make the
    DV bound's variance explode, stay clipped.

    Args:
        joint_scores: critic scores of joint pairs, any shape.
        floor: the smallest `tau`, SE20's 5.
        quantile: `q` in (0, 1].

    Returns:
        Scalar tensor, `tau` (no gradient flows through it).

    Example:
        >>> float(adaptive_clip([1.0, 7.5, 6.0, 3.0], quantile=0.75))  # 3rd of 4 sorted
        6.0
    """
    joint_scores = tf.reshape(tf.convert_to_tensor(joint_scores), [-1])
    count = tf.shape(joint_scores)[0]
    index = tf.cast(tf.math.floor(quantile * tf.cast(count - 1, tf.float32)), tf.int32)
    value = tf.gather(tf.sort(joint_scores), index)
    return tf.stop_gradient(tf.maximum(tf.cast(floor, joint_scores.dtype), value))


def log_mean_exp(values):
    """`log mean(e^values)` over all entries, computed stably.

    Args:
        values: tensor of any shape with at least one entry.

    Returns:
        Scalar tensor.
    """
    values = tf.reshape(values, [-1])
    count = tf.cast(tf.size(values), values.dtype)
    return tf.reduce_logsumexp(values) - tf.math.log(count)


def _as_score_pair(joint_scores, marginal_scores):
    joint_scores = tf.convert_to_tensor(joint_scores)
    if not joint_scores.dtype.is_floating:
        joint_scores = tf.cast(joint_scores, tf.float32)
    marginal_scores = tf.cast(tf.convert_to_tensor(marginal_scores), joint_scores.dtype)
    return joint_scores, marginal_scores


def _as_score_matrix(scores, caller):
    scores = tf.convert_to_tensor(scores)
    if not scores.dtype.is_floating:
        scores = tf.cast(scores, tf.float32)
    shape = scores.shape
    if shape.rank is not None and (
        shape.rank != 2 or (None not in shape and shape[0] != shape[1])
    ):
        raise ValueError(
            f"`{caller}` expects a square [N, N] score matrix "
            f"(row i = x_i, column j = y_j), got shape {tuple(shape)}."
        )
    return scores
