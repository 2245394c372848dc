"""Held-out early stopping that keeps the critic of the best smoothed value."""

import collections
import dataclasses
import math

import numpy as np

from invariant_reps.estimators.plateau import PlateauDetector


@dataclasses.dataclass(frozen=True)
class BestHeldOut:
    """The best point of a smoothed held-out curve.

    Attributes:
        value: the best `window`-point moving average of the held-out curve.
        step: the training step of the middle evaluation of that window,
            whose critic weights are kept.
        weights: those weights (a list of arrays), or None.
        batch_values: `[B]` per-held-out-batch values averaged over the
            window's evaluations, whose mean is `value`.
    """

    value: float
    step: int
    weights: list | None
    batch_values: np.ndarray


class HeldOutEarlyStopping:
    """Tracks a held-out curve: plateau test, best smoothed value, its weights.

    Each evaluation brings the per-batch held-out values of the bound and a
    way to copy the critic's weights. The curve is smoothed by a trailing
    moving average of `window` evaluations. The best smoothed value, the
    step of its window's middle evaluation and that evaluation's weights
    are kept, so that a run which overfits after its peak can report the
    peak and restore the critic to it. Training should stop when
    `update` returns True: the plateau test of `PlateauDetector` (no gain of
    more than `min_delta` for `patience` evaluations) fired, which covers
    both a flat curve and one that fell after its peak.

    Args:
        window: evaluations in the moving average.
        patience: evaluations without improvement before stopping.
        min_delta: gain in nats that resets the patience.

    Example:
        >>> stopping = HeldOutEarlyStopping(window=3, patience=5)
        >>> for step in range(100, 5001, 100):
        ...     train_some_more()
        ...     if stopping.update(step, heldout_batch_values(), critic.get_weights):
        ...         break
        >>> critic.set_weights(stopping.best.weights)
    """

    def __init__(self, window=5, patience=10, min_delta=0.01):
        self.detector = PlateauDetector(window=window, patience=patience, min_delta=min_delta)
        self.window = window
        self._recent = collections.deque(maxlen=window)
        self.best = None
        self.last_smoothed = math.nan
        self.last_step = None

    @property
    def plateaued(self):
        """Whether the plateau test has fired."""
        return self.detector.plateaued

    def update(self, step, batch_values, get_weights=None):
        """Feeds one evaluation; returns True once the curve has plateaued.

        Args:
            step: the training step of this evaluation.
            batch_values: `[B]` finite held-out values of the bound.
            get_weights: optional callable returning a copy of the critic's
                weights; called once per evaluation.

        Returns:
            `self.plateaued`.
        """
        batch_values = np.asarray(batch_values, dtype=np.float64).reshape(-1)
        value = float(np.mean(batch_values))
        weights = get_weights() if get_weights is not None else None
        self._recent.append((int(step), batch_values, weights))
        self.last_step = int(step)
        plateaued = self.detector.update(value)
        smoothed = self.detector.smoothed
        if smoothed is not None:
            self.last_smoothed = smoothed
            if self.best is None or smoothed > self.best.value:
                self.best = self._window_summary(smoothed)
        return plateaued

    def best_or_partial(self):
        """`best`, or the mean of the evaluations so far if no window filled.

        Returns:
            A `BestHeldOut`, or None before the first evaluation.
        """
        if self.best is not None or not self._recent:
            return self.best
        batch_values = np.mean([values for _, values, _ in self._recent], axis=0)
        return self._window_summary(float(np.mean(batch_values)))

    def _window_summary(self, smoothed):
        middle_step, _, middle_weights = self._recent[(len(self._recent) - 1) // 2]
        batch_values = np.mean([values for _, values, _ in self._recent], axis=0)
        return BestHeldOut(
            value=float(smoothed), step=middle_step, weights=middle_weights,
            batch_values=batch_values,
        )
