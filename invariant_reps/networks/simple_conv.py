"""`simple_conv`: the SimpleConvNet of the Biased-MNIST benchmark.

ReBias (Bahng et al., ICML 2020) introduced it; this is the variant used by
EnD (Tartaglione et al., CVPR 2021) and IRENE (Tartaglione et al., BMVC 2022),
which ends in Tanh so that bottleneck features can be negative and cosine
similarities can reach 0 or -1.
"""

import keras

from invariant_reps.layers import FanInUniform
from invariant_reps.layers import L2Normalize
from invariant_reps.layers import torch_default_kernel
from invariant_reps.layers import torch_kaiming_normal_fan_out
from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network

CHANNELS = (16, 32, 64, 128)
KERNEL_SIZE = 7
# PyTorch BatchNorm2d defaults (eps=1e-5, momentum=0.1). Keras's momentum is
# the weight of the *old* running statistic, so torch 0.1 is Keras 0.9.
BATCH_NORM_EPSILON = 1e-5
BATCH_NORM_MOMENTUM = 0.9


@register_network("simple_conv")
def simple_conv(
    input_shape,
    num_classes,
    width=1.0,
    normalize_bottleneck=False,
    name="simple_conv",
):
    """SimpleConvNet: four 7x7 conv + BN blocks, global average pool, linear.

    Encoder (channels for `width=1`):

        Conv2D(16, 7, "same") -> BN -> ReLU
        Conv2D(32, 7, "same") -> BN -> ReLU
        Conv2D(64, 7, "same") -> BN -> ReLU
        Conv2D(128, 7, "same") -> BN -> Tanh
        GlobalAveragePooling2D               -> z (128)   [-> L2Normalize]

    There is no pooling inside, so the maps keep the input size. The head is
    `Dense(num_classes)`. Initialisation matches the PyTorch reference: conv
    kernels `kaiming_normal_(mode="fan_out")` = N(0, 2 / (C_out * 7 * 7)),
    conv biases and the Dense layer U(+-1/sqrt(fan_in)), BN gamma=1, beta=0.

    Args:
        input_shape: `(height, width, channels)`; `(28, 28, 3)` on
            Biased-MNIST. Height and width may be None.
        num_classes: positive int, number of logits (10 on Biased-MNIST).
        width: positive multiplier of the channel counts (1.0 reproduces the
            paper; smaller values give cheap networks for tests).
        normalize_bottleneck: if True, `z <- z / max(||z||, 1e-12)` as EnD's
            `pattern_norm` (EnD Sec. 3.1). The normalisation is part of the
            forward path: the head sees unit-norm features.
        name: prefix of the encoder and head model names.

    Returns:
        `Network(encoder, head)`; the encoder's layer `"bottleneck"` outputs
        `z` of shape `[batch, 128 * width]`.

    Example:

    >>> encoder, head = simple_conv((28, 28, 3), 10, normalize_bottleneck=True)
    """
    input_shape = _validation.validate_input_shape(
        input_shape, rank=3, allow_unknown_spatial=True
    )
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    width = _validation.validate_positive_float(width, "width")

    inputs = keras.Input(shape=input_shape, name="x")
    x = inputs
    in_channels = input_shape[-1]
    for block, channels in enumerate(CHANNELS, start=1):
        out_channels = _validation.scaled_width(channels, width)
        x = keras.layers.Conv2D(
            out_channels,
            KERNEL_SIZE,
            padding="same",
            kernel_initializer=torch_kaiming_normal_fan_out(),
            bias_initializer=FanInUniform(in_channels * KERNEL_SIZE**2),
            name=f"conv{block}",
        )(x)
        x = keras.layers.BatchNormalization(
            epsilon=BATCH_NORM_EPSILON,
            momentum=BATCH_NORM_MOMENTUM,
            name=f"bn{block}",
        )(x)
        is_last = block == len(CHANNELS)
        activation = "tanh" if is_last else "relu"
        x = keras.layers.Activation(activation, name=f"{activation}{block}")(x)
        in_channels = out_channels
    pool_name = "global_pool" if normalize_bottleneck else "bottleneck"
    x = keras.layers.GlobalAveragePooling2D(name=pool_name)(x)
    if normalize_bottleneck:
        x = L2Normalize(epsilon=1e-12, name="bottleneck")(x)
    encoder = keras.Model(inputs, x, name=f"{name}_encoder")

    z = keras.Input(shape=(in_channels,), name="z")
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=torch_default_kernel(),
        bias_initializer=FanInUniform(in_channels),
        name="logits",
    )(z)
    head = keras.Model(z, logits, name=f"{name}_head")
    return Network(encoder=encoder, head=head)
