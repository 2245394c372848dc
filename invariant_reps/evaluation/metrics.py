"""Named evaluation metrics that datasets declare, computed from a model's predictions.

A dataset declares the metric names to report (`register_dataset(...,
metrics=("accuracy", "roc_auc"))`); the end-of-run evaluation and the
per-epoch callback compute them on every evaluation set from one
`Predictions` record, so TensorBoard, `results.json` and the results table
show the same numbers under `<set>_<metric>`.

Register a metric with a function of a `Predictions`:

    @register_metric("error_rate", label="error rate", percent=True, higher_is_better=False)
    def error_rate(predictions):
        return 1.0 - accuracy(predictions)
"""

import dataclasses

import numpy as np

from invariant_reps import registries

_METRICS = {}


@dataclasses.dataclass(frozen=True)
class Predictions:
    """What a metric sees of one evaluation set.

    Attributes:
        logits: model outputs `[N, C]` (`C = 1`: the logit of a binary task).
        y: task targets `[N]`.
        s: sensitive variable `[N]`, or None.
        sample_weight: per-example weights `[N]`, or None.
        columns: extra per-example arrays of the split (e.g. "delta_e").
        task: "multiclass" or "binary".
    """

    logits: np.ndarray
    y: np.ndarray
    s: np.ndarray = None
    sample_weight: np.ndarray = None
    columns: dict = dataclasses.field(default_factory=dict)
    task: str = "multiclass"

    @property
    def scores(self):
        """One score per example: the logit of a binary task (higher = class 1)."""
        if self.logits.ndim == 1:
            return self.logits
        if self.logits.shape[-1] == 1:
            return self.logits[:, 0]
        raise ValueError("`scores` needs a binary task's single logit; this model outputs "
                         f"{self.logits.shape[-1]} logits.")

    @property
    def predicted_classes(self):
        if self.task == "binary":
            return (self.scores > 0).astype(np.int64)
        return np.argmax(self.logits, axis=-1)


@dataclasses.dataclass(frozen=True)
class MetricSpec:
    """A registered metric: `fn(predictions) -> float`, and how to show it."""

    name: str
    fn: object
    label: str
    percent: bool
    higher_is_better: bool

    def format(self, value):
        if value is None or not np.isfinite(value):
            return "n/a"
        return f"{100 * value:.2f}%" if self.percent else f"{value:.4g}"


def register_metric(name, *, label, percent=False, higher_is_better=True, overwrite=False):
    """Decorator registering `fn(predictions) -> float` as metric `name`.

    Args:
        name: identifier used in `<set>_<name>` log keys.
        label: how tables name it.
        percent: show as a percentage.
        higher_is_better: direction, for best-epoch selection and plots.
        overwrite: replace a metric registered under `name`.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"A metric name must be an identifier; received {name!r}.")

    def decorator(fn):
        if name in _METRICS and not overwrite and _METRICS[name].fn is not fn:
            raise ValueError(f"A metric named {name!r} is already registered.")
        _METRICS[name] = MetricSpec(name, fn, label, percent, higher_is_better)
        return fn

    return decorator


def get_metric(name):
    """The `MetricSpec` registered as `name`; the error lists the known ones."""
    return registries.lookup(_METRICS, name, "metric")


def available_metrics():
    return sorted(_METRICS)


def compute_metrics(names, predictions):
    """`{name: float}` of the named metrics on one `Predictions`."""
    return {name: float(get_metric(name).fn(predictions)) for name in names}


def predict(model, split, batch_size=256):
    """Runs `model` over a split and returns its `Predictions`.

    The split must provide `targets()` -> `(y, s, sample_weight, columns)`
    (as `ArraySplit` and `BiasedSplit` do) and `dataset(batch_size)`.
    """
    y, s, sample_weight, columns = split.targets()
    dataset = split.dataset(batch_size).dataset.map(lambda inputs, *rest: inputs)
    logits = np.asarray(model.predict(dataset, verbose=0))
    if logits.ndim == 1:
        logits = logits[:, None]
    task = "binary" if logits.shape[-1] == 1 else "multiclass"
    return Predictions(
        logits=logits, y=np.asarray(y), s=None if s is None else np.asarray(s),
        sample_weight=None if sample_weight is None else np.asarray(sample_weight),
        columns=dict(columns or {}), task=task,
    )


@register_metric("accuracy", label="accuracy", percent=True)
def accuracy(predictions):
    """Top-1 accuracy (binary: logit > 0), weighted by the sample weights when present."""
    hits = (predictions.predicted_classes == predictions.y.reshape(-1)).astype(np.float64)
    weights = predictions.sample_weight
    return float(np.average(hits, weights=weights)) if weights is not None else float(hits.mean())

