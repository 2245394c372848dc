"""Information dynamics: I(X;T) and I(T;Y) of a representation over training.

The dt-tradeoff analysis (Cui et al., ECCV 2022, sec. 4): for each per-epoch
checkpoint, take the representation `T` at one layer and estimate
`I(X; T)` (input vs representation) and `I(T; Y)` (representation vs label)
with a neural MI estimator. Late in training I(X;T) falls
("over-compression") while I(T;Y) saturates; CTC is meant to stop the fall.

Estimation (`invariant_reps.estimators.estimate_mi`): `X` is flattened, `Y`
is one-hot, `T` is flattened; the same seeded subset of at most
`max_samples` examples is used for every checkpoint so the points are
comparable; for neural methods every column is first rank-transformed to
normal scores (`preprocessing="copula"`, which leaves MI unchanged and tames the heavy
tails of ReLU features). The default estimator is SMILE (the DV bound with its marginal
term clipped at 5, Song & Ermon 2020), which has far lower variance than
the seed's MINE at the same bias; `method="mine"` reproduces the seed. The
reported number is the *held-out* bound (never the critic's training data),
in nats; `estimate_mi`'s plateau test stops the critic when it has
converged and its warnings (not converged, unstable, InfoNCE ceiling) are
returned with each point, answering the seed's open question "how can I
know MINE is well optimized?".

Two protocols (`PROTOCOLS`), whose columns sit side by side in the rows:

- `"held_out"` (default; columns `I_XT`, `I_TY`): the above.
- `"dt_tradeoff"` (columns `I_XT_dt_tradeoff`, `I_TY_dt_tradeoff`): the
  seed's own MINE protocol (`dt_tradeoff_mine`, spec §A.3): a 3x1024 ReLU
  critic, batches of 5,000 with marginals from an independent re-draw,
  read as the mean of the last ~500 *training* estimates, on all examples.

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
from invariant_reps.evaluation import dt_tradeoff_mine

DEFAULT_METHOD = "smile"
# Normal scores of every column before a held-out estimate (MI is unchanged): the ReLU features T are
# heavy-tailed, and on the digits runs only this lets every estimate converge (see cli/estimate_mi.py).
DEFAULT_PREPROCESSING = "copula"
HELD_OUT = "held_out"
DT_TRADEOFF = dt_tradeoff_mine.NAME
PROTOCOLS = (HELD_OUT, DT_TRADEOFF)
#: `(I(X;T) column, I(T;Y) column)` of each protocol.
MI_COLUMNS = {HELD_OUT: ("I_XT", "I_TY"), DT_TRADEOFF: ("I_XT_dt_tradeoff", "I_TY_dt_tradeoff")}
#: Examples per estimate when `max_samples` is None: the held-out protocol's seeded subset; the seed uses all.
DEFAULT_MAX_SAMPLES = {HELD_OUT: 2000, DT_TRADEOFF: None}
_DEFAULT_BATCH_SIZE = 128
_ACCURACY_COLUMNS = ("source_acc", "target_probe_acc")


@dataclasses.dataclass(frozen=True)
class InformationPoint:
    """I(X;T) and I(T;Y) of one checkpoint, in nats.

    Attributes:
        epoch: the checkpoint's epoch (1-based count of completed epochs).
        i_xt: the protocol's estimate of I(X;T).
        i_ty: the protocol's estimate of I(T;Y).
        xt_estimate: the full estimate of I(X;T): an `MIEstimate` (curve,
            convergence) or a `dt_tradeoff_mine.DtTradeoffEstimate`.
        ty_estimate: the same for I(T;Y).
        protocol: one of `PROTOCOLS`.
    """

    epoch: int
    i_xt: float
    i_ty: float
    xt_estimate: MIEstimate | None = dataclasses.field(default=None, compare=False, repr=False)
    ty_estimate: MIEstimate | None = dataclasses.field(default=None, compare=False, repr=False)
    protocol: str = HELD_OUT

    @property
    def warnings(self):
        """The estimators' warnings, each prefixed `I(X;T):` or `I(T;Y):`."""
        messages = []
        for name, estimate in (("I(X;T)", self.xt_estimate), ("I(T;Y)", self.ty_estimate)):
            messages += [f"{name}: {message}" for message in getattr(estimate, "warnings", ())]
        return tuple(messages)

    def as_row(self):
        """The point as CSV columns: `epoch` and the protocol's `MI_COLUMNS`."""
        xt_column, ty_column = MI_COLUMNS[self.protocol]
        return {"epoch": self.epoch, xt_column: self.i_xt, ty_column: self.i_ty}


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


