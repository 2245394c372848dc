"""Checks on the data given to `fit`, before any graph is traced.

Errors name the problem in the user's terms (which array, which index, which
range) instead of surfacing as a TensorFlow stack trace from inside a graph.
NumPy inputs are checked whole; a `tf.data.Dataset` is checked on its first
batch; other inputs (generators, `PyDataset`) pass through.
"""

import keras
import numpy as np
import tensorflow as tf

from invariant_reps.data.packing import INPUTS_KEY, SENSITIVE_KEY, unpack_inputs


def _as_numpy(value):
    if value is None:
        return None
    if isinstance(value, (tf.Tensor, tf.Variable)):
        return value.numpy()
    return np.asarray(value)


def _first_bad_index(mask):
    return int(np.flatnonzero(mask.reshape(mask.shape[0], -1).any(axis=1))[0])


def check_finite(array, what, name):
    """Raises ValueError if a float array holds NaN or inf."""
    if array is None or not np.issubdtype(array.dtype, np.floating):
        return
    bad = ~np.isfinite(array)
    if bad.any():
        raise ValueError(
            f"{name}: {what} contain {int(bad.sum())} NaN/inf value(s); the first is "
            f"in example {_first_bad_index(bad)}. Clean or impute them before training."
        )


def check_class_ids(array, num_classes, what, name):
    """Raises ValueError unless the values are class ids in [0, num_classes).

    Integer arrays are checked for range; float arrays (e.g. labels read from
    a CSV) must also hold integral values: 2.7 is not silently class 2.
    """
    if array is None or not (np.issubdtype(array.dtype, np.integer) or np.issubdtype(array.dtype, np.floating)):
        return
    flat = array.reshape(-1)
    if np.issubdtype(array.dtype, np.floating):
        fractional = flat != np.round(flat)
        if fractional.any():
            index = int(np.flatnonzero(fractional)[0])
            raise ValueError(
                f"{name}: {what} must be integer class ids in [0, {num_classes}); found the non-integral value "
                f"{float(flat[index]):g} at position {index}."
            )
    bad = (flat < 0) | (flat >= num_classes)
    if bad.any():
        index = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{name}: {what} must be class ids in [0, {num_classes}); found "
            f"{flat[index].item():g} at position {index}."
        )


def _check_input_shape(model, x, name):
    inputs = getattr(model.encoder, "inputs", None)
    if not inputs or len(inputs) != 1 or not hasattr(x, "shape"):
        return
    expected = tuple(inputs[0].shape[1:])
    received = tuple(x.shape[1:])
    compatible = len(expected) == len(received) and all(
        e is None or e == r for e, r in zip(expected, received)
    )
    if not compatible:
        raise ValueError(
            f"{name}: inputs have shape {tuple(x.shape)} but the encoder expects "
            f"(batch,) + {expected}."
        )


def _num_task_classes(model):
    """Number of task classes: the head's width, or 2 for a one-logit (binary) head."""
    outputs = getattr(model.head, "outputs", None)
    if not outputs:
        return None
    width = outputs[0].shape[-1]
    return 2 if width == 1 else width


def check_batch(model, x_packed, y, name="training data"):
    """Validates one batch or a whole NumPy dataset against `model`."""
    x, s = unpack_inputs(x_packed)
    if isinstance(x_packed, dict) and INPUTS_KEY not in x_packed:
        raise ValueError(
            f"{name}: an input dict must have the key {INPUTS_KEY!r} (and "
            f"{SENSITIVE_KEY!r} for the sensitive variable); received keys "
            f"{sorted(x_packed)}."
        )
    if s is None and model.requires_sensitive:
        raise ValueError(
            f"{name}: {type(model).__name__} needs the sensitive variable: pass "
            f"inputs as {{{INPUTS_KEY!r}: x, {SENSITIVE_KEY!r}: s}} "
            "(invariant_reps.pack_inputs, or dataset.map(invariant_reps.pack))."
        )
    x_np, y_np, s_np = _as_numpy(x), _as_numpy(y), _as_numpy(s)
    if x_np is not None and x_np.dtype != object:
        _check_input_shape(model, x_np, name)
        check_finite(x_np, "inputs", name)
    lengths = {"inputs": len(x_np) if x_np is not None and x_np.ndim else None}
    if y_np is not None:
        lengths["targets"] = len(y_np)
        check_finite(y_np, "targets", name)
        num_classes = _num_task_classes(model)
        if num_classes:
            check_class_ids(y_np, num_classes, "task targets", name)
    if s_np is not None:
        lengths["sensitive"] = len(s_np)
        check_finite(s_np, "sensitive values", name)
        num_sensitive = getattr(model, "num_sensitive_classes", None)
        if num_sensitive:
            check_class_ids(s_np, num_sensitive, "sensitive values", name)
    sizes = {k: v for k, v in lengths.items() if v is not None}
    if len(set(sizes.values())) > 1:
        raise ValueError(f"{name}: inputs, targets and sensitive values differ in length: {sizes}.")


def check_fit_data(model, x, y, name="training data"):
    """Entry point used by `InvariantModel.fit` for `x`/`y` and validation data."""
    if isinstance(x, tf.data.Dataset):
        for element in x.take(1):
            x_batch, y_batch, _ = keras.utils.unpack_x_y_sample_weight(element)
            check_batch(model, x_batch, y_batch, f"{name} (first batch)")
        return
    if isinstance(x, tuple) and y is None:  # validation_data=(x, y[, w])
        x, y = x[0], (x[1] if len(x) > 1 else None)
    if isinstance(x, (np.ndarray, tf.Tensor, dict)):
        check_batch(model, x, y, name)
