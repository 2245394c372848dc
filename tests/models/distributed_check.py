"""Run as a script: trains ToyMethod on one device and under MirroredStrategy on two
logical CPUs, and prints a JSON report. A separate process is needed because
logical devices must be configured before TensorFlow initialises."""

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
from tests.models.toy import ToyMethod, tiny_networks  # noqa: E402


def train(strategy):
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y, s = rng.integers(0, 2, 64), rng.integers(0, 2, 64)
    dataset = invariant_reps.data.make_array_dataset(x, y, s, 16, shuffle_seed=1, num_epochs=2)
    with strategy.scope():
        model = ToyMethod(*tiny_networks(), weight=0.5, adversary_steps=2)
        model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9))
    history = model.fit(dataset.dataset, epochs=2, steps_per_epoch=dataset.steps_per_epoch, verbose=0).history
    evaluation = model.evaluate(dataset.dataset.take(4), verbose=0, return_dict=True)
    in_scope = [
        strategy.extended.variable_created_in_scope(v.value)
        for v in model.adversary_optimizer.variables + model.optimizer.variables
    ]
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "evaluation": {k: float(v) for k, v in evaluation.items()},
        "weights": [v.numpy().tolist() for v in model.trainable_variables + model.adversary_network.trainable_variables],
        "auxiliary_optimizer_in_scope": all(in_scope) and len(in_scope) > 0,
        "auxiliary_variable_types": sorted({type(v.value).__name__ for v in model.adversary_optimizer.variables}),
    }


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
report = {
    "replicas": mirrored.num_replicas_in_sync,
    "single": train(tf.distribute.get_strategy()),
    "mirrored": train(mirrored),
}
json.dump(report, sys.stdout)
