"""FGSM robustness of a classifier, as the information-bottleneck papers measure it.

The protocol of the IB family's evaluation (Pan et al., AAAI 2021; its code's
`AdvAttackEvaluator`), which differs from the textbook FGSM in three ways:

- only the examples the model **initially classifies correctly** are
  attacked, and the reported number is the fraction of *those* still
  classified correctly after the attack (not the accuracy on all examples);
- the attacked loss is the **negative true-class logit** `-f(x)_y` (the seed
  applies NLL to raw logits), so `x' = clip(x + eps * sign(-grad_x f(x)_y))`;
  `loss="cross_entropy"` gives the textbook variant;
- inputs live in `[-1, 1]` (MNIST normalized with mean 0.5, std 0.5), the
  default clip range; `eps` is in that scale.

Works with any Keras classifier (a model whose forward pass gives logits) or
any callable `logits_fn(x, training=False)`. A stochastic model (a VIB
encoder that samples at every pass) draws new noise in each of the forward
passes: the initial classification, the gradient, and the re-classification
at each `eps`, as the seed does; set `keras.utils.set_random_seed` first for
reproducible numbers.
"""

import dataclasses
import inspect
import math
import numbers

import keras
import numpy as np
import tensorflow as tf

LOSSES = ("logit", "cross_entropy")
DEFAULT_EPSILONS = (0.1, 0.2, 0.3)


@dataclasses.dataclass(frozen=True)
class FGSMResult:
    """Outcome of `fgsm_robustness`.

    Attributes:
        epsilons: the attack strengths, in the input scale.
        accuracy: per epsilon, the fraction of the initially correct examples
            still classified correctly after the attack (NaN when no example
            was initially correct). The tables report it times 100.
        num_still_correct: per epsilon, the count behind `accuracy`.
        num_initially_correct: examples classified correctly before the
            attack (the denominator).
        num_examples: examples evaluated.
        loss: the attacked loss, "logit" or "cross_entropy".
    """

    epsilons: tuple
    accuracy: tuple
    num_still_correct: tuple
    num_initially_correct: int
    num_examples: int
    loss: str

    @property
    def clean_accuracy(self):
        """Accuracy before the attack, over all examples."""
        return self.num_initially_correct / self.num_examples

    def as_dict(self):
        """Flat metrics: `fgsm_eps_<eps>` (fraction still correct) and the counts."""
        metrics = {f"fgsm_eps_{eps:g}": acc for eps, acc in zip(self.epsilons, self.accuracy)}
        metrics.update(
            fgsm_num_initially_correct=self.num_initially_correct,
            fgsm_num_examples=self.num_examples,
            fgsm_clean_accuracy=self.clean_accuracy,
        )
        return metrics


