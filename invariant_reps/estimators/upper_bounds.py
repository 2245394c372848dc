"""Variational upper bounds on MI, for *minimising* it inside a training step.

A lower bound (`bounds.py`) can only certify that a representation carries
at least so much information; to remove information, a model needs a
quantity that is at least the MI, so that pushing it down pushes the MI
down. Both bounds here use a variational conditional `q(y | x)` fitted by
maximum likelihood on joint pairs, scored as a log-density matrix
`log_probs[i, j] = log q(y_j | x_i)` (row `i` is `x_i`, column `j` is `y_j`,
the layout of `Critic.pair_scores`):

- CLUB (Cheng et al., "CLUB: A Contrastive Log-ratio Upper Bound of Mutual
  Information", ICML 2020, eq. 5):
  `I <= E_p(x,y)[log q(y|x)] - E_p(x)E_p(y)[log q(y|x)]`.
  With `q = p(y|x)` it is an upper bound; with a learned `q` it stays one
  when `q` is close enough to `p` (their Theorem 3.2).
- L1Out (Poole et al., ICML 2019, eq. 13, the leave-one-out bound):
  `I <= E[log q(y_i|x_i) - log (1/(N-1)) sum_{j != i} q(y_i|x_j)]`,
  an upper bound (in expectation over batches) with `q = p(y|x)`; unlike
  CLUB it compares each joint pair with the *mixture* of the other
  conditionals, which makes it tighter and, with a poor `q`, less safely
  above the MI.

Inside a Keras `train_step` (the representation `z` minimises the bound on
a sensitive `s`, the conditional follows by maximum likelihood):

    >>> with tf.GradientTape(persistent=True) as tape:
    ...     z = encoder(x, training=True)
    ...     log_probs = conditional.pair_log_probs(z, s)        # gradient reaches z
    ...     penalty = club_bound(*split_pair_scores(log_probs))
    ...     task = task_loss(y, head(z))
    ...     fit = conditional.negative_log_likelihood(tf.stop_gradient(z), s)
    >>> model_grads = tape.gradient(task + beta * penalty, encoder_and_head_variables)
    >>> q_grads = tape.gradient(fit, conditional.trainable_variables)
"""

import math

import keras
import tensorflow as tf

from invariant_reps.estimators.critics import _validate_activation
from invariant_reps.estimators.critics import _validate_hidden_units
from invariant_reps.estimators.critics import mlp_config
from invariant_reps.estimators.critics import seeded_glorot

_LOG_2PI = math.log(2.0 * math.pi)


def club_bound(joint_log_probs, marginal_log_probs):
    """CLUB: `mean(log q(y_i|x_i)) - mean(log q(y_j|x_i))` over marginal pairs.

    Args:
        joint_log_probs: `log q(y_i | x_i)` on joint pairs, any shape.
        marginal_log_probs: `log q(y_j | x_i)` on pairs from `p(x) p(y)`:
            the off-diagonal of a log-density matrix
            (`bounds.split_pair_scores`) or one shuffled batch.

    Returns:
        Scalar tensor, the upper bound in nats; differentiable in both.

    Example:
        >>> float(club_bound([-1.0, -1.0], [-3.0, -5.0]))  # -1 - (-4)
        3.0
    """
    joint = tf.convert_to_tensor(joint_log_probs)
    if not joint.dtype.is_floating:
        joint = tf.cast(joint, tf.float32)
    marginal = tf.cast(tf.convert_to_tensor(marginal_log_probs), joint.dtype)
    return tf.reduce_mean(joint) - tf.reduce_mean(marginal)


def l1out_bound(log_probs):
    """L1Out: `mean_i [log q(y_i|x_i) - log mean_{j != i} q(y_i|x_j)]`.

    Args:
        log_probs: `[N, N]` tensor, `log_probs[i, j] = log q(y_j | x_i)`.

    Returns:
        Scalar tensor, the upper bound in nats.

    Example:
        >>> float(l1out_bound([[0.0, -2.0], [-2.0, 0.0]]))  # 0 - (-2) per row
        2.0
    """
    log_probs = tf.convert_to_tensor(log_probs)
    if not log_probs.dtype.is_floating:
        log_probs = tf.cast(log_probs, tf.float32)
    if log_probs.shape.rank is not None and log_probs.shape.rank != 2:
        raise ValueError(
            f"`l1out_bound` expects an [N, N] log-density matrix, got shape {log_probs.shape}."
        )
    num = tf.shape(log_probs)[0]
    # Column i holds log q(y_i | x_j) for all j; mask out j == i.
    columns = tf.transpose(log_probs)
    masked = tf.where(tf.eye(num, dtype=tf.bool), tf.constant(-math.inf, log_probs.dtype), columns)
    log_mean_others = tf.reduce_logsumexp(masked, axis=1) - tf.math.log(
        tf.cast(num - 1, log_probs.dtype)
    )
    return tf.reduce_mean(tf.linalg.diag_part(log_probs) - log_mean_others)


