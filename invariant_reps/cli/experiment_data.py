"""The data of one experiment: train / validation / test splits as tf.data pipelines.

Biased-MNIST follows the protocol of the EnD and IRENE papers
(spec/irene_end.md §1, §3.6): train at `rho`; validation = a fixed fraction
of the *training* images recoloured at rho = 0.1; unbiased test = the test
split at rho = 0.1; biased test = the test split at rho = 1.
"""

import dataclasses
import logging

import numpy as np

from invariant_reps.data import biased_mnist, pipeline, sources

UNBIASED_RHO = 0.1
BIASED_RHO = 1.0


@dataclasses.dataclass
class ExperimentData:
    """Splits of one experiment.

    Attributes:
        train: the training split (a `BiasedMNIST`).
        validation: the validation split, or None.
        tests: `{name: split}` of the test sets, e.g. "unbiased_test".
        input_shape: shape of one model input.
        num_classes: number of task classes.
        num_sensitive_classes: number of sensitive classes (None: continuous).
        source: the data source actually used ("tfds", "idx" or "digits").
    """

    train: object
    validation: object
    tests: dict
    input_shape: tuple
    num_classes: int
    num_sensitive_classes: int
    source: str

    def train_dataset(self, batch_size, seed, start_epoch, num_epochs):
        return pipeline.make_dataset(
            self.train, batch_size, shuffle_seed=seed, start_epoch=start_epoch, num_epochs=num_epochs
        )

    def eval_dataset(self, split, batch_size):
        return pipeline.make_dataset(split, batch_size).dataset

    def arrays(self, split):
        """`(x float32 in [-1, 1], y, s)` NumPy arrays of a split."""
        return split.normalized_rgb_images(), split.digits, split.colours


def _subsample(images, labels, limit, seed):
    if not limit or limit >= len(labels):
        return images, labels
    keep = np.sort(np.random.default_rng(seed).permutation(len(labels))[:limit])
    return images[keep], labels[keep]


def load_mnist_splits(source, data_dir, test_size, seed):
    """Returns `(train MnistSplit-like (images, labels), test (images, labels), source_used)`.

    Sources holding one split only (such as a directory with just the 10k
    `t10k-*` IDX files) are divided with `split_arrays(test_size, seed)`.
    """
    try:
        train = sources.load_mnist(source, "train", data_dir)
    except FileNotFoundError as error:
        if source != "idx":
            raise
        logging.warning("%s Splitting the test split %.0f/%.0f instead.", error, 100 * (1 - test_size), 100 * test_size)
        test = sources.load_mnist(source, "test", data_dir)
        (train_x, train_y), (test_x, test_y) = sources.split_arrays(
            test.images, test.labels, test_size=test_size, seed=seed
        )
        return (train_x, train_y), (test_x, test_y), test.source
    # "auto" may have fallen back: load the test split from the source used.
    test = sources.load_mnist(train.source, "test", data_dir)
    return (train.images, train.labels), (test.images, test.labels), train.source


def build_biased_mnist_data(
    *, source, data_dir, rho, seed, test_size, validation_fraction, max_train_examples, max_test_examples
):
    """Builds the Biased-MNIST splits of one experiment (see module docstring)."""
    (train_x, train_y), (test_x, test_y), source_used = load_mnist_splits(source, data_dir, test_size, seed)
    train_x, train_y = _subsample(train_x, train_y, max_train_examples, seed)
    test_x, test_y = _subsample(test_x, test_y, max_test_examples, seed + 1)
    # One RandomState for the whole build, as a ReBias script seeds once.
    rng = np.random.RandomState(seed)
    train = biased_mnist.build_biased_mnist(train_x, train_y, rho, seed=rng, source=source_used)
    validation = None
    if validation_fraction > 0:
        count = max(1, int(round(validation_fraction * len(train_y))))
        subset = np.sort(np.random.RandomState(seed).permutation(len(train_y))[:count])
        validation = biased_mnist.build_biased_mnist(
            train_x[subset], train_y[subset], UNBIASED_RHO, seed=rng, source=source_used
        )
    tests = {
        "unbiased_test": biased_mnist.build_biased_mnist(test_x, test_y, UNBIASED_RHO, seed=rng, source=source_used),
        "biased_test": biased_mnist.build_biased_mnist(test_x, test_y, BIASED_RHO, seed=rng, source=source_used),
    }
    return ExperimentData(
        train=train,
        validation=validation,
        tests=tests,
        input_shape=(28, 28, 3),
        num_classes=10,
        num_sensitive_classes=biased_mnist.NUM_COLOURS,
        source=source_used,
    )
