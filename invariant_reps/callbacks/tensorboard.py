"""TensorBoard extras: the custom-scalar layout and the run's hyperparameters.

Per-epoch scalars for every loss term and metric (train and validation) come
from `keras.callbacks.TensorBoard`, since every term of an `InvariantModel` is
a named metric (tags `epoch_<name>` under `train/` and `validation/`). This
module adds what Keras does not write: a custom-scalar layout grouping the
task panels apart from the invariance panels, and the hparams of the run.
"""

import json
import os

import tensorflow as tf
from google.protobuf import json_format
from tensorboard.plugins.custom_scalar import layout_pb2
from tensorboard.plugins.custom_scalar import summary as custom_scalar_summary
from tensorboard.plugins.hparams import api as hparams_api

from invariant_reps import resources

#: The layout shipped with the package (the repository's `tensorboard_configs/`, copied into wheels).
DEFAULT_LAYOUT_PATH = resources.layout_path()


def load_layout(path=None):
    """Reads a custom-scalar layout from JSON (the `Layout` proto's JSON form).

    Args:
        path: JSON file; defaults to the shipped `tensorboard_configs/custom_scalars.json`.

    Returns:
        A `tensorboard.plugins.custom_scalar.layout_pb2.Layout`.
    """
    path = path or DEFAULT_LAYOUT_PATH
    if not path or not os.path.exists(path):
        raise FileNotFoundError(
            f"TensorBoard layout {path} not found; pass --tensorboard_layout=<layout.json> (the package ships "
            "tensorboard_configs/custom_scalars.json; reinstall it if that file is missing)."
        )
    with open(path) as f:
        text = f.read()
    try:
        return json_format.Parse(text, layout_pb2.Layout())
    except json_format.ParseError as error:
        raise ValueError(f"{path} is not a valid custom-scalar layout: {error}") from None


def write_layout(logdir, layout):
    """Writes `layout` into `logdir` so TensorBoard's Custom Scalars tab shows it."""
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        tf.summary.experimental.write_raw_pb(
            custom_scalar_summary.pb(layout).SerializeToString(), step=0
        )
    writer.close()


def write_hparams(logdir, hparams, trial_id=None):
    """Records the run's hyperparameters for TensorBoard's HParams tab.

    Args:
        logdir: the run's log directory.
        hparams: `{name: value}` with bool, int, float or str values (other
            values are written as strings).
        trial_id: optional name of the trial.
    """
    clean = {}
    for key, value in hparams.items():
        clean[key] = value if isinstance(value, (bool, int, float, str)) else json.dumps(value)
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        hparams_api.hparams(clean, trial_id=trial_id)
    writer.close()


def write_scalars(logdir, scalars, step=0):
    """Writes final `{tag: value}` scalars (e.g. test accuracies, leakage)."""
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        for tag, value in scalars.items():
            tf.summary.scalar(tag, float(value), step=step)
    writer.close()
