"""`ib_mlp`: the fully connected networks of the DisenIB seed's MNIST experiments (spec B.1, B.2)."""

import keras

from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network

#: The seed's hidden width and code dimension (`emb_dim`).
HIDDEN_UNITS = 1024
CODE_DIM = 16


def seed_initializer():
    """Glorot-uniform with gain sqrt(2) (PyTorch `xavier_uniform_(w, calculate_gain('relu'))`)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")


@register_network("ib_mlp")
def ib_mlp(input_shape, num_classes, width=1.0, code_dim=CODE_DIM, name="ib_mlp"):
    """The seed's MLP encoder and one-layer decoder.

    Encoder: `Flatten -> Dense(1024, relu) -> Dense(1024, relu) -> Dense(code_dim)`
    (linear, the layer named `"code"`), i.e. DisenIB's deterministic E_t.
    Head: one `Dense(num_classes)` on the code (the seed's `Linear(16 -> 10)`).
    Every layer: Glorot-uniform with gain sqrt(2), zero biases.

    VIB and NIB replace the final linear code layer by their Gaussian code
    layer on the same 1024 features (`models.ib_lagrangian.attach_gaussian_code`),
    which gives the seed's `784 -> 1024 -> 1024 -> 2*16` (VIB: mu and s) and
    `784 -> 1024 -> 1024 -> 16` plus a shared learned scale (NIB); any other
    method trains this deterministic network.

    Args:
        input_shape: one example's shape, e.g. `(784,)` or `(28, 28, 1)`
            (flattened).
        num_classes: positive int, the number of logits.
        width: positive multiplier of the hidden width 1024 (the CLI's
            `--network_width`; 1.0 is the seed's).
        code_dim: positive int, the code dimension (seed: 16).
        name: prefix of the model names.

    Returns:
        `Network(encoder, head)`.

    Example:
        >>> net = ib_mlp((784,), 10)
        >>> net.encoder.output_shape, net.head.output_shape
        ((None, 16), (None, 10))
    """
    input_shape = _validation.validate_input_shape(input_shape)
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    code_dim = _validation.validate_positive_int(code_dim, "code_dim")
    width = _validation.validate_positive_float(width, "width")
    hidden = max(1, int(round(HIDDEN_UNITS * width)))

    def dense(units, activation=None, layer_name=None):
        return keras.layers.Dense(
            units, activation=activation, kernel_initializer=seed_initializer(), bias_initializer="zeros",
            name=layer_name,
        )

    inputs = keras.Input(shape=input_shape, name="x")
    x = keras.layers.Flatten(name="flatten")(inputs)
    x = dense(hidden, "relu", "dense_1")(x)
    x = dense(hidden, "relu", "dense_2")(x)
    code = dense(code_dim, None, "code")(x)
    encoder = keras.Model(inputs, code, name=f"{name}_encoder")

    z = keras.Input(shape=(code_dim,), name="t")
    head = keras.Model(z, dense(num_classes, None, "logits")(z), name=f"{name}_head")
    return Network(encoder=encoder, head=head)
