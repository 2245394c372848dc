"""Source and target tasks for transfer experiments (dt-tradeoff protocol).

A transfer task pairs a *source* task, on which a network is trained, with a
*target* task, on which a linear probe of the frozen representation measures
transferability (Cui et al., ECCV 2022: CIFAR-100 -> CINIC-10).

Tasks:
    - `"digits_transfer"`: source = digits 0-4, target = digits 5-9, both
      relabelled 0..4, from any MNIST source of `load_mnist`: the embedded
      scikit-learn digits (`"digits"`, offline), IDX files (`"idx"`; a
      folder with only the 10k test split is divided 8,000 / 2,000), tfds
      (`"tfds"`) or `"auto"`.
    - `"cifar100"`: source = CIFAR-100 (100 fine classes), target =
      CIFAR-10, both from tensorflow_datasets. CINIC-10, the seed's target,
      is not in tfds; CIFAR-10 is its closest tfds stand-in (CINIC-10 is
      CIFAR-10 plus downsampled ImageNet images of the same 10 classes).

Images are float32 in [0, 1], channels last (`[N, 28, 28, 1]` or
`[N, 32, 32, 3]`); labels are int64.
"""

import dataclasses

import numpy as np

from invariant_reps.data import sources
from invariant_reps.data.experiment_data import ArraySplit, ExperimentData, subsample
from invariant_reps.data.registry import register_dataset

TRANSFER_TASKS = ("digits_transfer", "cifar100")
# The shared MNIST t10k split: 8,000 train / 2,000 test (see sources.split_arrays).
_IDX_TEST_SIZE = 2000
_SPLIT_DIGIT = 5


@dataclasses.dataclass(frozen=True, eq=False)
class TransferTask:
    """Train/test arrays of a source task and of a target task.

    Attributes:
        name: the task name (one of `TRANSFER_TASKS`).
        source_train: `(x, y)` of the source task's training split.
        source_test: `(x, y)` of the source task's test split.
        target_train: `(x, y)` the target probe is fitted on.
        target_test: `(x, y)` the target probe is scored on.
        num_source_classes: number of source labels.
        num_target_classes: number of target labels.
        data_source: where the images came from (`"digits"`, `"idx"`,
            `"tfds"`), so an `"auto"` fallback can be recorded.
    """

    name: str
    source_train: tuple
    source_test: tuple
    target_train: tuple
    target_test: tuple
    num_source_classes: int
    num_target_classes: int
    data_source: str

    @property
    def input_shape(self):
        """Shape of one image, without the batch axis."""
        return tuple(self.source_train[0].shape[1:])


def load_transfer_task(name="digits_transfer", source="digits", data_dir=None):
    """Loads a source/target task pair.

    Args:
        name: one of `TRANSFER_TASKS`.
        source: for `"digits_transfer"`, the MNIST source (`"digits"`, `"idx"`,
            `"tfds"`, `"auto"`; see `load_mnist`); ignored for
            `"cifar100"`, which always uses tfds.
        data_dir: the IDX folder for `source="idx"`, else the tfds data
            directory (None: tfds's default).

    Returns:
        A `TransferTask`.

    Raises:
        ValueError: unknown `name` or `source`.
        RuntimeError: `"cifar100"` when tfds cannot provide CIFAR-100 or
            CIFAR-10 (e.g. offline and not prepared in `data_dir`).

    Example:
        >>> task = load_transfer_task("digits_transfer", source="digits")
        >>> task.source_train[0].shape, task.num_target_classes
        ((721, 28, 28, 1), 5)
    """
    if name not in TRANSFER_TASKS:
        raise ValueError(f"Unknown transfer task {name!r}; expected one of {TRANSFER_TASKS}.")
    if name == "cifar100":
        return _load_cifar_task(data_dir)
    return _load_digit_split_task(source, data_dir)


def split_by_digit(images, labels):
    """Splits digits into the 0-4 source task and the 5-9 target task.

    Args:
        images: array `[N, ...]`.
        labels: int array `[N]` of digits 0..9.

    Returns:
        `((source_x, source_y), (target_x, target_y))`, labels relabelled
        to 0..4 (`y` and `y - 5`), example order kept.
    """
    images, labels = np.asarray(images), np.asarray(labels, np.int64)
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(
            f"Digit labels must be in 0..9; found {labels.min()}..{labels.max()}."
        )
    is_source = labels < _SPLIT_DIGIT
    return (
        (images[is_source], labels[is_source]),
        (images[~is_source], labels[~is_source] - _SPLIT_DIGIT),
    )


