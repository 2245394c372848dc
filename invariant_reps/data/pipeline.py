"""Batched `tf.data` pipelines with epoch-indexed, resumable shuffling.

The order of epoch `e` is a pure function of `(shuffle_seed, e)`, so a run
resumed at epoch `k` (`start_epoch=k`) sees exactly the batches that an
uninterrupted run sees from epoch `k` on. All epochs live in one dataset,
each batched on its own (no batch straddles two epochs), and every element
is packed as `({"inputs": x, "sensitive": s}, y)` (see `packing.py`).

Example:
    >>> train, steps = make_dataset(biased_train, 256, shuffle_seed=0,
    ...                             start_epoch=epoch, num_epochs=80 - epoch)
    >>> model.fit(train, epochs=80, initial_epoch=epoch, steps_per_epoch=steps)
"""

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from invariant_reps.data import biased_mnist
from invariant_reps.data import packing


class EpochBatches(NamedTuple):
    """A dataset of packed batches and the number of batches per epoch.

    Unpacks as `dataset, steps_per_epoch = make_dataset(...)`.
    """

    dataset: tf.data.Dataset
    steps_per_epoch: int


def steps_per_epoch(num_examples, batch_size, drop_remainder=False):
    """Number of batches in one epoch of `num_examples` examples."""
    if drop_remainder:
        return num_examples // batch_size
    return math.ceil(num_examples / batch_size)


def epoch_order(num_examples, shuffle_seed, epoch):
    """The example order of epoch `epoch`: a pure function of its arguments.

    Args:
        num_examples: size of the dataset.
        shuffle_seed: a non-negative int, or None for the natural order.
        epoch: the epoch index (0-based).

    Returns:
        int64 `[num_examples]`, a permutation of `range(num_examples)`.
    """
    if shuffle_seed is None:
        return np.arange(num_examples, dtype=np.int64)
    # A SeedSequence over the pair keeps (seed, epoch) streams distinct,
    # unlike seed + epoch, which would give (0, 1) and (1, 0) one order.
    rng = np.random.default_rng([shuffle_seed, epoch])
    return rng.permutation(num_examples).astype(np.int64)


