"""Where MNIST-like digits come from: tfds, IDX files, or the embedded digits.

Every loader returns `(images, labels)`: `images` is uint8 `[N, 28, 28]` with
0 as background, `labels` is int64 `[N]` with values 0..9. `load_mnist`
dispatches on a source name and also reports which source it actually used,
since `"auto"` falls back to the embedded scikit-learn digits when
tensorflow_datasets cannot reach (or has not already prepared) MNIST.
"""

import dataclasses
import functools
import gzip
import os
import socket
import threading

import numpy as np
import scipy.ndimage
from absl import logging
from sklearn import datasets as sklearn_datasets
from sklearn import model_selection

SOURCES = ("auto", "tfds", "idx", "digits")
SPLITS = ("train", "test")

# Host that tensorflow_datasets downloads MNIST from (`mnist.py`, `_MNIST_URL`).
TFDS_MNIST_HOST = ("storage.googleapis.com", 443)
# The offline probe gives up after this many seconds, DNS lookup included.
NETWORK_PROBE_TIMEOUT_S = 2.0

_IDX_IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions.
_IDX_LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension.
_IDX_PREFIX = {"train": "train", "test": "t10k"}

# Embedded digits: 8x8 images with values 0..16, upsampled to a 20x20 digit
# centred in 28x28 with a 4-pixel border, as MNIST digits are.
_DIGITS_MAX_VALUE = 16
_DIGITS_BOX_SIZE = 20
_DIGITS_BORDER = 4
# Upsampled pixels below this are set to 0 (background). 96 makes the ink
# fraction (~19% of pixels are != 0) match real MNIST, so binarisation in
# Biased-MNIST (pixel != 0 -> white) draws strokes of MNIST-like weight.
_DIGITS_INK_THRESHOLD = 96
_DIGITS_TEST_FRACTION = 0.2


@dataclasses.dataclass(frozen=True, eq=False)
class MnistSplit:
    """One split of MNIST-like digits and the source that produced it.

    Attributes:
        images: uint8 array `[N, 28, 28]`, 0 is background.
        labels: int64 array `[N]` of digits 0..9.
        source: the source actually used: `"tfds"`, `"idx"` or `"digits"`
            (never `"auto"`).
    """

    images: np.ndarray
    labels: np.ndarray
    source: str

    def __len__(self):
        return len(self.labels)


def load_mnist(source="auto", split="train", data_dir=None):
    """Loads one split of MNIST (or its offline stand-in) from `source`.

    Sources:
        - `"tfds"`: `tensorflow_datasets` MNIST (downloads when needed).
        - `"idx"`: the original IDX files in `data_dir` (see `load_idx_mnist`).
        - `"digits"`: the embedded scikit-learn digits, upsampled to 28x28
          (see `load_sklearn_digits`); always available, no I/O.
        - `"auto"`: tfds if MNIST is already prepared in `data_dir` (the tfds
          data directory) or the tfds download host answers within
          `NETWORK_PROBE_TIMEOUT_S` seconds; otherwise, or if tfds fails,
          the embedded digits, with a logged warning. Offline, it decides
          within the probe's timeout instead of waiting on tfds's retries.

    Args:
        source: one of `"auto"`, `"tfds"`, `"idx"`, `"digits"`.
        split: `"train"` or `"test"`.
        data_dir: the IDX directory for `"idx"` (required); the tfds data
            directory for `"tfds"` and `"auto"` (None: tfds's default).

    Returns:
        A `MnistSplit(images, labels, source)`; `source` names the loader
        actually used, so a caller can record an `"auto"` fallback.

    Example:
        >>> train = load_mnist("auto", "train")
        >>> train.source  # "tfds", or "digits" on an offline machine.
    """
    if source not in SOURCES:
        raise ValueError(
            f"Unknown MNIST source {source!r}; expected one of {SOURCES}."
        )
    if source == "tfds":
        return MnistSplit(*load_tfds_mnist(split, data_dir), source="tfds")
    if source == "idx":
        if data_dir is None:
            raise ValueError(
                "source='idx' needs `data_dir`, the directory holding the "
                "IDX files (e.g. t10k-images-idx3-ubyte.gz)."
            )
        return MnistSplit(*load_idx_mnist(data_dir, split), source="idx")
    if source == "digits":
        return MnistSplit(*load_sklearn_digits(split), source="digits")
    return _load_auto(split, data_dir)


def _load_auto(split, data_dir):
    _check_split(split)
    if tfds_mnist_prepared(data_dir) or host_reachable(
        *TFDS_MNIST_HOST, timeout=NETWORK_PROBE_TIMEOUT_S
    ):
        try:
            return MnistSplit(*load_tfds_mnist(split, data_dir), source="tfds")
        except Exception as error:  # Any tfds failure means: fall back.
            reason = f"tfds.load failed: {error}"
    else:
        reason = (
            "not prepared in the tfds data_dir and "
            f"{TFDS_MNIST_HOST[0]} is unreachable"
        )
    logging.warning(
        "tfds mnist unavailable (%s); using the embedded scikit-learn digits.",
        reason,
    )
    return MnistSplit(*load_sklearn_digits(split), source="digits")