def as_logits_fn(model):
    """A callable `x -> logits` (inference mode) from a Keras model or callable.

    Keras models and layers, and callables that accept a `training` keyword
    (or `**kwargs`), are called with `training=False`; other callables with
    `x` alone.

    Args:
        model: a Keras model, or a callable mapping a batch to `[B, K]` logits.

    Returns:
        A callable `logits_fn(x)`.
    """
    if isinstance(model, keras.Layer):
        return lambda x: model(x, training=False)
    if not callable(model):
        raise TypeError(f"Expected a Keras model or a callable returning logits; got {type(model).__name__}.")
    try:
        parameters = inspect.signature(model).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature
        parameters = ()
    if any(p.name == "training" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return lambda x: model(x, training=False)
    return model


def input_gradient(logits_fn, x, loss_fn):
    """`grad_x loss_fn(logits_fn(x))` with `x` watched by a `tf.GradientTape`.

    Args:
        logits_fn: a callable `x -> [B, K]` logits (see `as_logits_fn`).
        x: a float tensor `[B, ...]`.
        loss_fn: maps the logits to a scalar; sum per-example losses, so that
            each example's gradient does not depend on the batch.

    Returns:
        `(gradient, logits)`: the gradient (zeros where the loss does not
        depend on `x`) and the logits of this forward pass.
    """
    with tf.GradientTape(watch_accessed_variables=False) as tape:
        tape.watch(x)
        logits = _check_logits(logits_fn(x), len(x))
        loss = loss_fn(logits)
    gradient = tape.gradient(loss, x)
    return (tf.zeros_like(x) if gradient is None else gradient), logits


def _check_logits(logits, batch):
    """Converts a forward pass's output to a `[batch, K]` tensor, or raises."""
    logits = tf.convert_to_tensor(logits)
    if logits.shape.rank != 2 or logits.shape[0] != batch:
        raise ValueError(f"The model must return logits of shape [{batch}, K]; got {logits.shape}.")
    if not bool(tf.reduce_all(tf.math.is_finite(logits))):
        raise ValueError("The model returned NaN/inf logits; the model diverged.")
    return logits


def fgsm_perturbation(model, x, y, epsilons=DEFAULT_EPSILONS, *, loss="logit", clip=(-1.0, 1.0),
                      batch_size=256):
    """FGSM adversarial examples `clip(x + eps * sign(grad_x loss), lo, hi)` of every example.

    Args:
        model: a Keras classifier or a callable `logits_fn(x, training=False)`.
        x: inputs `[N, ...]`, in the `clip` range.
        y: `[N]` true class ids.
        epsilons: a non-negative number or a sequence of them.
        loss: "logit" (`-f(x)_y`, the IB papers') or "cross_entropy".
        clip: `(lo, hi)` range of valid inputs, or None for no clipping.
        batch_size: examples per forward pass.

    Returns:
        A float array `[len(epsilons), N, ...]`; an exactly zero gradient
        component leaves that input unchanged (`sign(0) = 0`).

    Example:
        >>> x_adv = fgsm_perturbation(model, x_test, y_test, 0.1)[0]
    """
    logits_fn, x, y, epsilons, clip, batch_size = _validate(model, x, y, epsilons, loss, clip, batch_size)
    out = np.empty((len(epsilons),) + x.shape, dtype=x.dtype)
    for start in range(0, len(x), batch_size):
        xb, yb = tf.constant(x[start : start + batch_size]), y[start : start + batch_size]
        sign = _gradient_sign(logits_fn, xb, yb, loss, start)
        for index, eps in enumerate(epsilons):
            out[index, start : start + len(xb)] = _step(xb, eps, sign, clip).numpy()
    return out


def fgsm_robustness(model, x, y, epsilons=DEFAULT_EPSILONS, *, loss="logit", clip=(-1.0, 1.0),
                    batch_size=256):
    """Fraction of the initially correct examples that FGSM does not flip, per `eps`.

    Per batch: classify `x`; keep the correctly classified examples; compute
    `g = sign(grad_x loss)` on them with one gradient pass (loss `-f(x)_y`
    summed over the batch by default); re-classify `clip(x + eps * g)` for
    every `eps`. Examples are independent: the result does not depend on
    `batch_size` (for a deterministic model without batch-coupled layers).

    Args:
        model: a Keras classifier or a callable `logits_fn(x, training=False)`
            returning `[B, K]` logits.
        x: inputs `[N, ...]`, in the `clip` range (`[-1, 1]` for the IB
            papers' MNIST).
        y: `[N]` true class ids in `[0, K)`.
        epsilons: a non-negative number or a sequence of them; defaults to
            the papers' `(0.1, 0.2, 0.3)`.
        loss: "logit" (default, the papers') or "cross_entropy".
        clip: `(lo, hi)` input range, or None for no clipping.
        batch_size: examples per forward pass.

    Returns:
        An `FGSMResult`.

    Example:
        >>> result = fgsm_robustness(model, x_test, y_test)
        >>> result.as_dict()
        {'fgsm_eps_0.1': 0.74, 'fgsm_eps_0.2': 0.25, 'fgsm_eps_0.3': 0.05, ...}
    """
    logits_fn, x, y, epsilons, clip, batch_size = _validate(model, x, y, epsilons, loss, clip, batch_size)
    still_correct = np.zeros(len(epsilons), dtype=np.int64)
    initially_correct = 0
    for start in range(0, len(x), batch_size):
        xb, yb = tf.constant(x[start : start + batch_size]), y[start : start + batch_size]
        logits = _check_logits(logits_fn(xb), len(xb))
        _check_labels(yb, logits.shape[1], start)
        correct = np.flatnonzero(np.argmax(logits.numpy(), axis=1) == yb)
        if correct.size == 0:
            continue
        initially_correct += correct.size
        xc, yc = tf.gather(xb, correct), yb[correct]
        sign = _gradient_sign(logits_fn, xc, yc, loss)
        for index, eps in enumerate(epsilons):
            adversarial = _check_logits(logits_fn(_step(xc, eps, sign, clip)), len(yc))
            still_correct[index] += int(np.sum(np.argmax(adversarial.numpy(), axis=1) == yc))
    accuracy = tuple(
        float(count / initially_correct) if initially_correct else math.nan for count in still_correct
    )
    return FGSMResult(
        epsilons=epsilons,
        accuracy=accuracy,
        num_still_correct=tuple(int(c) for c in still_correct),
        num_initially_correct=int(initially_correct),
        num_examples=len(x),
        loss=loss,
    )


def _gradient_sign(logits_fn, x, y, loss, offset=0):
    labels = tf.constant(y, dtype=tf.int32)

    def loss_fn(logits):
        _check_labels(y, logits.shape[1], offset)
        if loss == "logit":
            return -tf.reduce_sum(tf.gather(logits, labels, axis=1, batch_dims=1))
        return tf.reduce_sum(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, logits))

    gradient, _ = input_gradient(logits_fn, x, loss_fn)
    return tf.sign(gradient)


