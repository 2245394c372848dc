"""Auxiliary networks of a method: adversaries, privacy heads, critics, estimators.

`AuxiliaryMixin` is the part of `InvariantModel` that declares, builds, trains
and tracks the networks that learn *beside* the encoder and head, each with its
own optimizer and number of inner steps per batch. After the encoder/head
update of a batch, auxiliary `name` takes `steps` optimizer steps on
`auxiliary_loss(name, batch, z, logits, training=True)`, where `z` and the
logits are the stopped-gradient outputs of the batch's forward pass; only its
own variables are updated, and they never reach the encoder/head optimizer.

Under a mixed-precision policy the auxiliary networks stay in float32
(`keep_float32`): critics, adversaries and estimators fit small differences of
large scores, which bfloat16's 8-bit mantissa would round away.
"""

import keras
import tensorflow as tf
from keras import ops

from invariant_reps.models import auxiliary_steps
from invariant_reps.models.replicas import batch_size as _batch_size
from invariant_reps.models.replicas import scale_for_replicas


def keep_float32(network):
    """Sets every layer of `network` to the float32 dtype policy (a no-op without mixed precision).

    Args:
        network: a Keras layer or model, built or not.

    Returns:
        `network`, whose layers now compute in float32 and cast their inputs.

    Example:
        >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
        >>> critic = keep_float32(keras.layers.Dense(1))
        >>> critic.compute_dtype
        'float32'
    """
    for layer in network._flatten_layers(include_self=True, recursive=True):
        if layer.dtype_policy.name != "float32" and layer.dtype_policy.quantization_mode is None:
            layer.dtype_policy = "float32"
    return network


