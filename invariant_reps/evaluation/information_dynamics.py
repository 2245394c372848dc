"""Information dynamics: I(X;T) and I(T;Y) of a representation over training.

The dt-tradeoff analysis (Cui et al., ECCV 2022, sec. 4): for each per-epoch
checkpoint, take the representation `T` at one layer and estimate
`I(X; T)` (input vs representation) and `I(T; Y)` (representation vs label)
with a neural MI estimator. Late in training I(X;T) falls
("over-compression") while I(T;Y) saturates; CTC is meant to stop the fall.

Estimation (`invariant_reps.estimators.estimate_mi`): `X` is flattened, `Y`
is one-hot, `T` is flattened; the same seeded subset of at most
`max_samples` examples is used for every checkpoint so the points are
comparable. The default estimator is SMILE (the DV bound with its marginal
term clipped at 5, Song & Ermon 2020), which has far lower variance than
the seed's MINE at the same bias; `method="mine"` reproduces the seed. The
reported number is the *held-out* bound (never the critic's training data),
in nats; `estimate_mi`'s plateau test stops the critic when it has
converged and its warnings (not converged, unstable, InfoNCE ceiling) are
returned with each point, answering the seed's open question "how can I
know MINE is well optimized?".

Writes PNGs (information plane, curves over epochs) with matplotlib's Agg
canvas and TensorBoard scalars; no other I/O.
"""

import dataclasses
import os
import warnings

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from invariant_reps.callbacks import checkpoint
from invariant_reps.estimators import NEURAL_METHODS
from invariant_reps.estimators import MIEstimate
from invariant_reps.estimators import estimate_mi

DEFAULT_METHOD = "smile"
_DEFAULT_BATCH_SIZE = 128
# Columns plotted over epochs, by panel: MI in nats, then accuracies.
_MI_COLUMNS = ("I_XT", "I_TY")
_ACCURACY_COLUMNS = ("source_acc", "target_probe_acc")


@dataclasses.dataclass(frozen=True)
class InformationPoint:
    """I(X;T) and I(T;Y) of one checkpoint, in nats.

    Attributes:
        epoch: the checkpoint's epoch (1-based count of completed epochs).
        i_xt: held-out estimate of I(X;T).
        i_ty: held-out estimate of I(T;Y).
        xt_estimate: the full `MIEstimate` of I(X;T) (curve, convergence).
        ty_estimate: the full `MIEstimate` of I(T;Y).
    """

    epoch: int
    i_xt: float
    i_ty: float
    xt_estimate: MIEstimate | None = dataclasses.field(default=None, compare=False, repr=False)
    ty_estimate: MIEstimate | None = dataclasses.field(default=None, compare=False, repr=False)

    @property
    def warnings(self):
        """The estimators' warnings, each prefixed `I(X;T):` or `I(T;Y):`."""
        messages = []
        for name, estimate in (("I(X;T)", self.xt_estimate), ("I(T;Y)", self.ty_estimate)):
            messages += [f"{name}: {message}" for message in getattr(estimate, "warnings", ())]
        return tuple(messages)

    def as_row(self):
        """The point as CSV columns (`epoch`, `I_XT`, `I_TY`)."""
        return {"epoch": self.epoch, "I_XT": self.i_xt, "I_TY": self.i_ty}


def list_checkpoints(run_dir):
    """The per-epoch checkpoints of a run, in epoch order.

    Args:
        run_dir: a run directory holding `checkpoints/epoch_0001.keras`, ...
            (as `python -m invariant_reps.train` writes), or the
            `checkpoints` folder itself.

    Returns:
        A list of `(epoch, path)` pairs.

    Raises:
        FileNotFoundError: when no `epoch_NNNN.keras` file is found.
    """
    folder = os.path.join(run_dir, "checkpoints")
    if not os.path.isdir(folder):
        folder = run_dir
    found = checkpoint.list_checkpoints(folder)
    if not found:
        raise FileNotFoundError(
            f"No checkpoints (epoch_NNNN.keras) in {folder!r}. Train with "
            "`python -m invariant_reps.train --logdir=RUN_DIR`, which saves one per epoch "
            "under RUN_DIR/checkpoints/."
        )
    return found


