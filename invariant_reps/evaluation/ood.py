"""Out-of-distribution detection with ODIN, as the information-bottleneck papers measure it.

The protocol of the IB family's evaluation (Pan et al., AAAI 2021; its code's
`OutDetectionEvaluator`, after Liang et al., ICLR 2018):

- **ODIN score.** With temperature `T` (1000) and magnitude `eps` (0.0014):
  `x~ = clip(x - eps * s)` where `s` is the sign of
  `grad_x CE(f(x) / T, argmax f(x))`, a zero gradient taken as `+1`; the
  score is `max softmax(f(x~) / T)`. In-distribution inputs should score
  higher.
- **OOD set.** One N(0, 1) image per in-distribution image, clipped to
  `[-1, 1]` (`gaussian_noise_like`).
- **Metrics** (`ood_metrics`), on 10,000 evenly spaced thresholds between the
  minimum and maximum of all scores, as the seed's Riemann sums with
  precision computed from rates: FPR at 95% TPR, AUROC, AUPR-In, AUPR-Out
  and the detection error. scikit-learn's exact AUROC and average
  precisions are reported next to them.

Works with any Keras classifier or callable `logits_fn(x, training=False)`;
a stochastic model draws new noise in the gradient pass and in the scoring
pass, as the seed does.
"""

import dataclasses
import math
import numbers

import numpy as np
import tensorflow as tf
from scipy import special
from sklearn import metrics as sk_metrics

from invariant_reps.evaluation.adversarial import (
    _check_logits,
    _validate_batch_size,
    _validate_clip,
    _validate_inputs,
    as_logits_fn,
    input_gradient,
)

DEFAULT_TEMPERATURE = 1000.0
DEFAULT_MAGNITUDE = 0.0014
DEFAULT_NUM_THRESHOLDS = 10_000
# The seed's band of ranks (from the top) of the in-distribution scores used as thresholds.
_TPR_BAND = (0.9495, 0.9505)


@dataclasses.dataclass(frozen=True)
class OODMetrics:
    """Detection metrics, in-distribution as positive, all in [0, 1] (tables: x 100).

    Attributes:
        fpr_at_95_tpr: the seed's "TPR95": mean fraction of OOD scores `>=`
            each threshold taken from the in-distribution scores ranked in the
            94.95%-95.05% band from the top. Lower is better.
        auroc: Riemann AUROC on the threshold grid.
        aupr_in: Riemann area under precision-recall, in-distribution positive.
        aupr_out: the same with OOD positive and thresholds descending.
        detection_error: min over the grid of `(1 - TPR) / 2 + FPR / 2`.
        auroc_exact: `sklearn.metrics.roc_auc_score` (ties count one half).
        aupr_in_exact: `sklearn.metrics.average_precision_score`, in positive
            (precision from counts).
        aupr_out_exact: the same with OOD positive on negated scores.
        num_in: in-distribution scores.
        num_out: OOD scores.
        num_thresholds: size of the threshold grid.
    """

    fpr_at_95_tpr: float
    auroc: float
    aupr_in: float
    aupr_out: float
    detection_error: float
    auroc_exact: float
    aupr_in_exact: float
    aupr_out_exact: float
    num_in: int
    num_out: int
    num_thresholds: int

    def as_dict(self):
        return dataclasses.asdict(self)


