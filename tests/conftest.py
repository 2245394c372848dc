"""Test-wide settings: quiet TensorFlow logs, deterministic seeds per test, no global state leaking between tests."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import pytest  # noqa: E402
from tensorflow.python.framework import config as tf_config  # noqa: E402


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture(autouse=True)
def _restore_global_tensorflow_state():
    # A training command run in-process turns TensorFlow op determinism on for the whole process (--deterministic)
    # and may set a mixed-precision policy; later tests (XLA, which Keras refuses under determinism) must not
    # inherit either.
    determinism = tf_config.is_op_determinism_enabled()
    policy = keras.mixed_precision.global_policy()
    yield
    if tf_config.is_op_determinism_enabled() != determinism:
        (tf_config.enable_op_determinism if determinism else tf_config.disable_op_determinism)()
    keras.mixed_precision.set_global_policy(policy)
