"""MI-critic decorrelation: penalise what a trained critic T(r, s) can tell about s (spec A.3-A.4).

invariant_reps (J. Tan, "MINE" penalties): a binary classifier's logit r must
carry no information about a nuisance s (M_bc), so that cutting on it does not
sculpt the background's mass. A critic T(r, s) (critic_network.py) is trained,
`critic_steps` times per classifier step with its own Adam(8e-4), to *maximise*
a variational lower bound on I(r; s) from joint pairs (r_i, s_i) and marginal
pairs (r_i, s_pi(i)) of an in-batch shuffle pi:

    DV  (default):  I >= mean_joint T - [logsumexp(T_marg) - log B]            (Donsker-Varadhan)
    JSD (`jsd`):    -[BCE(T_joint, 1) + BCE(T_marg, 0)] + log 4                (a JS bound)
    NWJ, SMILE, InfoNCE: `invariant_reps.estimators.bounds` (InfoNCE scores all B^2 pairs)

The classifier minimises `CE + lambda * P` with P one of (spec A.4):

    minmax     P = relu(bound)                                 (seed default, `-MI`)
    heuristic  P = -mean_marg log sigma(T_marg)                (non-saturating: marginal pairs look joint)
    combined   P = relu(bound - mean_marg log sigma(T_marg))
    kl         P = mean_joint T  = mean_joint [log D - log(1 - D)], D = sigma(T)   (`KLUpdate`)

For a critic at the optimum of the JS objective, T = log p(r, s) / (p(r) p(s)),
so the KL update estimates KL(p(r, s) || p(r) p(s)) = I(r; s); a DV-trained
critic is that log-ratio plus a constant (same gradient). It is *the same*
critic that gives the MI estimate (correction C.1).

Gradient routing: P reaches the classifier through the frozen critic (its
variables are auxiliary, never in the classifier's optimizer, and it runs in
inference mode there); the critic steps see r with gradients stopped. With
`background_only` B is the number of background events (the seed keeps B = 1024, a
constant offset of the estimate, not of the gradients). No moving-average bias
correction (there is none in the seed, correction C.2).

Logged every step: the penalty (`mi_penalty` / `kl_penalty`, unweighted),
`critic_loss` (minus the critic's bound) and `critic_mi`, the critic's MI
estimate in nats (its bound; for `jsd`, which is not an MI bound, the DV bound
of the same JS-trained critic).
"""

import math

import keras
import tensorflow as tf
from keras import ops

from invariant_reps.estimators.bounds import (
    dv_bound,
    infonce_bound,
    js_bound,
    nwj_bound,
    smile_bound,
    split_pair_scores,
)
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models import critic_base
from invariant_reps.models.critic_base import DecorrelationModel
from invariant_reps.models.critic_network import CRITIC_SALT, PENALTY_SALT, DecorrelationCritic, stateless_permutation
from invariant_reps.models.registry import register_method

BOUNDS = ("dv", "jsd", "nwj", "smile", "infonce")
PENALTIES = ("minmax", "heuristic", "combined")
_LOG_4 = math.log(4.0)


def critic_bound(bound, joint_scores, marginal_scores, score_matrix=None, smile_clip=5.0):
    """The critic's training bound (value and gradient) from its scores.

    Args:
        bound: one of `BOUNDS`.
        joint_scores: `[N]` scores T(r_i, s_i).
        marginal_scores: scores of marginal pairs.
        score_matrix: `[N, N]` scores of all pairs (InfoNCE only).
        smile_clip: SMILE's tau.

    Returns:
        Scalar: DV, NWJ, SMILE, InfoNCE in nats; for "jsd",
        `-[BCE(T_joint, 1) + BCE(T_marg, 0)] + log 4`.

    Example:
        >>> critic_bound("dv", [2.0, 4.0], [0.0, 0.0])  # 3 - log 1 = 3
    """
    if bound == "dv":
        return dv_bound(joint_scores, marginal_scores)
    if bound == "jsd":
        # js_bound = -mean softplus(-T_joint) - mean softplus(T_marg) = -[BCE(T_j, 1) + BCE(T_m, 0)].
        return js_bound(joint_scores, marginal_scores) + _LOG_4
    if bound == "nwj":
        return nwj_bound(joint_scores, marginal_scores)
    if bound == "smile":
        return smile_bound(joint_scores, marginal_scores, clip=smile_clip)
    if bound == "infonce":
        return infonce_bound(score_matrix)
    raise ValueError(f"`bound` must be one of {BOUNDS}; received {bound!r}.")


