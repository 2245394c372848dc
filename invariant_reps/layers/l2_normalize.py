"""`L2Normalize`: projects each example onto the unit sphere."""

import numbers

import keras
from keras import ops

# Mixed-precision inputs are normalised in float32: in float16 the squared
# epsilon (1e-24) underflows to zero and a zero vector would give 0 * inf.
_LOW_PRECISION_DTYPES = ("float16", "bfloat16")


@keras.saving.register_keras_serializable(package="invariant_reps")
class L2Normalize(keras.layers.Layer):
    """Divides each example by its L2 norm, floored at `epsilon`.

    Computes `z / max(||z||_2, epsilon)`, the `pattern_norm` of EnD
    (Tartaglione et al., CVPR 2021, Sec. 3.1) and PyTorch's
    `F.normalize(z, p=2, eps=epsilon)`. Vectors whose norm is below `epsilon`
    are divided by `epsilon`, so a zero vector maps to zero (not NaN), and its
    gradient is finite.

    The norm is computed from the squared sum as
    `rsqrt(max(sum(z**2), epsilon**2))`, which equals `1 / max(||z||, epsilon)`
    but avoids the infinite derivative of `sqrt` at zero.

    Args:
        axis: int or tuple of ints, the axes the norm is taken over. Defaults
            to `-1` (the feature axis of a `[batch, dim]` bottleneck).
        epsilon: positive float, the floor on the norm. Defaults to `1e-12`.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = L2Normalize()
    >>> layer(np.array([[3.0, 4.0], [0.0, 0.0]]))
    # [[0.6, 0.8], [0.0, 0.0]]
    """

    def __init__(self, axis=-1, epsilon=1e-12, **kwargs):
        super().__init__(**kwargs)
        self.axis = _validate_axis(axis)
        if (
            isinstance(epsilon, bool)
            or not isinstance(epsilon, numbers.Real)
            or not epsilon > 0
        ):
            raise ValueError(
                "`epsilon` must be a positive float. "
                f"Received: epsilon={epsilon!r}"
            )
        self.epsilon = float(epsilon)
        self.supports_masking = True

    def call(self, inputs):
        work_dtype = (
            "float32"
            if keras.backend.standardize_dtype(inputs.dtype)
            in _LOW_PRECISION_DTYPES
            else inputs.dtype
        )
        values = ops.cast(inputs, work_dtype)
        squared_norm = ops.sum(
            ops.square(values), axis=self.axis, keepdims=True
        )
        inverse_norm = ops.rsqrt(ops.maximum(squared_norm, self.epsilon**2))
        return ops.cast(values * inverse_norm, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        axis = list(self.axis) if isinstance(self.axis, tuple) else self.axis
        config.update({"axis": axis, "epsilon": self.epsilon})
        return config


def _validate_axis(axis):
    """Returns `axis` as an int or a tuple of ints, or raises ValueError."""
    if isinstance(axis, numbers.Integral) and not isinstance(axis, bool):
        return int(axis)
    if (
        isinstance(axis, (list, tuple))
        and axis
        and all(
            isinstance(a, numbers.Integral) and not isinstance(a, bool)
            for a in axis
        )
    ):
        return tuple(int(a) for a in axis)
    raise ValueError(
        "`axis` must be an int or a non-empty tuple of ints. "
        f"Received: axis={axis!r}"
    )
