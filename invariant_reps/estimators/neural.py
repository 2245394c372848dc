"""The neural estimators' loop: train a critic, stop on held-out data, read the peak."""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from invariant_reps.estimators import diagnostics
from invariant_reps.estimators import uncertainty
from invariant_reps.estimators.early_stopping import HeldOutEarlyStopping
from invariant_reps.estimators.trainer import CriticTrainer

# Held-out batches evaluated at each check; caps the cost on large data.
MAX_HELDOUT_BATCHES = 64


@dataclasses.dataclass(frozen=True)
class TrainingCurve:
    """Estimates in nats at each evaluation step of a neural estimator.

    Attributes:
        steps: training steps at which the curve was evaluated.
        train_nats: mean training-batch bound since the previous evaluation.
        heldout_nats: mean bound over the held-out batches.
    """

    steps: np.ndarray
    train_nats: np.ndarray
    heldout_nats: np.ndarray


@dataclasses.dataclass(frozen=True)
class NeuralRun:
    """What `train_and_read_out` found (see `MIEstimate` for the fields)."""

    mi_nats: float
    std_nats: float
    interval: tuple
    best_step: int | None
    steps: int
    converged: bool
    curve: TrainingCurve
    null_nats: float
    messages: tuple


def train_and_read_out(x, y, critic, *, method, batch_size, learning_rate, max_steps,
                       validation_fraction, eval_every, smoothing_window, patience,
                       min_delta, clip, moving_average_rate, confidence, seed, log):
    """Trains `critic` on a split of `(x, y)`; reads the bound on the rest.

    Every `eval_every` steps the bound is evaluated on fixed held-out
    batches. `HeldOutEarlyStopping` smooths that curve, stops at its
    plateau and keeps the critic of its best smoothed value; the critic is
    restored to it at the end. The reported value is that best smoothed
    held-out value, its interval comes from the held-out batches
    (`uncertainty.batch_interval`), and the permutation baseline is the
    restored critic's bound on the held-out pairs shuffled.

    Returns:
        A `NeuralRun`; `messages` holds `(category, text)` pairs.
    """
    rng = np.random.default_rng(seed)
    train_indices, heldout_batches = split(x.shape[0], batch_size, validation_fraction, rng)
    if hasattr(critic, "adapt"):
        # Critics with a fitted part (`GaussianResidualCritic`) see training pairs only.
        critic.adapt(x[train_indices], y[train_indices])
    trainer = CriticTrainer(
        critic, method=method, learning_rate=learning_rate, clip=clip,
        moving_average_rate=moving_average_rate,
    )
    stopping = HeldOutEarlyStopping(window=smoothing_window, patience=patience, min_delta=min_delta)
    batches = training_batches(train_indices, batch_size, rng)
    if hasattr(critic, "adapt"):
        # A fitted critic is already a good one: its untrained bound is a candidate.
        heldout = np.array([float(trainer.evaluate(x[b], y[b])) for b in heldout_batches])
        if np.isfinite(heldout).all():
            log.record(0, math.nan, float(np.mean(heldout)))
            stopping.update(0, heldout, critic.get_weights)

    def evaluate_heldout():
        values = np.array([float(trainer.evaluate(x[b], y[b])) for b in heldout_batches])
        return values, values

    step, divergence = train_until_plateau(
        lambda indices: float(trainer.train_step(x[indices], y[indices])), evaluate_heldout,
        critic.get_weights, batches, max_steps=max_steps, eval_every=eval_every,
        stopping=stopping, log=log,
    )
    best, messages = stopped_best(stopping, divergence)
    if best is None:
        return failed_run(step, log, messages)
    critic.set_weights(best.weights)
    interval = uncertainty.batch_interval(best.batch_values, best.value, confidence)
    std_nats = float(np.std(best.batch_values))
    messages += _curve_messages(method, best, stopping, std_nats, batch_size)
    converged = stopping.plateaued and divergence is None
    messages += budget_messages(step, max_steps, stopping, divergence, log, smoothing_window)
    null_nats = _shuffled_heldout_bound(trainer, x, y, heldout_batches, rng)
    return NeuralRun(
        mi_nats=best.value, std_nats=std_nats, interval=interval, best_step=best.step,
        steps=step, converged=converged, curve=log.curve(), null_nats=null_nats,
        messages=tuple(messages),
    )


def train_until_plateau(train_step, evaluate_heldout, get_weights, batches, *, max_steps,
                        eval_every, stopping, log):
    """The training loop shared by every trained estimator.

    Every `eval_every` steps (and at `max_steps`) the held-out values are
    computed, the curve point is logged (mean training value since the
    last point, mean held-out value) and `stopping` is fed; the loop ends
    when `stopping` reports a plateau, at `max_steps`, or when a value
    becomes NaN or infinite. `log` is closed in every case.

    Args:
        train_step: `train_step(indices) -> float`, one update on a batch,
            returning its value.
        evaluate_heldout: `() -> (curve_values, stopping_values)`, `[B]`
            arrays over the held-out batches: the curve's values, and those
            the stopping rule tracks (the same for lower bounds; the
            likelihood of `q(y|x)` for upper bounds).
        get_weights: callable copying the model's weights.
        batches: iterator of training index batches.
        max_steps: the most training steps.
        eval_every: steps between evaluations.
        stopping: a `HeldOutEarlyStopping`.
        log: a `CurveLog`.

    Returns:
        `(step, divergence)`: the last step taken, and `(step, value,
        "training" | "held-out")` when a value became non-finite, else None.

    Example:
        >>> step, divergence = train_until_plateau(
        ...     step_fn, heldout_fn, critic.get_weights, batches, max_steps=5000,
        ...     eval_every=50, stopping=HeldOutEarlyStopping(), log=CurveLog("smile", None, None))
    """
    recent_train, step = [], 0
    try:
        for step in range(1, max_steps + 1):
            recent_train.append(train_step(next(batches)))
            if not math.isfinite(recent_train[-1]):
                return step, (step, recent_train[-1], "training")
            if step % eval_every and step != max_steps:
                continue
            curve_values, stopping_values = evaluate_heldout()
            if not (np.isfinite(curve_values).all() and np.isfinite(stopping_values).all()):
                return step, (step, float(np.mean(curve_values)), "held-out")
            log.record(step, float(np.mean(recent_train)), float(np.mean(curve_values)))
            recent_train = []
            if stopping.update(step, stopping_values, get_weights):
                break
    finally:
        log.close()
    return step, None


