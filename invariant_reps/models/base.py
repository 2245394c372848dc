"""The training step every method shares.

`InvariantModel` wraps an encoder (x -> z, the bottleneck representation) and a
task head (z -> logits). One training step:

1. forward pass, compiled task loss on (y, logits);
2. the method's extra loss terms on (x, z, logits, y, s), each with a weight
   (`add_loss_term`), summed into the objective of encoder + head;
3. one optimizer step of encoder + head (optionally with PyTorch-style coupled
   L2 weight decay);
4. the auxiliary networks (adversary, privacy head, critic), each with its own
   optimizer and number of inner steps, trained on the *stopped-gradient*
   outputs of the same forward pass (`add_auxiliary`).

Every term and auxiliary metric is a named `Mean` tracker, so it appears in the
`fit` logs, in `History`, and in TensorBoard. Loss terms are scaled for
`tf.distribute` the way Keras scales its own compiled loss (gradients sum over
replicas) while trackers see the unscaled per-replica value.

A method subclass says only what is new: it registers its terms and auxiliary
networks in `__init__` and implements `compute_loss_terms` (and
`auxiliary_loss` when it has auxiliary networks).

The parts live in their own modules, mixed in here: `auxiliary` (auxiliary
networks, float32 under mixed precision), `auxiliary_steps` (their inner steps
as one graph loop), `seed_state` (seed generators saved and restored),
`numerics` (in-graph finiteness checks), `strategy_compat` (Keras 3 and
MultiWorkerMirroredStrategy), `replicas` (loss scaling, batch gathering).
"""

import collections
import inspect

import keras
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import INPUTS_KEY, get_index, unpack_inputs
from invariant_reps.models import validation
from invariant_reps.models.auxiliary import AuxiliaryMixin, keep_float32
from invariant_reps.models.numerics import (
    NON_FINITE_INPUT_MESSAGE,
    NON_FINITE_OBJECTIVE_MESSAGE,
    check_inputs_finite,
    check_objective_finite,
)
from invariant_reps.models.replicas import batch_size as _batch_size
from invariant_reps.models.replicas import gather_replicas, scale_for_replicas, unscale_for_replicas
from invariant_reps.models.seed_state import SeedStateMixin
from invariant_reps.models.strategy_compat import StrategyCompatMixin

# Names other modules import from here (kept for compatibility with the single-module base).
_check_numerics = check_inputs_finite
_keep_float32 = keep_float32
__all__ = ["Batch", "InvariantModel", "NON_FINITE_INPUT_MESSAGE", "NON_FINITE_OBJECTIVE_MESSAGE", "keep_float32"]

Batch = collections.namedtuple("Batch", ["x", "y", "s", "index"])
Batch.__doc__ = """One unpacked batch as the method hooks see it.

Fields:
    x: model inputs (without the sensitive variable).
    y: task targets.
    s: the sensitive variable, or None when the batch carries none.
    index: per-example dataset indices (`packing.INDEX_KEY`), or None.
"""


