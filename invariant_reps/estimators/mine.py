"""MINE's objective: the DV bound with a bias-corrected, moving-average gradient."""

import math

import keras
import tensorflow as tf

from invariant_reps.estimators import bounds


@keras.saving.register_keras_serializable(package="invariant_reps")
class MineObjective(keras.layers.Layer):
    """DV bound whose gradient divides by a moving average of `E_marg[e^T]`.

    The gradient of the DV bound `E_p[T] - log E_q[e^T]` is
    `E_p[grad T] - E_q[e^T grad T] / E_q[e^T]`. Estimating the denominator on
    one minibatch biases that gradient. MINE (Belghazi et al., ICML 2018,
    sec. 3.2 and Algorithm 1) replaces it by an exponential moving average

        m_t = (1 - alpha) m_{t-1} + alpha * mean_batch(e^T),

    with `m_1` the first batch's mean. Each call is one training step: it
    updates `m_t`, then returns a tensor whose *value* is the batch DV bound
    (`bounds.dv_bound`, the number to report) and whose *gradient* is
    `mean_p(grad T) - mean_q(e^T grad T) / m_t` (the corrected one). The
    average is kept as `log m_t` so that large scores cannot overflow it.

    Use it as the critic objective of an MI estimator or an MI penalty (the
    critic ascends it); evaluate held-out data with `bounds.dv_bound`, which
    leaves the average untouched. The average is a non-trainable weight, so
    it is saved and restored with the model that owns this layer, and the
    update works inside `tf.function`.

    Args:
        moving_average_rate: `alpha` in `(0, 1]`; MINE uses about 0.01.
            `alpha = 1` gives back the plain DV gradient.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:
        >>> objective = MineObjective(moving_average_rate=0.01)
        >>> with tf.GradientTape() as tape:
        ...     joint, marginal = split_pair_scores(critic.pair_scores(x, y))
        ...     lower_bound = objective(joint, marginal)
        >>> grads = tape.gradient(-lower_bound, critic.trainable_variables)
    """

    def __init__(self, moving_average_rate=0.01, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 < moving_average_rate <= 1.0:
            raise ValueError(
                "`moving_average_rate` (MINE's alpha) must be in (0, 1], "
                f"got moving_average_rate={moving_average_rate!r}."
            )
        self.moving_average_rate = float(moving_average_rate)
        self.log_moving_average = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="log_moving_average"
        )
        self.num_updates = self.add_weight(
            shape=(), initializer="zeros", trainable=False, name="num_updates"
        )
        self.built = True

    @property
    def moving_average(self):
        """The current `m_t` (1.0 before the first update)."""
        return tf.exp(tf.convert_to_tensor(self.log_moving_average))

    def call(self, joint_scores, marginal_scores):
        joint_scores = tf.cast(joint_scores, self.compute_dtype)
        marginal_scores = tf.cast(marginal_scores, self.compute_dtype)
        log_batch_mean = bounds.log_mean_exp(tf.stop_gradient(marginal_scores))
        log_average = self._update_moving_average(log_batch_mean)

        # d/dtheta mean(e^{T - log m_t}) = mean(e^T grad T) / m_t.
        surrogate = tf.reduce_mean(joint_scores) - tf.reduce_mean(
            tf.exp(marginal_scores - tf.stop_gradient(log_average))
        )
        dv_value = bounds.dv_bound(joint_scores, marginal_scores)
        return surrogate + tf.stop_gradient(dv_value - surrogate)

    def _update_moving_average(self, log_batch_mean):
        alpha = self.moving_average_rate
        # log((1 - a) m + a b) = logsumexp(log(1 - a) + log m, log a + log b);
        # log(1 - a) is -inf for a = 1, which logsumexp handles.
        log_terms = tf.stack(
            [
                tf.math.log1p(tf.constant(-alpha)) + self.log_moving_average,
                math.log(alpha) + log_batch_mean,
            ]
        )
        log_average = tf.where(
            self.num_updates > 0, tf.reduce_logsumexp(log_terms), log_batch_mean
        )
        self.log_moving_average.assign(log_average)
        self.num_updates.assign_add(1.0)
        return log_average

    def reset_moving_average(self):
        """Forgets `m_t`; the next call starts again from its batch mean."""
        self.log_moving_average.assign(0.0)
        self.num_updates.assign(0.0)

    def get_config(self):
        config = super().get_config()
        config.update({"moving_average_rate": self.moving_average_rate})
        return config
