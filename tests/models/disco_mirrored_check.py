"""Run as a script: DisCo with event weights and background_only, on one device and under
MirroredStrategy on two logical CPUs; prints a JSON report (see test_disco.py). A separate
process is needed because logical devices must be configured before TensorFlow initialises."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import invariant_reps  # noqa: E402
from invariant_reps.models.disco import DisCo  # noqa: E402


def train(strategy):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 3)).astype("float32")
    y = (rng.random(64) < 0.5).astype("float32")
    s = (x[:, 0] + 0.3 * rng.normal(size=64)).astype("float32")
    w = rng.uniform(0.2, 3.0, 64).astype("float32")
    data = invariant_reps.data.make_array_dataset(x, y, s, 16, shuffle_seed=1, num_epochs=2, sample_weight=w)
    with strategy.scope():
        inputs = keras.Input((3,))
        encoder = keras.Model(inputs, keras.layers.Dense(4, activation="tanh")(inputs))
        z = keras.Input((4,))
        head = keras.Model(z, keras.layers.Dense(1)(z))
        model = DisCo(encoder, head, lam=5.0, background_only=True)
        model.compile(optimizer=keras.optimizers.SGD(0.05))
    history = model.fit(data.dataset, epochs=2, steps_per_epoch=data.steps_per_epoch, verbose=0).history
    return {
        "disco": [float(v) for v in history["disco"]],
        "weights": [v.numpy().tolist() for v in model.trainable_variables],
    }


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
json.dump({"replicas": mirrored.num_replicas_in_sync, "single": train(tf.distribute.get_strategy()),
           "mirrored": train(mirrored)}, sys.stdout)
