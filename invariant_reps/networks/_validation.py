"""Argument checks shared by the network builders."""

import numbers


def is_positive_int(value):
    """True for a positive int (bools excluded)."""
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value > 0
    )


def validate_positive_int(value, name):
    """Returns `value` as an int, or raises ValueError naming `name`."""
    if not is_positive_int(value):
        raise ValueError(
            f"`{name}` must be a positive int. Received: {name}={value!r}"
        )
    return int(value)


def validate_positive_float(value, name):
    """Returns `value` as a float, or raises ValueError naming `name`."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not value > 0
    ):
        raise ValueError(
            f"`{name}` must be a positive number. Received: {name}={value!r}"
        )
    return float(value)


def validate_input_shape(input_shape, rank=None, allow_unknown_spatial=False):
    """Checks a per-example input shape (no batch axis).

    Args:
        input_shape: tuple or list of positive ints.
        rank: if given, the required number of dimensions.
        allow_unknown_spatial: if True, every axis but the last (channels) may
            be `None`, for convolutional networks that accept any image size.

    Returns:
        The shape as a tuple.
    """
    if not isinstance(input_shape, (tuple, list)) or not input_shape:
        raise ValueError(
            "`input_shape` must be a non-empty tuple of positive ints "
            f"(without the batch axis). Received: input_shape={input_shape!r}"
        )
    input_shape = tuple(input_shape)
    if rank is not None and len(input_shape) != rank:
        raise ValueError(
            f"`input_shape` must have {rank} dimensions (without the batch "
            f"axis). Received: input_shape={input_shape!r}"
        )
    for axis, size in enumerate(input_shape):
        is_spatial = axis < len(input_shape) - 1
        if size is None and allow_unknown_spatial and is_spatial:
            continue
        if not is_positive_int(size):
            raise ValueError(
                f"`input_shape` must contain positive ints; axis {axis} is "
                f"{size!r}. Received: input_shape={input_shape!r}"
            )
    return input_shape


def scaled_width(channels, width):
    """Number of channels after applying a width multiplier (at least 1)."""
    return max(1, int(round(channels * width)))
