"""The data of one experiment: train / validation / test splits as tf.data pipelines.

Biased-MNIST follows the protocol of the EnD and IRENE papers
(spec/irene_end.md §1, §3.6): train at `rho`; validation = a fixed fraction
of the *training* images recoloured at rho = 0.1; unbiased test = the test
split at rho = 0.1; biased test = the test split at rho = 1.

Transfer tasks (dt-tradeoff, spec/dttradeoff_mi.md §A) train on a source
task and keep a target task aside for the linear transfer probe; they carry
no sensitive variable.
"""

import dataclasses

import numpy as np

from invariant_reps.data import biased_mnist, pipeline, sources, transfer_tasks

UNBIASED_RHO = 0.1
BIASED_RHO = 1.0
TRANSFER_DATASETS = transfer_tasks.TRANSFER_TASKS


class BiasedSplit:
    """A Biased-MNIST split: grayscale digits colourized in the pipeline."""

    def __init__(self, split):
        self.split = split

    def __len__(self):
        return len(self.split)

    def dataset(self, batch_size, **schedule):
        return pipeline.make_dataset(self.split, batch_size, **schedule)

    def arrays(self):
        """`(x float32 in [-1, 1], y, s)` NumPy arrays."""
        return self.split.normalized_rgb_images(), self.split.digits, self.split.colours


class ArraySplit:
    """In-memory `(x, y, s)` arrays."""

    def __init__(self, x, y, s=None):
        self.x, self.y = x, y
        self.s = np.zeros(len(y), np.int64) if s is None else s

    def __len__(self):
        return len(self.y)

    def dataset(self, batch_size, **schedule):
        return pipeline.make_array_dataset(self.x, self.y, self.s, batch_size, **schedule)

    def arrays(self):
        return self.x, self.y, self.s


@dataclasses.dataclass
class ExperimentData:
    """Splits of one experiment.

    Attributes:
        train: the training split.
        validation: the validation split, or None.
        tests: `{name: split}` of the test sets, e.g. "unbiased_test".
        input_shape: shape of one model input.
        num_classes: number of task classes.
        num_sensitive_classes: number of sensitive classes; None when the
            data carry no sensitive variable (transfer tasks).
        source: the data source actually used ("tfds", "idx" or "digits").
        target: for transfer tasks, `(target_train, target_test)` `(x, y)`
            pairs of the linear transfer probe; else None.
    """

    train: object
    validation: object
    tests: dict
    input_shape: tuple
    num_classes: int
    num_sensitive_classes: int
    source: str
    target: tuple = None

    def train_dataset(self, batch_size, seed, start_epoch, num_epochs, include_index=False):
        return self.train.dataset(
            batch_size, shuffle_seed=seed, start_epoch=start_epoch, num_epochs=num_epochs,
            include_index=include_index,
        )

    def eval_dataset(self, split, batch_size):
        return split.dataset(batch_size).dataset


def _subsample(images, labels, limit, seed):
    if not limit or limit >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return images[keep], labels[keep]


def build_biased_mnist_data(
    *, source, data_dir, rho, seed, test_size, validation_fraction, max_train_examples, max_test_examples
):
    """Builds the Biased-MNIST splits of one experiment (see module docstring)."""
    (train_x, train_y), (test_x, test_y), source_used = sources.load_train_test(
        source, data_dir, test_size=test_size, seed=seed
    )
    train_x, train_y = _subsample(train_x, train_y, max_train_examples, seed)
    test_x, test_y = _subsample(test_x, test_y, max_test_examples, seed + 1)
    # One RandomState for the whole build, as a ReBias script seeds once.
    rng = np.random.RandomState(seed)

    def build(images, labels, split_rho):
        return BiasedSplit(biased_mnist.build_biased_mnist(images, labels, split_rho, seed=rng, source=source_used))

    train = build(train_x, train_y, rho)
    validation = None
    if validation_fraction > 0:
        count = max(1, int(round(validation_fraction * len(train_y))))
        subset = np.sort(np.random.RandomState(seed).permutation(len(train_y))[:count])
        validation = build(train_x[subset], train_y[subset], UNBIASED_RHO)
    tests = {"unbiased_test": build(test_x, test_y, UNBIASED_RHO), "biased_test": build(test_x, test_y, BIASED_RHO)}
    return ExperimentData(
        train=train,
        validation=validation,
        tests=tests,
        input_shape=(28, 28, 3),
        num_classes=10,
        num_sensitive_classes=biased_mnist.NUM_COLOURS,
        source=source_used,
    )


def build_transfer_data(*, name, source, data_dir, seed, max_train_examples, max_test_examples):
    """Builds a transfer task: train and test on the source task, probe the target."""
    task = transfer_tasks.load_transfer_task(name, source, data_dir)
    train_x, train_y = _subsample(*task.source_train, max_train_examples, seed)
    test_x, test_y = _subsample(*task.source_test, max_test_examples, seed + 1)
    return ExperimentData(
        train=ArraySplit(train_x, train_y),
        validation=None,
        tests={"source_test": ArraySplit(test_x, test_y)},
        input_shape=task.input_shape,
        num_classes=task.num_source_classes,
        num_sensitive_classes=None,
        source=task.data_source,
        target=(task.target_train, task.target_test),
    )


def build_data(config):
    """The `ExperimentData` of a flag configuration."""
    common = {
        key: config[key] for key in ("source", "data_dir", "seed", "max_train_examples", "max_test_examples")
    }
    if config["dataset"] in TRANSFER_DATASETS:
        return build_transfer_data(name=config["dataset"], **common)
    return build_biased_mnist_data(
        rho=config["rho"], test_size=config["test_size"], validation_fraction=config["validation_fraction"], **common
    )
