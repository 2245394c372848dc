"""invariant_reps: representations that keep what a task needs and drop what it must not use.

Keras 3 models whose `train_step` adds a method's regularizer (EnD, IRENE,
MI critic, KL update, adversary, DisCo, VIB, NIB, DisenIB, CTC) on top of any
encoder/head pair, mutual-information estimators, and the evaluation that tells
how much of a sensitive variable a representation still carries.

Importing the package imports its public API (`invariant_reps/_api.py`), which
registers every custom Keras object, so `keras.saving.load_model` restores
saved models. The one exception: started as one of its commands (`python -m
invariant_reps.train ...`), the package waits until the command has checked its
flags, so a bad flag is reported before TensorFlow loads (`_startup.py`).
"""

import importlib.util

from invariant_reps import _startup

__version__ = "0.1.0"

_loaded = False


def load_package():
    """Imports the public API into the package (registers every custom Keras object); idempotent."""
    global _loaded
    if _loaded:
        return
    _loaded = True  # First: lookups made while the API imports fall through to the submodules.
    try:
        from invariant_reps import _api
    except BaseException:
        _loaded = False
        raise
    globals().update({name: getattr(_api, name) for name in _api.__all__})


def __getattr__(name):
    # Only reached before `load_package()` in a command (a library import loads everything at once). A
    # submodule's name is left to the import system (`from invariant_reps import resources` loads nothing else).
    if name.startswith("__") or _loaded or importlib.util.find_spec(f"{__name__}.{name}") is not None:
        raise AttributeError(f"module 'invariant_reps' has no attribute {name!r}")
    load_package()
    try:
        return globals()[name]
    except KeyError:
        raise AttributeError(f"module 'invariant_reps' has no attribute {name!r}") from None


if not _startup.started_as_command():
    load_package()
