"""Building blocks of DisenIB's fully connected networks (Pan et al., AAAI 2021).

- `SpectralDense`: a Dense layer whose kernel is divided by its largest
  singular value, estimated with power iterations on a persistent vector `u`
  (Miyato et al., ICLR 2018), as the seed's `SpectralNorm` wrapper does it;
- `build_estimator`: the independence estimator `Est(s, t)`;
- `build_mlp_reconstructor`: `Rec(s, y)`, decoding an input from a style code
  and a learned embedding of the label.

E_t and the classifier of the fully connected experiment are the network
"ib_mlp" (784 -> 1024 -> 1024 -> 16, Linear(16 -> 10)), shared with VIB/NIB.

Initialisation of every fully connected module of the seed (`fc.py`,
`init_weights`): `xavier_uniform_(gain=calculate_gain("relu"))` = Glorot
uniform with gain sqrt(2), i.e. `VarianceScaling(2, "fan_avg", "uniform")`,
and zero biases. The label embedding is N(0, 1) (`torch.randn`).
"""

import math

import keras
from keras import ops

from invariant_reps.networks import _validation

#: The seed's `SpectralNorm.l2normalize` guard.
_NORM_EPSILON = 1e-10
#: LeakyReLU slope of the reconstructor and the estimator.
LEAKY_SLOPE = 0.2


def glorot_relu():
    """A fresh Glorot-uniform initializer with gain sqrt(2) (PyTorch `xavier_uniform_(gain=sqrt(2))`)."""
    return keras.initializers.VarianceScaling(scale=2.0, mode="fan_avg", distribution="uniform")


def _l2_normalize(vector):
    return vector / (ops.sqrt(ops.sum(ops.square(vector))) + _NORM_EPSILON)


@keras.saving.register_keras_serializable(package="invariant_reps")
class SpectralDense(keras.layers.Layer):
    """`y = x W / sigma(W) + b` with `sigma(W)` from power iterations.

    The seed's `SpectralNorm` (`custom_pytorch/layers.py`), in Keras's kernel
    layout `W` = `[in, out]` (PyTorch's weight transposed). Each call runs
    `power_iterations` steps from the stored unit vector `u` (`[out]`):

        v <- normalize(W u),   u <- normalize(W^T v),   sigma = v^T W u

    with `u`, `v` treated as constants (no gradient) and `W` the trainable,
    *unnormalised* kernel: the gradient flows through `sigma`, as in the seed
    (and unlike `keras.layers.SpectralNormalization`, which overwrites the
    kernel with its normalised value). In training the new `u` is stored, in
    every forward pass, the encoder-side one included (the seed updates it
    in every forward); in inference it is not.

    Args:
        units: output width.
        use_bias: whether to add a bias.
        power_iterations: power-iteration steps per call (>= 1; the seed: 1).
        kernel_initializer: initializer of `W`; Glorot with gain sqrt(2) by
            default.
        bias_initializer: initializer of `b`; zeros by default.
        **kwargs: `keras.layers.Layer` arguments.

    Example:
        >>> layer = SpectralDense(4)
        >>> y = layer(np.ones((2, 3), "float32"), training=True)
    """

    def __init__(self, units, use_bias=True, power_iterations=1, kernel_initializer=None,
                 bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        self.units = _validation.validate_positive_int(units, "units")
        self.power_iterations = _validation.validate_positive_int(power_iterations, "power_iterations")
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer or glorot_relu())
        self.bias_initializer = keras.initializers.get(bias_initializer)

    def build(self, input_shape):
        fan_in = input_shape[-1]
        self.kernel = self.add_weight(
            shape=(fan_in, self.units), initializer=self.kernel_initializer, name="kernel"
        )
        self.bias = (
            self.add_weight(shape=(self.units,), initializer=self.bias_initializer, name="bias")
            if self.use_bias else None
        )
        # The seed draws u ~ N(0, 1) (not normalised: the first iteration normalises).
        self.u = self.add_weight(
            shape=(self.units,), initializer=keras.initializers.RandomNormal(0.0, 1.0),
            trainable=False, name="u",
        )

    def spectral_norm(self, training=False):
        """`(sigma, new_u)`: the power-iteration estimate of the kernel's largest singular value."""
        kernel = ops.convert_to_tensor(self.kernel)
        u = ops.convert_to_tensor(self.u)
        for _ in range(self.power_iterations):
            v = _l2_normalize(ops.matmul(kernel, u))
            u = _l2_normalize(ops.matmul(ops.transpose(kernel), v))
        u, v = ops.stop_gradient(u), ops.stop_gradient(v)
        sigma = ops.sum(v * ops.matmul(kernel, u))
        return sigma, u

    def call(self, inputs, training=False):
        sigma, u = self.spectral_norm()
        if training:
            self.u.assign(u)
        outputs = ops.matmul(inputs, self.kernel) / sigma
        if self.use_bias:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            use_bias=self.use_bias,
            power_iterations=self.power_iterations,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config