def _load_digit_split_task(source, data_dir):
    if source not in sources.SOURCES:
        raise ValueError(f"Unknown MNIST source {source!r}; expected one of {sources.SOURCES}.")
    (train_x, train_y), (test_x, test_y), used = sources.load_train_test(
        source, data_dir, test_size=_IDX_TEST_SIZE, seed=0
    )
    source_train, target_train = split_by_digit(_as_float_images(train_x), train_y)
    source_test, target_test = split_by_digit(_as_float_images(test_x), test_y)
    return TransferTask(
        name="digits_transfer",
        source_train=source_train,
        source_test=source_test,
        target_train=target_train,
        target_test=target_test,
        num_source_classes=_SPLIT_DIGIT,
        num_target_classes=10 - _SPLIT_DIGIT,
        data_source=used,
    )


def _load_cifar_task(data_dir):
    source_train = _tfds_images("cifar100", "train", data_dir)
    source_test = _tfds_images("cifar100", "test", data_dir)
    target_train = _tfds_images("cifar10", "train", data_dir)
    target_test = _tfds_images("cifar10", "test", data_dir)
    return TransferTask(
        name="cifar100",
        source_train=source_train,
        source_test=source_test,
        target_train=target_train,
        target_test=target_test,
        num_source_classes=100,
        num_target_classes=10,
        data_source="tfds",
    )


def _tfds_images(dataset, split, data_dir):
    import tensorflow_datasets as tfds  # Slow to import; only this task needs it.

    try:
        images, labels = tfds.as_numpy(
            tfds.load(dataset, split=split, data_dir=data_dir, as_supervised=True, batch_size=-1)
        )
    except Exception as error:  # Offline, not prepared, or a broken download.
        raise RuntimeError(
            f"tensorflow_datasets could not load {dataset!r} ({split}): {error}. The "
            "'cifar100' transfer task needs CIFAR-100 and CIFAR-10 prepared in the "
            "tfds data_dir (or network access); offline, use 'digits_transfer'."
        ) from error
    return _as_float_images(images), labels.astype(np.int64)


def _as_float_images(images):
    images = np.asarray(images, np.float32) / 255.0
    if images.ndim == 3:  # Grayscale [N, H, W] -> [N, H, W, 1].
        images = images[..., None]
    return images


# ------------------------------------------------------------ registered datasets
def _transfer_experiment(name, source, data_dir, seed, max_train_examples, max_test_examples):
    """Trains and tests on the source task; the target task feeds the linear transfer probe."""
    task = load_transfer_task(name, source, data_dir)
    train_x, train_y = subsample(*task.source_train, max_train_examples, seed)
    test_x, test_y = subsample(*task.source_test, max_test_examples, seed + 1)
    return ExperimentData(
        train=ArraySplit(train_x, train_y),
        validation=None,
        tests={"source_test": ArraySplit(test_x, test_y)},
        input_shape=task.input_shape,
        num_classes=task.num_source_classes,
        source=task.data_source,
        task="multiclass",
        sensitive_kind="none",
        target=(task.target_train, task.target_test),
    )


@register_dataset(
    "digits_transfer",
    task="multiclass",
    sensitive="none",
    summary="transfer task: train on digits 0-4, linear-probe the frozen z on digits 5-9 (dt-tradeoff protocol)",
    evaluation_sets={"source_test": "source-task test"},
)
def build_digits_transfer_data(*, source="digits", data_dir=None, seed=0, max_train_examples=0, max_test_examples=0):
    """The `digits_transfer` experiment (see `load_transfer_task`)."""
    return _transfer_experiment("digits_transfer", source, data_dir, seed, max_train_examples, max_test_examples)


@register_dataset(
    "cifar100",
    task="multiclass",
    sensitive="none",
    summary="transfer task: train on CIFAR-100, linear-probe the frozen z on CIFAR-10 (tfds)",
    evaluation_sets={"source_test": "source-task test"},
    offline=False,
)
def build_cifar100_data(*, data_dir=None, seed=0, max_train_examples=0, max_test_examples=0):
    """The `cifar100` experiment (see `load_transfer_task`); needs tfds's CIFAR-100 and CIFAR-10."""
    return _transfer_experiment("cifar100", "tfds", data_dir, seed, max_train_examples, max_test_examples)
