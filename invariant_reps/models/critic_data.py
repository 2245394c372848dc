"""Data plumbing of the critic/adversary methods: a held-out critic stream and statistics of s.

Held-out stream. The seed trains its critic (and its adversary) on fresh
batches of a *separate* stream (its test file), not on the classifier's
batch. Here the training batch carries that second sub-batch, packed under
`HELD_OUT_KEY` next to the inputs, so it travels with the batch through
`fit`, `tf.distribute` (each replica gets its share; the methods gather it)
and resumption (the pipeline's order is a function of the epoch):

    ({"inputs": x, "sensitive": s, "held_out": {"inputs": xh, "sensitive": sh, "labels": yh}}, y)

`attach_held_out` builds such batches from two `tf.data` datasets of packed
batches. The command line has no held-out stream: a method with
`critic_stream="held_out"` is for Python callers.

Statistics. A continuous `s` in raw units (the seed feeds M_bc in GeV, about
5.27 +- 0.01) is nearly constant at a network's input scale. The methods
standardise it with its training-set mean and standard deviation, and the
adversary bins it at its training-set quantiles; `sensitive_values` reads the
training data's `s` once, when `fit` starts.
"""

import keras
import numpy as np
import tensorflow as tf

from invariant_reps.data.packing import INPUTS_KEY, SENSITIVE_KEY, unpack_inputs

HELD_OUT_KEY = "held_out"
LABELS_KEY = "labels"


def attach_held_out(dataset, held_out):
    """Adds a held-out sub-batch to every training batch, for `critic_stream="held_out"`.

    Args:
        dataset: `tf.data.Dataset` of packed training batches
            `({"inputs": x, "sensitive": s}, y[, w])`.
        held_out: `tf.data.Dataset` of packed batches of other examples (the
            seed: its test stream); repeated forever, so it may be shorter.

    Returns:
        A dataset of `({..., "held_out": {"inputs", "sensitive", "labels"}}, y[, w])`
        with the cardinality of `dataset`.

    Example:
        >>> train = attach_held_out(train_batches.dataset, critic_batches.dataset)
        >>> model.fit(train, steps_per_epoch=train_batches.steps_per_epoch, epochs=5)
    """

    def as_sub_batch(*element):
        x_packed, y, _ = keras.utils.unpack_x_y_sample_weight(element)
        x, s = unpack_inputs(x_packed)
        if s is None:
            raise ValueError("The held-out stream must carry the sensitive variable (packed batches).")
        return {INPUTS_KEY: x, SENSITIVE_KEY: s, LABELS_KEY: y}

    def merge(element, sub_batch):
        x_packed, rest = element[0], element[1:]
        return (dict(x_packed, **{HELD_OUT_KEY: sub_batch}), *rest)

    held = held_out.map(as_sub_batch).repeat()
    return tf.data.Dataset.zip(dataset, held).map(merge)


def split_held_out(x_packed):
    """`(x_packed without the held-out entry, held-out dict or None)`."""
    if isinstance(x_packed, dict) and HELD_OUT_KEY in x_packed:
        rest = {k: v for k, v in x_packed.items() if k != HELD_OUT_KEY}
        return rest, x_packed[HELD_OUT_KEY]
    return x_packed, None


def first_inputs(x):
    """The packed inputs of the first batch of `x` (array dict or dataset), or None."""
    if isinstance(x, tf.data.Dataset):
        for element in x.take(1):
            return keras.utils.unpack_x_y_sample_weight(element)[0]
        return None
    return x if isinstance(x, dict) else None


def sensitive_values(x, steps_per_epoch=None, owner="the model"):
    """Every training value of `s` that `fit` will see in one epoch, as float64 `[N, d]`.

    Args:
        x: what `fit` receives: a packed input dict of arrays or a
            `tf.data.Dataset` of packed batches.
        steps_per_epoch: batches in one epoch of `x` (the dataset may hold all
            epochs); None reads a finite dataset to its end.
        owner: name used in error messages.

    Returns:
        NumPy float64 `[N, d]`.
    """
    if isinstance(x, dict):
        s = unpack_inputs(x)[1]
        return None if s is None else _rows(np.asarray(s))
    if isinstance(x, tf.data.Dataset):
        if steps_per_epoch is not None:
            x = x.take(int(steps_per_epoch))
        elif x.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError(
                f"{owner} reads the training values of s once to standardise or bin it, but the dataset is "
                "infinite: pass `steps_per_epoch` to fit, or the statistics to the constructor "
                "(sensitive_mean/sensitive_std, bin_edges)."
            )
        values = []
        for element in x.map(lambda *e: unpack_inputs(e[0])[1]):
            values.append(_rows(element.numpy()))
        return np.concatenate(values) if values else None
    raise ValueError(
        f"{owner} reads the training values of s once to standardise or bin it; it cannot read them "
        f"from a {type(x).__name__}: pass NumPy arrays or a tf.data.Dataset, or the statistics to the "
        "constructor (sensitive_mean/sensitive_std, bin_edges)."
    )


def _rows(array):
    array = np.asarray(array, dtype=np.float64)
    return array.reshape(len(array), -1)


def mean_and_std(values, owner="the model"):
    """Per-column mean and (population) standard deviation of `[N, d]` values.

    Raises:
        ValueError: if a column is constant: its MI with any output is 0,
            there is nothing to decorrelate, and standardising it divides by 0.
    """
    mean, std = values.mean(axis=0), values.std(axis=0)
    if np.any(std == 0):
        raise ValueError(
            f"{owner}: the sensitive variable is constant over the training data (value "
            f"{values[0].tolist()}): nothing to decorrelate; check the data's sensitive column."
        )
    return mean.tolist(), std.tolist()
