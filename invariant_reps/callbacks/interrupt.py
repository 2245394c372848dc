"""Ctrl-C that cannot be lost during training.

Python turns SIGINT into a `KeyboardInterrupt` wherever the main thread
happens to be, and code that catches every exception there (a bare
`except:` in a library, a destructor) swallows it: training then goes on as
if Ctrl-C had not been pressed. While `interrupt_guard()` is active, the
handler also records the signal, and its callback raises `KeyboardInterrupt`
again before the next batch or epoch if training went on.
"""

import contextlib
import signal
import threading

import keras


class RaisePendingInterrupt(keras.callbacks.Callback):
    """Raises `KeyboardInterrupt` before the next batch or epoch once SIGINT was received.

    It raises only where something begins, so an epoch that the swallowed
    interrupt let finish still ends normally (its checkpoint is written).
    """

    def __init__(self):
        super().__init__()
        self.pending = False

    def _raise_if_pending(self, *args, **kwargs):
        if self.pending:
            raise KeyboardInterrupt

    on_epoch_begin = on_train_batch_begin = on_test_batch_begin = _raise_if_pending


@contextlib.contextmanager
def interrupt_guard():
    """Handles SIGINT as Python does, recording it too; yields the callback that re-raises it.

    Changes nothing where the handler is not Python's default (SIGINT ignored,
    as for a background job, or a handler the caller installed) or outside the
    main thread: the callback then never raises.

    Example:
        >>> with interrupt_guard() as callback:
        ...     model.fit(data, epochs=10, callbacks=[callback, *others])
    """
    callback = RaisePendingInterrupt()
    if threading.current_thread() is not threading.main_thread() or (
        signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    ):
        yield callback
        return

    def handler(signum, frame):
        callback.pending = True
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    try:
        yield callback
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
