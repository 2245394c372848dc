"""Convolutional networks of DisenIB's supervised-disentangling experiments (seed: `shared_libs/modellib/conv.py`).

- registered networks "disenib_conv_mnist" (28 x 28 inputs) and
  "disenib_conv_shapes" (64 x 64): the class encoder E_t and the classifier;
- `build_conv_reconstructor`: `Rec(s, y)` with transposed convolutions;
- `build_discriminator`: the MNIST image discriminator.

Faithful details: PyTorch's `padding=1` is an explicit `ZeroPadding2D(1)`
before a "valid" convolution, and a transposed convolution's `padding=1`
crops one pixel per side; instance normalisation without affine parameters
is `GroupNormalization(groups=channels, center=False, scale=False)` (eps
1e-5). The seed's `InstanceNorm2d(track_running_stats=True)` also keeps
running statistics, but its models never leave training mode (no `eval()`
call), so it always normalises per instance, as this does in training and
inference. Conv and linear layers are N(0, 0.05^2) with zero biases
(`init_weights`); the seed's `init_weights` skips `ConvTranspose2d`, which
keep PyTorch's default U(+-1/sqrt(fan_in)) (`torch_default_kernel`, whose
fan-in matches PyTorch's for transposed kernels). The reconstructor's
`[B, 512] -> [B, 128, 2, 2]` view is channels-first, as in PyTorch.
"""

import keras

from invariant_reps.layers import FanInUniform, torch_default_kernel
from invariant_reps.models.disenib_layers import LEAKY_SLOPE, build_mlp_reconstructor, label_embedding
from invariant_reps.networks import _validation
from invariant_reps.networks.network import Network
from invariant_reps.networks.registry import register_network

INSTANCE_NORM_EPSILON = 1e-5
#: Encoder conv channels (k5, s2, p1) per image size; Shapes adds one k5 s2 p0 layer of 64.
ENCODER_CHANNELS = {28: (16, 32, 64), 64: (16, 32, 64)}
#: Reconstructor transposed convs (channels, padding) from a 128 x 2 x 2 map, per image size.
RECONSTRUCTOR_LAYERS = {
    28: ((32, 0), (16, 0), (None, 1)),                         # 2 -> 6 -> 14 -> 28
    64: ((32, 1), (16, 1), (8, 1), (8, 1), (None, 1)),         # 2 -> 4 -> 8 -> 16 -> 32 -> 64
}


def normal_005():
    """A fresh N(0, 0.05^2) initializer (the conv models' `init_weights`)."""
    return keras.initializers.RandomNormal(0.0, 0.05)


def instance_norm(channels, name):
    """Instance normalisation without affine parameters."""
    return keras.layers.GroupNormalization(
        groups=channels, center=False, scale=False, epsilon=INSTANCE_NORM_EPSILON, name=name
    )


def _conv_block(x, channels, padding, activation, name):
    if padding:
        x = keras.layers.ZeroPadding2D(padding, name=f"{name}_pad")(x)
    x = keras.layers.Conv2D(channels, 5, strides=2, kernel_initializer=normal_005(), name=name)(x)
    x = instance_norm(channels, f"{name}_norm")(x)
    if activation == "relu":
        return keras.layers.ReLU(name=f"{name}_relu")(x)
    return keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"{name}_lrelu")(x)


def _check_image_shape(input_shape, name):
    input_shape = _validation.validate_input_shape(input_shape, rank=3)
    if input_shape[0] != input_shape[1] or input_shape[0] not in ENCODER_CHANNELS:
        raise ValueError(
            f"`{name}` takes square images of size {sorted(ENCODER_CHANNELS)}; received input_shape={input_shape}."
        )
    return input_shape


def conv_encoder(input_shape, code_dim, name="encoder"):
    """E (seed: `EncoderMNIST` / `EncoderShapes`): conv k5 s2 (16-32-64, IN, ReLU) [+ 64 k5 s2 p0] -> Linear(d)."""
    input_shape = _check_image_shape(input_shape, "conv_encoder")
    inputs = keras.Input(input_shape, name="x")
    x = inputs
    for index, channels in enumerate(ENCODER_CHANNELS[input_shape[0]], start=1):
        x = _conv_block(x, channels, 1, "relu", f"conv{index}")
    if input_shape[0] == 64:
        x = _conv_block(x, 64, 0, "relu", "conv4")
    x = keras.layers.Flatten(name="flatten")(x)
    z = keras.layers.Dense(code_dim, kernel_initializer=normal_005(), name="bottleneck")(x)
    return keras.Model(inputs, z, name=name)


def _network(input_shape, num_classes, bottleneck_dim, name):
    num_classes = _validation.validate_positive_int(num_classes, "num_classes")
    bottleneck_dim = _validation.validate_positive_int(bottleneck_dim, "bottleneck_dim")
    encoder = conv_encoder(input_shape, bottleneck_dim, name=f"{name}_encoder")
    code = keras.Input((bottleneck_dim,), name="z")
    logits = keras.layers.Dense(num_classes, use_bias=False, kernel_initializer=normal_005(), name="logits")(code)
    return Network(encoder=encoder, head=keras.Model(code, logits, name=f"{name}_head"))