def stopped_best(stopping, divergence):
    """`(best, messages)` after `train_until_plateau`: the best point, a divergence warning."""
    best = stopping.best_or_partial()
    messages = []
    if divergence is not None:
        messages.append((
            diagnostics.UnstableEstimateWarning,
            diagnostics.divergence_message(*divergence, best_step=best.step if best else None),
        ))
    return best, messages


def failed_run(step, log, messages):
    """The `NeuralRun` of a run that diverged before its first held-out point."""
    return NeuralRun(
        mi_nats=math.nan, std_nats=math.nan, interval=(math.nan, math.nan), best_step=None,
        steps=step, converged=False, curve=log.curve(), null_nats=math.nan,
        messages=tuple(messages),
    )


def budget_messages(step, max_steps, stopping, divergence, log, window):
    """A `NotConvergedWarning` when training used `max_steps` without a plateau."""
    if step < max_steps or stopping.plateaued or divergence is not None:
        return []
    return [(
        diagnostics.NotConvergedWarning,
        diagnostics.not_converged_message(max_steps, recent_gain(log.heldout, window)),
    )]


def _curve_messages(method, best, stopping, std_nats, batch_size):
    messages = []
    if method == "infonce":
        text = diagnostics.infonce_ceiling_message(best.value, batch_size)
        if text:
            messages.append((diagnostics.InfoNCECeilingWarning, text))
    fall = best.value - stopping.last_smoothed
    if math.isfinite(fall) and fall > 0.1 * max(1.0, abs(best.value)):
        messages.append((
            diagnostics.OverfittingWarning,
            diagnostics.overfitting_message(
                best.value, best.step, stopping.last_smoothed, stopping.last_step
            ),
        ))
    text = diagnostics.variance_message(std_nats, best.value)
    if text:
        messages.append((diagnostics.UnstableEstimateWarning, text))
    return messages


def _shuffled_heldout_bound(trainer, x, y, heldout_batches, rng):
    """The restored critic's bound on held-out pairs with `y` shuffled."""
    heldout = np.concatenate(heldout_batches)
    shuffled = rng.permutation(heldout)
    size = len(heldout_batches[0])
    values = [
        float(trainer.evaluate(x[heldout[i:i + size]], y[shuffled[i:i + size]]))
        for i in range(0, heldout.size, size)
    ]
    return float(np.mean(values)) if np.isfinite(values).all() else math.nan


def recent_gain(heldout, window):
    """Change of a curve between its last two `window`-point means (NaN if short)."""
    heldout = np.asarray(heldout, dtype=np.float64)
    if heldout.size < 2 * window:
        return math.nan
    return float(np.mean(heldout[-window:]) - np.mean(heldout[-2 * window:-window]))


def split(num_samples, batch_size, validation_fraction, rng):
    """Shuffles once; returns training indices and held-out index batches."""
    order = rng.permutation(num_samples)
    num_heldout = int(round(validation_fraction * num_samples))
    num_train = num_samples - num_heldout
    if num_heldout < batch_size or num_train < batch_size:
        raise ValueError(
            f"{num_samples} samples with validation_fraction={validation_fraction} give "
            f"{num_train} training and {num_heldout} held-out samples; both need at "
            f"least batch_size={batch_size}. Pass more samples or a smaller batch_size."
        )
    heldout, train = order[:num_heldout], order[num_heldout:]
    # Whole batches only: every bound depends on the batch size.
    num_batches = min(num_heldout // batch_size, MAX_HELDOUT_BATCHES)
    heldout_batches = [heldout[i * batch_size:(i + 1) * batch_size] for i in range(num_batches)]
    return train, heldout_batches


def training_batches(train_indices, batch_size, rng):
    """Yields index batches forever, reshuffling at each epoch."""
    while True:
        order = rng.permutation(train_indices)
        for start in range(0, order.size - batch_size + 1, batch_size):
            yield order[start:start + batch_size]


class CurveLog:
    """Collects the curve; forwards each point to TensorBoard and the callback."""

    def __init__(self, method, log_dir, callback):
        self.method = method
        self.callback = callback
        self.steps, self.train, self.heldout = [], [], []
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir is not None else None

    def record(self, step, train_value, heldout_value):
        self.steps.append(step)
        self.train.append(train_value)
        self.heldout.append(heldout_value)
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.scalar(f"mi/{self.method}/train", train_value, step=step)
                tf.summary.scalar(f"mi/{self.method}/heldout", heldout_value, step=step)
        if self.callback is not None:
            self.callback(step, train_value, heldout_value)

    def close(self):
        if self._writer is not None:
            self._writer.close()

    def curve(self):
        return TrainingCurve(
            steps=np.asarray(self.steps, dtype=np.int64),
            train_nats=np.asarray(self.train, dtype=np.float64),
            heldout_nats=np.asarray(self.heldout, dtype=np.float64),
        )
