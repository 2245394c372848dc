"""Information dynamics of a run: `python -m invariant_reps.estimate_mi --run_dir=RUN`.

For every per-epoch checkpoint in `RUN/checkpoints/` (as
`python -m invariant_reps.train` saves them), estimates I(X;T) and I(T;Y)
of the representation at `--layer` on one split of the run's data, and with
`--transfer` also the source accuracy and the target linear-probe accuracy
(`evaluation.transfer`). The dataset and its options (source, data_dir,
subsampling, seed, dataset hyperparameters) are read from
`RUN/results.json`; `--dataset`, `--source` and `--data_dir` override them
(and name the data of a run that has not finished). Writes to `--out_dir`
(default `RUN/info`):

    information_dynamics.csv   epoch, I_XT, I_TY[, I_XT_dt_tradeoff, I_TY_dt_tradeoff]
                               [, source_acc, target_probe_acc]
    information_plane.png      I(X;T) vs I(T;Y), coloured by epoch, one series per protocol
    over_epochs.png            the columns against epoch
    tensorboard/               the same numbers as TensorBoard scalars
    curves/                    each estimate's critic training curve (PNG)

MI is in nats. `--protocol` picks how it is estimated (comma-separated to
run both, side by side):

- `held_out` (default): `--method`'s bound on held-out pairs, the critic
  stopped at the plateau of the held-out curve; any estimator warning (not
  converged, overfitting, heavy tails) is logged per checkpoint.
- `dt_tradeoff`: the seed's MINE protocol (`evaluation.dt_tradeoff_mine`):
  a 3x1024 ReLU critic, batches of 5,000 with marginals from an
  independent re-draw, lr 8e-5 for 10,000 iterations (I(X;T)) and 1e-5 for
  20,000 (I(T;Y)), reported as the mean of the last 500 training
  estimates, on all examples of the split. `--dt_*` flags shrink it.

The flags (`define_flags`) and the entry point (`run`) are in
`cli/estimate_mi_flags.py`, which checks the flags before TensorFlow loads.
"""

import csv
import json
import os
import sys

import keras
import numpy as np
from absl import app, flags, logging

from invariant_reps.data import registry as data_registry
from invariant_reps.estimators import NEURAL_METHODS
from invariant_reps.estimators import plot_training_curve
from invariant_reps.evaluation import dt_tradeoff_mine
from invariant_reps.evaluation import information_dynamics
from invariant_reps.evaluation import transfer
from invariant_reps.cli.estimate_mi_flags import define_flags, run  # noqa: F401  (re-exported)
from invariant_reps.evaluation.information_dynamics import DT_TRADEOFF, HELD_OUT, PROTOCOLS

CSV_FILE = "information_dynamics.csv"
PLANE_FILE = "information_plane.png"
OVER_EPOCHS_FILE = "over_epochs.png"
RESULTS_FILE = "results.json"
#: `--eval_on` values of a transfer task ("source_train" is "train"; any evaluation set or "validation" works too).
EVAL_SPLITS = ("source_test", "source_train", "target_test", "target_train")


def load_run_data(run_dir, dataset=None, source=None, data_dir=None):
    """The data of a run, as its `results.json` records them.

    Args:
        run_dir: the run directory (`python -m invariant_reps.train --logdir`).
        dataset: overrides the recorded dataset name (required when the run
            has no `results.json`, e.g. one still training).
        source: overrides the recorded data source.
        data_dir: overrides the recorded data directory.

    Returns:
        `(ExperimentData, DatasetSpec)`, built with the run's dataset
        hyperparameters and common options (seed, subsampling, ...).

    Raises:
        FileNotFoundError: no `results.json` and no `dataset`.
        ValueError: an unreadable `results.json`, or an unknown dataset.

    Example:
        >>> data, spec = load_run_data("runs/ctc_digits")
        >>> spec.name, sorted(data.tests)
        ('digits_transfer', ['source_test'])
    """
    path = os.path.join(run_dir, RESULTS_FILE)
    recorded = {}
    if os.path.isfile(path):
        try:
            with open(path) as file:
                recorded = json.load(file)
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"Cannot read {path}: {error}.") from None
    elif dataset is None:
        raise FileNotFoundError(
            f"{path} not found: estimate_mi reads the run's dataset and its options from it, and train writes "
            "it when the run finishes. For a run without one, name the data: --dataset=NAME (and --source, "
            "--data_dir as the run used)."
        )
    name = dataset or recorded.get("dataset")
    if not name:
        raise ValueError(f"{path} names no dataset; pass --dataset=NAME.")
    from invariant_reps import data  # noqa: F401  (registers every dataset)

    try:
        spec = data_registry.get_dataset(name)
    except ValueError as error:
        origin = "--dataset" if dataset else path
        raise ValueError(f"{origin}: {error}") from None
    run_flags = recorded.get("flags") or {}
    options = {option: run_flags.get(option) for option in data_registry.COMMON_OPTIONS}
    if recorded.get("source"):
        options["source"] = recorded["source"]  # The source the run actually used ("auto" resolved).
    options.update({k: v for k, v in (("source", source), ("data_dir", data_dir)) if v is not None})
    params = (recorded.get("dataset_params") or {}) if name == recorded.get("dataset") else {}
    return spec.build(params, **options), spec