def odin_perturb(model, x, *, temperature=DEFAULT_TEMPERATURE, epsilon=DEFAULT_MAGNITUDE,
                 clip=(-1.0, 1.0), batch_size=256):
    """ODIN's input preprocessing `clip(x - eps * sign(grad_x CE(f(x)/T, argmax f(x))))`.

    The step lowers the cross-entropy of the predicted class, i.e. raises the
    temperature-scaled max softmax. A gradient component `>= 0` (zero
    included) counts as `+1`, a negative one as `-1`, as in the seed. The
    cross-entropy is summed over the batch, so each example's step does not
    depend on the batch.

    Args:
        model: a Keras classifier or a callable `logits_fn(x, training=False)`.
        x: inputs `[N, ...]` in the `clip` range.
        temperature: `T > 0`.
        epsilon: perturbation magnitude `>= 0`.
        clip: `(lo, hi)` input range, or None.
        batch_size: examples per forward pass.

    Returns:
        The perturbed inputs, an array shaped like `x`.

    Example:
        >>> x_tilde = odin_perturb(model, x_test)
    """
    logits_fn, x, temperature, epsilon, clip, batch_size = _validate(
        model, x, temperature, epsilon, clip, batch_size
    )
    batches = (tf.constant(x[start : start + batch_size]) for start in range(0, len(x), batch_size))
    return np.concatenate([_perturb(logits_fn, xb, temperature, epsilon, clip).numpy() for xb in batches])


def odin_scores(model, x, *, temperature=DEFAULT_TEMPERATURE, epsilon=DEFAULT_MAGNITUDE,
                clip=(-1.0, 1.0), batch_size=256):
    """ODIN scores `max softmax(f(x~) / T)` of every example (`x~` from `odin_perturb`).

    The final softmax is taken in float64: at `T = 1000` the scores differ
    from `1/K` by about 1e-4, where float32 would create ties.

    Args:
        model: a Keras classifier or a callable `logits_fn(x, training=False)`.
        x: inputs `[N, ...]` in the `clip` range.
        temperature: `T > 0`, 1000 by default.
        epsilon: perturbation magnitude `>= 0`, 0.0014 by default (0 gives
            temperature scaling alone).
        clip: `(lo, hi)` input range, or None.
        batch_size: examples per forward pass.

    Returns:
        A float64 array `[N]`.
    """
    logits_fn, x, temperature, epsilon, clip, batch_size = _validate(
        model, x, temperature, epsilon, clip, batch_size
    )
    scores = []
    for start in range(0, len(x), batch_size):
        xb = tf.constant(x[start : start + batch_size])
        perturbed = _perturb(logits_fn, xb, temperature, epsilon, clip)
        logits = _check_logits(logits_fn(perturbed), len(perturbed)).numpy().astype(np.float64)
        scores.append(np.max(special.softmax(logits / temperature, axis=1), axis=1))
    return np.concatenate(scores)


def gaussian_noise_like(x, *, seed=0, clip=(-1.0, 1.0)):
    """The seed's OOD set: one N(0, 1) image per input, clipped to `clip`, seeded.

    Args:
        x: in-distribution inputs `[N, ...]`; only their shape (and float
            dtype, else float32) is used.
        seed: seed of `numpy.random.default_rng`.
        clip: `(lo, hi)` range, or None.

    Returns:
        An array shaped like `x`.
    """
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"`x` is empty (shape {x.shape}).")
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float32
    noise = np.random.default_rng(seed).standard_normal(x.shape).astype(dtype)
    clip = _validate_clip(clip)
    return noise if clip is None else np.clip(noise, clip[0], clip[1])


