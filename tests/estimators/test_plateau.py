"""The moving-average plateau test on synthetic curves."""

import math

import numpy as np
import pytest

from invariant_reps.estimators import PlateauDetector


def test_hand_traced_sequence():
    detector = PlateauDetector(window=3, patience=2, min_delta=0.0)
    # Smoothed: -, -, 2, 2.67, 3, 3, 3 -> improvements stop after the 5th.
    fired = [detector.update(v) for v in [1, 2, 3, 3, 3, 3, 3]]
    assert fired == [False] * 6 + [True]
    assert detector.best == pytest.approx(3.0)


def test_fires_after_a_noisy_saturating_curve_levels_off():
    rng = np.random.default_rng(0)
    steps = np.arange(200)
    curve = 4.0 * (1.0 - np.exp(-steps / 15.0)) + rng.normal(0.0, 0.05, size=steps.size)
    detector = PlateauDetector(window=5, patience=10, min_delta=0.02)
    stop = next(i for i, value in enumerate(curve) if detector.update(value))
    # The curve is within min_delta of its limit after about 15 * log(4 / 0.02) = 80 points.
    assert 40 < stop < 120
    assert detector.smoothed == pytest.approx(4.0, abs=0.1)


def test_never_fires_on_a_steadily_rising_curve():
    detector = PlateauDetector(window=5, patience=3, min_delta=0.01)
    assert not any(detector.update(0.05 * step) for step in range(300))
    assert detector.evaluations_since_improvement == 0


def test_no_decision_before_the_window_fills():
    detector = PlateauDetector(window=4, patience=1)
    assert [detector.update(1.0) for _ in range(4)] == [False] * 4
    assert detector.smoothed == 1.0
    assert detector.update(1.0)


def test_rejects_non_finite_values_and_bad_arguments():
    with pytest.raises(ValueError, match="finite"):
        PlateauDetector().update(math.nan)
    with pytest.raises(ValueError, match="window=0"):
        PlateauDetector(window=0)
    with pytest.raises(ValueError, match="patience=1.5"):
        PlateauDetector(patience=1.5)
    with pytest.raises(ValueError, match="min_delta=-0.1"):
        PlateauDetector(min_delta=-0.1)