def mi_estimate(bound, joint_scores, marginal_scores, score_matrix=None, smile_clip=5.0):
    """The MI estimate in nats of a critic trained on `bound` (`critic_mi`): its bound, DV for "jsd"."""
    if bound == "jsd":
        return dv_bound(joint_scores, marginal_scores)
    return critic_bound(bound, joint_scores, marginal_scores, score_matrix, smile_clip)


def heuristic_penalty(marginal_scores):
    """`-mean_marg log sigma(T_marg)` = mean softplus(-T_marg) (spec A.4 `-heuristic`)."""
    return tf.reduce_mean(tf.math.softplus(-tf.cast(marginal_scores, "float32")))


def penalty_value(penalty, bound_value, marginal_scores):
    """P of the MIPenalty family from the bound and the marginal scores.

    Args:
        penalty: "minmax" (relu(bound)), "heuristic" (-mean log sigma(T_marg))
            or "combined" (relu(bound - mean log sigma(T_marg))).
        bound_value: the critic's bound on the batch (ignored by "heuristic").
        marginal_scores: scores of marginal pairs.

    Returns:
        Scalar.

    Example:
        >>> penalty_value("combined", -0.5, [0.0])  # relu(-0.5 + log 2) = 0.193
    """
    if penalty == "heuristic":
        return heuristic_penalty(marginal_scores)
    if penalty == "minmax":
        return tf.nn.relu(bound_value)
    if penalty == "combined":
        return tf.nn.relu(bound_value + heuristic_penalty(marginal_scores))
    raise ValueError(f"`penalty` must be one of {PENALTIES}; received {penalty!r}.")


def kl_penalty(joint_scores):
    """The KL update: mean_joint T = mean_joint [log D - log(1 - D)] with D = sigma(T)."""
    return tf.reduce_mean(tf.cast(joint_scores, "float32"))


def _critic_hyperparameters(lam_help):
    return (
        Hyperparameter("lam", float, 10.0, lam_help, lower=0.0),
        Hyperparameter("bound", str, "dv", "critic's MI lower bound (seed: dv; -JSD: jsd)", choices=BOUNDS),
        Hyperparameter("critic_steps", int, 16, "critic optimizer steps per classifier step (seed: 16)", lower=1),
        Hyperparameter("critic_learning_rate", float, 8e-4, "critic Adam learning rate (seed: 8e-4)", lower=0.0),
        Hyperparameter("critic_width", int, 64, "units of each critic hidden layer (seed: 64)", lower=1),
        Hyperparameter("critic_depth", int, 2, "critic hidden layers, Dense-LayerNorm-ELU (seed: 2)", lower=0),
        Hyperparameter("spectral_norm", bool, False, "spectral normalisation of the critic (seed -sn)"),
        Hyperparameter("critic_layer_norm", bool, True, "LayerNorm after each critic hidden layer (seed's MINE: "
                       "yes; the seed's toy notebook: no)"),
        Hyperparameter("smile_clip", float, 5.0, "SMILE's tau (bound=smile)", lower=1e-6),
        Hyperparameter("background_only", bool, False, "critic and penalty on background (label 0) only (seed "
                       "-bkg_only)"),
        Hyperparameter("standardize_sensitive", str, "dataset", "scale of a continuous s: training-set "
                       "statistics, batch statistics or raw (seed: none)", choices=critic_base.STANDARDIZATIONS),
        Hyperparameter("penalized", str, "auto", "penalised tensor r: auto (logit if binary, else z), logits, "
                       "bottleneck or a layer name"),
        Hyperparameter("critic_stream", str, "same", "critic batches: the training batch, or a held-out "
                       "sub-batch (Python API only)", choices=critic_base.STREAMS),
    )