def ood_metrics(in_scores, out_scores, *, num_thresholds=DEFAULT_NUM_THRESHOLDS):
    """The seed's OOD-detection metrics of scores (higher = more in-distribution).

    Thresholds `delta_k = lo + k (hi - lo) / num_thresholds`,
    `k = 0 .. num_thresholds - 1`, with `lo`, `hi` the min and max of all
    scores; `TPR(delta) = P_in(score >= delta)`, `FPR(delta) = P_out(score >= delta)`.

    - AUROC = `sum_k (FPR_{k-1} - FPR_k) TPR_k` with `FPR_{-1} = 1`.
    - AUPR-In = `sum_k (R_{k-1} - R_k) P_k` with `R = TPR`,
      `P = TPR / (TPR + FPR)` (rates, not counts), `R_{-1} = 1`, skipping
      thresholds where `TPR + FPR = 0`.
    - AUPR-Out: the same on thresholds `hi - k (hi - lo) / num_thresholds`
      with OOD positive: `R = P_out(score < delta)`, false positives
      `P_in(score < delta)`.
    - Detection error = `min(1, min_k (1 - TPR_k + FPR_k) / 2)`.
    - The sums stop at the last threshold, `hi - (hi - lo) / num_thresholds`:
      the part of a curve beyond it is not counted (so a perfect detector's
      AUPR-In is 1 minus the fraction of in-scores above that threshold).
    - FPR at 95% TPR: the in-distribution scores sorted descending; the
      thresholds are those at 0-based ranks `int(0.9495 n)` to
      `int(0.9505 n) - 1` (the one at rank `int(0.9505 n)` when that range is
      empty), where about 95% of in-distribution scores are `>=` the
      threshold; the result is the mean of `FPR` over them.

    When all scores are equal the grid is degenerate; the metrics are those
    of a detector that cannot separate (AUROC, AUPRs and detection error 0.5,
    FPR 1).

    Args:
        in_scores: `[n_in]` scores of in-distribution examples (positives).
        out_scores: `[n_out]` scores of OOD examples.
        num_thresholds: grid size, 10,000 by default.

    Returns:
        An `OODMetrics`.

    Example:
        >>> m = ood_metrics(odin_scores(model, x_test), odin_scores(model, noise))
        >>> print(f"AUROC {100 * m.auroc:.2f}  FPR@95 {100 * m.fpr_at_95_tpr:.2f}")
    """
    in_scores = _scores(in_scores, "in_scores")
    out_scores = _scores(out_scores, "out_scores")
    if isinstance(num_thresholds, bool) or not isinstance(num_thresholds, numbers.Integral) \
            or num_thresholds < 1:
        raise ValueError(f"`num_thresholds` must be a positive int; received {num_thresholds!r}.")
    n_in, n_out = len(in_scores), len(out_scores)
    sorted_in, sorted_out = np.sort(in_scores), np.sort(out_scores)
    labels = np.concatenate([np.ones(n_in), np.zeros(n_out)])
    all_scores = np.concatenate([in_scores, out_scores])
    exact = dict(
        auroc_exact=float(sk_metrics.roc_auc_score(labels, all_scores)),
        aupr_in_exact=float(sk_metrics.average_precision_score(labels, all_scores)),
        aupr_out_exact=float(sk_metrics.average_precision_score(1 - labels, -all_scores)),
        num_in=n_in,
        num_out=n_out,
        num_thresholds=int(num_thresholds),
    )
    fpr_at_95 = _fpr_at_95_tpr(sorted_in, sorted_out)
    low, high = all_scores.min(), all_scores.max()
    if low == high:
        return OODMetrics(fpr_at_95, 0.5, 0.5, 0.5, 0.5, **exact)

    steps = np.arange(num_thresholds) * ((high - low) / num_thresholds)
    ascending = low + steps
    tpr = _fraction_at_least(sorted_in, ascending)
    fpr = _fraction_at_least(sorted_out, ascending)
    auroc = np.sum((np.concatenate([[1.0], fpr[:-1]]) - fpr) * tpr)
    aupr_in = _riemann_aupr(tpr, fpr)
    descending = high - steps
    aupr_out = _riemann_aupr(
        1.0 - _fraction_at_least(sorted_out, descending),  # OOD below the threshold: true positives
        1.0 - _fraction_at_least(sorted_in, descending),  # in-distribution below it: false positives
    )
    detection_error = min(1.0, float(np.min((1.0 - tpr + fpr) / 2.0)))
    return OODMetrics(fpr_at_95, float(auroc), aupr_in, aupr_out, detection_error, **exact)