def split_arrays(data, name=None):
    """`(x, y)` of split `name` of an `ExperimentData` (see `--eval_on`), labels as int64.

    Raises:
        ValueError: an unknown split, a dataset without a target task, or
            labels that are not integral.
    """
    name = name or next(iter(data.tests))
    if name in ("target_train", "target_test"):
        if data.target is None:
            raise ValueError(f"--eval_on={name}: this dataset has no target task (only transfer tasks have one).")
        x, y = data.target[0 if name == "target_train" else 1]
    else:
        split = data.split("train" if name == "source_train" else name)
        x, y = split.arrays()[:2]
    y = np.asarray(y)
    if not np.array_equal(y, np.round(y)) or y.min() < 0:
        raise ValueError(f"Split {name!r}: labels must be non-negative integers to one-hot Y; got {y.dtype}.")
    return np.asarray(x), y.astype(np.int64).reshape(-1)


def evaluate_run(run_dir, out_dir=None, *, dataset=None, source=None, data_dir=None, eval_on=None, layer=None,
                 protocols=(HELD_OUT,), method=information_dynamics.DEFAULT_METHOD, max_samples=None, steps=2000,
                 preprocessing=None, learning_rate=5e-4, batch_size=None, dt_settings=None, with_transfer=False,
                 save_curves=True, every=1, seed=0, verbose=1):
    """Measures every checkpoint of `run_dir` and writes the outputs.

    Args: as the flags of the same names (`protocols` is `--protocol`,
        `with_transfer` is `--transfer`; `dt_settings` a
        `dt_tradeoff_mine.DtTradeoffSettings`, default the seed's);
        `verbose=0` hides the progress bar.

    Returns:
        The CSV rows, one dict per checkpoint, with every protocol's columns.

    Raises:
        FileNotFoundError: `run_dir` holds no checkpoints, or no
            `results.json` when `dataset` is not given.
        ValueError: an unknown protocol, dataset or split, a bad `every`,
            or `with_transfer` on a dataset without a target task.

    Example:
        >>> rows = evaluate_run("runs/ctc_digits", protocols=("held_out", "dt_tradeoff"))
        >>> rows[-1]["I_XT"], rows[-1]["I_XT_dt_tradeoff"]
    """
    protocols = tuple(protocols)
    if not protocols or any(protocol not in PROTOCOLS for protocol in protocols):
        raise ValueError(f"Unknown protocols {protocols!r}; expected a non-empty subset of {PROTOCOLS}.")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"`every` must be a positive int; received {every!r}.")
    checkpoints = information_dynamics.list_checkpoints(run_dir)
    last_epoch = checkpoints[-1][0]
    checkpoints = [(e, p) for e, p in checkpoints if e % every == 0 or e == last_epoch]
    data, spec = load_run_data(run_dir, dataset, source, data_dir)
    eval_on = eval_on or next(iter(data.tests))
    x, y = split_arrays(data, eval_on)
    if with_transfer and (data.target is None or "source_test" not in data.tests):
        raise ValueError(f"--transfer needs a transfer task (source and target); dataset {spec.name!r} has none.")
    out_dir = out_dir or os.path.join(run_dir, "info")
    os.makedirs(out_dir, exist_ok=True)
    held_out_options = dict(method=method, max_steps=steps)
    if preprocessing is not None:
        held_out_options["preprocessing"] = preprocessing
    if method in NEURAL_METHODS:
        held_out_options["learning_rate"] = learning_rate
        if batch_size is not None:
            held_out_options["batch_size"] = batch_size
    protocol_options = {HELD_OUT: held_out_options, DT_TRADEOFF: dict(dt_settings=dt_settings)}

    columns = [column for protocol in protocols for column in information_dynamics.MI_COLUMNS[protocol]]
    progress = keras.utils.Progbar(len(checkpoints), unit_name="checkpoint", verbose=verbose,
                                   stateful_metrics=columns + ["source_acc", "target_probe_acc"])
    rows, not_converged = [], []
    for number, (epoch, path) in enumerate(checkpoints, start=1):
        model = information_dynamics.load_checkpoint(path)
        row = {"epoch": epoch}
        for protocol in protocols:
            point = information_dynamics.information_point(
                model, x, y, epoch=epoch, layer=layer, protocol=protocol, max_samples=max_samples, seed=seed,
                **protocol_options[protocol],
            )
            for message in point.warnings:
                logging.warning("epoch %d (%s): %s", epoch, protocol, message)
            if protocol == HELD_OUT:
                not_converged += [f"{epoch}:{name}" for name, estimate in (("I_XT", point.xt_estimate),
                                  ("I_TY", point.ty_estimate)) if not getattr(estimate, "converged", True)]
            if save_curves and (protocol == DT_TRADEOFF or method in NEURAL_METHODS):
                _save_curves(point, os.path.join(out_dir, "curves"))
            row.update(point.as_row())
        if with_transfer:
            source_test = data.tests["source_test"].arrays()[:2]
            row.update(transfer.transfer_point(model, epoch, source_test, *data.target).as_row())
        rows.append(row)
        progress.update(number, values=[(k, v) for k, v in row.items() if k != "epoch"])

    if not_converged:
        logging.warning(
            "%d held-out estimate(s) did not converge (%s; reasons above): raise --steps, lower --learning_rate, "
            "measure on more examples (--eval_on=train, --max_samples) or try --preprocessing=copula.",
            len(not_converged), ", ".join(not_converged),
        )
    _write_csv(rows, os.path.join(out_dir, CSV_FILE))
    methods = "+".join(method if protocol == HELD_OUT else protocol for protocol in protocols)
    title = f"{os.path.basename(os.path.normpath(run_dir))} ({methods}, {eval_on})"
    information_dynamics.plot_information_plane(rows, os.path.join(out_dir, PLANE_FILE), title=title)
    information_dynamics.plot_over_epochs(rows, os.path.join(out_dir, OVER_EPOCHS_FILE), title=title)
    information_dynamics.write_tensorboard(rows, os.path.join(out_dir, "tensorboard"))
    return rows


