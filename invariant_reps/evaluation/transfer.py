"""Transfer probe: how well a frozen representation serves another task.

The dt-tradeoff protocol (Cui et al., ECCV 2022, sec. 3): for each checkpoint
of a network trained on a source task, freeze the representation and fit a
linear classifier on a target task; plotting the target accuracy over source
epochs shows transferability falling late in training while source accuracy
(discriminability) keeps rising.

The probe is a multinomial logistic regression (scikit-learn, L-BFGS) on
standardised features: deterministic, and with no learning-rate or epoch
budget to tune per checkpoint, so that curves compare representations and
not probe optimisation.
"""

import dataclasses

import keras
import numpy as np
from sklearn import linear_model, pipeline, preprocessing

from invariant_reps.evaluation.information_dynamics import load_checkpoint


@dataclasses.dataclass(frozen=True)
class TransferPoint:
    """Source and target accuracy of one checkpoint.

    Attributes:
        epoch: the checkpoint's epoch (1-based count of completed epochs).
        source_accuracy: accuracy of the model's own head on the source
            test split (discriminability).
        target_probe_accuracy: accuracy of a linear probe of the frozen
            representation on the target test split (transferability).
    """

    epoch: int
    source_accuracy: float
    target_probe_accuracy: float

    def as_row(self):
        """The point as CSV columns (`epoch`, `source_acc`, `target_probe_acc`)."""
        return {
            "epoch": self.epoch,
            "source_acc": self.source_accuracy,
            "target_probe_acc": self.target_probe_accuracy,
        }


def encode(encoder, x, batch_size=256):
    """Features of `x` from a frozen encoder, flattened to `[N, D]` float64.

    Args:
        encoder: a Keras model, or any callable mapping a batch to features.
        x: inputs `[N, ...]`.
        batch_size: examples per forward pass.

    Returns:
        A float64 array `[N, D]`.
    """
    x = np.asarray(x)
    if isinstance(encoder, keras.Model):
        features = encoder.predict(x, batch_size=batch_size, verbose=0)
    else:
        features = np.concatenate(
            [
                keras.ops.convert_to_numpy(encoder(x[start : start + batch_size]))
                for start in range(0, len(x), batch_size)
            ]
        )
    features = np.asarray(features, np.float64).reshape(len(x), -1)
    if not np.isfinite(features).all():
        raise ValueError("The representation contains NaN/inf values; the model diverged.")
    return features


def linear_probe(encoder, train, test, *, regularization=1.0, max_iter=1000, batch_size=256):
    """Accuracy of a linear classifier fitted on frozen features.

    Args:
        encoder: the frozen representation `x -> z` (e.g. `model.encoder`),
            a Keras model or callable.
        train: `(x, y)` the probe is fitted on; `y` holds class ids.
        test: `(x, y)` the probe is scored on.
        regularization: inverse L2 strength `C` of the logistic regression.
        max_iter: L-BFGS iterations.
        batch_size: batch size of the forward passes.

    Returns:
        Test accuracy in [0, 1].

    Example:
        >>> task = load_transfer_task("digits_transfer", source="digits")
        >>> linear_probe(model.encoder, task.target_train, task.target_test)
        0.87...
    """
    if not regularization > 0:
        raise ValueError(f"`regularization` (C) must be > 0; received {regularization!r}.")
    (x_train, y_train), (x_test, y_test) = train, test
    y_train = _class_ids(y_train, "train")
    y_test = _class_ids(y_test, "test")
    if len(np.unique(y_train)) < 2:
        raise ValueError(
            f"The probe's train split needs at least two classes; found {np.unique(y_train).tolist()}."
        )
    probe = pipeline.make_pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(C=regularization, max_iter=max_iter),
    )
    probe.fit(encode(encoder, x_train, batch_size), y_train)
    return float(np.mean(probe.predict(encode(encoder, x_test, batch_size)) == y_test))


def source_accuracy(model, test, batch_size=256):
    """Accuracy of `model` (x -> logits) on its own task's `test = (x, y)`."""
    x, y = test
    logits = model.predict(np.asarray(x), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, axis=-1) == _class_ids(y, "source test")))


def transfer_point(model, epoch, source_test, target_train, target_test, **probe_kwargs):
    """Source accuracy and target probe accuracy of one trained model.

    Args:
        model: an `InvariantModel` (its `encoder` is probed), or any Keras
            classifier with an `encoder` attribute.
        epoch: the model's epoch, recorded in the result.
        source_test: `(x, y)` of the source task.
        target_train: `(x, y)` the target probe is fitted on.
        target_test: `(x, y)` the target probe is scored on.
        **probe_kwargs: passed to `linear_probe`.

    Returns:
        A `TransferPoint`.
    """
    if not hasattr(model, "encoder"):
        raise ValueError(
            f"The model {getattr(model, 'name', model)!r} has no `encoder` to probe; pass a "
            "model trained by invariant_reps (encoder + head)."
        )
    return TransferPoint(
        epoch=int(epoch),
        source_accuracy=source_accuracy(model, source_test),
        target_probe_accuracy=linear_probe(model.encoder, target_train, target_test, **probe_kwargs),
    )


def transfer_curve(checkpoints, source_test, target_train, target_test, **probe_kwargs):
    """The transfer probe for every checkpoint of a run.

    Args:
        checkpoints: `(epoch, model_or_path)` pairs, e.g. from
            `information_dynamics.list_checkpoints(run_dir)`; paths are
            loaded with `information_dynamics.load_checkpoint`.
        source_test: `(x, y)` of the source task.
        target_train: `(x, y)` of the target task the probe is fitted on.
        target_test: `(x, y)` of the target task the probe is scored on.
        **probe_kwargs: passed to `linear_probe`.

    Returns:
        A list of `TransferPoint`, in the order of `checkpoints`.

    Example:
        >>> curve = transfer_curve(list_checkpoints("runs/vanilla"), task.source_test,
        ...                        task.target_train, task.target_test)
        >>> [(p.epoch, p.target_probe_accuracy) for p in curve]
    """
    points = []
    for epoch, model in checkpoints:
        if isinstance(model, str):
            model = load_checkpoint(model)
        points.append(
            transfer_point(model, epoch, source_test, target_train, target_test, **probe_kwargs)
        )
    return points


def _class_ids(labels, split):
    labels = np.asarray(labels).reshape(-1)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"The probe's {split} labels must be integer class ids; got {labels.dtype}.")
    return labels.astype(np.int64)
