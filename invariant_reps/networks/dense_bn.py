"""`dense_bn`: the invariant_reps seed's classifier, Dense -> ELU -> BatchNorm blocks.

Spec/invreps_disenib.md A.2 (`Network.dense_network` of the seed): 5 hidden
layers of 512 units, each a Glorot-uniform Dense with ELU followed by batch
normalisation **with batch renormalisation** (Ioffe 2017), center and scale
on, momentum 0.99, epsilon 1e-3, renorm momentum 0.99, no renorm clipping
(TF1's defaults, which are also Keras's); then Dense(1), the signal logit.

Keras 3.15's `keras.layers.BatchNormalization` has `renorm`,
`renorm_clipping` and `renorm_momentum` (checked for this port), so the
seed's layer is reproduced; older Keras 3 releases without them raise a
clear error when `renorm=True` (pass `renorm=False` for plain BN there).
The bottleneck `z` is the last hidden block's output (after its BN).
"""

import inspect

import keras

from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network

SEED_HIDDEN_UNITS = (512, 512, 512, 512, 512)


def renorm_supported():
    """Whether the installed Keras's BatchNormalization has batch renormalisation."""
    return "renorm" in inspect.signature(keras.layers.BatchNormalization.__init__).parameters


@register_network("dense_bn")
def dense_bn(
    input_shape,
    num_classes,
    hidden_units=SEED_HIDDEN_UNITS,
    activation="elu",
    batch_norm=True,
    renorm=True,
    name="dense_bn",
):
    """The seed's dense classifier: `[Dense(h) -> activation -> BN(renorm)] x len(hidden_units)`.

    Args:
        input_shape: shape of one example without the batch axis (flattened).
        num_classes: number of logits (1: a binary task's signal logit).
        hidden_units: the hidden widths (the seed: five of 512; the command
            line's `--hidden_units`).
        activation: activation after each Dense (the seed: ELU).
        batch_norm: follow each block with BatchNormalization.
        renorm: use batch renormalisation in those BN layers (the seed's).
        name: prefix of the encoder and head model names.

    Returns:
        `Network(encoder, head)`; the layer named `"bottleneck"` outputs `z`
        (the last block's BN, or its Dense without `batch_norm`).

    Example:
        >>> encoder, head = dense_bn((16,), 1)                          # the seed's 5 x 512
        >>> encoder, head = dense_bn((16,), 1, hidden_units=(64, 64))   # a CPU-sized one
    """
    input_shape = _validation.validate_input_shape(input_shape)
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    if (
        not isinstance(hidden_units, (tuple, list))
        or not hidden_units
        or not all(_validation.is_positive_int(units) for units in hidden_units)
    ):
        raise ValueError(
            f"`hidden_units` must be a non-empty sequence of positive ints. Received: hidden_units={hidden_units!r}"
        )
    keras.activations.get(activation)  # Raises early on an unknown name.
    if batch_norm and renorm and not renorm_supported():
        raise ValueError(
            f"This Keras ({keras.__version__}) has no batch renormalisation; build with renorm=False (plain BN)."
        )
    inputs = keras.Input(shape=input_shape, name="x")
    x = keras.layers.Flatten(name="flatten")(inputs)
    last = len(hidden_units)
    for index, units in enumerate(hidden_units, start=1):
        dense_name = "bottleneck" if index == last and not batch_norm else f"dense_{index}"
        x = keras.layers.Dense(int(units), activation=activation, name=dense_name)(x)
        if batch_norm:
            options = {"renorm": True, "renorm_clipping": None, "renorm_momentum": 0.99} if renorm else {}
            x = keras.layers.BatchNormalization(
                momentum=0.99, epsilon=1e-3, name="bottleneck" if index == last else f"batch_norm_{index}", **options
            )(x)
    encoder = keras.Model(inputs, x, name=f"{name}_encoder")
    z = keras.Input(shape=(int(hidden_units[-1]),), name="z")
    head = keras.Model(z, keras.layers.Dense(num_classes, name="logits")(z), name=f"{name}_head")
    return Network(encoder=encoder, head=head)
