"""The adversary's pieces: quantile bins, the Gaussian-mixture likelihood, the network, the schedule.

- Quantile bins (spec A.1, A.5): the seed's adversary is a softmax classifier
  over `K = 8` equal-frequency bins of the continuous pivot, cut at the
  training set's quantiles `q_k = F^-1(k / K)`, k = 1..K-1. An event falls in
  bin `#{k : s > q_k}` (right-closed bins, as `pandas.qcut`).
- Mixture density network (Louppe, Kagan & Cranmer 2017, sec. 4): the
  adversary outputs a mixture of M Gaussians p(s | r) = sum_m pi_m N(s; mu_m,
  sigma_m) and its loss is `-log p(s | r)`.
"""

import math

import keras
import numpy as np
import tensorflow as tf

_LOG_SIGMA_RANGE = (-7.0, 7.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


def quantile_bin_edges(values, num_bins):
    """The `num_bins - 1` inner edges of equal-frequency bins of `values`.

    Args:
        values: array of the continuous variable (all training events, signal
            and background together, as the seed).
        num_bins: K >= 2.

    Returns:
        List of K - 1 floats, non-decreasing.

    Example:
        >>> quantile_bin_edges(np.arange(8.0), 4)   # [1.75, 3.5, 5.25]
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if num_bins < 2:
        raise ValueError(f"`num_bins` must be >= 2; received {num_bins}.")
    return np.quantile(values, np.arange(1, num_bins) / num_bins).tolist()


def quantile_bins(values, edges):
    """Bin ids `#{k : value > edges[k]}` (right-closed bins), int32 `[N]`.

    Example:
        >>> quantile_bins([0.0, 1.75, 2.0, 9.0], [1.75, 3.5, 5.25])  # [0, 0, 1, 3]
    """
    values = tf.reshape(tf.cast(values, tf.float32), [-1, 1])
    edges = tf.reshape(tf.cast(edges, tf.float32), [1, -1])
    return tf.reduce_sum(tf.cast(values > edges, tf.int32), axis=1)


def mixture_negative_log_likelihood(values, parameters, num_components):
    """Per-event `-log sum_m pi_m N(s; mu_m, sigma_m)` of a Gaussian mixture.

    Args:
        values: `[N]` or `[N, 1]` targets s.
        parameters: `[N, 3M]`: mixture logits (softmax -> pi), means mu, and
            log sigma (clipped to [-7, 7]), in that order.
        num_components: M.

    Returns:
        float32 `[N]`.

    Example:
        >>> # One component N(0, 1) at s = 0: 0.5 log(2 pi) = 0.919
        >>> mixture_negative_log_likelihood([0.0], [[0.0, 0.0, 0.0]], 1)
    """
    values = tf.reshape(tf.cast(values, tf.float32), [-1, 1])
    parameters = tf.cast(parameters, tf.float32)
    logits, means, log_sigmas = tf.split(parameters, [num_components] * 3, axis=-1)
    log_sigmas = tf.clip_by_value(log_sigmas, *_LOG_SIGMA_RANGE)
    standardized = (values - means) * tf.exp(-log_sigmas)
    log_normal = -0.5 * tf.square(standardized) - log_sigmas - _HALF_LOG_2PI
    return -tf.reduce_logsumexp(tf.nn.log_softmax(logits, axis=-1) + log_normal, axis=-1)


def build_adversary(output_units, width=64, depth=2, seed=None, name="adversary"):
    """The seed's `dense_network_ext`: depth x [Dense(width) -> LayerNorm -> ELU] -> Dense(output_units).

    Args:
        output_units: K class logits, or 3M mixture parameters.
        width: hidden units per layer (seed: 64).
        depth: hidden layers (seed: 2).
        seed: optional int seeding the Glorot initialisers.
        name: the model's name.

    Returns:
        A `keras.Sequential` (built when the model builds).
    """

    def initializer(offset):
        return "glorot_uniform" if seed is None else keras.initializers.GlorotUniform(seed + offset)

    layers = []
    for index in range(depth):
        layers += [
            keras.layers.Dense(width, kernel_initializer=initializer(index)),
            keras.layers.LayerNormalization(),
            keras.layers.Activation("elu"),
        ]
    layers.append(keras.layers.Dense(output_units, kernel_initializer=initializer(depth)))
    return keras.Sequential(layers, name=name)


class AdversarialSchedule(keras.callbacks.Callback):
    """Tells an `Adversarial` model which epoch it is in (classifier-only pretraining first).

    `on_epoch_begin` receives the absolute epoch (it honours `initial_epoch`)
    and writes it to `model.epoch`; `Adversarial.fit` adds this callback when
    the caller did not.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_epoch(epoch)