@register_network("disenib_conv_mnist")
def disenib_conv_mnist(input_shape, num_classes, bottleneck_dim=16, name="disenib_conv_mnist"):
    """DisenIB's MNIST class encoder (conv 16-32-64 + IN + ReLU, Linear(256 -> 16)) and bias-free classifier.

    Args:
        input_shape: `(28, 28, C)`.
        num_classes: logits (10).
        bottleneck_dim: code width (seed: 16).
        name: prefix of the model names.

    Returns:
        `Network(encoder, head)`.

    Example:
        >>> net = disenib_conv_mnist((28, 28, 1), 10)
    """
    if _check_image_shape(input_shape, "disenib_conv_mnist")[0] != 28:
        raise ValueError(f"`disenib_conv_mnist` takes 28 x 28 images; received input_shape={tuple(input_shape)}.")
    return _network(input_shape, num_classes, bottleneck_dim, name)


@register_network("disenib_conv_shapes")
def disenib_conv_shapes(input_shape, num_classes, bottleneck_dim=16, name="disenib_conv_shapes"):
    """DisenIB's Shapes class encoder (conv 16-32-64-64, Linear(256 -> 16)) and bias-free classifier, 64 x 64 inputs."""
    if _check_image_shape(input_shape, "disenib_conv_shapes")[0] != 64:
        raise ValueError(f"`disenib_conv_shapes` takes 64 x 64 images; received input_shape={tuple(input_shape)}.")
    return _network(input_shape, num_classes, bottleneck_dim, name)


def build_conv_reconstructor(style_dim, class_dim, num_classes, output_shape, name="reconstructor"):
    """`Rec(s, y)` (seed: `ReconstructorMNIST` / `ReconstructorShapes`).

        [LReLU(Linear_256(s)), LReLU(Linear_256(e_y))] -> view 128 x 2 x 2
        -> (ConvT k4 s2, IN, LReLU)* -> ConvT k4 s2 -> sigmoid

    Args:
        style_dim: width of `s`.
        class_dim: width of the label embedding `e_y`.
        num_classes: rows of the embedding.
        output_shape: `(28, 28, C)` or `(64, 64, C)`; flat shapes get an MLP
            with a sigmoid output (`build_mlp_reconstructor`, 256 units).
        name: model name.

    Returns:
        A functional `keras.Model([s, y]) -> x_hat` in [0, 1].
    """
    output_shape = tuple(output_shape)
    if len(output_shape) == 1:
        return build_mlp_reconstructor(style_dim, class_dim, num_classes, output_shape, units=256,
                                       output_activation="sigmoid", name=name)
    _check_image_shape(output_shape, "build_conv_reconstructor")
    style = keras.Input((style_dim,), name="style")
    label = keras.Input((), dtype="int32", name="label")
    parts = []
    for part, source in (("style", style), ("class", label_embedding(num_classes, class_dim)(label))):
        hidden = keras.layers.Dense(256, kernel_initializer=normal_005(), name=f"fc_{part}")(source)
        parts.append(keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu_{part}")(hidden))
    x = keras.layers.Concatenate(name="concat")(parts)
    x = keras.layers.Reshape((128, 2, 2), name="view")(x)
    x = keras.layers.Permute((2, 3, 1), name="channels_last")(x)
    layers = RECONSTRUCTOR_LAYERS[output_shape[0]]
    for index, (channels, padding) in enumerate(layers, start=1):
        channels = channels or output_shape[-1]
        x = keras.layers.Conv2DTranspose(
            channels, 4, strides=2, kernel_initializer=torch_default_kernel(),
            bias_initializer=FanInUniform(channels * 16), name=f"deconv{index}",
        )(x)
        if padding:
            x = keras.layers.Cropping2D(padding, name=f"deconv{index}_crop")(x)
        if index < len(layers):
            x = instance_norm(channels, f"deconv{index}_norm")(x)
            x = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"deconv{index}_lrelu")(x)
    outputs = keras.layers.Activation("sigmoid", name="sigmoid")(x)
    return keras.Model([style, label], outputs, name=name)


def build_discriminator(input_shape, name="discriminator"):
    """The MNIST image discriminator (seed: `DiscriminatorMNIST`): 2 logits, class 1 = real.

    Images: conv k5 s2 p1 (32-64-128) with IN and LeakyReLU(0.2), then
    Linear(-> 2) (512 inputs for 28 x 28). Flat inputs (tests): an MLP with
    one hidden LeakyReLU layer of 32.

    Args:
        input_shape: shape of one image (or flat input).
        name: model name.

    Returns:
        A functional `keras.Model(x) -> [B, 2]`.
    """
    input_shape = _validation.validate_input_shape(input_shape)
    inputs = keras.Input(input_shape, name="x")
    x = inputs
    if len(input_shape) == 3:
        for index, channels in enumerate((32, 64, 128), start=1):
            x = _conv_block(x, channels, 1, "leaky_relu", f"conv{index}")
        x = keras.layers.Flatten(name="flatten")(x)
    else:
        x = keras.layers.Flatten(name="flatten")(x)
        x = keras.layers.Dense(32, kernel_initializer=normal_005(), name="fc")(x)
        x = keras.layers.LeakyReLU(LEAKY_SLOPE, name="lrelu")(x)
    logits = keras.layers.Dense(2, kernel_initializer=normal_005(), name="logits")(x)
    return keras.Model(inputs, logits, name=name)
