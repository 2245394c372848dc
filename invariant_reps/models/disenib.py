"""DisenIB: the Disentangled Information Bottleneck, fully connected (Pan et al., AAAI 2021).

Two deterministic encoders split the input: the class code `T = E_t(X)` (the
package's `encoder`, the bottleneck) and the style code `S = E_s(X)` (a
fresh copy of the encoder's architecture). The objective of E_t, E_s, the
classifier D (the package's `head`) and the reconstructor Rec (see
`disenib_objectives` for the equations):

    lambda_dec * CE(D(T + 1.0 eps), Y)           10 noise samples per example
  + lambda_rec * MSE(Rec(S + 0.1 eps, e_Y), X)   e_Y: learned label embedding
  - lambda_est * mean Est(S + 0.1 eps, T + 0.1 eps)      from `estimator_start_step`
  + lambda_wall * mean relu(|[S; T]| - 3)^2

and the independence estimator Est (an auxiliary network with its own Adam)
minimises the least-squares loss that pushes product-of-marginals samples
(clustered, noised, rows of S and of T permuted independently) to +1 and
joint samples to -1.

Schedule. The seed's "step" is 10 main iterations (each on its own batch)
followed by 3 estimator iterations (on batches of a second stream). Here one
`train_step` (one Keras batch) is one main iteration; the estimator takes one
iteration, on the same batch's detached codes, in the last
`estimator_iterations` train steps of every group of `main_iterations`
(train steps 7, 8, 9 of 0..9 with the defaults): 3 estimator updates per 10
main updates on distinct random batches, as in the seed, interleaved with the
last main updates instead of after them. The seed's step is
`main_iteration // main_iterations`; `estimator_start_step` and the picture
period are counted in those steps.

Gradient routing (spec B.6). The encoder-side term `-lambda_est mean Est` is
taken through the estimator's *current* weights, which are not in the main
optimizer (Est is updated only by its own loss). Once active, its gradient
reaches E_s in the first `style_updates` (4) of every `style_updates + 1`
main iterations and E_t in the last one (the seed's `TriggerPeriod`,
counting main iterations from the first active one): the other code enters
Est through a stop-gradient. The classification, reconstruction and wall
terms reach their encoders in every iteration.

Not for multi-replica strategies (registered `distributed=False`): the noise,
permutations and clustering are drawn per batch and Est's spectral-norm
vectors are updated in every forward pass, which would need global batches
and cross-replica state to equal one device.
"""

import keras
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import unpack_inputs
from invariant_reps.kinds import SENSITIVE_KINDS
from invariant_reps.models import disenib_layers as layers
from invariant_reps.models import disenib_objectives as objectives
from invariant_reps.models.disenib_hyperparameters import (
    NONNEGATIVE, POSITIVE_INT, check_arguments, common_hyperparameters,
)
from invariant_reps.models.base import Batch, InvariantModel, _check_numerics
from invariant_reps.models.registry import register_method
from invariant_reps.models.replicas import scale_for_replicas

MISSING_LABEL_MESSAGE = (
    "DisenIB needs the task label y in every training batch: the reconstructor decodes x from "
    "(style code, label embedding e_y). Pass fit(x, y) or batches (inputs, y)."
)


def _labels(y):
    return ops.reshape(ops.cast(y, "int32"), (-1,))