def information_point(model, x, y, *, epoch, layer=None, num_classes=None, protocol=HELD_OUT,
                      method=DEFAULT_METHOD, max_samples=None, max_steps=2000, seed=0,
                      dt_settings=None, **estimator_kwargs):
    """Estimates I(X;T) and I(T;Y) for one trained model with one protocol.

    Args:
        model: an `InvariantModel` or an encoder.
        x: inputs `[N, ...]` (e.g. the source test split).
        y: integer labels `[N]`.
        epoch: the model's epoch, recorded in the result.
        layer: see `representation_model`.
        num_classes: width of the one-hot `Y` (default: `max(y) + 1`).
        protocol: `"held_out"` (`estimate_mi`, the held-out bound) or
            `"dt_tradeoff"` (the seed's MINE protocol).
        method: held-out protocol: an `estimate_mi` method (`"smile"`,
            `"mine"`, `"nwj"`, `"infonce"`, `"ksg"`, ...).
        max_samples: use at most this many examples (a seeded subset, the
            same for every call with the same data and seed); None: 2,000
            for `"held_out"`, all of them for `"dt_tradeoff"` (the seed's).
        max_steps: held-out protocol: critic training steps per estimate.
        seed: seed of the subset and of the estimator.
        dt_settings: `"dt_tradeoff"`: a `dt_tradeoff_mine.DtTradeoffSettings`
            (default: the seed's: batch 5,000, 1024 units, 10k/20k steps).
        **estimator_kwargs: held-out protocol: passed to `estimate_mi`
            (`learning_rate`, `batch_size`, `critic`, `preprocessing`, ...).
            `batch_size` defaults to 128, or to a fifth of the samples when
            fewer than 640 are given; `preprocessing` to `"copula"` for
            neural methods.

    Returns:
        An `InformationPoint`.

    Raises:
        ValueError: an unknown protocol, bad labels, or options that do not
            apply to the protocol.

    Example:
        >>> tiny = dt_tradeoff_mine.DtTradeoffSettings(xt_steps=200, ty_steps=200, batch_size=256,
        ...                                            hidden_units=64, readout_window=50)
        >>> point = information_point(model, x, y, epoch=3, protocol="dt_tradeoff", dt_settings=tiny)
        >>> point.as_row()  # {"epoch": 3, "I_XT_dt_tradeoff": ..., "I_TY_dt_tradeoff": ...}
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"Unknown protocol {protocol!r}; expected one of {PROTOCOLS}.")
    if protocol == DT_TRADEOFF and estimator_kwargs:
        raise ValueError(
            f"{sorted(estimator_kwargs)} do not apply to the dt_tradeoff protocol; set its options "
            "with `dt_settings=DtTradeoffSettings(...)`."
        )
    if protocol == HELD_OUT and dt_settings is not None:
        raise ValueError("`dt_settings` applies to protocol='dt_tradeoff' only.")
    if max_samples is None:
        max_samples = DEFAULT_MAX_SAMPLES[protocol]
    x, y = _subset(np.asarray(x), np.asarray(y), max_samples, seed)
    num_classes = int(num_classes or y.max() + 1)
    representation = representation_model(model, layer).predict(x, batch_size=256, verbose=0)
    t = np.asarray(representation, np.float32).reshape(len(x), -1)
    one_hot_y = np.eye(num_classes, dtype=np.float32)[y]
    flat_x = x.reshape(len(x), -1)
    if protocol == DT_TRADEOFF:
        settings = dt_settings or dt_tradeoff_mine.DtTradeoffSettings()
        shared = dict(batch_size=settings.batch_size, hidden_units=settings.hidden_units,
                      readout_window=settings.readout_window,
                      moving_average_rate=settings.moving_average_rate, seed=seed)
        xt_steps, xt_rate = settings.for_pair("xt")
        ty_steps, ty_rate = settings.for_pair("ty")
        xt = dt_tradeoff_mine.dt_tradeoff_mi(flat_x, t, steps=xt_steps, learning_rate=xt_rate, **shared)
        ty = dt_tradeoff_mine.dt_tradeoff_mi(t, one_hot_y, steps=ty_steps, learning_rate=ty_rate, **shared)
        return InformationPoint(int(epoch), float(xt.mi_nats), float(ty.mi_nats), xt, ty, protocol)
    options = dict(estimator_kwargs, method=method, seed=seed)
    if method in NEURAL_METHODS:
        options.setdefault("preprocessing", DEFAULT_PREPROCESSING)
        options["max_steps"] = max_steps
        # Few samples: shrink the batch so the held-out split holds one.
        options.setdefault("batch_size", min(_DEFAULT_BATCH_SIZE, len(x) // 5))
    with warnings.catch_warnings():
        # Each estimate's warnings are kept in the result instead.
        warnings.simplefilter("ignore")
        xt = estimate_mi(flat_x, t, **options)
        ty = estimate_mi(t, one_hot_y, **options)
    return InformationPoint(int(epoch), float(xt.mi_nats), float(ty.mi_nats), xt, ty, protocol)


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

    Each protocol present in the rows (`MI_COLUMNS`) is drawn as its own
    series, so the held-out and dt-tradeoff estimates sit side by side.

    Args:
        rows: a list of row dicts with `epoch` and a protocol's columns
            (`I_XT`, `I_TY`; `I_XT_dt_tradeoff`, `I_TY_dt_tradeoff`) for one
            run, or a dict `{label: rows}` to overlay several runs.
        path: the PNG file to write.
        title: figure title.

    Returns:
        The matplotlib `Figure`, whose legend names the series.
    """
    series = rows if isinstance(rows, dict) else {None: rows}
    all_rows = [row for run in series.values() for row in run]
    protocols = [name for name, (xt, ty) in MI_COLUMNS.items() if any(xt in row and ty in row for row in all_rows)]
    if not protocols:
        raise ValueError(
            f"No row holds a protocol's I(X;T) and I(T;Y) columns ({list(MI_COLUMNS.values())}): "
            "nothing to place on the information plane."
        )
    figure = Figure(figsize=(6, 4.5))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    markers = "osD^v<>"
    all_epochs = [row["epoch"] for row in all_rows]
    colour_range = dict(vmin=min(all_epochs), vmax=max(all_epochs), cmap="viridis")
    scatter, number = None, 0
    for label, run in series.items():
        for protocol in protocols:
            xt_column, ty_column = MI_COLUMNS[protocol]
            ordered = sorted((row for row in run if xt_column in row and ty_column in row),
                             key=lambda row: row["epoch"])
            if not ordered:
                continue
            names = [part for part in (label, protocol if len(protocols) > 1 else None) if part is not None]
            i_xt = [row[xt_column] for row in ordered]
            i_ty = [row[ty_column] for row in ordered]
            axes.plot(i_xt, i_ty, color="0.7", linewidth=1, zorder=1)
            scatter = axes.scatter(
                i_xt, i_ty, c=[row["epoch"] for row in ordered], marker=markers[number % len(markers)],
                label=" ".join(map(str, names)) or None, zorder=2, **colour_range,
            )
            number += 1
    figure.colorbar(scatter, ax=axes, label="epoch")
    axes.set_xlabel("I(X;T) [nats]")
    axes.set_ylabel("I(T;Y) [nats]")
    axes.set_title(title)
    if number > 1:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


