"""Held-out early stopping: the peak is reported, with the critic restored to it."""

import warnings

import numpy as np
import pytest

from invariant_reps.estimators import CriticTrainer
from invariant_reps.estimators import HeldOutEarlyStopping
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import OverfittingWarning
from invariant_reps.estimators import SeparableCritic
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import neural


def test_tracker_keeps_the_best_window_and_its_middle_weights():
    stopping = HeldOutEarlyStopping(window=3, patience=2, min_delta=0.0)
    curve = [0.0, 3.0, 6.0, 3.0, 0.0, -3.0]
    stops = [stopping.update(step, [value - 1.0, value + 1.0], lambda step=step: [step])
             for step, value in zip(range(10, 70, 10), curve)]
    # Windows: (0,3,6)=3 at steps 10-30, (3,6,3)=4 at 20-40, (6,3,0)=3, (3,0,-3)=0.
    assert stops == [False, False, False, False, False, True]
    assert stopping.best.value == pytest.approx(4.0)
    assert stopping.best.step == 30 and stopping.best.weights == [30]
    np.testing.assert_allclose(stopping.best.batch_values, [3.0, 5.0])
    assert stopping.last_smoothed == pytest.approx(0.0)


def test_partial_window_when_training_ends_early():
    stopping = HeldOutEarlyStopping(window=5, patience=2)
    stopping.update(10, [1.0, 3.0])
    stopping.update(20, [3.0, 5.0])
    assert stopping.best is None
    partial = stopping.best_or_partial()
    assert partial.value == pytest.approx(3.0) and partial.step == 10


def test_overfitting_run_reports_the_peak_not_the_last_value():
    # 10 + 10 dimensions, 400 training pairs and a fast optimizer: the critic
    # overfits within a few dozen steps and the held-out bound then falls
    # far below zero. The old read-out (mean of the last 5 evaluations) was
    # about -2 nats here; the peak is reported, with its critic.
    rho = ground_truth.rho_for_mi(1.0, 10)
    x, y = ground_truth.correlated_gaussian(500, 10, rho, seed=0)
    critic = SeparableCritic(hidden_units=(64, 64), embedding_dim=16, seed=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MIEstimationWarning)
        result = estimate_mi(
            x, y, "smile", critic, batch_size=32, learning_rate=5e-3, eval_every=10,
            max_steps=200, patience=15, preprocessing="none", cross_check=False, seed=0,
        )
    curve = result.curve
    smoothed = np.convolve(curve.heldout_nats, np.ones(5) / 5, mode="valid")
    old_readout = float(np.mean(curve.heldout_nats[-5:]))
    assert result.mi_nats == pytest.approx(smoothed.max())
    assert result.mi_nats - old_readout > 1.0
    assert any(issubclass(w.category, OverfittingWarning) for w in caught)
    expected = f"peaked at {result.mi_nats:.3f} nats at step {result.best_step}"
    assert any(expected in message for message in result.warnings)
    # The critic was restored: its held-out bound is the curve's value at best_step.
    _, heldout_batches = neural.split(500, 32, 0.2, np.random.default_rng(0))
    trainer = CriticTrainer(critic, "smile")
    restored = np.mean([
        float(trainer.evaluate(x[b].astype("float32"), y[b].astype("float32")))
        for b in heldout_batches
    ])
    at_best = curve.heldout_nats[list(curve.steps).index(result.best_step)]
    assert restored == pytest.approx(at_best, abs=1e-4)
    # On shuffled held-out pairs the restored critic scores below 0 (about -0.8
    # nats here): the peak is information, not a bias of the critic.
    assert result.null_nats < 0.0 < result.mi_nats
