"""DisenIB, convolutional: supervised disentangling of images (Pan et al., AAAI 2021; spec B.3).

The losses, schedule and gradient routing of `DisenIB` (see `disenib.py`),
with the settings of the seed's `methods/disenib_conv_{mnist,shapes}`:
one noise sample per example, no clustering, an estimator without spectral
normalisation, conv/linear layers initialised N(0, 0.05^2), inputs in
[0, 1] and a sigmoid reconstructor (`disenib_conv_networks`). MNIST adds an
image discriminator D with its own Adam; the main objective gets

    + lambda_gan * CE(D(Rec(S + sigma_s eps, e_Y)), "real")     from `gan_start_step`

(D frozen in it), and D, once per seed step (after the estimator; here in
the last train step of every group of `main_iterations`), takes a step on
`CE(D(x), real) + CE(D(Rec(...)), fake)` only while its accuracy on that
batch is below `discriminator_max_accuracy` (0.8).
"""

import keras
import tensorflow as tf
from keras import ops

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.kinds import SENSITIVE_KINDS
from invariant_reps.models import disenib_conv_networks as conv_networks
from invariant_reps.models import disenib_objectives as objectives
from invariant_reps.models.base import Batch
from invariant_reps.models.disenib import DisenIB
from invariant_reps.models.disenib_hyperparameters import common_hyperparameters
from invariant_reps.models.registry import register_method
from invariant_reps.models.replicas import scale_for_replicas


def _real_fake_cross_entropy(logits, real):
    labels = ops.full((ops.shape(logits)[0],), 1 if real else 0, dtype="int32")
    return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, ops.cast(logits, "float32"),
                                                                 from_logits=True))


