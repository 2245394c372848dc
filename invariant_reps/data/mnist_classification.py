"""The registered `mnist` dataset: plain MNIST digit classification, no sensitive variable.

The data of the information-bottleneck experiments (DisenIB seed, spec B.0):
pixels / 255, then Normalize(0.5, 0.5), so `x` is in [-1, 1], flattened to
784 for the fully connected models (`flatten=True`), or 28x28x1 in [0, 1]
for the convolutional ones (`flatten=False, pixel_range="zero_one"`).

Splits: "train" minus a seeded random `validation_fraction` of it (default
10%: early stopping reads the validation accuracy, never the test set; the
seed stopped on test accuracy), and the evaluation set "test". Sources: tfds,
IDX files (`--data_dir`), the embedded scikit-learn digits (offline), or
auto (`sources.load_train_test`).
"""

import numpy as np

from invariant_reps.data import sources
from invariant_reps.data.experiment_data import ArraySplit, ExperimentData, subsample
from invariant_reps.data.registry import register_dataset
from invariant_reps.hyperparameters import Hyperparameter

#: `pixel_range` name -> the `(lo, hi)` interval the pixels are mapped to.
PIXEL_RANGES = {"minus_one_one": (-1.0, 1.0), "zero_one": (0.0, 1.0)}
NUM_CLASSES = 10


def normalize_pixels(images, pixel_range="minus_one_one", flatten=True):
    """uint8 images `[N, 28, 28]` -> float32 in `PIXEL_RANGES[pixel_range]`, `[N, 784]` or `[N, 28, 28, 1]`.

    "minus_one_one" is `(p / 255 - 0.5) / 0.5` (torchvision's
    `Normalize(0.5, 0.5)` after `ToTensor`); "zero_one" is `p / 255`.

    Args:
        images: uint8 array `[N, 28, 28]`.
        pixel_range: "minus_one_one" or "zero_one".
        flatten: flatten each image to 784 values.

    Returns:
        A float32 array.

    Example:
        >>> normalize_pixels(np.full((1, 28, 28), 255, np.uint8)).max()   # 1.0
    """
    if pixel_range not in PIXEL_RANGES:
        raise ValueError(f"`pixel_range` must be one of {sorted(PIXEL_RANGES)}; received {pixel_range!r}.")
    x = np.asarray(images, dtype=np.float32) / 255.0
    if pixel_range == "minus_one_one":
        x = (x - 0.5) / 0.5
    return x.reshape(len(x), -1) if flatten else x[..., None]


def validation_indices(num_examples, fraction, seed):
    """Sorted indices of a seeded random `fraction` of `num_examples` (at least 1 when `fraction > 0`)."""
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"`validation_fraction` must be in [0, 1); received {fraction}.")
    if fraction == 0:
        return np.zeros(0, np.int64)
    count = max(1, int(round(fraction * num_examples)))
    if count >= num_examples:
        raise ValueError(f"`validation_fraction`={fraction} leaves no training example out of {num_examples}.")
    return np.sort(np.random.default_rng(seed).permutation(num_examples)[:count])


@register_dataset(
    "mnist",
    task="multiclass",
    sensitive="none",
    summary="MNIST digit classification (the IB experiments: x in [-1, 1], flattened), no sensitive variable",
    evaluation_sets={"test": "MNIST test"},
    metrics=("accuracy",),
    hyperparameters=(
        Hyperparameter("flatten", bool, True, "flatten images to 784 values (false: 28x28x1 for conv models)"),
        Hyperparameter("pixel_range", str, "minus_one_one",
                       "pixel scale: minus_one_one (Normalize(0.5, 0.5), the FC IB models) or zero_one (conv)",
                       choices=tuple(PIXEL_RANGES)),
    ),
)
def build_mnist_data(flatten=True, pixel_range="minus_one_one", *, source="auto", data_dir=None, seed=0,
                     test_size=0.2, validation_fraction=0.1, max_train_examples=0, max_test_examples=0):
    """Builds the `mnist` splits (see the module docstring).

    Args:
        flatten: flatten to 784 values.
        pixel_range: "minus_one_one" or "zero_one".
        source: "auto", "tfds", "idx" or "digits".
        data_dir: IDX directory or tfds data directory.
        seed: seed of the validation split and of subsampling.
        test_size: test fraction when the source has one split only.
        validation_fraction: fraction of the training examples held out for
            validation (0: none). The command line's `--validation_fraction`
            defaults to 0.3; the IB flagfiles set 0.1.
        max_train_examples: keep at most this many training examples, before
            the validation split (0: all).
        max_test_examples: keep at most this many test examples (0: all).

    Returns:
        An `ExperimentData` with `train`, `validation` (or None) and
        `tests={"test": ...}`, sensitive kind "none".

    Example:
        >>> data = build_mnist_data(source="digits")
        >>> data.train.arrays()[0].shape, data.input_shape
        ((1293, 784), (784,))
    """
    (train_x, train_y), (test_x, test_y), source_used = sources.load_train_test(
        source, data_dir, test_size=test_size, seed=seed
    )
    train_x, train_y = subsample(train_x, train_y, max_train_examples, seed)
    test_x, test_y = subsample(test_x, test_y, max_test_examples, seed + 1)
    held_out = validation_indices(len(train_y), validation_fraction, seed)
    keep = np.setdiff1d(np.arange(len(train_y)), held_out)

    def split(images, labels):
        return ArraySplit(normalize_pixels(images, pixel_range, flatten), np.asarray(labels, np.int64))

    return ExperimentData(
        train=split(train_x[keep], train_y[keep]),
        validation=split(train_x[held_out], train_y[held_out]) if len(held_out) else None,
        tests={"test": split(test_x, test_y)},
        input_shape=(784,) if flatten else (28, 28, 1),
        num_classes=NUM_CLASSES,
        source=source_used,
        task="multiclass",
        sensitive_kind="none",
        sensitive_name="none",
    )
