"""One critic, one bound, one optimizer: the update step of a neural MI estimator."""

import keras
import tensorflow as tf

from invariant_reps.estimators import bounds
from invariant_reps.estimators.mine import MineObjective

NEURAL_METHODS = ("mine", "nwj", "infonce", "smile")


class CriticTrainer:
    """Trains a critic to maximize a variational MI bound on batches of pairs.

    Each batch of `N` pairs is scored all against all
    (`critic.pair_scores`), so every bound sees `N` joint and `N (N - 1)`
    marginal pairs. The methods:

    - `"mine"`: DV bound, trained with MINE's moving-average gradient
      (`MineObjective`); evaluated with `bounds.dv_bound`.
    - `"nwj"`: `bounds.nwj_bound`.
    - `"infonce"`: `bounds.infonce_bound`, at most `log N`.
    - `"smile"`: `bounds.smile_bound` with `clip`, trained through the
      Jensen-Shannon gradient as in Song & Ermon (2020).

    `train_step` and `evaluate` are compiled with `tf.function` and return
    the batch's bound in nats; the value `train_step` returns is computed
    before its update, so on fresh samples it is an unbiased read-out.

    Args:
        critic: a built or unbuilt `Critic`.
        method: one of `NEURAL_METHODS`.
        learning_rate: Adam step size (ignored when `optimizer` is given).
        optimizer: optional `keras.optimizers.Optimizer`.
        clip: SMILE's `tau`.
        moving_average_rate: MINE's `alpha`.

    Example:
        >>> trainer = CriticTrainer(SeparableCritic(), method="smile")
        >>> for _ in range(1000):
        ...     x, y = sample_batch()
        ...     estimate = trainer.train_step(x, y)
    """

    def __init__(
        self,
        critic,
        method="smile",
        learning_rate=2e-4,
        optimizer=None,
        clip=5.0,
        moving_average_rate=0.01,
    ):
        if method not in NEURAL_METHODS:
            raise ValueError(f"Unknown neural method {method!r}; expected one of {NEURAL_METHODS}.")
        if optimizer is None:
            if not learning_rate > 0:
                raise ValueError(
                    f"`learning_rate` must be > 0, got learning_rate={learning_rate!r}."
                )
            optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        if not clip > 0:
            raise ValueError(f"`clip` must be > 0 (SMILE's tau), got clip={clip!r}.")
        self.critic = critic
        self.method = method
        self.optimizer = optimizer
        self.clip = clip
        self.mine_objective = (
            MineObjective(moving_average_rate=moving_average_rate) if method == "mine" else None
        )
        self._compiled_train_step = tf.function(self._train_step)
        self._compiled_evaluate = tf.function(self._evaluate)

    def train_step(self, x, y):
        """One ascent step on the bound; returns the batch bound before the step."""
        x, y = self._prepare(x, y)
        return self._compiled_train_step(x, y)

    def evaluate(self, x, y):
        """The bound on one batch, without updating the critic or MINE's average."""
        x, y = self._prepare(x, y)
        return self._compiled_evaluate(x, y)

    def _prepare(self, x, y):
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        y = tf.convert_to_tensor(y, dtype=tf.float32)
        if not self.critic.built:
            self.critic.build((x.shape, y.shape))
        if not self.optimizer.built:
            self.optimizer.build(self.critic.trainable_variables)
        return x, y

    def _train_step(self, x, y):
        with tf.GradientTape() as tape:
            scores = self.critic.pair_scores(x, y)
            objective = self._training_objective(scores)
            loss = -objective
        variables = self.critic.trainable_variables
        gradients = tape.gradient(loss, variables)
        self.optimizer.apply_gradients(zip(gradients, variables))
        return objective

    def _evaluate(self, x, y):
        return self._bound_value(self.critic.pair_scores(x, y))

    def _training_objective(self, scores):
        if self.method == "mine":
            return self.mine_objective(*bounds.split_pair_scores(scores))
        return self._bound_value(scores)

    def _bound_value(self, scores):
        if self.method == "infonce":
            return bounds.infonce_bound(scores)
        joint, marginal = bounds.split_pair_scores(scores)
        if self.method == "nwj":
            return bounds.nwj_bound(joint, marginal)
        if self.method == "smile":
            return bounds.smile_bound(joint, marginal, clip=self.clip)
        return bounds.dv_bound(joint, marginal)
