"""A tiny method used by the base-class tests: one term, one auxiliary network."""

import keras
from keras import ops

from invariant_reps.models.base import InvariantModel


@keras.saving.register_keras_serializable(package="invariant_reps_tests")
class ToyMethod(InvariantModel):
    """Loss = CE + weight * mean(z^2); an adversary predicts s from z."""

    num_sensitive_classes = 2

    def __init__(self, encoder, head, weight=0.5, adversary_steps=2, adversary=None, **kwargs):
        super().__init__(encoder, head, **kwargs)
        self.weight = weight
        self.adversary_steps = adversary_steps
        self.add_loss_term("z_square", weight)
        adversary = adversary or keras.Sequential([keras.layers.Dense(2)], name="adversary")
        self.add_auxiliary(
            "adversary", adversary, keras.optimizers.SGD(0.1), steps=adversary_steps,
            metrics=("adversary_accuracy",),
        )

    def compute_loss_terms(self, batch, z, logits, training):
        return {"z_square": ops.mean(ops.square(z))}

    def auxiliary_loss(self, name, batch, z, logits, training):
        out = self.adversary_network(z, training=training)
        s = ops.cast(batch.s, "int32")
        loss = ops.mean(keras.losses.sparse_categorical_crossentropy(s, out, from_logits=True))
        hits = ops.cast(ops.equal(ops.cast(ops.argmax(out, -1), "int32"), s), "float32")
        return loss, {"adversary_accuracy": ops.mean(hits)}

    def get_config(self):
        config = super().get_config()
        config.update(
            weight=self.weight,
            adversary_steps=self.adversary_steps,
            adversary=keras.saving.serialize_keras_object(self.adversary_network),
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["adversary"] = keras.saving.deserialize_keras_object(config["adversary"])
        return super().from_config(config)


def tiny_networks(input_dim=4, z_dim=3, num_classes=2, seed=0):
    x = keras.Input((input_dim,))
    z = keras.layers.Dense(z_dim, kernel_initializer=keras.initializers.GlorotUniform(seed), name="bottleneck")(x)
    encoder = keras.Model(x, z, name="encoder")
    z_in = keras.Input((z_dim,))
    logits = keras.layers.Dense(num_classes, kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(z_in)
    head = keras.Model(z_in, logits, name="head")
    return encoder, head


def random_batch(size=32, num_features=6, num_classes=3, num_sensitive=4, seed=0):
    """Random `(x, y, s)` for tests that only need data of the right shapes."""
    import numpy as np

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(size, num_features)).astype("float32")
    return x, rng.integers(0, num_classes, size), rng.integers(0, num_sensitive, size)
