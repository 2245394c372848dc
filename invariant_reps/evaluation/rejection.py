"""Background rejection from continuous scores: ROC AUC, the efficiency cut, R50 (and the input checks they share).

Every metric reads continuous *scores* (a logit or a probability: any monotone
transform gives the same numbers), never hard labels (spec A.7: the seed's
TensorBoard "auc" was balanced accuracy on 0/1 predictions). Labels are
1 = signal, 0 = background.

Cuts. A cut at efficiency `eps` of a class keeps the events with
`score >= t`, where `t` is the highest score such that the kept (weighted)
fraction of that class is at least `eps`: sort the class's scores in
decreasing order and stop at the first event where the cumulative weight
reaches `eps` times the total. Ties at `t` all pass, so the realised
efficiency can exceed `eps` by the weight of the tied events.

The sculpting metrics built on these cuts are in `decorrelation.py`.
"""

import math

import numpy as np


def roc_auc(y, scores, weights=None):
    """Area under the ROC curve: P(score_sig > score_bkg), ties counting 1/2.

    Args:
        y: labels `[N]`, 1 = signal, 0 = background.
        scores: `[N]` classifier outputs, higher = more signal-like.
        weights: optional `[N]` non-negative event weights.

    Returns:
        Python float in [0, 1] (0.5 for constant scores).

    Example:
        >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 0.75
    """
    y, scores, weights = check_inputs(y, scores, weights)
    check_both_classes(y, weights)
    values, inverse = np.unique(scores, return_inverse=True)
    w_sig = np.bincount(inverse, weights * (y == 1), minlength=len(values))
    w_bkg = np.bincount(inverse, weights * (y == 0), minlength=len(values))
    background_below = np.cumsum(w_bkg) - w_bkg
    area = np.sum(w_sig * (background_below + 0.5 * w_bkg))
    return float(area / (w_sig.sum() * w_bkg.sum()))


def cut_threshold(scores, efficiency, weights=None):
    """The threshold `t` keeping at least `efficiency` of the events (`score >= t`).

    See the module docstring for the exact definition.

    Args:
        scores: `[N]` scores of one class.
        efficiency: target kept fraction, in (0, 1].
        weights: optional `[N]` non-negative weights.

    Returns:
        Python float, one of `scores`.

    Example:
        >>> cut_threshold([0.9, 0.8, 0.7, 0.6], 0.5)  # 0.8
    """
    check_efficiency(efficiency)
    scores = check_array(scores, "scores", len(np.asarray(scores).reshape(-1)))
    weights = np.ones_like(scores) if weights is None else check_array(weights, "weights", len(scores))
    if len(scores) == 0 or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError("`cut_threshold` needs at least one event and non-negative weights with a positive sum.")
    order = np.argsort(-scores, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = np.searchsorted(cumulative, efficiency * cumulative[-1] * (1.0 - 1e-12), side="left")
    return float(scores[order][min(index, len(scores) - 1)])


def background_rejection(y, scores, signal_efficiency=0.5, weights=None):
    """`1 / eps_B` at the cut keeping `signal_efficiency` of the signal (R50).

    Args:
        y: labels `[N]`, 1 = signal, 0 = background.
        scores: `[N]` classifier outputs, higher = more signal-like.
        signal_efficiency: in (0, 1]; the cut is `score >= t` with `t` from
            `cut_threshold` on the signal scores.
        weights: optional `[N]` non-negative event weights.

    Returns:
        Python float >= 1; `inf` when no background passes.

    Example:
        >>> y = [1, 1, 1, 1, 0, 0, 0, 0, 0]
        >>> s = [.9, .8, .7, .6, .85, .5, .3, .2, .1]
        >>> background_rejection(y, s)  # t = 0.8, eps_B = 1/5: 5.0
    """
    check_efficiency(signal_efficiency)
    y, scores, weights = check_inputs(y, scores, weights)
    check_both_classes(y, weights)
    check_not_constant(scores)
    signal = y == 1
    threshold = cut_threshold(scores[signal], signal_efficiency, weights[signal])
    background = ~signal
    passed = np.sum(weights[background & (scores >= threshold)])
    return math.inf if passed == 0 else float(np.sum(weights[background]) / passed)


def check_efficiency(efficiency):
    """Raises a ValueError unless `efficiency` is a number in (0, 1]."""
    if isinstance(efficiency, bool) or not isinstance(efficiency, (int, float, np.floating, np.integer)) or not (
        0.0 < efficiency <= 1.0
    ):
        raise ValueError(f"An efficiency must be a number in (0, 1]; received {efficiency!r}.")


def check_array(values, name, length):
    """`values` as float64 `[N]` (from `[N]` or `[N, 1]`), raising on a wrong length or NaN/inf."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.ndim != 1:
        raise ValueError(f"`{name}` must have shape [N] or [N, 1]; received {values.shape}.")
    if len(values) != length:
        raise ValueError(f"`{name}` has {len(values)} entries but `y` has {length}.")
    bad = np.flatnonzero(~np.isfinite(values))
    if bad.size:
        raise ValueError(f"`{name}` contains NaN/inf (first at index {bad[0]}).")
    return values


def check_inputs(y, scores, weights):
    """`(labels int64 [N], scores [N], weights [N])` checked: 0/1 labels, finite scores, weights >= 0."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1 or len(y) == 0:
        raise ValueError(f"`y` must be a non-empty array of shape [N]; received shape {y.shape}.")
    labels = y.astype(np.float64)
    if not np.all((labels == 0) | (labels == 1)):
        bad = np.flatnonzero((labels != 0) & (labels != 1))[0]
        raise ValueError(f"`y` must hold 0 (background) or 1 (signal); y[{bad}] = {y[bad]}.")
    scores = check_array(scores, "scores", len(y))
    if weights is None:
        weights = np.ones(len(y))
    else:
        weights = check_array(weights, "weights", len(y))
        if np.any(weights < 0):
            raise ValueError(f"`weights` must be non-negative (first negative at index {np.argmax(weights < 0)}).")
    return labels.astype(np.int64), scores, weights


def check_both_classes(y, weights):
    """Raises unless both classes have events with a positive total weight."""
    for label, name in ((0, "background (y == 0)"), (1, "signal (y == 1)")):
        if not np.any(y == label):
            raise ValueError(f"The metric needs both classes; there is no {name} event.")
        if np.sum(weights[y == label]) <= 0:
            raise ValueError(f"The {name} events have zero total weight.")


def check_not_constant(scores):
    """Raises when every score is equal (no cut can select events)."""
    if scores.min() == scores.max():
        raise ValueError(
            f"All scores are equal ({float(scores[0]):.6g}): a cut cannot select events "
            "(a diverged or untrained model?)."
        )
