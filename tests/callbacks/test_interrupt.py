"""Ctrl-C during training: a KeyboardInterrupt that library code swallows still stops the run."""

import signal

import keras
import numpy as np
import pytest

from invariant_reps import Vanilla
from invariant_reps.callbacks import interrupt_guard
from tests.models.toy import tiny_networks

X = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
Y = np.arange(64) % 2


class SwallowCtrlC(keras.callbacks.Callback):
    """Ctrl-C pressed during epoch 0, batch 2, inside code that catches every exception (a bare `except:`)."""

    def __init__(self):
        super().__init__()
        self.swallowed = False

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2 and not self.swallowed:
            try:
                signal.raise_signal(signal.SIGINT)
            except BaseException:  # noqa: BLE001  (the library code this stands for)
                self.swallowed = True


class Batches(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.seen = []

    def on_train_batch_begin(self, batch, logs=None):
        self.seen.append(batch)


def _fit(callbacks):
    model = Vanilla(*tiny_networks())
    model.compile()
    model.fit(X, Y, batch_size=8, epochs=3, verbose=0, callbacks=callbacks)


def test_a_swallowed_interrupt_stops_training_before_the_next_batch():
    swallow, batches = SwallowCtrlC(), Batches()
    with interrupt_guard() as guard:
        with pytest.raises(KeyboardInterrupt):
            _fit([guard, swallow, batches])
    assert swallow.swallowed
    assert batches.seen == [0, 1, 2]  # batch 3 never began
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored after the exception


def test_without_the_guard_the_swallowed_interrupt_is_lost():
    # What the guard is for: the same Ctrl-C, and training runs to the end.
    swallow, batches = SwallowCtrlC(), Batches()
    _fit([swallow, batches])
    assert swallow.swallowed
    assert len(batches.seen) == 3 * 8


def test_a_guard_changes_nothing_where_sigint_is_ignored():
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # a background job's SIGINT
    try:
        with interrupt_guard() as guard:
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            signal.raise_signal(signal.SIGINT)
            assert not guard.pending
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