@keras.saving.register_keras_serializable(package="invariant_reps")
class InvariantModel(AuxiliaryMixin, SeedStateMixin, StrategyCompatMixin, keras.Model):
    """Base class: encoder + task head, method terms, auxiliary networks.

    Args:
        encoder: a Keras model mapping inputs `x` to the bottleneck `z` (2-D).
        head: a Keras model mapping `z` to task logits.
        weight_decay: coupled L2 weight decay on encoder + head, applied as
            PyTorch's `weight_decay` does (`grad += weight_decay * w` for every
            trainable variable, biases and BatchNorm included), i.e. a
            `0.5 * weight_decay * ||w||^2` term in the objective that is not
            reported in the loss. 0 disables it.
        task_weight: multiplier of the task loss in the encoder/head objective
            (IRENE's alpha; 1 elsewhere).
        **kwargs: passed to `keras.Model` (e.g. `name`).

    Data: batches are `({"inputs": x, "sensitive": s}, y)`; see
    `invariant_reps.data.packing`. `call` reads only `"inputs"`, so
    `predict(x)` and `evaluate(x, y)` need no sensitive attribute.

    Example:
        >>> net = invariant_reps.build_network("mlp", (8,), num_classes=2)
        >>> model = invariant_reps.Vanilla(net.encoder, net.head)
        >>> model.compile(optimizer="adam")
        >>> model.fit(invariant_reps.pack_inputs(x, s), y, epochs=2)
    """

    #: Whether the training step needs the sensitive variable `s`.
    requires_sensitive = True

    #: Whether `compute_loss_terms` sees the *global* batch under a
    #: multi-replica strategy: `y`, `s`, `index`, `z` and the logits are
    #: gathered over the replicas (`replicas.gather_replicas`; `x` stays
    #: local), so batch-level terms (Gram matrices, plug-in MI, critics,
    #: distance correlation) equal their single-device values, gradients
    #: included. A method whose terms are per-example means may opt out to
    #: save the communication.
    global_batch_terms = True

    #: `ExperimentContext` fields that `from_experiment` passes to a
    #: constructor naming them as arguments.
    CONTEXT_ARGUMENTS = ("num_classes", "num_sensitive_classes", "num_examples", "epochs", "seed")

    def __init__(self, encoder, head, weight_decay=0.0, task_weight=1.0, **kwargs):
        super().__init__(**kwargs)
        for arg_name, value in (("encoder", encoder), ("head", head)):
            if not isinstance(value, keras.layers.Layer):
                raise ValueError(
                    f"`{arg_name}` must be a Keras model or layer; received "
                    f"{type(value).__name__}."
                )
        weight_decay = float(weight_decay)
        if not 0 <= weight_decay < float("inf"):  # Also refuses NaN.
            raise ValueError(f"`weight_decay` must be a finite number >= 0; received {weight_decay}.")
        task_weight = float(task_weight)
        if not 0 <= task_weight < float("inf"):
            raise ValueError(f"`task_weight` must be a finite number >= 0; received {task_weight}.")
        self.encoder = encoder
        self.head = head
        self.weight_decay = weight_decay
        self.task_weight = task_weight
        self.task_loss_tracker = keras.metrics.Mean(name="task_loss")
        self.regularization_loss_tracker = keras.metrics.Mean(name="regularization_loss")
        self._term_names = []
        self._term_weights = {}
        self._term_trackers = {}
        self._init_auxiliaries()

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        """Builds the model of a registered method from the command line's values.

        Passes the validated hyperparameters `params` as keyword arguments,
        `weight_decay=context.weight_decay`, and each `CONTEXT_ARGUMENTS`
        field of `context` (an `ExperimentContext`) that the constructor
        names (e.g. `num_sensitive_classes`). Override it when a method needs
        more (an optimizer built from two hyperparameters, say).

        Args:
            encoder: Keras model x -> z.
            head: Keras model z -> logits.
            params: `{hyperparameter: value}`, validated against the method's
                declaration.
            context: the `invariant_reps.models.registry.ExperimentContext`.

        Returns:
            The uncompiled model.
        """
        accepted = inspect.signature(cls.__init__).parameters
        kwargs = {name: getattr(context, name) for name in cls.CONTEXT_ARGUMENTS if name in accepted}
        kwargs.update(params)
        return cls(encoder, head, weight_decay=context.weight_decay, **kwargs)

    # ------------------------------------------------------------------ hooks
    def add_loss_term(self, name, weight):
        """Declares a named loss term added to the encoder/head objective.

        Call from a subclass `__init__`. The value returned for `name` by
        `compute_loss_terms` is reported as metric `name` (unweighted) and
        enters the objective as `weight * value`.

        Args:
            name: metric name of the term.
            weight: its multiplier (the method's alpha, beta, gamma, lambda).
        """
        if name in self._term_trackers:
            raise ValueError(f"Loss term {name!r} is declared twice.")
        weight = float(weight)
        if not 0 <= weight < float("inf"):
            raise ValueError(f"Weight of loss term {name!r} must be a finite number >= 0; received {weight}.")
        self._term_names.append(name)
        self._term_weights[name] = weight
        self._term_trackers[name] = keras.metrics.Mean(name=name)

    def compute_loss_terms(self, batch, z, logits, training):
        """Returns `{term_name: scalar}` for every declared loss term.

        Args:
            batch: the `Batch` (x, y, s, index) being trained on.
            z: the bottleneck representation (gradients flow to the encoder).
            logits: task logits.
            training: whether this is a training step.
        """
        return {}

    # -------------------------------------------------------------- plumbing
    def call(self, inputs, training=None):
        x, _ = unpack_inputs(inputs)
        # float32 logits under a mixed-precision policy too (losses, metrics, predictions).
        return ops.cast(self.head(self.encoder(x, training=training), training=training), "float32")

    def representation_shape(self, input_shape=None):
        """Shape of `z` (batch axis included) for inputs of `input_shape`."""
        if getattr(self.encoder, "outputs", None):
            return tuple(self.encoder.outputs[0].shape)
        spec = self.encoder.compute_output_spec(keras.KerasTensor(self._input_shape_of(input_shape)))
        return tuple(spec.shape)

    def build(self, input_shape=None):
        self._build_auxiliaries(self.representation_shape(input_shape))
        self.built = True

    def ensure_built(self, x=None):
        """Builds the model, its auxiliary networks and their optimizers.

        Args:
            x: optional sample input (array, dict, or `tf.data.Dataset`) used
                only when the encoder has no static input shape.
        """
        with self.distribute_strategy.scope():
            if not self.built:
                inputs = getattr(self.encoder, "inputs", None)
                if inputs:
                    self.build(tuple(inputs[0].shape))
                elif x is not None:
                    if isinstance(x, tf.data.Dataset):
                        x = keras.utils.unpack_x_y_sample_weight(next(iter(x.take(1))))[0]
                    self(x)
            self.build_auxiliary_optimizers()

    def build_from_config(self, config):
        super().build_from_config(config)
        self.build_auxiliary_optimizers()

    def get_compile_config(self):
        return super().get_compile_config()

    def compile_from_config(self, config):
        # `compile` is overridden (for its defaults), so Keras leaves restoring
        # the compiled state to us.
        self.compile(**keras.saving.deserialize_keras_object(config))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    def _input_shape_of(self, input_shape):
        if isinstance(input_shape, dict):
            input_shape = input_shape[INPUTS_KEY]
        return tuple(input_shape)

    def compile(self, optimizer="adam", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with defaults for classification.

        When both are left unset, `loss` and `metrics` default to sparse
        categorical cross-entropy on logits and `["accuracy"]`, or, for a
        head with one output (a binary task's logit), to sigmoid
        cross-entropy and accuracy at logit 0.
        """
        if loss is None:
            if self._task_width() == 1:
                loss = keras.losses.BinaryCrossentropy(from_logits=True)
                default_metrics = [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)]
            else:
                loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                default_metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
            if metrics is None:
                metrics = default_metrics
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def _task_width(self):
        outputs = getattr(self.head, "outputs", None)
        if outputs:
            return outputs[0].shape[-1]
        return getattr(self.head, "units", None)

    def fit(self, x=None, y=None, validation_data=None, **kwargs):
        validation.check_fit_data(self, x, y, name="training data")
        if validation_data is not None:
            validation.check_fit_data(self, validation_data, None, name="validation data")
        self.ensure_built(x)
        if isinstance(x, tf.data.Dataset):
            kwargs.setdefault("shuffle", False)  # Keras cannot shuffle a Dataset; it would only warn.
        return super().fit(x, y, validation_data=validation_data, **kwargs)

    def _has_terms(self, s):
        return s is not None or not self.requires_sensitive

    def _objective(self, x_packed, y, sample_weight, training):
        x, s = unpack_inputs(x_packed)
        if training and not self._has_terms(s):
            raise ValueError(
                f"{type(self).__name__} needs the sensitive variable in every "
                "training batch: pass inputs as {'inputs': x, 'sensitive': s} "
                "(invariant_reps.pack / pack_inputs)."
            )
        z = self.encoder(x, training=training)
        # Under a mixed-precision policy the task loss, terms and auxiliary networks see float32.
        logits = ops.cast(self.head(z, training=training), "float32")
        z = ops.cast(z, "float32")
        compiled = self._compute_loss(
            x=x_packed, y=y, y_pred=logits, sample_weight=sample_weight, training=training
        )
        if compiled is None:  # no compiled loss
            compiled = ops.zeros(())
        # Keras adds the layers' regularization losses to the compiled loss: split them
        # out, so that `task_loss` is the task loss alone and `task_weight` scales only it.
        regularization = self._regularization_loss()
        task_loss = compiled - regularization if regularization is not None else compiled
        batch = Batch(x, y, s, get_index(x_packed))
        if not self._has_terms(s):
            # evaluate(x, y) without s: no term can be computed; "loss" is the task loss
            # (plus regularization), not a partial objective.
            return batch, z, logits, task_loss, None, compiled
        terms = self.compute_loss_terms(*self._term_inputs(batch, z, logits), training)
        missing = set(self._term_names) - set(terms)
        if missing:
            raise ValueError(
                f"{type(self).__name__}.compute_loss_terms did not return the "
                f"declared terms {sorted(missing)}."
            )
        objective = self.task_weight * task_loss
        if regularization is not None:
            objective = objective + regularization
        for name in self._term_names:
            terms[name] = ops.cast(terms[name], "float32")
            if self._term_weights[name] != 0.0:
                objective = objective + self._term_weights[name] * scale_for_replicas(terms[name])
        return batch, z, logits, task_loss, terms, objective

    def _regularization_loss(self):
        """Sum of the layers' regularization losses as Keras adds them, or None without any."""
        if not self.losses:
            return None
        return ops.sum(ops.stack([ops.cast(self._aggregate_additional_loss(loss), "float32") for loss in self.losses]))

    def _term_inputs(self, batch, z, logits):
        """`(batch, z, logits)` as `compute_loss_terms` sees them (global under `global_batch_terms`)."""
        if not self.global_batch_terms:
            return batch, z, logits
        gathered = Batch(batch.x, gather_replicas(batch.y), gather_replicas(batch.s), gather_replicas(batch.index))
        return gathered, gather_replicas(z), gather_replicas(logits)

    def weight_decay_multiplier(self):
        """Multiplier of the encoder/head `weight_decay` at the current step.

        1 by default; a method with a weight-decay schedule (CTC's two
        stages) overrides it and may return a tensor.
        """
        return 1.0

    def _coupled_weight_decay(self, variables, weight_decay):
        if not weight_decay or not variables:
            return 0.0
        squares = [ops.sum(ops.square(ops.cast(v, "float32"))) for v in variables]
        return scale_for_replicas(0.5 * weight_decay * ops.sum(ops.stack(squares)))

    def _track(self, x, task_loss, terms, objective):
        batch = _batch_size(x)
        self.task_loss_tracker.update_state(unscale_for_replicas(task_loss), sample_weight=batch)
        regularization = self._regularization_loss()
        if regularization is not None:
            self.regularization_loss_tracker.update_state(unscale_for_replicas(regularization), sample_weight=batch)
        self._loss_tracker.update_state(unscale_for_replicas(objective), sample_weight=batch)
        for name in self._term_names if terms is not None else ():
            self._term_trackers[name].update_state(terms[name], sample_weight=batch)

    def train_step(self, data):
        x_packed, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x_packed = check_inputs_finite(x_packed)
        main_variables = self.trainable_variables
        with tf.GradientTape() as tape:
            batch, z, logits, task_loss, terms, objective = self._objective(
                x_packed, y, sample_weight, training=True
            )
            objective = check_objective_finite(objective)
            self._track(batch.x, task_loss, terms, objective)
            total = objective + self.weight_decay_multiplier() * self._coupled_weight_decay(
                main_variables, self.weight_decay
            )
            total = self.optimizer.scale_loss(total)
        gradients = tape.gradient(total, main_variables)
        self.optimizer.apply_gradients(zip(gradients, main_variables))
        z_stopped, logits_stopped = ops.stop_gradient(z), ops.stop_gradient(logits)
        for name in self._auxiliary_names:
            self._auxiliary_update(name, batch, z_stopped, logits_stopped)
        return self._for_reduction(self.compute_metrics(x_packed, y, logits, sample_weight=sample_weight))

    def test_step(self, data):
        x_packed, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch, z, logits, task_loss, terms, objective = self._objective(
            x_packed, y, sample_weight, training=False
        )
        self._track(batch.x, task_loss, terms, objective)
        if not self._has_terms(batch.s):
            # No sensitive variable (evaluate(x, y)): report task metrics only.
            logs = self.compute_metrics(x_packed, y, logits, sample_weight=sample_weight)
            skipped = set(self._term_names) | {tracker.name for tracker in self._auxiliary_trackers()}
            return self._for_reduction({key: value for key, value in logs.items() if key not in skipped})
        self._evaluate_auxiliaries(batch, z, logits)
        return self._for_reduction(self.compute_metrics(x_packed, y, logits, sample_weight=sample_weight))

    @property
    def metrics(self):
        # Keras resets and reports exactly `self.metrics`; make sure every
        # term and auxiliary tracker is in it, once.
        # The regularization tracker only when some layer has a regularizer: its sum is
        # then logged apart from the task loss.
        regularized = bool(self.losses)
        metrics = [m for m in super().metrics if regularized or m is not self.regularization_loss_tracker]
        seen = {id(m) for m in metrics}
        own = [self.task_loss_tracker] + ([self.regularization_loss_tracker] if regularized else [])
        own += [self._term_trackers[name] for name in self._term_names] + self._auxiliary_trackers()
        for metric in own:
            if id(metric) not in seen:
                metrics.append(metric)
                seen.add(id(metric))
        return metrics

    @property
    def loss_term_names(self):
        """Names of the declared loss terms, in order."""
        return list(self._term_names)

    # ---------------------------------------------------------- serialization
    def get_config(self):
        return {
            "name": self.name,
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "head": keras.saving.serialize_keras_object(self.head),
            "weight_decay": self.weight_decay,
            "task_weight": self.task_weight,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("encoder", "head"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)