def load_checkpoint(path):
    """Loads a `.keras` checkpoint of an invariant_reps model, without optimizer state."""
    # Importing the models registers every method class for deserialization.
    from invariant_reps import models  # noqa: F401

    return keras.saving.load_model(path, compile=False)


def representation_model(model, layer=None):
    """The model `x -> T` whose output is the analysed representation.

    Args:
        model: an `InvariantModel` (its `encoder` is used) or an encoder.
        layer: None for the encoder output `z`, or the name of a layer of a
            functional encoder.

    Returns:
        A Keras model mapping inputs to `T`.
    """
    encoder = getattr(model, "encoder", model)
    if layer is None:
        return encoder
    names = [sub_layer.name for sub_layer in getattr(encoder, "layers", [])]
    if layer not in names or not getattr(encoder, "inputs", None):
        raise ValueError(
            f"Unknown layer {layer!r} of encoder {encoder.name!r}; a functional encoder's "
            f"layers are: {', '.join(names) or '(none)'}."
        )
    return keras.Model(encoder.inputs, encoder.get_layer(layer).output)


def information_point(model, x, y, *, epoch, layer=None, num_classes=None,
                      method=DEFAULT_METHOD, max_samples=2000, max_steps=2000,
                      seed=0, **estimator_kwargs):
    """Estimates I(X;T) and I(T;Y) for one trained model.

    Args:
        model: an `InvariantModel` or an encoder.
        x: inputs `[N, ...]` (e.g. the source test split).
        y: integer labels `[N]`.
        epoch: the model's epoch, recorded in the result.
        layer: see `representation_model`.
        num_classes: width of the one-hot `Y` (default: `max(y) + 1`).
        method: an `estimate_mi` method (`"smile"`, `"mine"`, `"nwj"`,
            `"infonce"`, `"ksg"`, ...).
        max_samples: use at most this many examples (a seeded subset, the
            same for every call with the same data and seed).
        max_steps: critic training steps per estimate (neural methods).
        seed: seed of the subset and of the estimator.
        **estimator_kwargs: passed to `estimate_mi` (`learning_rate`,
            `batch_size`, `critic`, ...). `batch_size` defaults to 128, or
            to a fifth of the samples when fewer than 640 are given.

    Returns:
        An `InformationPoint`.
    """
    x, y = _subset(np.asarray(x), np.asarray(y), max_samples, seed)
    num_classes = int(num_classes or y.max() + 1)
    representation = representation_model(model, layer).predict(x, batch_size=256, verbose=0)
    t = np.asarray(representation, np.float32).reshape(len(x), -1)
    one_hot_y = np.eye(num_classes, dtype=np.float32)[y]
    options = dict(estimator_kwargs, method=method, seed=seed)
    if method in NEURAL_METHODS:
        options["max_steps"] = max_steps
        # Few samples: shrink the batch so the held-out split holds one.
        options.setdefault("batch_size", min(_DEFAULT_BATCH_SIZE, len(x) // 5))
    with warnings.catch_warnings():
        # Each estimate's warnings are kept in the result instead.
        warnings.simplefilter("ignore")
        xt = estimate_mi(x.reshape(len(x), -1), t, **options)
        ty = estimate_mi(t, one_hot_y, **options)
    return InformationPoint(int(epoch), float(xt.mi_nats), float(ty.mi_nats), xt, ty)


def information_dynamics(checkpoints, x, y, **kwargs):
    """`information_point` for every checkpoint of a run.

    Args:
        checkpoints: `(epoch, model_or_path)` pairs (see `list_checkpoints`).
        x: inputs to evaluate on.
        y: integer labels.
        **kwargs: passed to `information_point`.

    Returns:
        A list of `InformationPoint`, in the order of `checkpoints`.

    Example:
        >>> points = information_dynamics(list_checkpoints("runs/ctc"), x, y)
        >>> plot_information_plane([p.as_row() for p in points], "plane.png")
    """
    points = []
    for epoch, model in checkpoints:
        if isinstance(model, str):
            model = load_checkpoint(model)
        points.append(information_point(model, x, y, epoch=epoch, **kwargs))
    return points


def plot_information_plane(rows, path, title="Information plane"):
    """Saves the information plane: I(X;T) on x, I(T;Y) on y, coloured by epoch.

    Args:
        rows: a list of row dicts with `epoch`, `I_XT`, `I_TY` (one run), or
            a dict `{label: rows}` to overlay several runs.
        path: the PNG file to write.
        title: figure title.
    """
    series = rows if isinstance(rows, dict) else {None: rows}
    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    markers = "osD^v<>"
    all_epochs = [row["epoch"] for run in series.values() for row in run if "I_XT" in row]
    if not all_epochs:
        raise ValueError("No row holds I_XT and I_TY: nothing to place on the information plane.")
    colour_range = dict(vmin=min(all_epochs), vmax=max(all_epochs), cmap="viridis")
    scatter = None
    for number, (label, run) in enumerate(series.items()):
        ordered = sorted((row for row in run if "I_XT" in row), key=lambda row: row["epoch"])
        i_xt = [row["I_XT"] for row in ordered]
        i_ty = [row["I_TY"] for row in ordered]
        axes.plot(i_xt, i_ty, color="0.7", linewidth=1, zorder=1)
        scatter = axes.scatter(
            i_xt, i_ty, c=[row["epoch"] for row in ordered], marker=markers[number % len(markers)],
            label=label, zorder=2, **colour_range,
        )
    figure.colorbar(scatter, ax=axes, label="epoch")
    axes.set_xlabel("I(X;T) [nats]")
    axes.set_ylabel("I(T;Y) [nats]")
    axes.set_title(title)
    if len(series) > 1:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def plot_over_epochs(rows, path, title="Information dynamics"):
    """Saves I(X;T), I(T;Y) and the accuracies, where present, against epoch.

    Args:
        rows: a list of row dicts with `epoch` and any of `I_XT`, `I_TY`,
            `source_acc`, `target_probe_acc` (a column missing from a row is
            skipped there); or a dict `{label: rows}` to overlay runs.
        path: the PNG file to write.
        title: figure title.
    """
    series = rows if isinstance(rows, dict) else {None: rows}
    all_rows = [row for run in series.values() for row in run]
    panels = [
        columns for columns in (_MI_COLUMNS, _ACCURACY_COLUMNS)
        if any(column in row for row in all_rows for column in columns)
    ]
    if not panels:
        raise ValueError(f"The rows hold none of the columns {_MI_COLUMNS + _ACCURACY_COLUMNS}.")
    figure = Figure(figsize=(6, 3.2 * len(panels)))
    FigureCanvasAgg(figure)
    for number, columns in enumerate(panels):
        axes = figure.add_subplot(len(panels), 1, number + 1)
        for label, run in series.items():
            ordered = sorted(run, key=lambda row: row["epoch"])
            for column in columns:
                points = [(row["epoch"], row[column]) for row in ordered if column in row]
                if points:
                    name = column if label is None else f"{label} {column}"
                    axes.plot(*zip(*points), marker="o", markersize=3, label=name)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel("nats" if columns is _MI_COLUMNS else "accuracy")
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    figure.axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def write_tensorboard(rows, log_dir, prefix="information_dynamics"):
    """Writes every numeric column of `rows` as a TensorBoard scalar per epoch.

    Scalars are named `<prefix>/<column>` (e.g. `information_dynamics/I_XT`)
    with the epoch as the step.
    """
    writer = tf.summary.create_file_writer(log_dir)
    with writer.as_default():
        for row in rows:
            for column, value in row.items():
                if column != "epoch" and isinstance(value, (int, float)):
                    tf.summary.scalar(f"{prefix}/{column}", value, step=int(row["epoch"]))
    writer.flush()
    writer.close()


def _subset(x, y, max_samples, seed):
    if len(x) != len(y):
        raise ValueError(f"`x` and `y` differ in length: {len(x)} vs {len(y)}.")
    if not np.issubdtype(y.dtype, np.integer) or y.ndim != 1:
        raise ValueError(f"`y` must be a 1-D array of integer labels; got {y.dtype} {y.shape}.")
    if max_samples is None or len(x) <= max_samples:
        return x, y
    keep = np.sort(np.random.default_rng(seed).choice(len(x), max_samples, replace=False))
    return x[keep], y[keep]