def build_estimator(style_dim, class_dim, units=256, spectral_norm=True, initializer=glorot_relu,
                    name="estimator"):
    """The independence estimator `Est(s, t)` of DisenIB (seed: `DensityEstimator`).

        Est(s, t) = L3(LReLU(L2(LReLU(L1([P_s s, P_t t])))))

    with `P_s`, `P_t`: Linear(d -> units / 2), no activation; `L1`, `L2`:
    Linear(units -> units), LeakyReLU(0.2); `L3`: Linear(units -> 1). The
    seed: units 256; every linear layer spectrally normalised (1 power
    iteration) in the fully connected model, none in the convolutional ones.

    Args:
        style_dim: width of `s`.
        class_dim: width of `t`.
        units: trunk width (even, >= 2); the projections have `units / 2`.
        spectral_norm: wrap every linear layer in spectral normalisation.
        initializer: zero-argument callable returning a fresh kernel
            initializer (biases are zero).
        name: model name.

    Returns:
        A functional `keras.Model([s, t]) -> [B, 1]`.
    """
    units = _validation.validate_positive_int(units, "estimator units")
    if units < 2 or units % 2:
        raise ValueError(f"The estimator's `units` must be an even int >= 2; received {units}.")

    def linear(width, layer_name):
        if spectral_norm:
            return SpectralDense(width, kernel_initializer=initializer(), name=layer_name)
        return keras.layers.Dense(width, kernel_initializer=initializer(), name=layer_name)

    style = keras.Input((style_dim,), name="style")
    code = keras.Input((class_dim,), name="code")
    hidden = keras.layers.Concatenate(name="concat")(
        [linear(units // 2, "style_projection")(style), linear(units // 2, "class_projection")(code)]
    )
    for index in (1, 2):
        hidden = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{index}")(linear(units, f"fc{index}")(hidden))
    return keras.Model([style, code], linear(1, "output")(hidden), name=name)


def label_embedding(num_classes, dim, name="label_embedding"):
    """The reconstructor's class-embedding table `e_y` (`[num_classes, dim]`, N(0, 1) like `torch.randn`)."""
    return keras.layers.Embedding(
        num_classes, dim, embeddings_initializer=keras.initializers.RandomNormal(0.0, 1.0), name=name
    )


def build_mlp_reconstructor(style_dim, class_dim, num_classes, output_shape, units=1024, depth=2,
                            output_activation=None, name="reconstructor"):
    """`Rec(s, y)`: an MLP on `[s, e_y]` (seed: `FCReconstructor`).

        Rec(s, y) = L_out(LReLU(... LReLU(L_1([s, e_y]))))

    `depth` hidden layers of `units` with LeakyReLU(0.2), Glorot-sqrt(2)
    initialisation, a linear output reshaped to `output_shape` (seed: 32 ->
    1024 -> 1024 -> 784).

    Args:
        style_dim: width of the style code `s`.
        class_dim: width of the label embedding.
        num_classes: rows of the label embedding.
        output_shape: shape of one reconstructed input.
        units: hidden width.
        depth: number of hidden layers (>= 0).
        output_activation: activation of the output (None: linear).
        name: model name.

    Returns:
        A functional `keras.Model([s, y]) -> x_hat`, `y` int class ids `[B]`.
    """
    units = _validation.validate_positive_int(units, "reconstructor units")
    style = keras.Input((style_dim,), name="style")
    label = keras.Input((), dtype="int32", name="label")
    embedded = label_embedding(num_classes, class_dim)(label)
    hidden = keras.layers.Concatenate(name="concat")([style, embedded])
    for index in range(1, depth + 1):
        hidden = keras.layers.Dense(units, kernel_initializer=glorot_relu(), name=f"fc{index}")(hidden)
        hidden = keras.layers.LeakyReLU(LEAKY_SLOPE, name=f"lrelu{index}")(hidden)
    flat = keras.layers.Dense(
        math.prod(output_shape), activation=output_activation, kernel_initializer=glorot_relu(), name="output"
    )(hidden)
    outputs = keras.layers.Reshape(tuple(output_shape), name="reshape")(flat)
    return keras.Model([style, label], outputs, name=name)


def output_width(network):
    """The static width of a functional network's first output, or None."""
    outputs = getattr(network, "outputs", None)
    return outputs[0].shape[-1] if outputs else None


def fresh_copy(network, name):
    """A re-initialised copy of a functional or sequential network, renamed (DisenIB's E_s from E_t).

    Args:
        network: the model to copy (its config is rebuilt; weights are drawn anew).
        name: the copy's name (its variables' paths then differ from the original's).

    Returns:
        The new model.
    """
    try:
        config = network.get_config()
        config["name"] = name
        return type(network).from_config(config)
    except (NotImplementedError, TypeError, ValueError, KeyError) as error:
        raise ValueError(
            f"DisenIB builds the style encoder E_s as a copy of the encoder, which failed ({error}); pass "
            "`style_encoder=` explicitly (a model with the encoder's input and output shapes)."
        ) from None
