"""The files of a run directory (`--logdir`), and how they are written. Standard library only."""

import os

RESULTS_FILE = "results.json"
FINAL_MODEL_FILE = "model.keras"
TENSORBOARD_DIR = "tensorboard"


def write_text_atomically(path, text):
    """Writes `text` to `path` so that a reader never sees a half-written file."""
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, path)
