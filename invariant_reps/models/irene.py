"""IRENE: Information REmoval at the bottleNEck.

Tartaglione, Nahon and Barbano, "Information Removal at the bottleneck in Deep
Neural Networks", BMVC 2022 (arXiv 2210.00891). A linear *privacy head* H
keeps learning to predict the private label v from the detached bottleneck
z, while the backbone is pushed to make H's current soft predictions
uninformative about v: it minimises the plug-in mutual information
I(v, softmax(H(z))), back-propagated through H's weights into the encoder.
There is no adversarial min-max and no gradient reversal.

Objective of encoder + task head: `alpha * CE(y_hat, y) + gamma * I`.
Objective of H: `CE(H(stop_gradient(z)), v)` (official code since `aec198c`),
or `CE + gamma * I` with `routing="paper"` (the paper-era code `c7b74ed`).
"""

import math
import numbers

import keras
from keras import ops

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.layers import FanInUniform, torch_default_kernel
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.registry import register_method

ROUTINGS = ("head", "paper")

# Official `irene/core.py`, class `MI`: guards the joint before the division
# by N and the outer product of the marginals, against log(0) and 0/0.
_PROBABILITY_FLOOR = 1e-15


def _check_num_classes(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 2:
        raise ValueError(f"`{arg_name}` must be an int >= 2; received {value!r}.")


def _labels(labels):
    """Class ids of shape `[N]` or `[N, 1]` (int or float) as int32 `[N]`."""
    return ops.cast(ops.reshape(labels, (-1,)), "int32")


def plugin_mutual_information(private_labels, private_logits, num_classes):
    """Plug-in MI between the private label and a head's soft prediction.

    IRENE's estimator (official `irene/core.py`, class `MI`), in log base K so
    that it lies in [0, 1]. With `p_i = softmax(h_i)` and `E` the one-hot
    labels of a batch of N samples:

        P[j, k] = max(sum_i E[i, j] p_i[k], 1e-15) / N    (soft joint)
        q_v[j] = sum_k P[j, k],  q_vhat[k] = sum_j P[j, k]
        Q[j, k] = max(q_v[j] q_vhat[k], 1e-15)
        I = sum_{j, k} P[j, k] log(P[j, k] / Q[j, k]) / log(K)

    A perfectly confident, correct head gives `H(v) / log(K)`; a head whose
    output does not depend on v (constant or uniform) gives 0. It is
    differentiable in the logits (no argmax, no sampling). Computed in
    float32 whatever the input dtype: in float16 the 1e-15 floor underflows
    and the result becomes NaN.

    Args:
        private_labels: int class ids `[N]` or `[N, 1]` in `[0, num_classes)`.
        private_logits: float logits `[N, num_classes]` of the privacy head.
        num_classes: int >= 2, the number K of private classes.

    Returns:
        float32 scalar.

    Example:
        >>> logits = 50.0 * np.eye(2)[[0, 1, 1, 0]]  # confident and correct
        >>> plugin_mutual_information([0, 1, 1, 0], logits, 2)  # 1.0 (1 bit)
    """
    _check_num_classes(num_classes, "num_classes")
    width = private_logits.shape[-1]
    if width is not None and width != num_classes:
        raise ValueError(
            f"`private_logits` must have `num_classes` = {num_classes} columns; "
            f"received shape {tuple(private_logits.shape)}."
        )
    probabilities = ops.softmax(ops.cast(private_logits, "float32"), axis=-1)
    labels_one_hot = ops.one_hot(_labels(private_labels), num_classes, dtype="float32")
    batch_size = ops.cast(ops.shape(labels_one_hot)[0], "float32")
    # Rows: true class j; columns: predicted class k. Clamped, then / N.
    joint = ops.maximum(
        ops.matmul(ops.transpose(labels_one_hot), probabilities), _PROBABILITY_FLOOR
    ) / batch_size
    true_marginal = ops.sum(joint, axis=1)
    predicted_marginal = ops.sum(joint, axis=0)
    independent = ops.maximum(
        true_marginal[:, None] * predicted_marginal[None, :], _PROBABILITY_FLOOR
    )
    return ops.sum(joint * ops.log(joint / independent)) / math.log(num_classes)


def _output_units(network):
    """Static width of a network's output, or None when unknown."""
    outputs = getattr(network, "outputs", None)
    if outputs:
        return outputs[0].shape[-1]
    return getattr(network, "units", None)


def _default_privacy_head(num_classes, encoder):
    """`Dense(K)` initialised like IRENE's PyTorch `nn.Linear`."""
    z_dim = _output_units(encoder)
    return keras.layers.Dense(
        num_classes,
        kernel_initializer=torch_default_kernel(),
        bias_initializer=FanInUniform(z_dim) if z_dim else "zeros",
        name="privacy_head",
    )


@register_method(
    "irene",
    hyperparameters=(
        Hyperparameter("alpha", float, 0.5, "alpha: weight of the task loss", lower=0.0),
        Hyperparameter("gamma", float, 0.2, "gamma: weight of the mutual information I(v; v_hat)", lower=0.0),
        Hyperparameter("privacy_learning_rate", float, 0.1, "privacy head H: SGD learning rate", lower=0.0),
        Hyperparameter("privacy_momentum", float, 0.9, "privacy head H: SGD momentum", lower=0.0, upper=1.0),
        Hyperparameter("privacy_weight_decay", float, 1e-4, "privacy head H: coupled L2 weight decay", lower=0.0),
        Hyperparameter("privacy_steps", int, 1, "privacy head H: optimizer steps per batch", lower=1),
        Hyperparameter(
            "routing", str, "head", "MI updates the backbone only (head, official) or H too (paper)",
            choices=ROUTINGS,
        ),
    ),
    sensitive=("discrete",),
    tasks=("multiclass",),
    summary="alpha * CE + gamma * I(v; H(z)), privacy head H trained on CE(v), Tartaglione et al., BMVC 2022",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class IRENE(InvariantModel):
    """IRENE: `alpha * CE + gamma * I(v, softmax(H(z)))`, H trained on CE(v).

    One training step (spec Sec. 2.3), all gradients from the same pre-update
    weights:

    1. encoder + task head take a step on `alpha * CE(y_hat, y) + gamma * I`,
       where I is `plugin_mutual_information` of the privacy head's logits
       on the *attached* z: its gradient reaches the encoder through H's
       current weights, but H's variables are not in this optimizer (and the
       task head gets no MI gradient, since I does not depend on it);
    2. the privacy head H takes `privacy_steps` steps of its own optimizer on
       `CE(H(stop_gradient(z)), v)` (`routing="head"`, the official code's
       current behaviour) or on `CE + gamma * I` (`routing="paper"`, the
       paper-era code, where H also lowers the MI it estimates).

    Logs: `"mutual_information"` (I, unweighted), `"privacy_head_loss"` (H's
    objective) and `"privacy_accuracy"` (H's top-1 on v, lower is more
    private; chance is 1/K), next to the task loss and metrics.

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> task logits (IRENE's G).
        num_sensitive_classes: int >= 2, number K of private classes; the
            sensitive variable must be class ids in `[0, K)`.
        alpha: weight of the task loss (>= 0). Default 0.5 (official code).
        gamma: weight of the MI term (>= 0). Default 0.2 (official code).
        privacy_head: Keras model or layer z -> K logits. Defaults to a linear
            `Dense(K)` with PyTorch's default initialisation, as IRENE's.
        privacy_optimizer: optimizer of the privacy head (instance or
            identifier). Defaults to `SGD(learning_rate=0.1, momentum=0.9)`,
            the official privacy-head optimizer (no learning-rate schedule).
        privacy_weight_decay: coupled L2 weight decay of the privacy head
            (>= 0). Default 1e-4, the official value (spec Sec. 2.4).
        privacy_steps: privacy-head optimizer steps per batch (>= 1).
            Default 1 (official).
        routing: `"head"` (default; H updated by its CE only) or `"paper"`
            (H updated by CE + gamma * I).
        weight_decay: coupled L2 weight decay of encoder + task head (see
            `InvariantModel`); the official code uses 1e-4 with SGD.
        **kwargs: passed to `keras.Model`.

    Example:
        >>> net = build_network("simple_conv", (28, 28, 3), 10)
        >>> model = IRENE(net.encoder, net.head, num_sensitive_classes=10,
        ...               weight_decay=1e-4)
        >>> model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9))
        >>> model.fit(pack_inputs(images, colours), digits, batch_size=100)
    """

    def __init__(
        self,
        encoder,
        head,
        num_sensitive_classes,
        alpha=0.5,
        gamma=0.2,
        privacy_head=None,
        privacy_optimizer=None,
        privacy_weight_decay=1e-4,
        privacy_steps=1,
        routing="head",
        weight_decay=0.0,
        **kwargs,
    ):
        kwargs.pop("task_weight", None)
        _check_num_classes(num_sensitive_classes, "num_sensitive_classes")
        for arg_name, value in (
            ("alpha", alpha),
            ("gamma", gamma),
            ("privacy_weight_decay", privacy_weight_decay),
        ):
            if not float(value) >= 0:
                raise ValueError(f"`{arg_name}` must be >= 0; received {value!r}.")
        if (
            isinstance(privacy_steps, bool)
            or not isinstance(privacy_steps, numbers.Integral)
            or privacy_steps < 1
        ):
            raise ValueError(f"`privacy_steps` must be an int >= 1; received {privacy_steps!r}.")
        if routing not in ROUTINGS:
            raise ValueError(f"`routing` must be one of {ROUTINGS}; received {routing!r}.")
        if privacy_head is None:
            privacy_head = _default_privacy_head(num_sensitive_classes, encoder)
        elif not isinstance(privacy_head, keras.layers.Layer):
            raise ValueError(
                "`privacy_head` must be a Keras model or layer; received "
                f"{type(privacy_head).__name__}."
            )
        units = _output_units(privacy_head)
        if units is not None and units != num_sensitive_classes:
            raise ValueError(
                f"`privacy_head` must output `num_sensitive_classes` = "
                f"{num_sensitive_classes} logits; it outputs {units}."
            )
        if privacy_optimizer is None:
            privacy_optimizer = keras.optimizers.SGD(learning_rate=0.1, momentum=0.9)

        super().__init__(encoder, head, weight_decay=weight_decay, task_weight=alpha, **kwargs)
        self.num_sensitive_classes = int(num_sensitive_classes)
        self.gamma = float(gamma)
        self.privacy_weight_decay = float(privacy_weight_decay)
        self.privacy_steps = int(privacy_steps)
        self.routing = routing
        self.add_loss_term("mutual_information", self.gamma)
        self.add_auxiliary(
            "privacy_head",
            privacy_head,
            privacy_optimizer,
            steps=self.privacy_steps,
            metrics=("privacy_accuracy",),
            weight_decay=self.privacy_weight_decay,
        )

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        params = dict(params)
        optimizer = keras.optimizers.SGD(
            params.pop("privacy_learning_rate"), momentum=params.pop("privacy_momentum")
        )
        return cls(
            encoder,
            head,
            num_sensitive_classes=context.num_sensitive_classes,
            privacy_optimizer=optimizer,
            weight_decay=context.weight_decay,
            **params,
        )

    @property
    def alpha(self):
        """Weight of the task loss (the base's `task_weight`)."""
        return self.task_weight

    @property
    def privacy_head(self):
        """The privacy head H (z -> private logits)."""
        return self.auxiliary_network("privacy_head")

    @property
    def privacy_optimizer(self):
        """The optimizer of the privacy head."""
        return self.auxiliary_optimizer("privacy_head")

    def compute_loss_terms(self, batch, z, logits, training):
        # H(z) attached: the MI gradient flows through H into the encoder.
        private_logits = self.privacy_head(z, training=training)
        return {
            "mutual_information": plugin_mutual_information(
                batch.s, private_logits, self.num_sensitive_classes
            )
        }

    def auxiliary_loss(self, name, batch, z, logits, training):
        # `z` is already stopped here: only H's variables get gradients.
        private_logits = ops.cast(self.privacy_head(z, training=training), "float32")
        labels = _labels(batch.s)
        cross_entropy = ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, private_logits, from_logits=True)
        )
        hits = ops.equal(ops.cast(ops.argmax(private_logits, axis=-1), "int32"), labels)
        metrics = {"privacy_accuracy": ops.mean(ops.cast(hits, "float32"))}
        loss = cross_entropy
        if self.routing == "paper":
            loss = loss + self.gamma * plugin_mutual_information(
                labels, private_logits, self.num_sensitive_classes
            )
        return loss, metrics

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            {
                "num_sensitive_classes": self.num_sensitive_classes,
                "alpha": self.alpha,
                "gamma": self.gamma,
                "privacy_head": keras.saving.serialize_keras_object(self.privacy_head),
                "privacy_optimizer": keras.optimizers.serialize(self.privacy_optimizer),
                "privacy_weight_decay": self.privacy_weight_decay,
                "privacy_steps": self.privacy_steps,
                "routing": self.routing,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["privacy_head"] = keras.saving.deserialize_keras_object(config["privacy_head"])
        config["privacy_optimizer"] = keras.optimizers.deserialize(config["privacy_optimizer"])
        return super().from_config(config)