def _save_curves(point, folder):
    os.makedirs(folder, exist_ok=True)
    names = information_dynamics.MI_COLUMNS[point.protocol]
    for name, estimate in zip(names, (point.xt_estimate, point.ty_estimate)):
        path = os.path.join(folder, f"epoch_{point.epoch:04d}_{name}.png")
        if isinstance(estimate, dt_tradeoff_mine.DtTradeoffEstimate):
            dt_tradeoff_mine.plot_dt_tradeoff_curve(estimate, path)
        elif estimate is not None and estimate.curve is not None and estimate.curve.steps.size:
            plot_training_curve(estimate, path)


def _write_csv(rows, path):
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flag_values
    try:
        rows = evaluate_run(
            values.run_dir, values.out_dir, dataset=values.dataset, source=values.source,
            data_dir=values.data_dir, eval_on=values.eval_on, layer=values.layer,
            protocols=values.protocol, method=values.method, max_samples=values.max_samples,
            steps=values.steps, preprocessing=values.preprocessing, learning_rate=values.learning_rate,
            batch_size=values.batch_size,
            dt_settings=dt_tradeoff_mine.DtTradeoffSettings(
                xt_steps=values.dt_xt_steps, xt_learning_rate=values.dt_xt_learning_rate,
                ty_steps=values.dt_ty_steps, ty_learning_rate=values.dt_ty_learning_rate,
                batch_size=values.dt_batch_size, hidden_units=values.dt_hidden_units,
                readout_window=values.dt_readout_window,
            ),
            with_transfer=values.transfer, save_curves=values.save_curves, every=values.every,
            seed=values.seed,
        )
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        logging.error("%s: %s", type(error).__name__, error)
        sys.exit(2)
    out_dir = values.out_dir or os.path.join(values.run_dir, "info")
    print(f"{len(rows)} checkpoints -> {os.path.join(out_dir, CSV_FILE)}")



if __name__ == "__main__":
    run()
