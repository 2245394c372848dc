"""Standalone CLUB / L1Out estimates: fit `q(y | x)`, read the bound on held-out pairs."""

import numpy as np
import tensorflow as tf

from invariant_reps.estimators import bounds
from invariant_reps.estimators import neural
from invariant_reps.estimators import uncertainty
from invariant_reps.estimators import upper_bounds
from invariant_reps.estimators.early_stopping import HeldOutEarlyStopping
from invariant_reps.estimators.trainer import PairTrainer

UPPER_BOUND_METHODS = ("club", "l1out")


class ConditionalTrainer(PairTrainer):
    """Fits a `GaussianConditional` by maximum likelihood; scores CLUB or L1Out.

    Args:
        conditional: a `GaussianConditional`.
        bound: `"club"` or `"l1out"`.
        learning_rate: Adam step size.

    Example:
        >>> trainer = ConditionalTrainer(GaussianConditional(), bound="club")
        >>> trainer.train_step(x_batch, y_batch)   # returns the batch's bound
    """

    def __init__(self, conditional, bound="club", learning_rate=1e-3):
        if bound not in UPPER_BOUND_METHODS:
            raise ValueError(f"Unknown bound {bound!r}; expected one of {UPPER_BOUND_METHODS}.")
        super().__init__(conditional, learning_rate=learning_rate)
        self.conditional = conditional
        self.bound = bound

    def evaluate(self, x, y):
        """`(bound, mean log-likelihood)` on one batch, without updating `q`."""
        return super().evaluate(x, y)

    def _train_step(self, x, y):
        with tf.GradientTape() as tape:
            log_probs = self.conditional.pair_log_probs(x, y)
            loss = -tf.reduce_mean(tf.linalg.diag_part(log_probs))
        self._descend(tape, loss)
        return self._bound_value(log_probs)

    def _evaluate(self, x, y):
        log_probs = self.conditional.pair_log_probs(x, y)
        return self._bound_value(log_probs), tf.reduce_mean(tf.linalg.diag_part(log_probs))

    def _bound_value(self, log_probs):
        if self.bound == "l1out":
            return upper_bounds.l1out_bound(log_probs)
        return upper_bounds.club_bound(*bounds.split_pair_scores(log_probs))


def train_and_read_out_upper(x, y, conditional, *, method, batch_size, learning_rate, max_steps,
                             validation_fraction, eval_every, smoothing_window, patience,
                             min_delta, confidence, seed, log):
    """Fits `q(y | x)` on a training split and reads `method`'s bound on the rest.

    Training stops at the plateau of the smoothed held-out log-likelihood,
    the conditional is restored to its best smoothed value, and the bound is
    averaged over the held-out batches at that point (interval from the
    batches). The curve holds the bound (train batches and held-out).

    Returns:
        A `neural.NeuralRun`.
    """
    rng = np.random.default_rng(seed)
    train_indices, heldout_batches = neural.split(
        x.shape[0], batch_size, validation_fraction, rng
    )
    trainer = ConditionalTrainer(conditional, bound=method, learning_rate=learning_rate)
    stopping = HeldOutEarlyStopping(window=smoothing_window, patience=patience, min_delta=min_delta)
    batches = neural.training_batches(train_indices, batch_size, rng)

    def evaluate_heldout():
        evaluations = np.array(
            [[float(value) for value in trainer.evaluate(x[b], y[b])] for b in heldout_batches]
        )
        return evaluations[:, 0], evaluations[:, 1]

    step, divergence = neural.train_until_plateau(
        lambda indices: float(trainer.train_step(x[indices], y[indices])), evaluate_heldout,
        conditional.get_weights, batches, max_steps=max_steps, eval_every=eval_every,
        stopping=stopping, log=log,
    )
    best, messages = neural.stopped_best(stopping, divergence)
    if best is None:
        return neural.failed_run(step, log, messages)
    conditional.set_weights(best.weights)
    values = np.array([float(trainer.evaluate(x[b], y[b])[0]) for b in heldout_batches])
    shuffled = rng.permutation(np.concatenate(heldout_batches))
    null_values = [
        float(trainer.evaluate(x[b], y[shuffled[i * batch_size:(i + 1) * batch_size]])[0])
        for i, b in enumerate(heldout_batches)
    ]
    estimate = float(np.mean(values))
    messages += neural.budget_messages(step, max_steps, stopping, divergence, log,
                                       smoothing_window)
    return neural.NeuralRun(
        mi_nats=estimate, std_nats=float(np.std(values)),
        interval=uncertainty.batch_interval(values, estimate, confidence),
        best_step=best.step, steps=step, converged=stopping.plateaued and divergence is None,
        curve=log.curve(), null_nats=float(np.mean(null_values)), messages=tuple(messages),
    )
