"""Per-epoch checkpoints that survive an interrupted run, and resuming from them.

Each completed epoch is saved as a full `.keras` model (architecture, weights,
the encoder/head optimizer and every auxiliary optimizer's state) at
`<directory>/epoch_0001.keras`, `epoch_0002.keras`, ... The file is written
under a temporary name and renamed, so a run killed mid-save never leaves a
truncated checkpoint behind. `latest_checkpoint` finds where to resume;
together with an epoch-indexed data order (`invariant_reps.data.pipeline`) a
resumed run continues exactly as an uninterrupted one.
"""

import math
import os
import re

import keras

_PATTERN = re.compile(r"^epoch_(\d{4,})\.keras$")


def checkpoint_path(directory, epoch):
    """Path of the checkpoint written after `epoch` completed epochs."""
    return os.path.join(directory, f"epoch_{epoch:04d}.keras")


def list_checkpoints(directory):
    """Returns `[(epoch, path), ...]` sorted by epoch; empty if none."""
    if not os.path.isdir(directory):
        return []
    found = []
    for name in os.listdir(directory):
        match = _PATTERN.match(name)
        if match:
            found.append((int(match.group(1)), os.path.join(directory, name)))
    return sorted(found)


def latest_checkpoint(directory):
    """Returns `(epoch, path)` of the newest checkpoint, or None."""
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves the whole model after every epoch, atomically.

    An epoch whose loss is NaN/inf is not saved, so the newest checkpoint is
    always one a run can resume from.

    Args:
        directory: where `epoch_NNNN.keras` files go (created if missing).
        keep: keep only the newest `keep` checkpoints; None keeps all (the
            information-dynamics and transfer analyses read every epoch).

    Example:
        >>> model.fit(data, epochs=10, callbacks=[EpochCheckpoint("run/checkpoints")])
    """

    def __init__(self, directory, keep=None):
        super().__init__()
        if keep is not None and int(keep) < 1:
            raise ValueError(f"`keep` must be a positive integer or None; received {keep}.")
        self.directory = directory
        self.keep = None if keep is None else int(keep)

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            return  # Never let a diverged model become the checkpoint a run resumes from.
        os.makedirs(self.directory, exist_ok=True)
        path = checkpoint_path(self.directory, epoch + 1)
        partial = path + ".partial.keras"
        try:
            self.model.save(partial)
            os.replace(partial, path)
        except BaseException:
            # Disk full, permissions, Ctrl-C mid-save: never leave a partial file behind.
            if os.path.exists(partial):
                os.remove(partial)
            raise
        if self.keep is not None:
            for _, old in list_checkpoints(self.directory)[: -self.keep]:
                os.remove(old)