def load_tfds_mnist(split, data_dir=None):
    """Loads MNIST through `tensorflow_datasets`, downloading it if needed.

    Args:
        split: a tfds split, e.g. `"train"`, `"test"` or `"train[:10%]"`.
        data_dir: the tfds data directory (None: tfds's default,
            `$TFDS_DATA_DIR` or `~/tensorflow_datasets`).

    Returns:
        `(images, labels)`: uint8 `[N, 28, 28]` and int64 `[N]`.
    """
    # Imported here: only this source needs tfds, and it is slow to import.
    import tensorflow_datasets as tfds

    images, labels = tfds.as_numpy(
        tfds.load(
            "mnist",
            split=split,
            data_dir=data_dir,
            as_supervised=True,
            batch_size=-1,
        )
    )
    return images[..., 0].astype(np.uint8), labels.astype(np.int64)


def tfds_mnist_prepared(data_dir=None):
    """Whether tfds MNIST is already prepared on disk (no network needed)."""
    import tensorflow_datasets as tfds

    data_dir = data_dir or tfds.core.constants.get_default_data_dir()
    # Checked first so a missing directory costs no tfds builder (and no
    # tfds warning about the missing dataset_info.json).
    if not os.path.isdir(os.path.join(data_dir, "mnist")):
        return False
    return tfds.builder("mnist", data_dir=data_dir).is_prepared()


def host_reachable(host, port, timeout=NETWORK_PROBE_TIMEOUT_S):
    """Whether a TCP connection to `host:port` opens within `timeout` s.

    The connection (including the DNS lookup, which socket timeouts do not
    bound) runs in a daemon thread, so this returns after at most `timeout`
    seconds even on a machine whose resolver hangs.
    """
    outcome = []

    def connect():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(True)
        except OSError:
            outcome.append(False)

    probe = threading.Thread(target=connect, daemon=True)
    probe.start()
    probe.join(timeout)
    return bool(outcome and outcome[0])


def load_idx_mnist(directory, split):
    """Reads MNIST from the original IDX files.

    Reads `{prefix}-images-idx3-ubyte` and `{prefix}-labels-idx1-ubyte`, each
    gzipped (`.gz`) or not, with prefix `train` for `split="train"` and
    `t10k` for `split="test"`. Headers are big-endian: magic 2051 then count,
    rows, cols for images; magic 2049 then count for labels.

    Args:
        directory: the folder holding the files.
        split: `"train"` or `"test"`. A folder with only one split (such as
            the 10k test split alone) can be divided with `split_arrays`.

    Returns:
        `(images, labels)`: uint8 `[N, rows, cols]` and int64 `[N]`.

    Raises:
        FileNotFoundError: a file is missing under both names.
        ValueError: bad magic number, truncated file, or image and label
            counts that differ.

    Example:
        >>> images, labels = load_idx_mnist("../shared/data/mnist", "test")
    """
    _check_split(split)
    prefix = _IDX_PREFIX[split]
    images = _read_idx(
        _find_idx_file(directory, f"{prefix}-images-idx3-ubyte"),
        magic=_IDX_IMAGES_MAGIC,
    )
    labels = _read_idx(
        _find_idx_file(directory, f"{prefix}-labels-idx1-ubyte"),
        magic=_IDX_LABELS_MAGIC,
    )
    if len(images) != len(labels):
        raise ValueError(
            f"IDX files in {directory!r} disagree: {len(images)} images but "
            f"{len(labels)} labels."
        )
    return images, labels.astype(np.int64)


def _find_idx_file(directory, name):
    for candidate in (name, name + ".gz"):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(
        f"No IDX file {name!r} or {name + '.gz'!r} in {directory!r}. "
        "If only the other split is present, load it and divide it with "
        "`split_arrays`."
    )


def _read_idx(path, magic):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as file:
        content = file.read()
    found_magic = int.from_bytes(content[:4], "big")
    if found_magic != magic:
        raise ValueError(
            f"Bad magic number {found_magic} in IDX file {path!r}; expected "
            f"{magic}."
        )
    num_dims = magic & 0xFF  # The magic's last byte counts the dimensions.
    header_size = 4 + 4 * num_dims
    shape = tuple(
        int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big")
        for i in range(num_dims)
    )
    num_values = int(np.prod(shape))
    if len(content) - header_size != num_values:
        raise ValueError(
            f"IDX file {path!r} holds {len(content) - header_size} values "
            f"after its header, but the header's shape {shape} needs "
            f"{num_values}."
        )
    return np.frombuffer(content, np.uint8, offset=header_size).reshape(shape)