def plot_over_epochs(rows, path, title="Information dynamics"):
    """Saves I(X;T), I(T;Y) and the accuracies, where present, against epoch.

    Args:
        rows: a list of row dicts with `epoch` and any of the `MI_COLUMNS`
            of either protocol, `source_acc`, `target_probe_acc` (a column
            missing from a row is skipped there); or a dict `{label: rows}`
            to overlay runs.
        path: the PNG file to write.
        title: figure title.

    Returns:
        The matplotlib `Figure`: one panel for MI (nats, every protocol's
        columns) and one for the accuracies, where present.
    """
    series = rows if isinstance(rows, dict) else {None: rows}
    all_rows = [row for run in series.values() for row in run]
    mi_columns = tuple(column for pair in MI_COLUMNS.values() for column in pair)
    panels = [
        columns for columns in (mi_columns, _ACCURACY_COLUMNS)
        if any(column in row for row in all_rows for column in columns)
    ]
    if not panels:
        raise ValueError(f"The rows hold none of the columns {mi_columns + _ACCURACY_COLUMNS}.")
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
        axes.set_ylabel("nats" if columns is mi_columns else "accuracy")
        axes.legend(fontsize="small")
        axes.grid(alpha=0.3)
    figure.axes[0].set_title(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return figure


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
