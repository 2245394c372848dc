"""A user's module: a method, a dataset and a metric registered outside the package.

Used by `test_plugins.py` through `python -m invariant_reps.train --import=tests.cli.plugin_example`.
"""

import keras
import numpy as np
from keras import ops

import invariant_reps as ir


@ir.register_method(
    "toy_shrink",
    hyperparameters=[ir.Hyperparameter("weight", float, 1.0, "lambda: weight of mean(z^2)", lower=0.0)],
    sensitive=("discrete", "continuous"),
    tasks=("multiclass",),
    summary="CE + lambda * mean(z^2)",
)
@keras.saving.register_keras_serializable(package="plugin_example")
class ToyShrink(ir.InvariantModel):
    def __init__(self, encoder, head, weight=1.0, **kwargs):
        super().__init__(encoder, head, **kwargs)
        self.weight = weight
        self.add_loss_term("z_square", weight)

    def compute_loss_terms(self, batch, z, logits, training):
        return {"z_square": ops.mean(ops.square(z))}

    def get_config(self):
        return {**super().get_config(), "weight": self.weight}


@ir.register_dataset(
    "toy_blobs",
    task="multiclass",
    sensitive="discrete",
    summary="three Gaussian blobs in 4-D; s = sign of the first coordinate",
    evaluation_sets={"test": "held-out blobs"},
    metrics=("accuracy", "toy_error_rate"),
    hyperparameters=[
        ir.Hyperparameter("num_examples", int, 300, "examples per split", lower=10),
        ir.Hyperparameter("nan_row", int, -1, "a training row made NaN (-1: none), to test the in-graph check",
                          lower=-1),
    ],
)
def build_toy_blobs(num_examples, nan_row, seed=0):
    rng = np.random.default_rng(seed)

    def split():
        y = rng.integers(0, 3, num_examples)
        x = (rng.normal(size=(num_examples, 4)) + 3.0 * np.eye(4)[y]).astype("float32")
        return ir.ArraySplit(x, y, (x[:, 0] > 0).astype(np.int64))

    train = split()
    if nan_row >= 0:
        train.x[nan_row] = np.nan
    return ir.ExperimentData(
        train=train, validation=split(), tests={"test": split()}, input_shape=(4,), num_classes=3,
        source="generated", num_sensitive_classes=2, leakage_splits=("validation", "test"),
    )


@ir.register_metric("toy_error_rate", label="error rate", percent=True, higher_is_better=False)
def toy_error_rate(predictions):
    return float(np.mean(predictions.predicted_classes != predictions.y))
