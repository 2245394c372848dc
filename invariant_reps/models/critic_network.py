"""The critic `T(r, s)` of the MI penalties and its in-batch pairing (spec A.3).

The seed's "MINE" network scores a pair (classifier output r, nuisance s) on
their concatenation:

    T(r, s) = Dense(1) o [ELU o LayerNorm o Dense(64)]^2 ([r, s])      (Glorot)

Joint pairs are `(r_i, s_i)`; marginal pairs `(r_i, s_pi(i))` with `pi` an
in-batch permutation. The permutation here is *stateless*: a pure function of
`(seed, salt, counter)` with `counter` an optimizer's step count, so every
replica of a `MirroredStrategy` draws the same one (a `SeedGenerator` in a
replica context may not), and a resumed run draws what an uninterrupted one
does (the counters are saved with the optimizers).
"""

import keras
import tensorflow as tf

from invariant_reps.estimators.critics import Critic

#: Salts separating the permutation streams of one model.
PENALTY_SALT = 0
CRITIC_SALT = 1


def stateless_permutation(size, seed, salt, counter):
    """A permutation of `range(size)`, a pure function of its arguments.

    Args:
        size: int scalar (tensor or Python), the batch size.
        seed: the model's int seed.
        salt: int separating independent streams (penalty vs critic steps).
        counter: int scalar tensor, e.g. `optimizer.iterations`.

    Returns:
        int32 `[size]`.

    Example:
        >>> stateless_permutation(4, 0, 0, tf.constant(3))  # same on every call
    """
    key = tf.random.experimental.stateless_fold_in(
        tf.constant([int(seed), int(salt)], tf.int64), tf.cast(counter, tf.int64)
    )
    uniform = tf.random.stateless_uniform(tf.reshape(size, [1]), seed=key)
    return tf.argsort(uniform, stable=True)


@keras.saving.register_keras_serializable(package="invariant_reps")
class DecorrelationCritic(Critic):
    """Concat critic `T(r, s) = MLP([r, s])` with LayerNorm (optional), as the seed's "MINE".

    Args:
        hidden_units: widths of the hidden layers (seed: (64, 64)).
        activation: hidden activation (seed: "elu").
        layer_norm: LayerNormalization after each hidden Dense (seed's HEP
            "MINE": yes; the seed's toy notebook critic: no). Without it
            the critic is a plain ELU MLP. With it, and its zero initial
            biases, the first hidden layer sees `LN(W [r, s])`, a function of
            the *direction* of `(r, s)` only, whose gradient grows like
            1 / |(r, s)| near the origin (see `MIPenalty` on the seed toy).
        spectral_norm: wrap every Dense in `keras.layers.SpectralNormalization`
            (one power iteration, persistent u). The seed projects the kernel
            after each update (a TF1 kernel constraint); Keras normalises it
            at the start of each *training* forward pass, so the critic's
            scores in the classifier's step (inference mode) use the kernel
            as its last optimizer step left it.
        seed: optional int seeding the Glorot initialisers.
        **kwargs: `keras.Model` arguments (`name`).

    Example:
        >>> critic = DecorrelationCritic()
        >>> critic((r, s)).shape, critic.pair_scores(r, s).shape   # [N], [N, N]
    """

    def __init__(self, hidden_units=(64, 64), activation="elu", spectral_norm=False, layer_norm=True, seed=None,
                 **kwargs):
        super().__init__(hidden_units=hidden_units, activation=activation, seed=seed, **kwargs)
        self.spectral_norm = bool(spectral_norm)
        self.layer_norm = bool(layer_norm)
        layers = []
        for index, units in enumerate(self.hidden_units):
            layers.append(self._dense(units, index))
            if self.layer_norm:
                layers.append(keras.layers.LayerNormalization(center=True, scale=True))
            layers.append(keras.layers.Activation(self.activation))
        layers.append(self._dense(1, len(self.hidden_units)))
        self.score_network = keras.Sequential(layers, name="score_network")

    def _dense(self, units, index):
        dense = keras.layers.Dense(units, kernel_initializer=self._initializer(index))
        return keras.layers.SpectralNormalization(dense) if self.spectral_norm else dense

    def build(self, input_shape):
        r_shape, s_shape = input_shape
        if not self.score_network.built:
            self.score_network.build((None, r_shape[-1] + s_shape[-1]))
        self.built = True

    def call(self, inputs, training=False):
        r, s = inputs
        features = tf.concat([tf.cast(r, "float32"), tf.cast(s, "float32")], axis=-1)
        return tf.squeeze(self.score_network(features, training=training), axis=-1)

    def pair_scores(self, r, s, training=False):
        """`[N, M]` scores of every pair `(r_i, s_j)` (N*M forward passes)."""
        num_r, num_s = tf.shape(r)[0], tf.shape(s)[0]
        features = tf.concat(
            [tf.repeat(tf.cast(r, "float32"), num_s, axis=0), tf.tile(tf.cast(s, "float32"), [num_r, 1])], axis=-1
        )
        return tf.reshape(self.score_network(features, training=training), [num_r, num_s])

    def get_config(self):
        config = super().get_config()
        config["spectral_norm"] = self.spectral_norm
        config["layer_norm"] = self.layer_norm
        return config