def odin_detection(model, x_in, x_out=None, *, seed=0, temperature=DEFAULT_TEMPERATURE,
                   epsilon=DEFAULT_MAGNITUDE, clip=(-1.0, 1.0), batch_size=256,
                   num_thresholds=DEFAULT_NUM_THRESHOLDS):
    """ODIN scores of in-distribution and OOD inputs, and their `ood_metrics`.

    Args:
        model: a Keras classifier or a callable `logits_fn(x, training=False)`.
        x_in: in-distribution inputs `[N, ...]` (the IB papers: MNIST test in
            `[-1, 1]`).
        x_out: OOD inputs, or None for `gaussian_noise_like(x_in, seed=seed,
            clip=clip)` (the papers' Gaussian-noise set).
        seed: seed of the Gaussian OOD set.
        temperature: ODIN temperature, 1000 by default.
        epsilon: ODIN perturbation magnitude, 0.0014 by default.
        clip: `(lo, hi)` input range, or None.
        batch_size: examples per forward pass.
        num_thresholds: threshold grid of the Riemann metrics.

    Returns:
        An `OODMetrics`.

    Example:
        >>> odin_detection(model, x_test).as_dict()
    """
    if x_out is None:
        x_out = gaussian_noise_like(x_in, seed=seed, clip=clip)
    kwargs = dict(temperature=temperature, epsilon=epsilon, clip=clip, batch_size=batch_size)
    return ood_metrics(
        odin_scores(model, x_in, **kwargs), odin_scores(model, x_out, **kwargs), num_thresholds=num_thresholds
    )


def _perturb(logits_fn, x, temperature, epsilon, clip):
    def loss_fn(logits):
        scaled = logits / tf.cast(temperature, logits.dtype)
        predicted = tf.stop_gradient(tf.argmax(scaled, axis=1))
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(predicted, scaled))

    gradient, _ = input_gradient(logits_fn, x, loss_fn)
    sign = tf.where(gradient >= 0, tf.ones_like(x), -tf.ones_like(x))
    perturbed = x - tf.cast(epsilon, x.dtype) * sign
    return perturbed if clip is None else tf.clip_by_value(perturbed, clip[0], clip[1])


def _fraction_at_least(sorted_scores, thresholds):
    return (len(sorted_scores) - np.searchsorted(sorted_scores, thresholds, side="left")) / len(sorted_scores)


def _riemann_aupr(recall, false_rate):
    keep = recall + false_rate > 0
    recall, false_rate = recall[keep], false_rate[keep]
    precision = recall / (recall + false_rate)
    previous = np.concatenate([[1.0], recall[:-1]])
    return float(np.sum((previous - recall) * precision))


def _fpr_at_95_tpr(sorted_in, sorted_out):
    descending = sorted_in[::-1]
    lower, upper = (int(q * len(descending)) for q in _TPR_BAND)
    thresholds = descending[lower:upper] if upper > lower else descending[upper : upper + 1]
    return float(np.mean(_fraction_at_least(sorted_out, thresholds)))


def _scores(scores, name):
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 1:
        raise ValueError(f"`{name}` must be a 1-D array of scores; got shape {scores.shape}.")
    if scores.size == 0:
        raise ValueError(f"`{name}` is empty.")
    if not np.isfinite(scores).all():
        raise ValueError(f"`{name}` contains NaN/inf (first at {np.flatnonzero(~np.isfinite(scores))[0]}).")
    return scores


def _validate(model, x, temperature, epsilon, clip, batch_size):
    logits_fn = as_logits_fn(model)
    x = _validate_inputs(x)
    for name, value in (("temperature", temperature), ("epsilon", epsilon)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise ValueError(f"`{name}` must be a finite number; received {value!r}.")
    if not temperature > 0:
        raise ValueError(f"`temperature` must be > 0; received {temperature!r}.")
    if not epsilon >= 0:
        raise ValueError(f"`epsilon` must be >= 0; received {epsilon!r}.")
    clip, batch_size = _validate_clip(clip), _validate_batch_size(batch_size)
    return logits_fn, x, float(temperature), float(epsilon), clip, batch_size
