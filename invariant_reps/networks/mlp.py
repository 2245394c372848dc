"""`mlp`: a Dense stack whose last hidden layer is the bottleneck."""

import keras

from invariant_reps.layers import L2Normalize
from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network


@register_network("mlp")
def mlp(
    input_shape,
    num_classes,
    hidden_units=(64, 64),
    activation="relu",
    bottleneck_dim=None,
    normalize_bottleneck=False,
    name="mlp",
):
    """A multilayer perceptron on flattened inputs.

    Architecture: `Flatten -> Dense(h, activation) for h in hidden_units`
    `[-> Dense(bottleneck_dim, activation)] [-> L2Normalize]` is the encoder;
    the head is one `Dense(num_classes)` producing logits. The layer named
    `"bottleneck"` outputs `z`.

    Args:
        input_shape: shape of one example without the batch axis; inputs of
            any rank are flattened.
        num_classes: positive int, number of logits.
        hidden_units: sequence of positive ints, the hidden layer widths.
        activation: activation of every hidden and bottleneck layer.
        bottleneck_dim: optional positive int. If given, one more Dense layer
            of this width is the bottleneck; otherwise the last hidden layer
            is (so `hidden_units` must then be non-empty).
        normalize_bottleneck: if True, `z` is L2-normalised (EnD-style unit
            features) and the head sees the normalised `z`.
        name: prefix of the encoder and head model names.

    Returns:
        `Network(encoder, head)` with `z` of shape `[batch, dim]`.

    Example:

    >>> encoder, head = mlp((2,), num_classes=2, hidden_units=(32, 8))
    """
    input_shape = _validation.validate_input_shape(input_shape)
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    if not isinstance(hidden_units, (tuple, list)) or not all(
        _validation.is_positive_int(units) for units in hidden_units
    ):
        raise ValueError(
            "`hidden_units` must be a sequence of positive ints. "
            f"Received: hidden_units={hidden_units!r}"
        )
    widths = [int(units) for units in hidden_units]
    if bottleneck_dim is not None:
        widths.append(
            _validation.validate_positive_int(bottleneck_dim, "bottleneck_dim")
        )
    if not widths:
        raise ValueError(
            "`hidden_units` is empty and `bottleneck_dim` is None, so there "
            "is no layer to use as the bottleneck. Give at least one hidden "
            "layer or a `bottleneck_dim`."
        )
    keras.activations.get(activation)  # Raises early on an unknown name.

    inputs = keras.Input(shape=input_shape, name="x")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for index, units in enumerate(widths, start=1):
        is_bottleneck = index == len(widths) and not normalize_bottleneck
        layer_name = "bottleneck" if is_bottleneck else f"dense_{index}"
        x = keras.layers.Dense(units, activation=activation, name=layer_name)(x)
    if normalize_bottleneck:
        x = L2Normalize(name="bottleneck")(x)
    encoder = keras.Model(inputs, x, name=f"{name}_encoder")

    z = keras.Input(shape=(widths[-1],), name="z")
    logits = keras.layers.Dense(num_classes, name="logits")(z)
    head = keras.Model(z, logits, name=f"{name}_head")
    return Network(encoder=encoder, head=head)
