"""`cifar_resnet`: the CIFAR ResNet family (ResNet-20/32/44/56/110).

He et al., "Deep Residual Learning for Image Recognition", CVPR 2016,
Sec. 4.2: a 3x3 stem conv, then three stages of `n` basic blocks with 16, 32
and 64 channels, for a depth of `6n + 2` weighted layers. The first block of
stages 2 and 3 halves the resolution with a stride-2 conv. Where a block
changes shape, its shortcut is a 1x1 conv + BN projection (the paper's
option B) rather than zero padding, so every layer is a standard Keras layer.
"""

import keras

from invariant_reps.layers import L2Normalize
from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network

STAGE_CHANNELS = (16, 32, 64)
BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_MOMENTUM = 0.9


@register_network("cifar_resnet")
def cifar_resnet(
    input_shape,
    num_classes,
    depth=20,
    width=1.0,
    normalize_bottleneck=False,
    name="cifar_resnet",
):
    """A CIFAR ResNet whose globally pooled features are the bottleneck.

    Encoder: `Conv3x3(16) -> BN -> ReLU`, three stages of `(depth - 2) / 6`
    basic blocks (`Conv3x3 -> BN -> ReLU -> Conv3x3 -> BN`, added to the
    shortcut, then ReLU), then `GlobalAveragePooling2D -> z (64 * width)`
    `[-> L2Normalize]`. Head: `Dense(num_classes)`. Convs use He-normal
    kernels and no bias (each is followed by BN).

    Args:
        input_shape: `(height, width, channels)`, e.g. `(32, 32, 3)`. Height
            and width may be None.
        num_classes: positive int, number of logits.
        depth: number of weighted layers, with `(depth - 2) % 6 == 0`
            (20, 32, 44, 56, 110, ...).
        width: positive multiplier of the channel counts.
        normalize_bottleneck: if True, `z` is L2-normalised and the head sees
            the normalised features.
        name: prefix of the encoder and head model names.

    Returns:
        `Network(encoder, head)`; the encoder's layer `"bottleneck"` outputs
        `z` of shape `[batch, 64 * width]`.

    Example:

    >>> encoder, head = cifar_resnet((32, 32, 3), 10, depth=20)
    """
    input_shape = _validation.validate_input_shape(
        input_shape, rank=3, allow_unknown_spatial=True
    )
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    width = _validation.validate_positive_float(width, "width")
    if not _validation.is_positive_int(depth) or depth < 8 or (depth - 2) % 6:
        raise ValueError(
            "`depth` must be an int >= 8 with (depth - 2) % 6 == 0, e.g. 20, "
            f"32, 44, 56 or 110. Received: depth={depth!r}"
        )
    blocks_per_stage = (depth - 2) // 6

    inputs = keras.Input(shape=input_shape, name="x")
    channels = _validation.scaled_width(STAGE_CHANNELS[0], width)
    x = _conv_bn(inputs, channels, 3, strides=1, prefix="stem")
    x = keras.layers.Activation("relu", name="stem_relu")(x)
    for stage, stage_channels in enumerate(STAGE_CHANNELS, start=1):
        channels = _validation.scaled_width(stage_channels, width)
        for block in range(1, blocks_per_stage + 1):
            downsample = stage > 1 and block == 1
            x = _basic_block(
                x,
                channels,
                strides=2 if downsample else 1,
                prefix=f"stage{stage}_block{block}",
            )
    pool_name = "global_pool" if normalize_bottleneck else "bottleneck"
    x = keras.layers.GlobalAveragePooling2D(name=pool_name)(x)
    if normalize_bottleneck:
        x = L2Normalize(name="bottleneck")(x)
    encoder = keras.Model(inputs, x, name=f"{name}_encoder")

    z = keras.Input(shape=(channels,), name="z")
    logits = keras.layers.Dense(num_classes, name="logits")(z)
    head = keras.Model(z, logits, name=f"{name}_head")
    return Network(encoder=encoder, head=head)


def _conv_bn(x, channels, kernel_size, strides, prefix):
    """Bias-free conv followed by batch normalisation."""
    x = keras.layers.Conv2D(
        channels,
        kernel_size,
        strides=strides,
        padding="same",
        use_bias=False,
        kernel_initializer="he_normal",
        name=f"{prefix}_conv",
    )(x)
    return keras.layers.BatchNormalization(
        epsilon=BATCH_NORM_EPSILON,
        momentum=BATCH_NORM_MOMENTUM,
        name=f"{prefix}_bn",
    )(x)


def _basic_block(x, channels, strides, prefix):
    """Two 3x3 conv + BN layers and a residual connection (He et al., Fig. 2).

    The shortcut is the identity, or a 1x1 conv + BN where the block changes
    the resolution or the channel count.
    """
    shortcut = x
    if strides != 1 or x.shape[-1] != channels:
        shortcut = _conv_bn(
            x, channels, 1, strides=strides, prefix=f"{prefix}_shortcut"
        )
    x = _conv_bn(x, channels, 3, strides=strides, prefix=f"{prefix}_1")
    x = keras.layers.Activation("relu", name=f"{prefix}_1_relu")(x)
    x = _conv_bn(x, channels, 3, strides=1, prefix=f"{prefix}_2")
    x = keras.layers.Add(name=f"{prefix}_add")([x, shortcut])
    return keras.layers.Activation("relu", name=f"{prefix}_out")(x)