def _step(x, eps, sign, clip):
    perturbed = x + tf.cast(eps, x.dtype) * sign
    return perturbed if clip is None else tf.clip_by_value(perturbed, clip[0], clip[1])


def _check_labels(y, num_classes, offset):
    bad = np.flatnonzero((y < 0) | (y >= num_classes))
    if bad.size:
        raise ValueError(
            f"`y` must hold class ids in [0, {num_classes}); example {offset + bad[0]} is {y[bad[0]]}."
        )


def _validate_clip(clip):
    """Returns `clip` as a `(lo, hi)` float pair with `lo < hi`, or None."""
    if clip is None:
        return None
    try:
        lo, hi = (float(v) for v in clip)
    except (TypeError, ValueError):
        raise ValueError(f"`clip` must be None or a (lo, hi) pair of numbers; received {clip!r}.") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"`clip` must satisfy lo < hi, both finite; received {clip!r}.")
    return lo, hi


def _validate_inputs(x):
    """`x` as a finite float array `[N, ...]` with `N >= 1` (Keras float dtype), or raises."""
    x = np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"`x` is empty (shape {x.shape}); nothing to evaluate.")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"`x` must be numeric; got dtype {x.dtype}.")
    x = x.astype(keras.config.floatx(), copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"`x` contains NaN/inf (first at example {np.argwhere(~np.isfinite(x))[0][0]}).")
    return x


def _validate_batch_size(batch_size):
    """`batch_size` as a positive int, or raises."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive int; received {batch_size!r}.")
    return int(batch_size)


def _validate(model, x, y, epsilons, loss, clip, batch_size):
    if loss not in LOSSES:
        raise ValueError(f"Unknown FGSM loss {loss!r}; valid losses are {list(LOSSES)}.")
    logits_fn = as_logits_fn(model)
    x = _validate_inputs(x)
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"`y` must be [N] = [{len(x)}] class ids; got shape {y.shape}.")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"`y` must be integer class ids; got dtype {y.dtype}.")
    if isinstance(epsilons, numbers.Real):
        epsilons = (epsilons,)
    epsilons = tuple(float(eps) for eps in epsilons)
    if not epsilons:
        raise ValueError("`epsilons` is empty; pass at least one attack strength.")
    for eps in epsilons:
        if not (math.isfinite(eps) and eps >= 0):
            raise ValueError(f"Every epsilon must be finite and >= 0; received {eps!r}.")
    return logits_fn, x, y.astype(np.int64), epsilons, _validate_clip(clip), _validate_batch_size(batch_size)
