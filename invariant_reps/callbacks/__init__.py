"""Callbacks and helpers for checkpoints and TensorBoard."""

from invariant_reps.callbacks.checkpoint import (
    EpochCheckpoint,
    checkpoint_path,
    latest_checkpoint,
    list_checkpoints,
)
from invariant_reps.callbacks.tensorboard import load_layout, write_hparams, write_layout, write_scalars
