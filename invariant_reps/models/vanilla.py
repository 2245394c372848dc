"""The baseline: task loss only, no regularizer."""

import keras

from invariant_reps.models.base import InvariantModel
from invariant_reps.models.registry import SENSITIVE_KINDS, TASKS, register_method


@register_method(
    "vanilla",
    sensitive=SENSITIVE_KINDS,
    tasks=TASKS,
    summary="the baseline: the task loss alone (the same network every method is compared with)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class Vanilla(InvariantModel):
    """Encoder + head trained on the task loss alone.

    The reference every method is compared with (EnD's "baseline": the same
    network, alpha = beta = 0). The sensitive variable is optional: batches
    may carry it (so the same data feeds every method) or not.

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits.
        weight_decay: coupled L2 weight decay (see `InvariantModel`).

    Example:
        >>> net = invariant_reps.build_network("simple_conv", (28, 28, 3), 10)
        >>> model = Vanilla(net.encoder, net.head)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(train_dataset, epochs=1)
    """

    requires_sensitive = False

    def __init__(self, encoder, head, weight_decay=0.0, **kwargs):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        return config
