"""A moving-average plateau test for training curves."""

import collections
import math


class PlateauDetector:
    """Decides when a noisy, rising curve has stopped rising.

    The rule, applied to each new value `v_t` (a held-out MI estimate):

    1. Smooth: `s_t` is the mean of the last `window` values (no decision is
       taken before `window` values have arrived).
    2. Improve: if `s_t > best + min_delta`, then `best = s_t` and the count
       of evaluations without improvement resets to 0; otherwise it grows
       by 1. The first smoothed value always sets `best`.
    3. Stop: the curve has plateaued once that count reaches `patience`.

    So training stops `patience` evaluations after the smoothed curve last
    gained more than `min_delta`, which answers "how many iterations?" from
    the curve itself instead of a fixed budget. Non-finite values are
    rejected: divergence is a separate diagnosis.

    Args:
        window: number of values in the moving average, a positive int.
        patience: evaluations without improvement before stopping, a
            positive int.
        min_delta: the smallest gain of the smoothed value (in the curve's
            units, nats here) that counts as an improvement, >= 0.

    Example:
        >>> detector = PlateauDetector(window=3, patience=2, min_delta=0.0)
        >>> [detector.update(v) for v in [1, 2, 3, 3, 3, 3, 3]]
        [False, False, False, False, False, False, True]
    """

    def __init__(self, window=5, patience=10, min_delta=0.01):
        if not isinstance(window, int) or window <= 0:
            raise ValueError(f"`window` must be a positive int, got window={window!r}.")
        if not isinstance(patience, int) or patience <= 0:
            raise ValueError(f"`patience` must be a positive int, got patience={patience!r}.")
        if not min_delta >= 0:
            raise ValueError(f"`min_delta` must be >= 0, got min_delta={min_delta!r}.")
        self.window = window
        self.patience = patience
        self.min_delta = float(min_delta)
        self._recent = collections.deque(maxlen=window)
        self.best = -math.inf
        self.evaluations_since_improvement = 0

    @property
    def smoothed(self):
        """The current moving average, or None before `window` values."""
        if len(self._recent) < self.window:
            return None
        return sum(self._recent) / self.window

    @property
    def plateaued(self):
        """Whether the stopping rule has fired."""
        return self.evaluations_since_improvement >= self.patience

    def update(self, value):
        """Feeds one value; returns True once the curve has plateaued.

        Args:
            value: the newest point of the curve, a finite number.

        Returns:
            `self.plateaued` after this value.
        """
        value = float(value)
        if not math.isfinite(value):
            raise ValueError(f"`PlateauDetector.update` needs finite values, got {value}.")
        self._recent.append(value)
        smoothed = self.smoothed
        if smoothed is None:
            return False
        if smoothed > self.best + self.min_delta or self.best == -math.inf:
            self.best = smoothed
            self.evaluations_since_improvement = 0
        else:
            self.evaluations_since_improvement += 1
        return self.plateaued
