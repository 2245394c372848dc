"""Critics `f(x, y)` for the variational MI bounds.

Both critics score joint pairs with `critic((x, y))` (shape `[N]`) and all
pairs of a batch with `critic.pair_scores(x, y)` (shape `[N, M]`, row `i` is
`x_i`, column `j` is `y_j`), the matrix that `bounds.split_pair_scores` and
`bounds.infonce_bound` consume. Poole et al. (ICML 2019, sec. 5) compare the
two families: "concat" critics see the pair jointly but need `N^2` forward
passes for all pairs; "separable" critics `g(x)^T h(y)` need `2N`.
"""

import keras
import tensorflow as tf


class Critic(keras.Model):
    """Base class of pair critics; subclasses implement `pair_scores`.

    Args:
        hidden_units: sizes of the hidden `Dense` layers of each MLP, a
            sequence of positive ints (empty for a linear critic).
        activation: name of a Keras activation for the hidden layers.
        seed: optional int seeding the kernel initializers.
        **kwargs: base `keras.Model` arguments (`name`, ...).
    """

    def __init__(self, hidden_units=(256, 256), activation="relu", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = _validate_hidden_units(hidden_units)
        self.activation = _validate_activation(activation)
        if seed is not None and not isinstance(seed, int):
            raise ValueError(f"`seed` must be an int or None, got seed={seed!r}.")
        self.seed = seed

    def pair_scores(self, x, y):
        """Scores every pair `(x_i, y_j)`.

        Args:
            x: `[N, d_x]` tensor.
            y: `[M, d_y]` tensor.

        Returns:
            `[N, M]` tensor of scores, row `i` for `x_i`, column `j` for `y_j`.
        """
        raise NotImplementedError

    def _mlp(self, output_units, name, seed_offset):
        layers = []
        for index, units in enumerate(self.hidden_units):
            layers.append(
                keras.layers.Dense(
                    units,
                    activation=self.activation,
                    kernel_initializer=self._initializer(seed_offset + index),
                )
            )
        layers.append(
            keras.layers.Dense(
                output_units,
                kernel_initializer=self._initializer(seed_offset + len(self.hidden_units)),
            )
        )
        return keras.Sequential(layers, name=name)

    def _initializer(self, offset):
        return seeded_glorot(self.seed, offset)

    def get_config(self):
        return mlp_config(self)


@keras.saving.register_keras_serializable(package="invariant_reps")
class ConcatCritic(Critic):
    """MLP on the concatenation: `f(x, y) = MLP([x, y])`.

    The most expressive critic. `pair_scores` runs the MLP on all `N * M`
    concatenated pairs, which costs `N` times a joint pass: fine for batches of
    a few hundred. When that is too costly (an MI penalty inside a training
    step, say), score `N` marginal pairs with a shuffled batch instead,
    `critic((x, tf.random.shuffle(y)))`, and feed joint and marginal scores to
    `dv_bound` / `nwj_bound` / `smile_bound` (InfoNCE needs all pairs).

    Args:
        hidden_units: sizes of the hidden layers, positive ints.
        activation: Keras activation name for the hidden layers.
        seed: optional int seeding the kernel initializers.
        **kwargs: base `keras.Model` arguments.

    Example:
        >>> critic = ConcatCritic(hidden_units=(64, 64))
        >>> critic((x, y)).shape, critic.pair_scores(x, y).shape
        (TensorShape([128]), TensorShape([128, 128]))
    """

    def __init__(self, hidden_units=(256, 256), activation="relu", seed=None, **kwargs):
        super().__init__(hidden_units=hidden_units, activation=activation, seed=seed, **kwargs)
        self.score_network = self._mlp(1, name="score_network", seed_offset=0)

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        if not self.score_network.built:
            self.score_network.build((None, x_shape[-1] + y_shape[-1]))
        self.built = True

    def call(self, inputs):
        x, y = inputs
        return tf.squeeze(self.score_network(tf.concat([x, y], axis=-1)), axis=-1)

    def pair_scores(self, x, y):
        if not self.built:
            self.build((x.shape, y.shape))
        num_x, num_y = tf.shape(x)[0], tf.shape(y)[0]
        # Row i * M + j pairs x_i with y_j.
        x_repeated = tf.repeat(x, num_y, axis=0)
        y_tiled = tf.tile(y, [num_x, 1])
        scores = self.score_network(tf.concat([x_repeated, y_tiled], axis=-1))
        return tf.reshape(scores, [num_x, num_y])


@keras.saving.register_keras_serializable(package="invariant_reps")
class SeparableCritic(Critic):
    """Inner product of two embeddings: `f(x, y) = g(x)^T h(y)`.

    `g` and `h` are MLPs ending in `embedding_dim` linear units, so all
    `N * M` pair scores cost one matrix product. The critic of the Poole et
    al. (2019) Gaussian benchmark: two hidden layers of 256 ReLU units and a
    32-dimensional embedding.

    Args:
        hidden_units: sizes of the hidden layers of `g` and `h`, positive ints.
        embedding_dim: positive int, the width of `g(x)` and `h(y)`.
        activation: Keras activation name for the hidden layers.
        seed: optional int seeding the kernel initializers.
        **kwargs: base `keras.Model` arguments.

    Example:
        >>> critic = SeparableCritic(hidden_units=(256, 256), embedding_dim=32)
        >>> critic.pair_scores(x, y).shape
        TensorShape([128, 128])
    """

    def __init__(
        self,
        hidden_units=(256, 256),
        embedding_dim=32,
        activation="relu",
        seed=None,
        **kwargs,
    ):
        super().__init__(hidden_units=hidden_units, activation=activation, seed=seed, **kwargs)
        if not isinstance(embedding_dim, int) or embedding_dim <= 0:
            raise ValueError(
                f"`embedding_dim` must be a positive int, got embedding_dim={embedding_dim!r}."
            )
        self.embedding_dim = embedding_dim
        self.x_embedding = self._mlp(embedding_dim, name="x_embedding", seed_offset=0)
        self.y_embedding = self._mlp(embedding_dim, name="y_embedding", seed_offset=100)

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        for embedding, shape in ((self.x_embedding, x_shape), (self.y_embedding, y_shape)):
            if not embedding.built:
                embedding.build((None, shape[-1]))
        self.built = True

    def call(self, inputs):
        x, y = inputs
        return tf.reduce_sum(self.x_embedding(x) * self.y_embedding(y), axis=-1)

    def pair_scores(self, x, y):
        if not self.built:
            self.build((x.shape, y.shape))
        return tf.matmul(self.x_embedding(x), self.y_embedding(y), transpose_b=True)

    def get_config(self):
        config = super().get_config()
        config["embedding_dim"] = self.embedding_dim
        return config


CRITICS = {"concat": ConcatCritic, "separable": SeparableCritic}


def get_critic(identifier, **kwargs):
    """Returns a critic from a name in `CRITICS` or passes a `Critic` through.

    Args:
        identifier: `"concat"`, `"separable"` or a `Critic` instance.
        **kwargs: constructor arguments when `identifier` is a name.

    Returns:
        A `Critic`.
    """
    if isinstance(identifier, Critic):
        return identifier
    if identifier not in CRITICS:
        raise ValueError(
            f"Unknown critic {identifier!r}; expected one of {sorted(CRITICS)} "
            "or a `Critic` instance."
        )
    return CRITICS[identifier](**kwargs)


def mlp_config(model):
    """The config keys shared by MLP-based estimator networks (critics, conditionals)."""
    return {
        "name": model.name,
        "trainable": model.trainable,
        "hidden_units": list(model.hidden_units),
        "activation": model.activation,
        "seed": model.seed,
    }


def seeded_glorot(seed, offset):
    """Glorot-uniform kernels seeded `seed + offset`, or unseeded when `seed` is None.

    Example:
        >>> seeded_glorot(None, 3), seeded_glorot(7, 3).seed
        ('glorot_uniform', 10)
    """
    if seed is None:
        return "glorot_uniform"
    return keras.initializers.GlorotUniform(seed=seed + offset)


def _validate_hidden_units(hidden_units):
    if isinstance(hidden_units, int):
        hidden_units = (hidden_units,)
    hidden_units = tuple(hidden_units)
    for units in hidden_units:
        if not isinstance(units, int) or isinstance(units, bool) or units <= 0:
            raise ValueError(
                "`hidden_units` must be positive ints, got "
                f"hidden_units={hidden_units!r} (bad entry {units!r})."
            )
    return hidden_units


def _validate_activation(activation):
    if not isinstance(activation, str):
        raise ValueError(
            f"`activation` must be the name of a Keras activation, got {activation!r}."
        )
    try:
        keras.activations.get(activation)
    except (ValueError, TypeError):
        raise ValueError(
            f"Unknown activation {activation!r}; use a name that "
            "`keras.activations.get` accepts, such as 'relu', 'elu' or 'tanh'."
        ) from None
    return activation