def load_sklearn_digits(split, seed=0):
    """Loads scikit-learn's 1,797 real 8x8 digits, made to look like MNIST.

    The embedded offline stand-in for MNIST: ships with scikit-learn, so it
    needs no download. Each 8x8 image (values 0..16) is scaled to 0..255,
    upsampled bicubically to 20x20, centred in 28x28 with a 4-pixel border
    (MNIST's layout), and pixels below 96 are zeroed so that the background
    is exactly 0 and binarisation (pixel != 0) keeps clean strokes of
    MNIST-like weight. A stratified split with a fixed `seed` gives 1,437
    "train" and 360 "test" digits.

    Args:
        split: `"train"` or `"test"`.
        seed: seed of the stratified train/test split.

    Returns:
        `(images, labels)`: uint8 `[N, 28, 28]` and int64 `[N]`.
    """
    _check_split(split)
    images, labels = _upsampled_digits()
    (train_images, train_labels), (test_images, test_labels) = split_arrays(
        images,
        labels,
        test_size=_DIGITS_TEST_FRACTION,
        seed=seed,
    )
    if split == "train":
        return train_images, train_labels
    return test_images, test_labels


@functools.lru_cache(maxsize=1)
def _upsampled_digits():
    """All 1,797 digits as MNIST-like images, computed once (read-only)."""
    digits = sklearn_datasets.load_digits()
    images = _upsample_digits(digits.images)
    labels = digits.target.astype(np.int64)
    images.setflags(write=False)
    labels.setflags(write=False)
    return images, labels


def _upsample_digits(images_8x8):
    scaled = images_8x8.astype(np.float32) * (255.0 / _DIGITS_MAX_VALUE)
    zoom = _DIGITS_BOX_SIZE / images_8x8.shape[-1]
    upsampled = scipy.ndimage.zoom(
        scaled, (1, zoom, zoom), order=3, mode="nearest", grid_mode=True
    )
    upsampled = np.clip(np.round(upsampled), 0, 255)
    upsampled[upsampled < _DIGITS_INK_THRESHOLD] = 0
    size = _DIGITS_BOX_SIZE + 2 * _DIGITS_BORDER
    canvas = np.zeros((len(images_8x8), size, size), np.uint8)
    box = slice(_DIGITS_BORDER, _DIGITS_BORDER + _DIGITS_BOX_SIZE)
    canvas[:, box, box] = upsampled.astype(np.uint8)
    return canvas


def load_train_test(source="auto", data_dir=None, *, test_size=0.2, seed=0):
    """Loads a train and a test split from one source, whichever splits it has.

    A source holding one split only (such as a folder with just the 10,000
    `t10k-*` IDX files) is divided with `split_arrays(test_size, seed)`, with
    a logged warning. With `"auto"` the test split comes from the source the
    train split was actually loaded from, so the two never mix sources.

    Args:
        source: one of `SOURCES` (see `load_mnist`).
        data_dir: see `load_mnist`.
        test_size: fraction (or count) held out when one split must be divided.
        seed: seed of that division.

    Returns:
        `((train_images, train_labels), (test_images, test_labels), source_used)`.

    Example:
        >>> (x, y), (x_test, y_test), used = load_train_test("idx", "../shared/data/mnist")
        >>> len(y), len(y_test)   # the 10k test digits, split
        (8000, 2000)
    """
    try:
        train = load_mnist(source, "train", data_dir)
    except FileNotFoundError as error:
        if source != "idx":
            raise
        logging.warning("%s Dividing the test split instead (test_size=%s).", error, test_size)
        test = load_mnist(source, "test", data_dir)
        (train_x, train_y), (test_x, test_y) = split_arrays(
            test.images, test.labels, test_size=test_size, seed=seed
        )
        return (train_x, train_y), (test_x, test_y), test.source
    test = load_mnist(train.source, "test", data_dir)
    return (train.images, train.labels), (test.images, test.labels), train.source


def split_arrays(images, labels, *, test_size=0.2, seed=0, stratify=True):
    """Splits one labelled set into train and test parts, reproducibly.

    Used to carve a train split out of a single available split, e.g. the
    10,000 MNIST test digits into 8,000 train / 2,000 test.

    Args:
        images: array `[N, ...]`.
        labels: array `[N]`.
        test_size: a float in (0, 1) (fraction of examples) or an int in
            [1, N - 1] (number of examples) for the test part.
        seed: seed of the split; the same seed gives the same split.
        stratify: keep the label proportions equal in both parts.

    Returns:
        `((train_images, train_labels), (test_images, test_labels))`.

    Example:
        >>> (x_tr, y_tr), (x_te, y_te) = split_arrays(x, y, test_size=2000)
    """
    images = np.asarray(images)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(
            f"`images` and `labels` differ in length: {len(images)} vs "
            f"{len(labels)}."
        )
    _check_test_size(test_size, len(labels))
    train_images, test_images, train_labels, test_labels = (
        model_selection.train_test_split(
            images,
            labels,
            test_size=test_size,
            random_state=seed,
            stratify=labels if stratify else None,
        )
    )
    return (train_images, train_labels), (test_images, test_labels)


def _check_test_size(test_size, num_examples):
    if isinstance(test_size, (int, np.integer)) and not isinstance(
        test_size, bool
    ):
        valid = 1 <= test_size <= num_examples - 1
    elif isinstance(test_size, (float, np.floating)):
        valid = 0.0 < test_size < 1.0
    else:
        valid = False
    if not valid:
        raise ValueError(
            "`test_size` must be a float in (0, 1) or an int in "
            f"[1, {num_examples - 1}]; got {test_size!r}."
        )


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}; expected one of {SPLITS}.")
