"""Leakage probe: how much of the sensitive variable a frozen representation still carries.

After training, a *fresh* classifier (regressor for continuous `s`) is fitted
on the frozen bottleneck `z` of a probe-training split and scored on a
held-out split. Held-out accuracy near chance means `s` is not (linearly, or
for `probe="mlp"` non-linearly) recoverable from `z`; the training-time
adversary or privacy head of a method is not a fair judge of this, because the
method was optimised against it.
"""

import dataclasses

import numpy as np
from sklearn import linear_model, neural_network, preprocessing, pipeline

from invariant_reps.evaluation import transfer

PROBES = ("linear", "mlp")


@dataclasses.dataclass(frozen=True)
class LeakageResult:
    """Outcome of `leakage_probe`.

    Attributes:
        score: held-out accuracy (discrete `s`) or R^2 (continuous `s`).
        chance: the score of always predicting the most frequent training
            class (discrete) or the training mean (continuous: 0 R^2 up to
            sampling noise).
        metric: "accuracy" or "r2".
        probe: the probe family used.
        num_train: examples the probe was fitted on.
        num_test: held-out examples it was scored on.
    """

    score: float
    chance: float
    metric: str
    probe: str
    num_train: int
    num_test: int

    def as_dict(self):
        return dataclasses.asdict(self)


def _make_probe(probe, discrete, seed):
    if probe == "linear":
        estimator = (
            linear_model.LogisticRegression(max_iter=2000)
            if discrete
            else linear_model.Ridge(alpha=1.0)
        )
    else:
        cls = neural_network.MLPClassifier if discrete else neural_network.MLPRegressor
        estimator = cls(hidden_layer_sizes=(128,), max_iter=300, early_stopping=True, random_state=seed)
    return pipeline.make_pipeline(preprocessing.StandardScaler(), estimator)


def leakage_probe(encoder, train, test, *, discrete=True, probe="linear", batch_size=512, seed=0):
    """Fits a fresh probe on frozen `z = encoder(x)` to predict `s`.

    Args:
        encoder: Keras model x -> z (e.g. `model.encoder`).
        train: `(x, s)` arrays the probe is fitted on.
        test: `(x, s)` held-out arrays the probe is scored on.
        discrete: whether `s` holds class ids (accuracy) or continuous
            values (R^2).
        probe: "linear" (logistic / ridge regression) or "mlp" (one hidden
            layer of 128 units, a stronger attacker).
        batch_size: batch size for computing `z`.
        seed: seed of the MLP probe.

    Returns:
        A `LeakageResult`.

    Example:
        >>> result = leakage_probe(model.encoder, (x_a, colour_a), (x_b, colour_b))
        >>> print(f"colour accuracy {result.score:.3f} (chance {result.chance:.3f})")
    """
    if probe not in PROBES:
        raise ValueError(f"Unknown probe {probe!r}; valid probes are {list(PROBES)}.")
    (x_train, s_train), (x_test, s_test) = train, test
    s_train = np.asarray(s_train).reshape(len(s_train), -1)
    s_test = np.asarray(s_test).reshape(len(s_test), -1)
    for name, s in (("train", s_train), ("test", s_test)):
        if s.size == 0:
            raise ValueError(f"The leakage probe's {name} split is empty.")
        if np.issubdtype(s.dtype, np.floating) and not np.isfinite(s).all():
            raise ValueError(f"The leakage probe's {name} sensitive values contain NaN/inf.")
    z_train = transfer.encode(encoder, x_train, batch_size)  # raises on NaN/inf (a diverged model)
    z_test = transfer.encode(encoder, x_test, batch_size)
    model = _make_probe(probe, discrete, seed)
    if discrete:
        if s_train.shape[1] != 1:
            raise ValueError(
                f"A discrete sensitive variable must be one class id per example; got shape {s_train.shape}."
            )
        s_train, s_test = s_train[:, 0].astype(np.int64), s_test[:, 0].astype(np.int64)
        classes, counts = np.unique(s_train, return_counts=True)
        if len(classes) < 2:
            raise ValueError(
                f"The probe needs at least two sensitive classes in its train split; found {classes.tolist()}."
            )
        model.fit(z_train, s_train)
        score = float(np.mean(model.predict(z_test) == s_test))
        chance = float(np.mean(s_test == classes[np.argmax(counts)]))
        metric = "accuracy"
    else:
        s_train, s_test = s_train.astype(np.float64), s_test.astype(np.float64)
        model.fit(z_train, s_train if s_train.shape[1] > 1 else s_train[:, 0])
        prediction = np.asarray(model.predict(z_test)).reshape(s_test.shape)
        score = _r2(s_test, prediction)
        chance = _r2(s_test, np.broadcast_to(s_train.mean(axis=0), s_test.shape))
        metric = "r2"
    return LeakageResult(score, chance, metric, probe, len(z_train), len(z_test))


def _r2(target, prediction):
    residual = np.sum((target - prediction) ** 2)
    total = np.sum((target - target.mean(axis=0)) ** 2)
    return float(1.0 - residual / total) if total > 0 else 0.0
