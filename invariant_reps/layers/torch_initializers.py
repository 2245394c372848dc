"""Keras initializers that reproduce PyTorch's default weight initialisation.

PyTorch initialises `nn.Linear` and `nn.Conv2d` with
`kaiming_uniform_(a=sqrt(5))`, i.e. U(+-1/sqrt(fan_in)) for the weights, and
draws the biases from the same U(+-1/sqrt(fan_in)) using the *weight's*
fan-in. A Keras bias initializer only sees the bias shape `(units,)`, so the
fan-in has to be passed in explicitly: that is `FanInUniform`.

Every call returns a fresh initializer: an unseeded Keras initializer draws
its seed once at construction, so one instance shared by two layers would give
them identical weights.
"""

import math
import numbers

import keras


@keras.saving.register_keras_serializable(package="invariant_reps")
class FanInUniform(keras.initializers.RandomUniform):
    """Draws from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for an explicit fan-in.

    This is PyTorch's default bias initialisation for `nn.Linear` and
    `nn.Conv2d`, where `fan_in` is the fan-in of the layer's kernel
    (`in_features` for a Linear layer, `in_channels * kh * kw` for a conv).

    Args:
        fan_in: positive int, the fan-in of the kernel the bias belongs to.
        seed: optional int or `keras.random.SeedGenerator`.

    Example:

    >>> layer = keras.layers.Dense(
    ...     10, bias_initializer=FanInUniform(fan_in=128))
    """

    def __init__(self, fan_in, seed=None):
        if (
            isinstance(fan_in, bool)
            or not isinstance(fan_in, numbers.Integral)
            or fan_in < 1
        ):
            raise ValueError(
                f"`fan_in` must be a positive int. Received: fan_in={fan_in!r}"
            )
        self.fan_in = int(fan_in)
        bound = 1.0 / math.sqrt(self.fan_in)
        super().__init__(minval=-bound, maxval=bound, seed=seed)

    def get_config(self):
        return {"fan_in": self.fan_in, "seed": super().get_config()["seed"]}


def torch_default_kernel(seed=None):
    """PyTorch's default Linear/Conv2d weight init, U(+-1/sqrt(fan_in)).

    `kaiming_uniform_(a=sqrt(5))` has bound `sqrt(6 / ((1 + 5) * fan_in))`,
    which is `VarianceScaling(1/3, "fan_in", "uniform")`'s
    `sqrt(3 * (1/3) / fan_in)`.

    Args:
        seed: optional int or `keras.random.SeedGenerator`.

    Returns:
        A new `keras.initializers.VarianceScaling`.
    """
    return keras.initializers.VarianceScaling(
        scale=1.0 / 3.0, mode="fan_in", distribution="uniform", seed=seed
    )


def torch_kaiming_normal_fan_out(seed=None):
    """`kaiming_normal_(mode="fan_out", nonlinearity="relu")`: N(0, 2/fan_out).

    For a conv kernel `fan_out = C_out * kh * kw`, as in PyTorch.

    Args:
        seed: optional int or `keras.random.SeedGenerator`.

    Returns:
        A new `keras.initializers.VarianceScaling`.
    """
    return keras.initializers.VarianceScaling(
        scale=2.0, mode="fan_out", distribution="untruncated_normal", seed=seed
    )
