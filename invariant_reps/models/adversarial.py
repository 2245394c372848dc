"""Adversarial decorrelation ("learning to pivot"): the classifier fools an adversary r -> s (spec A.5).

Louppe, Kagan & Cranmer, "Learning to Pivot with Adversarial Networks",
NeurIPS 2017, eq. (3)-(4), in invariant_reps' variant: an adversary A reads
the classifier's penalised tensor r (its logit) and predicts the nuisance s;
its loss L_r is

    classes (seed):  L_r = mean CE(A(r), bin(s))    bin = one of K = 8 training-set quantile bins
                                                  of a continuous s (adversary_networks.py), or the
                                                  class of a discrete s
    mdn (paper):     L_r = mean -log p(s | r)      p a mixture of M = 5 Gaussians (s standardised)

and the two players optimise (eq. 4, with E = L_f - lambda L_r)

    classifier:  min  L_f - lambda * L_r      (A frozen: its variables are never in this optimizer)
    adversary:   min  L_r                     (`adversary_steps` = 16 steps, r's gradient stopped)

The term `negative_adversary_loss` is `-L_r` with weight lambda (so the
logged term is negative); the adversary's own loss is logged positive as
`adversary_loss` (and `adversary_accuracy` for the classes adversary). L_r
is a mean over all events, signal and background (seed), or over background
only with `background_only`.

Schedule (seed `adv_train.py`): the classifier first trains alone for
`pretrain_epochs` epochs (10): the term is 0 and, by default, the adversary
does not train (the seed has no adversary pretraining); with
`pretrain_adversary=True` it trains throughout, as in the paper's
pretraining of both networks. The epoch lives in the variable `epoch`, set
by `AdversarialSchedule` (added by `fit`). Freezing is exact: the
adversary's gradient is multiplied by 0 (Adam from zero moments then moves
nothing) and its optimizer's step count is restored after the step, so its
first real step is Adam's first step.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models import critic_base
from invariant_reps.models.adversary_networks import (
    AdversarialSchedule,
    build_adversary,
    mixture_negative_log_likelihood,
    quantile_bin_edges,
    quantile_bins,
)
from invariant_reps.models.critic_base import DecorrelationModel
from invariant_reps.models.registry import register_method

ADVERSARIES = ("classes", "mdn")


@register_method(
    "adversarial",
    hyperparameters=(
        Hyperparameter("lam", float, 4.0, "lambda: weight of -L_r, the adversary's loss (seed config: 4)",
                       lower=0.0),
        Hyperparameter("adversary", str, "classes", "classes: softmax over quantile bins of s (seed); mdn: "
                       "Gaussian mixture -log p(s|r) (Louppe et al.)", choices=ADVERSARIES),
        Hyperparameter("num_bins", int, 8, "equal-frequency bins of a continuous s (seed: 8)", lower=2),
        Hyperparameter("mdn_components", int, 5, "Gaussians of the mdn adversary (paper: 5)", lower=1),
        Hyperparameter("adversary_steps", int, 16, "adversary steps per classifier step (seed: 16)", lower=1),
        Hyperparameter("adversary_learning_rate", float, 1e-4, "adversary Adam learning rate (seed: 1e-4)",
                       lower=0.0),
        Hyperparameter("adversary_width", int, 64, "units per adversary hidden layer (seed: 64)", lower=1),
        Hyperparameter("adversary_depth", int, 2, "adversary hidden layers, Dense-LayerNorm-ELU (seed: 2)",
                       lower=0),
        Hyperparameter("pretrain_epochs", int, 10, "classifier-only epochs before the adversary acts (seed: 10)",
                       lower=0),
        Hyperparameter("pretrain_adversary", bool, False, "train the adversary during those epochs (seed: no)"),
        Hyperparameter("background_only", bool, False, "L_r on background (label 0) only (seed: all events)"),
        Hyperparameter("standardize_sensitive", str, "dataset", "scale of a continuous s for the mdn adversary",
                       choices=critic_base.STANDARDIZATIONS),
        Hyperparameter("penalized", str, "auto", "adversary input r: auto (logit if binary, else z), logits, "
                       "bottleneck or a layer name"),
        Hyperparameter("critic_stream", str, "same", "adversary batches: the training batch, or a held-out "
                       "sub-batch (Python API only)", choices=critic_base.STREAMS),
    ),
    sensitive=("continuous", "discrete"),
    tasks=("binary", "multiclass"),
    summary="CE - lambda * L_r, an adversary predicting s from the logit (quantile bins or MDN), "
    "Louppe et al. 2017 as in invariant_reps",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class Adversarial(DecorrelationModel):
    """`L_f - lam * L_r` against an adversary r -> s, after classifier-only pretraining.

    Args (besides `DecorrelationModel`'s `num_sensitive_classes`,
    `penalized`, `background_only`, `standardize_sensitive`, `critic_stream`, `seed`):

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits.
        lam: lambda >= 0 (default 4, the seed's `config.adv_lambda`).
        adversary: "classes" (default) or "mdn" (continuous 1-d s only).
        num_bins: K quantile bins of a continuous s (8).
        mdn_components: M Gaussians of the mdn adversary (5).
        adversary_steps: adversary steps per classifier step (16).
        adversary_learning_rate: its Adam learning rate (1e-4).
        adversary_width, adversary_depth: its hidden layers (64, 2).
        pretrain_epochs: classifier-only epochs first (10).
        pretrain_adversary: train the adversary during them (False, seed).
        bin_edges: the K - 1 inner quantile edges; None: computed by `fit`
            from the training values of s (one epoch of the data) and saved
            in the config. Also `set_sensitive_statistics(values)`.
        adversary_network, adversary_optimizer: custom network/optimizer.

    Example:
        >>> model = Adversarial(net.encoder, net.head, lam=4.0, pretrain_epochs=10, seed=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))
        >>> model.fit(pack_inputs(x, mass), y, batch_size=1024, epochs=30)   # bins read from mass
    """

    auxiliary_name = "adversary"

    def __init__(self, encoder, head, lam=4.0, adversary="classes", num_bins=8, mdn_components=5,
                 adversary_steps=16, adversary_learning_rate=1e-4, adversary_width=64, adversary_depth=2,
                 pretrain_epochs=10, pretrain_adversary=False, bin_edges=None, adversary_network=None,
                 adversary_optimizer=None, **kwargs):
        super().__init__(encoder, head, **kwargs)
        critic_base._choice(adversary, ADVERSARIES, "adversary")
        self.lam = critic_base.non_negative_float(lam, "lam")
        self.adversary_kind = adversary
        self.num_bins = critic_base.integer(num_bins, "num_bins", 2)
        self.mdn_components = critic_base.integer(mdn_components, "mdn_components", 1)
        self.adversary_steps = critic_base.integer(adversary_steps, "adversary_steps", 1)
        self.pretrain_epochs = critic_base.integer(pretrain_epochs, "pretrain_epochs", 0)
        self.pretrain_adversary = bool(pretrain_adversary)
        if adversary == "mdn" and (self.num_sensitive_classes or self.sensitive_dim != 1):
            raise ValueError("adversary='mdn' models a continuous 1-d s; use adversary='classes' for class ids.")
        if bin_edges is not None:
            bin_edges = np.asarray(bin_edges, np.float64).reshape(-1)
            if bin_edges.shape != (self.num_bins - 1,) or np.any(np.diff(bin_edges) < 0):
                raise ValueError(f"`bin_edges` must be {self.num_bins - 1} non-decreasing floats; received "
                                 f"{bin_edges.tolist()}.")
            bin_edges = bin_edges.tolist()
        self.bin_edges = bin_edges
        self.bin_edge_values = self.add_weight(
            shape=(self.num_bins - 1,), initializer=keras.initializers.Constant(bin_edges or 0.0),
            trainable=False, name="bin_edges",
        )
        self.epoch = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="epoch")
        if adversary_network is None:
            adversary_network = build_adversary(
                self._adversary_outputs(), critic_base.integer(adversary_width, "adversary_width", 1),
                critic_base.integer(adversary_depth, "adversary_depth", 0), seed=self.seed,
            )
        if adversary_optimizer is None:
            adversary_optimizer = keras.optimizers.Adam(
                critic_base.non_negative_float(adversary_learning_rate, "adversary_learning_rate")
            )
        self.add_loss_term("negative_adversary_loss", self.lam)
        metrics = ("adversary_accuracy",) if adversary == "classes" else ()
        self.add_auxiliary("adversary", adversary_network, adversary_optimizer, steps=self.adversary_steps,
                           metrics=metrics)

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        if context.epochs is not None and params.get("pretrain_epochs", 10) >= context.epochs > 0:
            raise ValueError(
                f"adversarial: pretrain_epochs={params.get('pretrain_epochs', 10)} >= epochs={context.epochs}: "
                "the adversary would never act. Lower --adversarial_pretrain_epochs or raise --epochs."
            )
        return super().from_experiment(encoder, head, params, context)

    def _adversary_outputs(self):
        if self.adversary_kind == "mdn":
            return 3 * self.mdn_components
        return self.num_sensitive_classes or self.num_bins

    def _auxiliary_input_shape(self, name, z_shape):
        return (None, self._penalized_width(z_shape))

    # ------------------------------------------------------------ schedule
    def set_epoch(self, epoch):
        """Sets the current 0-based epoch (pretraining while `epoch < pretrain_epochs`)."""
        self.epoch.assign(int(epoch))

    def adversary_active(self):
        """Boolean scalar tensor: whether the pretraining epochs are over."""
        return ops.greater_equal(self.epoch, self.pretrain_epochs)

    def extra_callbacks(self, callbacks):
        return [] if any(isinstance(c, AdversarialSchedule) for c in callbacks) else [AdversarialSchedule()]

    # --------------------------------------------------------------- s
    def statistics_needed(self):
        if self.num_sensitive_classes:
            return False
        if self.adversary_kind == "classes":
            return self.bin_edges is None
        return super().statistics_needed()

    def set_sensitive_statistics(self, values):
        super().set_sensitive_statistics(values)
        if self.adversary_kind == "classes" and not self.num_sensitive_classes:
            self.bin_edges = quantile_bin_edges(values, self.num_bins)
            self.bin_edge_values.assign(np.asarray(self.bin_edges, np.float32))

    # ------------------------------------------------------------- losses
    def adversary_loss(self, r, s, y, training):
        """`(L_r, accuracy or None)` of the adversary on r for targets s (global batch)."""
        outputs = ops.cast(self.adversary_network(r, training=training), "float32")
        accuracy = None
        if self.adversary_kind == "mdn":
            per_event = mixture_negative_log_likelihood(self.sensitive_features(s)[:, 0], outputs,
                                                        self.mdn_components)
        else:
            if self.num_sensitive_classes:
                target = ops.cast(ops.reshape(s, (-1,)), "int32")
            else:
                target = quantile_bins(s, self.bin_edge_values)
            per_event = keras.losses.sparse_categorical_crossentropy(target, outputs, from_logits=True)
            accuracy = ops.cast(ops.equal(ops.cast(ops.argmax(outputs, axis=-1), "int32"), target), "float32")
        weights = self.selection(y)
        weights = ops.ones_like(per_event) if weights is None else ops.cast(weights, "float32")
        count = ops.maximum(ops.sum(weights), 1.0)
        loss = ops.sum(weights * per_event) / count
        if accuracy is not None:
            accuracy = ops.sum(weights * accuracy) / count
        return loss, accuracy

    def compute_loss_terms(self, batch, z, logits, training):
        # r attached: -L_r's gradient reaches the classifier through the frozen adversary.
        r = ops.cast(self.penalized_tensor(batch.x, z, logits, training), "float32")
        loss, _ = self.adversary_loss(r, batch.s, batch.y, training=False)
        active = ops.cast(self.adversary_active(), "float32")
        return {"negative_adversary_loss": -active * loss}

    def auxiliary_loss(self, name, batch, z, logits, training):
        r, s, y = self.auxiliary_inputs(batch, z, logits, training)
        loss, accuracy = self.adversary_loss(r, s, y, training)
        if training and not self.pretrain_adversary:
            # Value L_r, gradient 0 while pretraining (the step count is restored in train_step).
            active = ops.cast(self.adversary_active(), "float32")
            loss = active * loss + (1.0 - active) * ops.stop_gradient(loss)
        return loss, ({} if accuracy is None else {"adversary_accuracy": accuracy})

    def train_step(self, data):
        if self.pretrain_adversary:
            return super().train_step(data)
        iterations = self.adversary_optimizer.iterations
        before = tf.identity(iterations.value)  # a snapshot, read before the adversary's steps
        logs = super().train_step(data)
        iterations.assign(ops.where(self.adversary_active(), iterations.value, before))
        return logs

    def get_config(self):
        config = super().get_config()
        config.update(
            lam=self.lam, adversary=self.adversary_kind, num_bins=self.num_bins,
            mdn_components=self.mdn_components, adversary_steps=self.adversary_steps,
            pretrain_epochs=self.pretrain_epochs, pretrain_adversary=self.pretrain_adversary,
            bin_edges=None if self.bin_edges is None else list(self.bin_edges),
            adversary_network=keras.saving.serialize_keras_object(self.adversary_network),
            adversary_optimizer=keras.optimizers.serialize(self.adversary_optimizer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["adversary_network"] = keras.saving.deserialize_keras_object(config["adversary_network"])
        config["adversary_optimizer"] = keras.optimizers.deserialize(config["adversary_optimizer"])
        return super().from_config(config)
