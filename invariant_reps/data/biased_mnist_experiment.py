"""The registered `biased_mnist` dataset: the EnD / IRENE protocol's splits.

Following spec/irene_end.md §1 and §3.6: train at `rho`; validation = a fixed
fraction of the *training* images recoloured at rho = 0.1; unbiased test = the
test split at rho = 0.1; biased test = the test split at rho = 1. The leakage
probe is fitted on the validation split and scored on the unbiased test
split, where colour and digit are independent.
"""

import numpy as np

from invariant_reps.data import biased_mnist, pipeline, sources
from invariant_reps.data.experiment_data import ExperimentData, subsample
from invariant_reps.data.registry import register_dataset
from invariant_reps.hyperparameters import Hyperparameter

UNBIASED_RHO = 0.1
BIASED_RHO = 1.0


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

    def targets(self):
        """`(digits, colours, None, {})`: everything but the images."""
        return self.split.digits, self.split.colours, None, {}


@register_dataset(
    "biased_mnist",
    task="multiclass",
    sensitive="discrete",
    summary="Biased-MNIST (ReBias protocol): digits coloured with their class's colour with probability rho; "
    "task = digit, s = colour",
    evaluation_sets={"unbiased_test": "unbiased test (rho=0.1)", "biased_test": "biased test (rho=1)"},
    metrics=("accuracy",),
    hyperparameters=(
        Hyperparameter("rho", float, 0.99, "rho: colour-digit correlation of the training set", lower=0.0, upper=1.0),
    ),
)
def build_biased_mnist_data(
    rho, *, source="auto", data_dir=None, seed=0, test_size=0.2, validation_fraction=0.3,
    max_train_examples=0, max_test_examples=0,
):
    """Builds the Biased-MNIST splits of one experiment (see module docstring)."""
    if not 0.0 <= validation_fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in [0, 1); received {validation_fraction}.")
    (train_x, train_y), (test_x, test_y), source_used = sources.load_train_test(
        source, data_dir, test_size=test_size, seed=seed
    )
    train_x, train_y = subsample(train_x, train_y, max_train_examples, seed)
    test_x, test_y = subsample(test_x, test_y, max_test_examples, seed + 1)
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
        num_classes=biased_mnist.NUM_DIGITS,
        source=source_used,
        task="multiclass",
        sensitive_kind="discrete",
        num_sensitive_classes=biased_mnist.NUM_COLOURS,
        # Without a validation split the probe halves the unbiased test set.
        leakage_splits=("validation" if validation is not None else "unbiased_test", "unbiased_test"),
        sensitive_name="colour",
    )
