"""Early stopping on any logged metric, resume-aware.

`EarlyStoppingOnMetric` stops `fit` after `patience` epochs without an
improvement of `monitor` (a key of the epoch logs: `val_accuracy`, or
`test_accuracy` as `run_evaluation.EvaluationSetMetrics` adds it). The
DisenIB seed's IB Lagrangians stop after 10 epochs without a better *test*
accuracy and are evaluated on the model of the stopping epoch (spec B.1):
`monitor="test_accuracy", patience=10, restore_best=False` reproduces that;
the default monitors the validation accuracy instead, so that the test set
never chooses the model.

Unlike `keras.callbacks.EarlyStopping` it resumes: given the history of the
epochs already trained (`history.json`), it replays them, so an interrupted
run stops at the same epoch as an uninterrupted one, and `stopped` tells the
caller not to resume a run that had already stopped.
"""

import math

import keras
import numpy as np

MODES = ("max", "min")


def _best_and_wait(values, mode, min_delta):
    """`(best value, best index, epochs since it)` after the values, or `(None, None, 0)` when empty."""
    best, best_index, wait = None, None, 0
    for index, value in enumerate(values):
        value = float(value)
        if not math.isfinite(value):
            wait += 1
            continue
        better = best is None or (value > best + min_delta if mode == "max" else value < best - min_delta)
        if better:
            best, best_index, wait = value, index, 0
        else:
            wait += 1
    return best, best_index, wait


class EarlyStoppingOnMetric(keras.callbacks.Callback):
    """Stops training after `patience` epochs without improvement of `monitor`.

    An epoch improves when its value beats the best so far by more than
    `min_delta` (in the direction of `mode`); NaN never improves. Place it
    after the callbacks that add `monitor` to the logs (e.g.
    `EvaluationSetMetrics` for `test_accuracy`).

    Args:
        monitor: log key, e.g. "val_accuracy" (default) or "test_accuracy"
            (the DisenIB seed's stop-on-test behaviour).
        patience: positive int, epochs without improvement before stopping
            (seed: 10).
        mode: "max" (accuracies) or "min" (losses).
        min_delta: minimum change that counts as an improvement (>= 0).
        restore_best: at the end of training, load the weights of the best
            epoch (kept in memory; for a best epoch trained before a resume,
            read from `checkpoint_dir`). False (the seed's): keep the weights
            of the last epoch.
        history: `{key: [per-epoch values]}` of the epochs already trained
            (a resumed run's `history.json`), replayed before training.
        checkpoint_dir: the run's checkpoint folder (`epoch_NNNN.keras`),
            for `restore_best` after a resume.

    Attributes:
        best: best value so far (None before any).
        best_epoch: its 1-based epoch.
        stopped_epoch: 1-based epoch after which training stopped, or None.
        stopped: True when the epochs seen already meet the stopping rule.

    Example:
        >>> stop = EarlyStoppingOnMetric("val_accuracy", patience=10)
        >>> model.fit(train, validation_data=val, epochs=100, callbacks=[stop])
        >>> stop.stopped_epoch, stop.best_epoch
    """

    def __init__(self, monitor="val_accuracy", patience=10, mode="max", min_delta=0.0, restore_best=False,
                 history=None, checkpoint_dir=None):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(f"`monitor` must be a non-empty log key; received {monitor!r}.")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 1:
            raise ValueError(f"`patience` must be a positive int; received {patience!r}.")
        if mode not in MODES:
            raise ValueError(f"`mode` must be one of {MODES}; received {mode!r}.")
        if not (isinstance(min_delta, (int, float)) and math.isfinite(min_delta) and min_delta >= 0):
            raise ValueError(f"`min_delta` must be a finite number >= 0; received {min_delta!r}.")
        self.monitor, self.patience, self.mode, self.min_delta = monitor, patience, mode, float(min_delta)
        self.restore_best, self.checkpoint_dir = bool(restore_best), checkpoint_dir
        values = list((history or {}).get(monitor, []))
        self.best, best_index, self.wait = _best_and_wait(values, self.mode, self.min_delta)
        self.best_epoch = None if best_index is None else best_index + 1
        self.epochs_seen = len(values)
        self.stopped_epoch = self.epochs_seen if self.wait >= patience else None
        self._best_weights = None

    @property
    def stopped(self):
        return self.stopped_epoch is not None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.monitor not in logs:
            raise ValueError(
                f"Early stopping monitors {self.monitor!r}, which the epoch logs do not have (keys: "
                f"{', '.join(sorted(logs))}). Monitor an existing key, e.g. val_accuracy (needs a validation "
                "split) or test_accuracy."
            )
        value = float(logs[self.monitor])
        self.epochs_seen = epoch + 1
        improved = math.isfinite(value) and (
            self.best is None
            or (value > self.best + self.min_delta if self.mode == "max" else value < self.best - self.min_delta)
        )
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch + 1, 0
            if self.restore_best:
                self._best_weights = [np.array(w) for w in self.model.get_weights()]
        else:
            self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if not self.restore_best or self.best_epoch is None or self.best_epoch == self.epochs_seen:
            return
        if self._best_weights is not None:
            self.model.set_weights(self._best_weights)
        elif self.checkpoint_dir is not None:
            from invariant_reps.callbacks.checkpoint import checkpoint_path

            best = keras.saving.load_model(checkpoint_path(self.checkpoint_dir, self.best_epoch))
            self.model.set_weights(best.get_weights())
        else:
            raise ValueError(
                f"restore_best: the best epoch ({self.best_epoch}) was trained before this process and no "
                "checkpoint_dir was given to read its weights from."
            )
