"""Run as a script, once per worker: trains a method with auxiliary networks under
MultiWorkerMirroredStrategy on 127.0.0.1 and writes the final weights to an .npz file.

    python -m tests.models.multi_worker_check METHOD INDEX PORT0,PORT1 OUT_DIR

Phase "straight" trains 2 epochs; phase "resumed" trains 1 epoch, saves a .keras checkpoint (every worker
saves, the chief to OUT_DIR, the others to a scratch directory, as tf.distribute requires), loads it back
inside the strategy's scope and trains the second epoch. `test_multi_worker.py` compares the workers and
the phases.
"""

import json
import os
import sys
import time

method, index, ports, out_dir = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"127.0.0.1:{port}" for port in ports]},
    "task": {"type": "worker", "index": index},
})
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import invariant_reps  # noqa: E402,F401
from tests.models import method_harness as harness  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()


def fit(case, start_epoch, epochs):
    batches = case.dataset(start_epoch, epochs - start_epoch)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    case.model.fit(
        batches.dataset.with_options(options), epochs=epochs, initial_epoch=start_epoch,
        steps_per_epoch=batches.steps_per_epoch, verbose=0,
    )


def weights(model):
    values = [v.numpy() for v in model.weights]
    values += [array for _, array in harness.auxiliary_state(model)]
    return {f"w{i:03d}": value for i, value in enumerate(values)}


with strategy.scope():
    straight = harness.make_case(method)
fit(straight, 0, harness.EPOCHS)
np.savez(os.path.join(out_dir, f"straight_{index}.npz"), **weights(straight.model))

with strategy.scope():
    first = harness.make_case(method)
fit(first, 0, 1)
checkpoint = os.path.join(out_dir, "checkpoint.keras")
target = os.path.join(out_dir, "checkpoint.partial.keras" if index == 0 else f"scratch_{index}.keras")
first.model.save(target)
if index == 0:
    os.replace(target, checkpoint)  # Atomic: a reader never sees a half-written file.
deadline = time.time() + 120
while not os.path.exists(checkpoint):  # The other workers wait for the chief's file.
    if time.time() > deadline:
        raise TimeoutError(f"{checkpoint} did not appear")
    time.sleep(0.1)
with strategy.scope():
    first.model = keras.saving.load_model(checkpoint)
fit(first, 1, harness.EPOCHS)
np.savez(os.path.join(out_dir, f"resumed_{index}.npz"), **weights(first.model))
print("done", index)