class _CriticMethod(DecorrelationModel):
    """Common body of MIPenalty and KLUpdate: the critic, its steps and the penalty's plumbing."""

    auxiliary_name = "critic"
    term_name = None

    def __init__(self, encoder, head, lam=10.0, bound="dv", critic_steps=16, critic_learning_rate=8e-4,
                 critic_width=64, critic_depth=2, spectral_norm=False, critic_layer_norm=True, smile_clip=5.0,
                 critic=None, critic_optimizer=None, **kwargs):
        super().__init__(encoder, head, **kwargs)
        self.lam = critic_base.non_negative_float(lam, "lam")
        critic_base._choice(bound, BOUNDS, "bound")
        self.bound = bound
        self.critic_steps = critic_base.integer(critic_steps, "critic_steps", 1)
        self.smile_clip = critic_base.positive_float(smile_clip, "smile_clip")
        if critic is None:
            critic = DecorrelationCritic(
                hidden_units=(critic_base.integer(critic_width, "critic_width", 1),)
                * critic_base.integer(critic_depth, "critic_depth", 0),
                spectral_norm=spectral_norm, layer_norm=critic_layer_norm, seed=self.seed, name="critic",
            )
        elif not isinstance(critic, keras.layers.Layer):
            raise ValueError(f"`critic` must be a Keras model; received {type(critic).__name__}.")
        if critic_optimizer is None:
            critic_optimizer = keras.optimizers.Adam(critic_base.non_negative_float(critic_learning_rate,
                                                                                  "critic_learning_rate"))
        self.add_loss_term(self.term_name, self.lam)
        self.add_auxiliary("critic", critic, critic_optimizer, steps=self.critic_steps, metrics=("critic_mi",))

    @property
    def critic(self):
        """The critic T(r, s)."""
        return self.auxiliary_network("critic")

    def _auxiliary_input_shape(self, name, z_shape):
        return (None, self._penalized_width(z_shape)), (None, self._sensitive_width())

    def critic_scores(self, r, s, y, counter, salt, training, reduce, num_outputs):
        """`reduce(joint, marginal, matrix)` on the selected events; zeros when fewer than 2 are selected.

        Marginal pairs pair r_i with s_pi(i), pi the stateless permutation of
        `(seed, salt, counter)`; InfoNCE scores all pairs instead.
        """
        mask = self.selection(y)
        if mask is not None:
            r, s = tf.boolean_mask(r, mask), tf.boolean_mask(s, mask)
        count = tf.shape(r)[0]

        def scored():
            if self.bound == "infonce":
                matrix = self.critic.pair_scores(r, s, training=training)
                joint, marginal = split_pair_scores(matrix)
                return reduce(joint, marginal, matrix)
            marginal_s = tf.gather(s, stateless_permutation(count, self.seed or 0, salt, counter))
            # One pass over the 2N pairs (the critic scores each pair on its own).
            scores = self.critic((tf.concat([r, r], 0), tf.concat([s, marginal_s], 0)), training=training)
            return reduce(scores[:count], scores[count:], None)

        if mask is None:
            return scored()
        return tf.cond(count >= 2, scored, lambda: tuple(tf.zeros(()) for _ in range(num_outputs)))

    def penalty_from_scores(self, joint, marginal, matrix):
        raise NotImplementedError

    def compute_loss_terms(self, batch, z, logits, training):
        # z and logits are attached (and global): P's gradient reaches the classifier through the
        # critic, which runs in inference mode and whose variables the classifier's optimizer never sees.
        r = ops.cast(self.penalized_tensor(batch.x, z, logits, training), "float32")
        (value,) = self.critic_scores(
            r, self.sensitive_features(batch.s), batch.y, self.optimizer.iterations, PENALTY_SALT, False,
            lambda j, m, x: (self.penalty_from_scores(j, m, x),), 1,
        )
        value = tf.debugging.check_numerics(
            value, f"{type(self).__name__}: the penalty from the critic T(r, s) is NaN or inf; the critic diverged "
            "(lower critic_learning_rate, use bound='jsd' or 'smile', or spectral_norm=True)",
        )
        return {self.term_name: value}

    def auxiliary_loss(self, name, batch, z, logits, training):
        r, s, y = self.auxiliary_inputs(batch, z, logits, training)
        s = self.sensitive_features(s)

        def reduce(joint, marginal, matrix):
            return (critic_bound(self.bound, joint, marginal, matrix, self.smile_clip),
                    mi_estimate(self.bound, joint, marginal, matrix, self.smile_clip))

        bound, estimate = self.critic_scores(
            r, s, y, self.critic_optimizer.iterations, CRITIC_SALT, training, reduce, 2
        )
        bound = tf.debugging.check_numerics(
            bound, f"{type(self).__name__}: the critic T(r, s) diverged, its {self.bound} bound is NaN or inf "
            f"(lower critic_learning_rate, use bound='jsd' or 'smile', or spectral_norm=True)",
        )
        return -bound, {"critic_mi": estimate}

    def get_config(self):
        config = super().get_config()
        config.update(
            lam=self.lam, bound=self.bound, critic_steps=self.critic_steps, smile_clip=self.smile_clip,
            critic=keras.saving.serialize_keras_object(self.critic),
            critic_optimizer=keras.optimizers.serialize(self.critic_optimizer),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["critic"] = keras.saving.deserialize_keras_object(config["critic"])
        config["critic_optimizer"] = keras.optimizers.deserialize(config["critic_optimizer"])
        return super().from_config(config)


@register_method(
    "mi_penalty",
    hyperparameters=_critic_hyperparameters("lambda: weight of the critic's MI penalty P") + (
        Hyperparameter("penalty", str, "minmax", "P: minmax relu(bound), heuristic -log sigma(T_marg), or "
                       "combined", choices=PENALTIES),
    ),
    sensitive=("continuous", "discrete"),
    tasks=("binary", "multiclass"),
    summary="CE + lambda * relu(MI lower bound) of a critic T(r, s) trained on DV/JSD (invariant_reps' MINE penalty)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class MIPenalty(_CriticMethod):
    """`CE + lam * P(T)` with P = relu(bound) (or heuristic/combined) of a critic T(r, s).

    See the module docstring for the math. Args (besides `DecorrelationModel`'s
    `num_sensitive_classes`, `penalized`, `background_only`, `standardize_sensitive`,
    `critic_stream`, `seed`, ...):

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits (one logit for the binary HEP task).
        lam: lambda >= 0, the penalty's weight (seed `-lambda`; default 10).
        bound: "dv" (default), "jsd", "nwj", "smile" or "infonce".
        penalty: "minmax" (default), "heuristic" or "combined".
        critic_steps: critic steps per classifier step (16).
        critic_learning_rate: Adam learning rate of the critic (8e-4).
        critic_width, critic_depth: the default critic's hidden layers (64, 2).
        spectral_norm: spectral normalisation of the default critic.
        critic_layer_norm: LayerNorm in the default critic (True, seed).
        smile_clip: SMILE's tau.
        critic: a custom critic model `(r, s) -> [N]` with `pair_scores`.
        critic_optimizer: a custom optimizer for it.

    Example:
        >>> net = build_network("mlp", (20,), num_classes=1)
        >>> model = MIPenalty(net.encoder, net.head, lam=10.0, seed=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))
        >>> model.fit(pack_inputs(x, mass), y, batch_size=1024, epochs=10)   # logs mi_penalty, critic_mi
    """

    term_name = "mi_penalty"

    def __init__(self, encoder, head, penalty="minmax", **kwargs):
        critic_base._choice(penalty, PENALTIES, "penalty")
        super().__init__(encoder, head, **kwargs)
        self.penalty = penalty

    def penalty_from_scores(self, joint, marginal, matrix):
        bound = None if self.penalty == "heuristic" else critic_bound(
            self.bound, joint, marginal, matrix, self.smile_clip
        )
        return penalty_value(self.penalty, bound, marginal)

    def get_config(self):
        config = super().get_config()
        config["penalty"] = self.penalty
        return config


@register_method(
    "kl_update",
    hyperparameters=_critic_hyperparameters("lambda: weight of the KL update mean_joint T(r, s)"),
    sensitive=("continuous", "discrete"),
    tasks=("binary", "multiclass"),
    summary="CE + lambda * mean critic score on joint pairs (KL update; README: -lambda 10 -MI -kl)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class KLUpdate(_CriticMethod):
    """`CE + lam * mean_joint T(r_i, s_i)`: the seed's recommended "KL update" (no relu).

    The critic is the one of `MIPenalty` (trained on `bound`, DV by default, as
    the README's `-lambda 10 -MI -kl`). Same arguments as `MIPenalty` without
    `penalty`.

    Example:
        >>> model = KLUpdate(net.encoder, net.head, lam=10.0, bound="dv", seed=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4))
        >>> model.fit(pack_inputs(x, mass), y, batch_size=1024)   # logs kl_penalty, critic_mi
    """

    term_name = "kl_penalty"

    def penalty_from_scores(self, joint, marginal, matrix):
        return kl_penalty(joint)
