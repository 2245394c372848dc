"""One critic, one bound, one optimizer: the update step of a neural MI estimator."""

import keras
import tensorflow as tf

from invariant_reps.estimators import bounds
from invariant_reps.estimators.mine import MineObjective

NEURAL_METHODS = ("mine", "nwj", "infonce", "smile")


class PairTrainer:
    """A model of `(x, y)` pairs, its Adam optimizer, compiled step and evaluation.

    The shared machinery of `CriticTrainer` (lower bounds) and
    `upper_estimate.ConditionalTrainer` (upper bounds): subclasses implement
    `_train_step(x, y)` (one update, returning the batch's value before it)
    and `_evaluate(x, y)`, each traced once with `tf.function`.

    Args:
        model: a Keras model of pairs, built on `(x.shape, y.shape)` at the
            first batch.
        learning_rate: Adam step size (ignored when `optimizer` is given).
        optimizer: optional `keras.optimizers.Optimizer`.

    Example:
        >>> class MeanScore(PairTrainer):
        ...     def _evaluate(self, x, y):
        ...         return tf.reduce_mean(self.model((x, y)))
        >>> MeanScore(ConcatCritic(hidden_units=(8,))).evaluate(x, y)
    """

    def __init__(self, model, learning_rate=2e-4, optimizer=None):
        if optimizer is None:
            if not learning_rate > 0:
                raise ValueError(
                    f"`learning_rate` must be > 0, got learning_rate={learning_rate!r}."
                )
            optimizer = keras.optimizers.Adam(learning_rate=learning_rate)
        self.model = model
        self.optimizer = optimizer
        self._compiled_train_step = tf.function(self._train_step)
        self._compiled_evaluate = tf.function(self._evaluate)

    def train_step(self, x, y):
        """One update on a batch; returns the batch's value before the update."""
        x, y = self._prepare(x, y)
        return self._compiled_train_step(x, y)

    def evaluate(self, x, y):
        """The value on one batch, without updating anything."""
        x, y = self._prepare(x, y)
        return self._compiled_evaluate(x, y)

    def _prepare(self, x, y):
        x = tf.convert_to_tensor(x, dtype=tf.float32)
        y = tf.convert_to_tensor(y, dtype=tf.float32)
        if not self.model.built:
            self.model.build((x.shape, y.shape))
        if not self.optimizer.built:
            self.optimizer.build(self.model.trainable_variables)
        return x, y

    def _descend(self, tape, loss):
        """One optimizer step down `loss`, recorded on `tape`."""
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    def _train_step(self, x, y):
        raise NotImplementedError

    def _evaluate(self, x, y):
        raise NotImplementedError


class CriticTrainer(PairTrainer):
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
        clip: SMILE's `tau`, or `"adaptive"` (`bounds.adaptive_clip`).
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
        if clip != "adaptive" and not (isinstance(clip, (int, float)) and clip > 0):
            raise ValueError(
                f"`clip` must be > 0 (SMILE's tau) or 'adaptive', got clip={clip!r}."
            )
        super().__init__(critic, learning_rate=learning_rate, optimizer=optimizer)
        self.critic = critic
        self.method = method
        self.clip = clip
        self.mine_objective = (
            MineObjective(moving_average_rate=moving_average_rate) if method == "mine" else None
        )

    def _train_step(self, x, y):
        with tf.GradientTape() as tape:
            objective = self._training_objective(self.critic.pair_scores(x, y))
            loss = -objective
        self._descend(tape, loss)
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
