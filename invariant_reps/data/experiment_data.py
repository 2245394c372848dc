"""The data of one experiment: named splits as tf.data pipelines, and what they hold.

A registered dataset's builder (see `invariant_reps.data.registry`) returns an
`ExperimentData`: the training split, an optional validation split, named
evaluation sets, the task and sensitive-variable kinds, and optionally the
pair of splits on which a leakage probe is fitted and scored and a transfer
target. A split is any object with `__len__`, `dataset(batch_size, **schedule)`
(an `EpochBatches`) and `arrays()` (`(x, y, s)` NumPy arrays); `ArraySplit`
covers in-memory data, with optional event weights and extra per-example
columns (e.g. the HEP sample's Delta E) that metrics may read.
"""

import dataclasses

import numpy as np

from invariant_reps.data import pipeline


class ArraySplit:
    """In-memory `(x, y, s)` arrays, with optional weights and extra columns.

    Args:
        x: inputs `[N, ...]`.
        y: task targets `[N]`.
        s: sensitive variable `[N]` (class ids or real values); None stores
            zeros (data without a sensitive variable).
        sample_weight: optional per-example weights `[N]`, used in training
            (as Keras sample weights) and by weighted metrics.
        columns: optional `{name: array [N]}` of extra per-example values.
    """

    def __init__(self, x, y, s=None, sample_weight=None, columns=None):
        self.x, self.y = x, y
        self.s = np.zeros(len(y), np.int64) if s is None else s
        self.sample_weight = sample_weight
        self.columns = dict(columns or {})
        for name, column in [("s", self.s), ("sample_weight", sample_weight), *self.columns.items()]:
            if column is not None and len(column) != len(y):
                raise ValueError(f"Split column {name!r} has {len(column)} rows; y has {len(y)}.")

    def __len__(self):
        return len(self.y)

    def dataset(self, batch_size, **schedule):
        return pipeline.make_array_dataset(
            self.x, self.y, self.s, batch_size, sample_weight=self.sample_weight, **schedule
        )

    def arrays(self):
        """`(x, y, s)` NumPy arrays."""
        return self.x, self.y, self.s

    def targets(self):
        """`(y, s, sample_weight, columns)`: everything but the inputs."""
        return self.y, self.s, self.sample_weight, self.columns


@dataclasses.dataclass
class ExperimentData:
    """Splits and metadata of one experiment.

    Attributes:
        train: the training split.
        validation: the validation split, or None.
        tests: `{name: split}` of the evaluation sets, e.g. "unbiased_test".
        input_shape: shape of one model input.
        num_classes: task logits (1 for a binary task).
        source: where the data came from (e.g. "digits", "tfds", "generated").
        task: "multiclass" or "binary".
        sensitive_kind: "discrete", "continuous" or "none".
        num_sensitive_classes: sensitive classes of a discrete s, else None.
        leakage_splits: `(fit_split, score_split)` names (a test name or
            "validation") for the leakage probe on z, or None for no probe.
        target: for transfer tasks, `((x, y) train, (x, y) test)` of the
            target linear probe; else None.
        sensitive_name: what s is, for tables ("colour", "M_bc").
    """

    train: object
    validation: object
    tests: dict
    input_shape: tuple
    num_classes: int
    source: str
    task: str = "multiclass"
    sensitive_kind: str = "discrete"
    num_sensitive_classes: int = None
    leakage_splits: tuple = None
    target: tuple = None
    sensitive_name: str = "s"

    def train_dataset(self, batch_size, seed, start_epoch, num_epochs, include_index=False):
        return self.train.dataset(
            batch_size, shuffle_seed=seed, start_epoch=start_epoch, num_epochs=num_epochs,
            include_index=include_index,
        )

    def eval_dataset(self, split, batch_size):
        return split.dataset(batch_size).dataset

    def split(self, name):
        """The split called `name`: "train", "validation" or an evaluation set."""
        if name == "train":
            return self.train
        if name == "validation":
            if self.validation is None:
                raise ValueError("This experiment has no validation split.")
            return self.validation
        if name not in self.tests:
            raise ValueError(f"No split {name!r}; evaluation sets: {sorted(self.tests)}.")
        return self.tests[name]


def subsample(x, y, limit, seed):
    """At most `limit` rows of `(x, y)` (all when `limit` is 0), in their order."""
    if not limit or limit >= len(y):
        return x, y
    keep = np.sort(np.random.default_rng(seed).permutation(len(y))[:limit])
    return x[keep], y[keep]
