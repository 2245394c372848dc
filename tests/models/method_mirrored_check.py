"""Run as a script: every registered method on one device and under MirroredStrategy on two
logical CPUs (same data, same initial weights), printed as one JSON report. A separate process
is needed because logical devices must be configured before TensorFlow initialises."""

import json
import sys

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
)

import keras  # noqa: E402

import invariant_reps as ir  # noqa: E402
from tests.models import method_harness as harness  # noqa: E402


def train(name, strategy):
    with strategy.scope():
        case = harness.make_case(name)
    batches = case.dataset()
    history = case.model.fit(
        batches.dataset, epochs=harness.EPOCHS, steps_per_epoch=batches.steps_per_epoch, verbose=0
    ).history
    evaluation = case.model.evaluate(case.dataset(num_epochs=1).dataset, verbose=0, return_dict=True)
    weights = [v.numpy().tolist() for v in case.model.weights]
    weights += [array.tolist() for _, array in harness.auxiliary_state(case.model)]
    return {
        "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        "evaluation": {k: float(v) for k, v in evaluation.items()},
        "weights": weights,
    }


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
names = sys.argv[1:] or [n for n in ir.available_methods() if ir.get_method(n).distributed]
report = {"replicas": mirrored.num_replicas_in_sync, "methods": {}}
for method in names:
    report["methods"][method] = {
        "single": train(method, tf.distribute.get_strategy()),
        "mirrored": train(method, mirrored),
    }
json.dump(report, sys.stdout)