def categorical_log_prob_matrix(logits, labels):
    """`[N, M]` matrix `log softmax(logits_i)[labels_j]` for a classifier `q(s|z)`.

    Args:
        logits: `[N, C]` logits of `q(s | z_i)`.
        labels: `[M]` integer labels `s_j` in `[0, C)`.

    Returns:
        `[N, M]` tensor, the input of `l1out_bound` or (split) `club_bound`.

    Example:
        >>> categorical_log_prob_matrix([[0.0, 0.0]], [0, 1]).numpy()  # log 1/2 twice
        array([[-0.6931472, -0.6931472]], dtype=float32)
    """
    log_probs = tf.nn.log_softmax(tf.convert_to_tensor(logits, tf.float32), axis=-1)
    return tf.gather(log_probs, tf.cast(labels, tf.int32), axis=1)


@keras.saving.register_keras_serializable(package="invariant_reps")
class GaussianConditional(keras.Model):
    """A diagonal Gaussian `q(y | x) = N(mu(x), diag sigma(x)^2)`.

    `mu` and `log sigma` are dense heads on a shared MLP trunk; `log sigma`
    is squashed into `[-log_scale_bound, log_scale_bound]`, which keeps the
    likelihood finite. Call it on `(x, y)` for `log q(y_i | x_i)` (shape
    `[N]`), or use `pair_log_probs(x, y)` for the `[N, M]` matrix of
    `log q(y_j | x_i)`. Train it with `negative_log_likelihood` on joint
    pairs (stop the gradient into `x` when `x` is a representation that
    minimises the bound).

    Args:
        hidden_units: hidden layer sizes, positive ints.
        activation: Keras activation name for the hidden layers.
        log_scale_bound: bound on `|log sigma|`, > 0.
        seed: optional int seeding the initializers.
        **kwargs: base `keras.Model` arguments.

    Example:
        >>> conditional = GaussianConditional(hidden_units=(64,))
        >>> conditional.pair_log_probs(x, y).shape
        TensorShape([128, 128])
    """

    def __init__(self, hidden_units=(64, 64), activation="relu", log_scale_bound=7.0, seed=None,
                 **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = _validate_hidden_units(hidden_units)
        self.activation = _validate_activation(activation)
        if not log_scale_bound > 0:
            raise ValueError(f"`log_scale_bound` must be > 0, got {log_scale_bound!r}.")
        self.log_scale_bound = float(log_scale_bound)
        self.seed = seed
        self.trunk = keras.Sequential(
            [keras.layers.Dense(units, activation=self.activation,
                                kernel_initializer=seeded_glorot(self.seed, index))
             for index, units in enumerate(self.hidden_units)],
            name="trunk",
        )
        self.mean_head = None
        self.log_scale_head = None

    def build(self, input_shape):
        x_shape, y_shape = input_shape
        output_dim = int(y_shape[-1])
        self.trunk.build((None, int(x_shape[-1])))
        self.mean_head = keras.layers.Dense(
            output_dim, kernel_initializer=seeded_glorot(self.seed, 50)
        )
        self.log_scale_head = keras.layers.Dense(
            output_dim, kernel_initializer=seeded_glorot(self.seed, 51)
        )
        trunk_width = self.hidden_units[-1] if self.hidden_units else int(x_shape[-1])
        self.mean_head.build((None, trunk_width))
        self.log_scale_head.build((None, trunk_width))
        self.built = True

    def mean_and_log_scale(self, x):
        """`(mu(x), log sigma(x))`, each `[N, d_y]`."""
        features = self.trunk(x)
        log_scale = self.log_scale_bound * tf.tanh(
            self.log_scale_head(features) / self.log_scale_bound
        )
        return self.mean_head(features), log_scale

    def call(self, inputs):
        x, y = inputs
        mean, log_scale = self.mean_and_log_scale(x)
        return _diagonal_gaussian_log_prob(tf.cast(y, mean.dtype), mean, log_scale)

    def pair_log_probs(self, x, y):
        """`[N, M]` matrix of `log q(y_j | x_i)`."""
        if not self.built:
            self.build((x.shape, y.shape))
        mean, log_scale = self.mean_and_log_scale(x)
        y = tf.cast(y, mean.dtype)
        return _diagonal_gaussian_log_prob(y[None, :, :], mean[:, None, :], log_scale[:, None, :])

    def negative_log_likelihood(self, x, y):
        """`-mean_i log q(y_i | x_i)`: the loss that fits `q` to joint pairs."""
        if not self.built:
            self.build((x.shape, y.shape))
        return -tf.reduce_mean(self((x, y)))

    def get_config(self):
        return {**mlp_config(self), "log_scale_bound": self.log_scale_bound}


def _diagonal_gaussian_log_prob(y, mean, log_scale):
    standardized = (y - mean) * tf.exp(-log_scale)
    return -0.5 * tf.reduce_sum(
        tf.square(standardized) + 2.0 * log_scale + _LOG_2PI, axis=-1
    )