class AuxiliaryMixin:
    """Declaration, building, training and tracking of auxiliary networks (mixed into `InvariantModel`).

    The host class calls `_init_auxiliaries()` in its `__init__`, adds
    `_auxiliary_trackers()` to its metrics and calls `_auxiliary_update` for
    every name in `_auxiliary_names` after its own optimizer step.
    """

    def _init_auxiliaries(self):
        self._auxiliary_names = []
        self._auxiliary_specs = {}

    def add_auxiliary(self, name, network, optimizer, steps=1, metrics=(), weight_decay=0.0):
        """Declares an auxiliary network trained with its own optimizer.

        After each encoder/head update the network takes `steps` optimizer
        steps on `auxiliary_loss(name, ...)`, which sees the stopped-gradient
        `z` and logits of the batch. Its variables are excluded from the
        encoder/head optimizer. Under a mixed-precision policy the network
        still computes in float32 (`keep_float32`); it casts its inputs.

        Args:
            name: name of the auxiliary; its loss is reported as `<name>_loss`.
            network: a Keras model or layer (built on `z` in `build`).
            optimizer: a Keras optimizer instance or identifier for it.
            steps: inner optimizer steps per batch (>= 1).
            metrics: names of extra metrics that `auxiliary_loss` returns.
            weight_decay: coupled L2 weight decay for this network.

        Example:
            >>> self.add_auxiliary("privacy", keras.layers.Dense(10), "adam", steps=5,
            ...                    metrics=("privacy_accuracy",))
        """
        steps = int(steps)
        if steps < 1:
            raise ValueError(f"`steps` of auxiliary {name!r} must be >= 1; received {steps}.")
        if name in self._auxiliary_specs:
            raise ValueError(f"Auxiliary {name!r} is declared twice.")
        weight_decay = float(weight_decay)
        if not 0 <= weight_decay < float("inf"):
            raise ValueError(
                f"`weight_decay` of auxiliary {name!r} must be a finite number >= 0; received {weight_decay}."
            )
        keep_float32(network)
        setattr(self, f"{name}_network", network)
        setattr(self, f"{name}_optimizer", keras.optimizers.get(optimizer))
        trackers = {f"{name}_loss": keras.metrics.Mean(name=f"{name}_loss")}
        for metric_name in metrics:
            trackers[metric_name] = keras.metrics.Mean(name=metric_name)
        self._auxiliary_names.append(name)
        self._auxiliary_specs[name] = {"steps": steps, "weight_decay": weight_decay, "trackers": trackers}

    def auxiliary_network(self, name):
        """The network of auxiliary `name`."""
        return getattr(self, f"{name}_network")

    def auxiliary_optimizer(self, name):
        """The optimizer of auxiliary `name`."""
        return getattr(self, f"{name}_optimizer")

    @property
    def auxiliary_names(self):
        """Names of the declared auxiliary networks, in order."""
        return list(self._auxiliary_names)

    def auxiliary_loss(self, name, batch, z, logits, training):
        """Returns `(loss, {metric_name: value})` for auxiliary `name`.

        `z` and `logits` are already stopped-gradient; only the auxiliary
        network's variables are updated with this loss.

        Args:
            name: the auxiliary's name.
            batch: the `Batch` (x, y, s, index).
            z: stopped-gradient representation.
            logits: stopped-gradient task logits.
            training: whether this is a training step.

        Returns:
            `(scalar loss, {metric: scalar})`, the metrics declared in `add_auxiliary`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} declares auxiliary {name!r} but does not implement `auxiliary_loss`."
        )

    def _auxiliary_input_shape(self, name, z_shape):
        """Shape an auxiliary network is built on; defaults to `z`'s shape."""
        return z_shape

    @property
    def auxiliary_variables(self):
        """Trainable variables of all auxiliary networks."""
        variables = []
        for name in self._auxiliary_names:
            variables.extend(self.auxiliary_network(name).trainable_variables)
        return variables

    @property
    def trainable_weights(self):
        # The encoder/head optimizer must never see auxiliary variables.
        excluded = {id(v) for v in self.auxiliary_variables}
        return [v for v in super().trainable_weights if id(v) not in excluded]

    @property
    def trainable_variables(self):
        return self.trainable_weights

    def _build_auxiliaries(self, z_shape):
        for name in self._auxiliary_names:
            network = self.auxiliary_network(name)
            if not network.built:
                network.build(self._auxiliary_input_shape(name, z_shape))

    def build_auxiliary_optimizers(self):
        """Creates the auxiliary optimizers' variables, in the strategy scope.

        Runs eagerly (never inside the symbolic build that Keras traces), so
        `fit`, `build_from_config` and checkpoint restoring call it; calling
        it again is a no-op.
        """
        with self.distribute_strategy.scope():
            for name in self._auxiliary_names:
                optimizer = self.auxiliary_optimizer(name)
                if not optimizer.built:
                    optimizer.build(self.auxiliary_network(name).trainable_variables)

    def _auxiliary_update(self, name, batch, z, logits):
        """Trains auxiliary `name` for its `steps` on `(batch, z, logits)` and tracks its last loss.

        The steps run in one `tf.while_loop` (traced once whatever `steps`
        is; see `auxiliary_steps`).
        """
        spec = self._auxiliary_specs[name]
        network = self.auxiliary_network(name)
        optimizer = self.auxiliary_optimizer(name)
        variables = network.trainable_variables

        def step():
            with tf.GradientTape() as tape:
                loss, metrics = self.auxiliary_loss(name, batch, z, logits, training=True)
                objective = scale_for_replicas(ops.cast(loss, "float32"))
                objective = objective + self._coupled_weight_decay(variables, spec["weight_decay"])
                objective = optimizer.scale_loss(objective)
            gradients = tape.gradient(objective, variables)
            optimizer.apply_gradients(zip(gradients, variables))
            return loss, metrics

        loss, metrics = auxiliary_steps.run_steps(step, spec["steps"])
        self._track_auxiliary(name, batch, loss, metrics)

    def _track_auxiliary(self, name, batch, loss, metrics):
        trackers = self._auxiliary_specs[name]["trackers"]
        size = _batch_size(batch.x)
        trackers[f"{name}_loss"].update_state(loss, sample_weight=size)
        for metric_name, value in metrics.items():
            trackers[metric_name].update_state(value, sample_weight=size)

    def _evaluate_auxiliaries(self, batch, z, logits):
        """Tracks every auxiliary's loss and metrics on a test batch (no update)."""
        for name in self._auxiliary_names:
            loss, metrics = self.auxiliary_loss(name, batch, z, logits, training=False)
            self._track_auxiliary(name, batch, loss, metrics)

    def _auxiliary_trackers(self):
        trackers = []
        for name in self._auxiliary_names:
            trackers += list(self._auxiliary_specs[name]["trackers"].values())
        return trackers
