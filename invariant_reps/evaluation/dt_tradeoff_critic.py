"""The dt-tradeoff seed's MINE statistics network (spec §A.3; dt-tradeoff:mine.py `MINE`)."""

import math

import keras
import numpy as np
import tensorflow as tf

SEED_HIDDEN_UNITS = 1024
SEED_NUM_HIDDEN_LAYERS = 3
_HIDDEN_STDDEV = 0.02


@keras.saving.register_keras_serializable(package="invariant_reps")
class SeedMineCritic(keras.Model):
    """The seed's statistics network `T([a, b])`: an MLP with one output.

    Hidden layers: `Dense(hidden_units)` + ReLU, kernels N(0, 0.02^2), zero
    biases (the seed's `nn.init.normal_(std=0.02)`, `constant_(0)`). Output:
    `Dense(1)` with PyTorch's `Linear` default, kernel and bias
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), which the seed leaves in place.

    Args:
        hidden_units: width of every hidden layer (seed: 1024).
        num_hidden_layers: hidden ReLU layers (seed: 3).
        seed: optional int seeding the initializers.
        **kwargs: base `keras.Model` arguments (`name`, ...).

    Example:
        >>> critic = SeedMineCritic(hidden_units=32, seed=0)
        >>> critic(np.zeros((4, 10), "float32")).shape
        TensorShape([4])
    """

    def __init__(self, hidden_units=SEED_HIDDEN_UNITS, num_hidden_layers=SEED_NUM_HIDDEN_LAYERS, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        check_positive_int("hidden_units", hidden_units)
        check_positive_int("num_hidden_layers", num_hidden_layers)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"`seed` must be an int or None; received {seed!r}.")
        self.hidden_units, self.num_hidden_layers, self.seed = hidden_units, num_hidden_layers, seed
        offset = 0 if seed is None else seed
        self.hidden = [
            keras.layers.Dense(
                hidden_units, activation="relu", bias_initializer="zeros",
                kernel_initializer=keras.initializers.RandomNormal(
                    stddev=_HIDDEN_STDDEV, seed=None if seed is None else offset + index),
            )
            for index in range(num_hidden_layers)
        ]
        # PyTorch's Linear default: kernel and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        limit = 1.0 / math.sqrt(hidden_units)
        last_seed = None if seed is None else offset + num_hidden_layers
        self.output_layer = keras.layers.Dense(
            1,
            kernel_initializer=keras.initializers.RandomUniform(-limit, limit, seed=last_seed),
            bias_initializer=keras.initializers.RandomUniform(
                -limit, limit, seed=None if last_seed is None else last_seed + 1),
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        for layer in self.hidden:
            layer.build(shape)
            shape = shape[:-1] + (self.hidden_units,)
        self.output_layer.build(shape)
        self.built = True

    def call(self, inputs):
        hidden = inputs
        for layer in self.hidden:
            hidden = layer(hidden)
        return tf.squeeze(self.output_layer(hidden), axis=-1)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "hidden_units": self.hidden_units,
                "num_hidden_layers": self.num_hidden_layers, "seed": self.seed}


def check_positive_int(name, value, minimum=1):
    """Raises ValueError unless `value` is an int (not a bool) `>= minimum`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; received {value!r}.")
