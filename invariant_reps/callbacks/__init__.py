"""Callbacks and helpers for checkpoints and TensorBoard."""

from invariant_reps.callbacks.checkpoint import (
    EpochCheckpoint,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
)
from invariant_reps.callbacks.tensorboard import load_layout, write_hparams, write_layout, write_scalars
from invariant_reps.callbacks.disentangling import DisentanglingPictures, disentangling_grid  # noqa: E402,F401
from invariant_reps.callbacks.early_stopping import EarlyStoppingOnMetric  # noqa: E402,F401
from invariant_reps.callbacks.interrupt import RaisePendingInterrupt, interrupt_guard  # noqa: E402,F401