def make_array_dataset(
    x,
    y,
    s,
    batch_size,
    *,
    shuffle_seed=None,
    start_epoch=0,
    num_epochs=1,
    drop_remainder=False,
    batch_map=None,
    include_index=False,
    sample_weight=None,
):
    """Batches in-memory arrays `(x, y, s)` with epoch-indexed shuffling.

    Works for any dataset that fits in memory; `make_dataset` builds on it
    for Biased-MNIST.

    Args:
        x: model inputs, an array `[N, ...]` (or a nest of such arrays).
        y: task targets `[N, ...]`.
        s: the sensitive variable `[N, ...]`.
        batch_size: examples per batch.
        shuffle_seed: a non-negative int: epoch `e` is ordered by
            `epoch_order(N, shuffle_seed, e)`. None: the natural order every
            epoch (for evaluation).
        start_epoch: index of the first epoch in the dataset; set it to the
            epoch a resumed run starts at.
        num_epochs: number of epochs the dataset holds, back to back.
        drop_remainder: drop each epoch's last, smaller batch.
        batch_map: optional function `(x, y, s) -> (x, y, s)` applied to each
            gathered batch before packing (e.g. colourize and normalize).
        include_index: also pack each example's row in `x` under
            `packing.INDEX_KEY` (int64), for methods with a per-example
            memory bank.
        sample_weight: optional per-example weights `[N]`; batches then
            carry them as Keras's third element, `(inputs, y, weights)`.

    Returns:
        `EpochBatches(dataset, steps_per_epoch)`; the dataset yields
        `({"inputs": x, "sensitive": s}, y)` batches, `steps_per_epoch` per
        epoch, and is prefetched. Pass `steps_per_epoch` to `Model.fit`:
        without it Keras takes the whole dataset (all epochs) as one epoch.

    Example:
        >>> batches = make_array_dataset(x, y, s, 64, shuffle_seed=0)
        >>> model.fit(batches.dataset, steps_per_epoch=batches.steps_per_epoch)
    """
    num_examples = len(y)
    named = [("x", x), ("s", s)] + ([] if sample_weight is None else [("sample_weight", sample_weight)])
    for name, array in named:
        lengths = {len(leaf) for leaf in tf.nest.flatten(array)}
        if lengths != {num_examples}:
            raise ValueError(
                f"`{name}` must have {num_examples} rows like `y`; got "
                f"{sorted(lengths)}."
            )
    _check_schedule(batch_size, shuffle_seed, start_epoch, num_epochs)
    steps = steps_per_epoch(num_examples, batch_size, drop_remainder)
    if steps == 0:
        raise ValueError(
            f"`batch_size={batch_size}` with `drop_remainder=True` leaves no "
            f"batch in an epoch of {num_examples} examples."
        )

    def order_of(epoch):
        return epoch_order(num_examples, shuffle_seed, int(epoch))

    def batches_of_epoch(epoch):
        order = tf.numpy_function(order_of, [epoch], tf.int64, stateful=False)
        order.set_shape([num_examples])
        return tf.data.Dataset.from_tensor_slices(order).batch(
            batch_size, drop_remainder=drop_remainder
        )

    tensors = tf.nest.map_structure(tf.convert_to_tensor, (x, y, s))
    weights = None if sample_weight is None else tf.convert_to_tensor(sample_weight, tf.float32)

    def gather_batch(indices):
        batch = tf.nest.map_structure(
            lambda tensor: tf.gather(tensor, indices), tensors
        )
        if batch_map is not None:
            batch = batch_map(*batch)
        inputs, targets = packing.pack(*batch)
        if include_index:
            inputs[packing.INDEX_KEY] = indices
        if weights is not None:
            return inputs, targets, tf.gather(weights, indices)
        return inputs, targets

    dataset = (
        tf.data.Dataset.range(start_epoch, start_epoch + num_epochs)
        .flat_map(batches_of_epoch)
        .apply(tf.data.experimental.assert_cardinality(num_epochs * steps))
        .map(gather_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
    return EpochBatches(dataset, steps)


def make_dataset(
    split_or_arrays,
    batch_size,
    *,
    shuffle_seed=None,
    start_epoch=0,
    num_epochs=1,
    drop_remainder=False,
    include_index=False,
):
    """Batches a Biased-MNIST split, colourizing on the fly.

    Grayscale images and colour ids are stored; each batch is colourized
    (`colourize_tf`) and normalized to [-1, 1] in the `tf.data` map.

    Args:
        split_or_arrays: a `BiasedMNIST`, or a tuple
            `(gray_images uint8 [N, 28, 28], digits [N], colours [N])`.
        batch_size: examples per batch.
        shuffle_seed: see `make_array_dataset` (None: fixed order).
        start_epoch: see `make_array_dataset`.
        num_epochs: see `make_array_dataset`.
        drop_remainder: see `make_array_dataset`.
        include_index: see `make_array_dataset`.

    Returns:
        `EpochBatches(dataset, steps_per_epoch)`; the dataset yields
        `({"inputs": float32 [B, 28, 28, 3] in [-1, 1], "sensitive": colour
        int64 [B]}, digit int64 [B])`.

    Example:
        >>> train = load_biased_mnist("auto", "train", rho=0.99)
        >>> dataset, steps = make_dataset(train, 256, shuffle_seed=0,
        ...                               num_epochs=80)
        >>> model.fit(dataset, epochs=80, steps_per_epoch=steps)
    """
    if isinstance(split_or_arrays, biased_mnist.BiasedMNIST):
        images = split_or_arrays.images
        digits = split_or_arrays.digits
        colours = split_or_arrays.colours
    elif isinstance(split_or_arrays, (tuple, list)) and (
        len(split_or_arrays) == 3
    ):
        images, digits, colours = (np.asarray(a) for a in split_or_arrays)
    else:
        raise ValueError(
            "`split_or_arrays` must be a BiasedMNIST or a tuple (gray_images, "
            f"digits, colours); got {type(split_or_arrays).__name__}."
        )
    return make_array_dataset(
        images,
        digits,
        colours,
        batch_size,
        shuffle_seed=shuffle_seed,
        start_epoch=start_epoch,
        num_epochs=num_epochs,
        drop_remainder=drop_remainder,
        batch_map=_colourize_and_normalize,
        include_index=include_index,
    )


def _colourize_and_normalize(images, digits, colours):
    rgb = biased_mnist.colourize_tf(images, colours)
    return biased_mnist.normalize_images_tf(rgb), digits, colours


def _check_schedule(batch_size, shuffle_seed, start_epoch, num_epochs):
    for name, value, minimum in (
        ("batch_size", batch_size, 1),
        ("start_epoch", start_epoch, 0),
        ("num_epochs", num_epochs, 1),
    ):
        if not _is_int(value) or value < minimum:
            raise ValueError(
                f"`{name}` must be an int >= {minimum}; got {value!r}."
            )
    if shuffle_seed is not None and (
        not _is_int(shuffle_seed) or shuffle_seed < 0
    ):
        raise ValueError(
            "`shuffle_seed` must be None or an int >= 0; got "
            f"{shuffle_seed!r}."
        )


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