@register_method(
    "disenib_conv",
    hyperparameters=common_hyperparameters(num_samples=1, estimator_iterations=1, clustering=False,
                                           spectral_norm=False) + (
        Hyperparameter("discriminator", bool, True, "train an image discriminator (the seed's MNIST setting)"),
        Hyperparameter("lambda_gan", float, 0.1, "lambda_disc: weight of CE(D(Rec), real) in the main objective",
                       lower=0.0),
        Hyperparameter("gan_start_step", int, 1000, "seed step from which the generator term is on (disc_thr)",
                       lower=0),
        Hyperparameter("discriminator_max_accuracy", float, 0.8, "D is updated only below this accuracy",
                       lower=0.0, upper=1.0),
        Hyperparameter("discriminator_learning_rate", float, 1e-4, "Adam learning rate of D", lower=0.0),
    ),
    sensitive=tuple(sorted(SENSITIVE_KINDS, key=lambda kind: kind != "none")),
    tasks=("multiclass",),
    summary="DisenIB with conv encoders, a sigmoid conv reconstructor and an image GAN term; supervised "
    "disentangling, Pan et al., AAAI 2021",
    distributed=False,
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class DisenIBConv(DisenIB):
    """Convolutional DisenIB (spec B.3); inputs in [0, 1].

    Args (besides `DisenIB`'s, whose defaults here are the seed's MNIST
    conv settings: 1 noise sample, no clustering, no spectral norm, 1
    estimator iteration per 10 main iterations):
        discriminator: an image discriminator network `x -> [B, 2]`, True
            for the default (`build_discriminator`), or False/None for none.
        discriminator_optimizer: D's optimizer; default Adam(1e-4, beta_1=0.5).
        lambda_gan: weight of the generator term (seed 0.1).
        gan_start_step: seed step from which the generator term is on (seed 1000).
        discriminator_max_accuracy: D steps only while its batch accuracy is
            below this (seed 0.8).

    Example:
        >>> net = build_network("disenib_conv_mnist", (28, 28, 1), 10)
        >>> model = DisenIBConv(net.encoder, net.head)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
    """

    def __init__(self, encoder, head, discriminator=True, discriminator_optimizer=None, lambda_gan=0.1,
                 gan_start_step=1000, discriminator_max_accuracy=0.8, num_samples=1, clustering=False,
                 spectral_norm=False, estimator_iterations=1, **kwargs):
        if not float(lambda_gan) >= 0:
            raise ValueError(f"`lambda_gan` must be >= 0; received {lambda_gan!r}.")
        if isinstance(gan_start_step, bool) or int(gan_start_step) != gan_start_step or gan_start_step < 0:
            raise ValueError(f"`gan_start_step` must be an int >= 0; received {gan_start_step!r}.")
        if not 0.0 <= float(discriminator_max_accuracy) <= 1.0:
            raise ValueError(
                f"`discriminator_max_accuracy` must be in [0, 1]; received {discriminator_max_accuracy!r}."
            )
        super().__init__(encoder, head, num_samples=num_samples, clustering=clustering, spectral_norm=spectral_norm,
                         estimator_iterations=estimator_iterations, **kwargs)
        self.lambda_gan = float(lambda_gan)
        self.gan_start_step = int(gan_start_step)
        self.discriminator_max_accuracy = float(discriminator_max_accuracy)
        self.use_discriminator = discriminator is not None and discriminator is not False
        if self.use_discriminator:
            if discriminator is True:
                discriminator = conv_networks.build_discriminator(self._encoder_input_shape(encoder))
            elif not isinstance(discriminator, keras.layers.Layer):
                raise ValueError(
                    f"`discriminator` must be a Keras model, True or False; received {type(discriminator).__name__}."
                )
            if discriminator_optimizer is None:
                discriminator_optimizer = keras.optimizers.Adam(1e-4, beta_1=0.5, epsilon=1e-8)
            self.add_loss_term("generator", self.lambda_gan)
            self.add_auxiliary("discriminator", discriminator, discriminator_optimizer,
                               metrics=("discriminator_accuracy",))

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        params = dict(params)
        learning_rate = params.pop("discriminator_learning_rate")
        if params["discriminator"]:
            params["discriminator_optimizer"] = keras.optimizers.Adam(learning_rate, beta_1=0.5, epsilon=1e-8)
        return super().from_experiment(encoder, head, params, context)

    # ------------------------------------------------------------- variants
    def _initializer(self):
        return conv_networks.normal_005

    def _check_input_shape(self, input_shape):
        if len(input_shape) not in (1, 3):
            raise ValueError(
                f"DisenIB (convolutional) takes images [N, H, W, C] (or flat inputs); the encoder's input shape "
                f"is {input_shape}."
            )

    def _default_reconstructor(self, input_shape, style_dim, code_dim):
        return conv_networks.build_conv_reconstructor(style_dim, code_dim, self.num_classes, input_shape)

    @property
    def discriminator(self):
        return self.auxiliary_network("discriminator") if self.use_discriminator else None

    def schedule(self, iteration=None):
        schedule = super().schedule(iteration)
        iteration = ops.cast(self.main_iteration if iteration is None else iteration, "int32")
        schedule["gan_on"] = ops.greater_equal(iteration // self.main_iterations, self.gan_start_step)
        schedule["discriminator_on"] = ops.equal(ops.mod(iteration, self.main_iterations), self.main_iterations - 1)
        return schedule

    # --------------------------------------------------------------- losses
    def _extra_main_terms(self, x, labels, style, code, reconstruction, schedule):
        if not self.use_discriminator:
            return {}
        # D's variables are not in the main optimizer: this trains the reconstructor (and E_s) only.
        generator = _real_fake_cross_entropy(self.discriminator(reconstruction, training=True), real=True)
        return {"generator": ops.cast(schedule["gan_on"], "float32") * generator}

    def _extra_evaluation_terms(self, batch, style, reconstruction):
        if not self.use_discriminator:
            return {}
        on = ops.cast(self.schedule()["gan_on"], "float32")
        return {"generator": on * _real_fake_cross_entropy(self.discriminator(reconstruction), real=True)}

    def _discriminator_update(self, x, labels, style):
        """One D iteration on real x vs Rec(S + sigma_s eps, e_y), applied only below the accuracy limit."""
        discriminator, optimizer = self.discriminator, self.auxiliary_optimizer("discriminator")
        fake = ops.stop_gradient(self.reconstructor(
            [objectives.resample(style, self.style_noise, 1, self._noise), labels], training=True
        ))
        with tf.GradientTape() as tape:
            real_logits = discriminator(x, training=True)
            fake_logits = discriminator(fake, training=True)
            loss = _real_fake_cross_entropy(real_logits, True) + _real_fake_cross_entropy(fake_logits, False)
            scaled = optimizer.scale_loss(scale_for_replicas(loss))
        hits = ops.concatenate([ops.equal(ops.argmax(real_logits, axis=-1), 1),
                                ops.equal(ops.argmax(fake_logits, axis=-1), 0)], axis=0)
        accuracy = ops.mean(ops.cast(hits, "float32"))
        variables = discriminator.trainable_variables
        gradients = tape.gradient(scaled, variables)

        def apply():
            optimizer.apply_gradients(zip(gradients, variables))
            return ops.zeros(())

        ops.cond(ops.less(accuracy, self.discriminator_max_accuracy), apply, lambda: ops.zeros(()))
        self._track_auxiliary("discriminator", Batch(x, None, None, None), loss,
                              {"discriminator_accuracy": accuracy})
        return loss

    def _auxiliary_updates(self, x, labels, style, code, schedule):
        super()._auxiliary_updates(x, labels, style, code, schedule)
        if self.use_discriminator:
            ops.cond(schedule["discriminator_on"], lambda: self._discriminator_update(x, labels, style),
                     lambda: ops.zeros(()))

    # -------------------------------------------------------- serialization
    def get_config(self):
        config = super().get_config()
        config.update(
            discriminator=(keras.saving.serialize_keras_object(self.discriminator)
                           if self.use_discriminator else False),
            discriminator_optimizer=(keras.optimizers.serialize(self.auxiliary_optimizer("discriminator"))
                                     if self.use_discriminator else None),
            lambda_gan=self.lambda_gan, gan_start_step=self.gan_start_step,
            discriminator_max_accuracy=self.discriminator_max_accuracy,
        )
        return config

    @classmethod
    def _extra_networks(cls):
        return ("discriminator",)