@register_method(
    "disenib",
    hyperparameters=common_hyperparameters(num_samples=10, estimator_iterations=3, clustering=True,
                                           spectral_norm=True),
    sensitive=tuple(sorted(SENSITIVE_KINDS, key=lambda kind: kind != "none")),
    tasks=("multiclass",),
    summary="CE(D(T + eps)) + lambda_rec MSE(Rec(S, y), x) - lambda_est Est(S, T) + wall; two encoders, "
    "least-squares independence estimator, Pan et al., AAAI 2021 (fully connected)",
    distributed=False,
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class DisenIB(InvariantModel):
    """Disentangled Information Bottleneck with fully connected networks (spec B.2).

    Args:
        encoder: E_t, a functional Keras model `[B, d] -> T [B, k]` (flat inputs).
        head: the classifier D, `T -> logits [B, K]` (the seed: one Linear).
        num_classes: K; defaults to the head's output width.
        style_encoder: E_s; defaults to a re-initialised copy of `encoder`.
        reconstructor: `Rec([S, y]) -> x_hat`; defaults to
            `disenib_layers.build_mlp_reconstructor` (32 -> 1024 -> 1024 -> 784).
        estimator: `Est([S, T]) -> [B, 1]`; defaults to
            `disenib_layers.build_estimator`.
        estimator_optimizer: Est's optimizer; default Adam(1e-4, beta_1=0.5, epsilon=1e-8).
        lambda_dec, lambda_rec, lambda_est, lambda_wall, lambda_zero_center:
            the loss weights (>= 0; seed 1, 10, 0.5, 10, 0.05).
        radius: the wall's half-width (seed 3).
        class_noise, style_noise, estimator_noise: noise standard deviations
            (seed 1.0, 0.1, 0.1); the clustering radii are `style_noise` and
            `class_noise`, as in the seed.
        num_samples: noise samples per example (seed 10).
        clustering: cluster the detached codes before product sampling.
        spectral_norm: spectral normalisation in the default estimator.
        estimator_units: trunk width of the default estimator (seed 256).
        reconstructor_units: hidden width of the default reconstructor.
        main_iterations, estimator_iterations: train steps per seed step and
            estimator updates per seed step (seed 10 and 3;
            `estimator_iterations <= main_iterations`).
        estimator_start_step: seed step from which the encoder-side
            independence term is on (seed 3000).
        style_updates: routing period minus one (seed 4: E_s, E_s, E_s, E_s, E_t).
        picture_every_steps: seed steps between disentangling pictures when
            `fit` runs with a TensorBoard callback (0: no pictures).
        seed: seed of the noise and permutations.
        weight_decay: coupled L2 weight decay of the main networks.
        **kwargs: `keras.Model` arguments.

    Example:
        >>> net = build_network("ib_mlp", (784,), 10)
        >>> model = DisenIB(net.encoder, net.head, estimator_start_step=300)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
        >>> model.fit(x_train, y_train, batch_size=64, epochs=20)
        >>> model.swap_reconstructions(x[:10], y[:10])  # Rec(S of i, label of j)
    """

    requires_sensitive = False
    global_batch_terms = False

    def __init__(self, encoder, head, num_classes=None, style_encoder=None, reconstructor=None, estimator=None,
                 estimator_optimizer=None, lambda_dec=1.0, lambda_rec=10.0, lambda_est=0.5, lambda_wall=10.0,
                 lambda_zero_center=0.05, radius=3.0, class_noise=1.0, style_noise=0.1, estimator_noise=0.1,
                 num_samples=10, clustering=True, spectral_norm=True, estimator_units=256,
                 reconstructor_units=1024, main_iterations=10, estimator_iterations=3, estimator_start_step=3000,
                 style_updates=4, picture_every_steps=500, seed=None, weight_decay=0.0, **kwargs):
        kwargs.pop("task_weight", None)
        values = dict(locals())
        check_arguments(values)
        super().__init__(encoder, head, weight_decay=weight_decay, task_weight=lambda_dec, **kwargs)
        input_shape = self._encoder_input_shape(encoder)
        self._check_input_shape(input_shape)
        code_dim = layers.output_width(encoder)
        num_classes = num_classes or layers.output_width(head)
        if not num_classes or num_classes < 2:
            raise ValueError(f"DisenIB needs a multiclass head (>= 2 logits); the head outputs {num_classes}.")
        self.num_classes = int(num_classes)
        for name in ("lambda_rec", "lambda_est", "lambda_wall", "lambda_zero_center", "radius", "class_noise",
                     "style_noise", "estimator_noise"):
            setattr(self, name, float(values[name]))
        for name in POSITIVE_INT + ("estimator_start_step", "style_updates", "picture_every_steps"):
            setattr(self, name, int(values[name]))
        self.clustering, self.spectral_norm, self.seed = bool(clustering), bool(spectral_norm), seed

        self.style_encoder = style_encoder or layers.fresh_copy(encoder, f"{encoder.name}_style")
        style_dim = layers.output_width(self.style_encoder)
        self.reconstructor = reconstructor or self._default_reconstructor(input_shape, style_dim, code_dim)
        estimator = estimator or layers.build_estimator(
            style_dim, code_dim, self.estimator_units, spectral_norm=self.spectral_norm,
            initializer=self._initializer(),
        )
        if estimator_optimizer is None:
            estimator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
        self.add_loss_term("reconstruction", self.lambda_rec)
        self.add_loss_term("independence", self.lambda_est)
        self.add_loss_term("wall", self.lambda_wall)
        self.add_auxiliary("estimator", estimator, estimator_optimizer,
                           metrics=("estimator_product", "estimator_joint"))
        self.main_iteration = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="main_iteration"
        )
        self._noise = keras.random.SeedGenerator(seed)

    # ------------------------------------------------------------- variants
    def _initializer(self):
        """Zero-argument factory of the default networks' kernel initializer."""
        return layers.glorot_relu

    def _check_input_shape(self, input_shape):
        if len(input_shape) != 1:
            raise ValueError(
                f"DisenIB (fully connected) takes flat inputs [N, d]; the encoder's input shape is {input_shape}. "
                "Flatten the images (e.g. --mnist_flatten) or use the convolutional variant (method disenib_conv)."
            )

    def _default_reconstructor(self, input_shape, style_dim, code_dim):
        return layers.build_mlp_reconstructor(
            style_dim, code_dim, self.num_classes, input_shape, units=self.reconstructor_units
        )

    @staticmethod
    def _encoder_input_shape(encoder):
        inputs = getattr(encoder, "inputs", None)
        if not inputs or layers.output_width(encoder) is None:
            raise ValueError(
                "DisenIB needs a functional encoder with known input and output shapes (it builds E_s, the "
                "reconstructor and the estimator from them)."
            )
        return tuple(inputs[0].shape[1:])

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        params = dict(params)
        optimizer = keras.optimizers.Adam(  # PyTorch's epsilon, as the seed's Adam.
            params.pop("estimator_learning_rate"), beta_1=params.pop("estimator_beta_1"), epsilon=1e-8
        )
        return cls(encoder, head, num_classes=context.num_classes, estimator_optimizer=optimizer,
                   seed=context.seed, weight_decay=context.weight_decay, **params)

    # ------------------------------------------------------------- schedule
    @property
    def estimator(self):
        """The independence estimator Est (auxiliary network)."""
        return self.auxiliary_network("estimator")

    @property
    def code_stddev(self):
        """The sigma of q(t | x) = N(E_t(x), sigma^2 I) used by the I(X;T) evaluation (seed: class_std)."""
        return self.class_noise

    def schedule(self, iteration=None):
        """Which updates main iteration `iteration` (default: the current one) makes.

        Returns:
            A dict of boolean scalars: `independence_on` (the encoder-side
            Est term is in the objective), `to_class` (its gradient goes to
            E_t rather than E_s), `estimator_on` (Est takes an update after
            the main one).
        """
        iteration = ops.cast(self.main_iteration if iteration is None else iteration, "int32")
        step = iteration // self.main_iterations
        independence_on = ops.greater_equal(step, self.estimator_start_step)
        since_start = iteration - self.estimator_start_step * self.main_iterations
        to_class = ops.logical_and(
            independence_on, ops.equal(ops.mod(since_start, self.style_updates + 1), self.style_updates)
        )
        estimator_on = ops.greater_equal(
            ops.mod(iteration, self.main_iterations), self.main_iterations - self.estimator_iterations
        )
        return {"independence_on": independence_on, "to_class": to_class, "estimator_on": estimator_on}

    # --------------------------------------------------------------- losses
    def _main_terms(self, x_packed, x, y, sample_weight, schedule):
        """Forward pass of one main iteration: `(code, task_loss, terms, compiled)`."""
        labels, n = _labels(y), self.num_samples
        code = tf.debugging.check_numerics(self.encoder(x, training=True), "DisenIB: the class code E_t(x) is "
                                           "NaN/inf (diverged encoder: lower the learning rate)")
        style = tf.debugging.check_numerics(self.style_encoder(x, training=True), "DisenIB: the style code "
                                            "E_s(x) is NaN/inf (diverged encoder: lower the learning rate)")
        # Classification of T + sigma_t eps, n samples per example.
        noisy_logits = self.head(objectives.resample(code, self.class_noise, n, self._noise), training=True)
        weights = None if sample_weight is None else objectives.repeat_rows(sample_weight, n)
        compiled = self._compute_loss(x=x_packed, y=objectives.repeat_rows(y, n), y_pred=noisy_logits,
                                      sample_weight=weights, training=True)
        regularization = self._regularization_loss()
        task_loss = compiled - regularization if regularization is not None else compiled
        # Reconstruction of x from S + sigma_s eps and the label embedding e_y.
        reconstruction = self.reconstructor(
            [objectives.resample(style, self.style_noise, n, self._noise), objectives.repeat_rows(labels, n)],
            training=True,
        )
        terms = {"reconstruction": objectives.reconstruction_loss(reconstruction, objectives.repeat_rows(x, n))}
        # Encoder side of the independence game, routed to E_s or E_t (the other code is stopped).
        style_joint = objectives.resample(style, self.estimator_noise, n, self._noise)
        code_joint = objectives.resample(code, self.estimator_noise, n, self._noise)
        to_class = schedule["to_class"]
        joint = self.estimator([ops.where(to_class, ops.stop_gradient(style_joint), style_joint),
                                ops.where(to_class, code_joint, ops.stop_gradient(code_joint))], training=True)
        terms["independence"] = ops.cast(schedule["independence_on"], "float32") * objectives.independence_term(joint)
        terms["wall"] = objectives.wall_loss(style, code, self.radius)
        terms.update(self._extra_main_terms(x, labels, style, code, reconstruction, schedule))
        return style, code, task_loss, terms, compiled

    def _extra_main_terms(self, x, labels, style, code, reconstruction, schedule):
        """Hook for variants (the convolutional model's image GAN term)."""
        return {}

    def _estimator_update(self, style, code):
        """One step of Est on the detached codes (the seed's estimator iteration)."""
        n, estimator, optimizer = self.num_samples, self.estimator, self.auxiliary_optimizer("estimator")
        with tf.GradientTape() as tape:
            if self.clustering:
                product_style = objectives.cluster_codes(style, self.style_noise)
                product_code = objectives.cluster_codes(code, self.class_noise)
            else:
                product_style, product_code = style, code
            product = estimator([
                keras.random.shuffle(objectives.resample(product_style, self.estimator_noise, n, self._noise),
                                     seed=self._noise),
                keras.random.shuffle(objectives.resample(product_code, self.estimator_noise, n, self._noise),
                                     seed=self._noise),
            ], training=True)
            joint = estimator([objectives.resample(style, self.estimator_noise, n, self._noise),
                               objectives.resample(code, self.estimator_noise, n, self._noise)], training=True)
            loss, product_mean, joint_mean = objectives.estimator_loss(product, joint, self.lambda_zero_center)
            scaled = optimizer.scale_loss(scale_for_replicas(loss))
        variables = estimator.trainable_variables
        optimizer.apply_gradients(zip(tape.gradient(scaled, variables), variables))
        self._track_auxiliary("estimator", Batch(style, None, None, None), loss,
                              {"estimator_product": product_mean, "estimator_joint": joint_mean})
        return loss

    def _auxiliary_updates(self, x, labels, style, code, schedule):
        """Updates of the auxiliary networks after the main one (Est; the conv model adds D)."""
        ops.cond(schedule["estimator_on"], lambda: self._estimator_update(style, code), lambda: ops.zeros(()))

    # ----------------------------------------------------------------- steps
    def train_step(self, data):
        x_packed, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        if y is None:
            raise ValueError(MISSING_LABEL_MESSAGE)
        x_packed = _check_numerics(x_packed)
        x, _ = unpack_inputs(x_packed)
        schedule = self.schedule()
        variables = self.trainable_variables
        with tf.GradientTape() as tape:
            style, code, task_loss, terms, compiled = self._main_terms(x_packed, x, y, sample_weight, schedule)
            objective = self.task_weight * task_loss + (compiled - task_loss)
            for name in self._term_names:
                objective = objective + self._term_weights[name] * scale_for_replicas(terms[name])
            objective = tf.debugging.check_numerics(objective, "DisenIB: the training objective became NaN/inf")
            self._track(x, task_loss, terms, objective)
            total = objective + self._coupled_weight_decay(variables, self.weight_decay)
            total = self.optimizer.scale_loss(total)
        self.optimizer.apply_gradients(zip(tape.gradient(total, variables), variables))
        self._auxiliary_updates(x, _labels(y), ops.stop_gradient(style), ops.stop_gradient(code), schedule)
        self.main_iteration.assign_add(1)
        return self.compute_metrics(x_packed, y, self.head(code, training=False), sample_weight=sample_weight)

    def compute_loss_terms(self, batch, z, logits, training):
        # Evaluation (test_step): the terms on the noise-free codes, the independence term as it
        # would enter the objective now (0 before `estimator_start_step`).
        style = self.style_encoder(batch.x, training=False)
        reconstruction = self.reconstructor([style, _labels(batch.y)], training=False)
        joint = self.estimator([style, z], training=False)
        on = ops.cast(self.schedule()["independence_on"], "float32")
        return {
            "reconstruction": objectives.reconstruction_loss(reconstruction, batch.x),
            "independence": on * objectives.independence_term(joint),
            "wall": objectives.wall_loss(style, z, self.radius),
            **self._extra_evaluation_terms(batch, style, reconstruction),
        }

    def _extra_evaluation_terms(self, batch, style, reconstruction):
        return {}

    def test_step(self, data):
        x_packed, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        batch, z, logits, task_loss, terms, objective = self._objective(x_packed, y, sample_weight, training=False)
        self._track(batch.x, task_loss, terms, objective)
        logs = self.compute_metrics(x_packed, y, logits, sample_weight=sample_weight)
        training_only = set()
        for name in self._auxiliary_names:
            training_only |= set(self._auxiliary_specs[name]["trackers"])
        return {key: value for key, value in logs.items() if key not in training_only}

    # --------------------------------------------------------------- outputs
    def swap_reconstructions(self, x, y):
        """`Rec(E_s(x_i), y_j)` for every pair: the disentangling grid, `[n, n, *input_shape]`.

        Row i keeps the style of example i, column j takes the label of
        example j (noise-free codes).

        Args:
            x: `[n, ...]` inputs.
            y: `[n]` labels.

        Returns:
            A NumPy array `[n, n, *input_shape]`.
        """
        style = self.style_encoder(ops.convert_to_tensor(x), training=False)
        count = style.shape[0]
        styles = ops.repeat(style, count, axis=0)                      # i-major
        labels = ops.tile(_labels(ops.convert_to_tensor(y)), (count,))  # j fastest
        images = self.reconstructor([styles, labels], training=False)
        return ops.convert_to_numpy(ops.reshape(images, (count, count) + tuple(images.shape[1:])))

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        from invariant_reps.callbacks.disentangling import attach_pictures  # noqa: PLC0415  (no import cycle)

        callbacks = attach_pictures(self, list(callbacks or []), x, y,
                                    self.picture_every_steps * self.main_iterations)
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    # -------------------------------------------------------- serialization
    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            num_classes=self.num_classes,
            style_encoder=keras.saving.serialize_keras_object(self.style_encoder),
            reconstructor=keras.saving.serialize_keras_object(self.reconstructor),
            estimator=keras.saving.serialize_keras_object(self.estimator),
            estimator_optimizer=keras.optimizers.serialize(self.auxiliary_optimizer("estimator")),
            lambda_dec=self.task_weight, clustering=self.clustering, spectral_norm=self.spectral_norm,
            seed=self.seed,
        )
        for name in NONNEGATIVE[1:] + POSITIVE_INT + ("radius", "estimator_start_step", "style_updates",
                                                         "picture_every_steps"):
            config[name] = getattr(self, name)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("style_encoder", "reconstructor", "estimator") + cls._extra_networks():
            if isinstance(config.get(key), dict):
                config[key] = keras.saving.deserialize_keras_object(config[key])
        for key in ("estimator_optimizer",) + tuple(f"{n}_optimizer" for n in cls._extra_networks()):
            if isinstance(config.get(key), dict):
                config[key] = keras.optimizers.deserialize(config[key])
        return super().from_config(config)

    @classmethod
    def _extra_networks(cls):
        return ()
