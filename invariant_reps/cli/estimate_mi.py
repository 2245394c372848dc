"""Information dynamics of a run: `python -m invariant_reps.estimate_mi --run_dir=RUN`.

For every per-epoch checkpoint in `RUN/checkpoints/` (as
`python -m invariant_reps.train` saves them), estimates I(X;T) and I(T;Y)
of the representation at `--layer` on the source (or target) test split of
`--dataset`, and with `--transfer` also the source accuracy and the target
linear-probe accuracy (`evaluation.transfer`). Writes to `--out_dir`
(default `RUN/info`):

    information_dynamics.csv   epoch, I_XT, I_TY[, source_acc, target_probe_acc]
    information_plane.png      I(X;T) vs I(T;Y), coloured by epoch
    over_epochs.png            the columns against epoch
    tensorboard/               the same numbers as TensorBoard scalars
    curves/                    each estimate's critic training curve (PNG)

MI is in nats; the number is the estimator's held-out bound, and any
estimator warning (not converged, unstable) is logged per checkpoint. The
seed's MINE settings (lr 8e-5, 1e4 iterations for I(X;T); lr 1e-5, 2e4
iterations for I(T;Y)) correspond to `--method=mine --learning_rate=...
--steps=...`; the default SMILE estimator stops by itself at a plateau.

Flags are defined by `define_flags`, called from `run()`, rather than at
import: this app shares flag names (`--method`, `--dataset`, `--source`,
`--seed`) with the train app, whose flags live in the global registry, so a
process that imports both (a test session) must not define them twice.
"""

import csv
import os
import sys

import keras
from absl import app, flags, logging

from invariant_reps.data.sources import SOURCES
from invariant_reps.data.transfer_tasks import TRANSFER_TASKS
from invariant_reps.data.transfer_tasks import load_transfer_task
from invariant_reps.estimators import METHODS
from invariant_reps.estimators import NEURAL_METHODS
from invariant_reps.estimators import plot_training_curve
from invariant_reps.evaluation import information_dynamics
from invariant_reps.evaluation import transfer

CSV_FILE = "information_dynamics.csv"
PLANE_FILE = "information_plane.png"
OVER_EPOCHS_FILE = "over_epochs.png"
EVAL_SPLITS = ("source_test", "source_train", "target_test", "target_train")


def define_flags(flag_values=flags.FLAGS):
    """Defines this app's flags on `flag_values` and returns it."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("run_dir", None, "Run directory holding checkpoints/epoch_NNNN.keras.", **define)
    flags.DEFINE_string("out_dir", None, "Output directory (default: <run_dir>/info).", **define)
    flags.DEFINE_string("layer", None, "Encoder layer whose output is T (default: the encoder output z).", **define)
    flags.DEFINE_enum("dataset", "digits_transfer", TRANSFER_TASKS, "Transfer task the run was trained on.", **define)
    flags.DEFINE_enum("source", "digits", SOURCES, "MNIST source of digits_transfer.", **define)
    flags.DEFINE_string("data_dir", None, "IDX directory (source=idx) or tfds data directory.", **define)
    flags.DEFINE_enum("eval_on", "source_test", EVAL_SPLITS, "Split whose X, Y the MI is measured on (seed: test).", **define)
    flags.DEFINE_enum("method", information_dynamics.DEFAULT_METHOD, METHODS, "MI estimator.", **define)
    flags.DEFINE_integer("max_samples", 2000, "Examples used per estimate (a fixed seeded subset).", lower_bound=10, **define)
    flags.DEFINE_integer("steps", 2000, "Most critic training steps per estimate (neural methods).", lower_bound=1, **define)
    flags.DEFINE_float("learning_rate", 5e-4, "Critic learning rate (Adam).", lower_bound=0.0, **define)
    flags.DEFINE_integer(
        "batch_size", None, "Pairs per critic batch (default: 128, or a fifth of the samples when fewer).",
        lower_bound=2, **define,
    )
    flags.DEFINE_bool("transfer", False, "Also run the transfer probe (source_acc, target_probe_acc).", **define)
    flags.DEFINE_bool("save_curves", True, "Save each neural estimate's training curve under curves/.", **define)
    flags.DEFINE_integer("every", 1, "Evaluate every N-th epoch's checkpoint, and the last (seed: --skip).", lower_bound=1, **define)
    flags.DEFINE_integer("seed", 0, "Seed of the sample subset and of the estimators.", **define)
    flags.mark_flag_as_required("run_dir", flag_values=flag_values)
    return flag_values


def evaluate_run(run_dir, out_dir=None, *, dataset="digits_transfer", source="digits", data_dir=None,
                 eval_on="source_test", layer=None, method=information_dynamics.DEFAULT_METHOD,
                 max_samples=2000, steps=2000, learning_rate=5e-4, batch_size=None,
                 with_transfer=False, save_curves=True, every=1, seed=0, verbose=1):
    """Measures every checkpoint of `run_dir` and writes the outputs.

    Args: as the flags of the same names (`with_transfer` is `--transfer`);
        `verbose=0` hides the progress bar.

    Returns:
        The CSV rows, one dict per checkpoint.

    Raises:
        FileNotFoundError: `run_dir` holds no checkpoints.
        ValueError: a bad `eval_on` or `every`.
    """
    if eval_on not in EVAL_SPLITS:
        raise ValueError(f"Unknown eval_on={eval_on!r}; expected one of {EVAL_SPLITS}.")
    if not isinstance(every, int) or every < 1:
        raise ValueError(f"`every` must be a positive int; received {every!r}.")
    checkpoints = information_dynamics.list_checkpoints(run_dir)
    last_epoch = checkpoints[-1][0]
    checkpoints = [(e, p) for e, p in checkpoints if e % every == 0 or e == last_epoch]
    out_dir = out_dir or os.path.join(run_dir, "info")
    os.makedirs(out_dir, exist_ok=True)
    task = load_transfer_task(dataset, source=source, data_dir=data_dir)
    x, y = getattr(task, eval_on)
    estimator_options = dict(layer=layer, method=method, max_samples=max_samples, seed=seed)
    if method in NEURAL_METHODS:
        estimator_options.update(max_steps=steps, learning_rate=learning_rate)
        if batch_size is not None:
            estimator_options["batch_size"] = batch_size

    progress = keras.utils.Progbar(
        len(checkpoints), unit_name="checkpoint", verbose=verbose,
        stateful_metrics=["I_XT", "I_TY", "source_acc", "target_probe_acc"],
    )
    rows = []
    for number, (epoch, path) in enumerate(checkpoints, start=1):
        model = information_dynamics.load_checkpoint(path)
        point = information_dynamics.information_point(model, x, y, epoch=epoch, **estimator_options)
        for message in point.warnings:
            logging.warning("epoch %d: %s", epoch, message)
        if save_curves and method in NEURAL_METHODS:
            _save_curves(point, os.path.join(out_dir, "curves"))
        row = point.as_row()
        if with_transfer:
            transfer_row = transfer.transfer_point(
                model, epoch, task.source_test, task.target_train, task.target_test
            ).as_row()
            row.update(transfer_row)
        rows.append(row)
        progress.update(number, values=[(k, v) for k, v in row.items() if k != "epoch"])

    _write_csv(rows, os.path.join(out_dir, CSV_FILE))
    title = f"{os.path.basename(os.path.normpath(run_dir))} ({method}, {eval_on})"
    information_dynamics.plot_information_plane(rows, os.path.join(out_dir, PLANE_FILE), title=title)
    information_dynamics.plot_over_epochs(rows, os.path.join(out_dir, OVER_EPOCHS_FILE), title=title)
    information_dynamics.write_tensorboard(rows, os.path.join(out_dir, "tensorboard"))
    return rows


def _save_curves(point, folder):
    os.makedirs(folder, exist_ok=True)
    for name, estimate in (("I_XT", point.xt_estimate), ("I_TY", point.ty_estimate)):
        if estimate is not None and estimate.curve is not None and estimate.curve.steps.size:
            plot_training_curve(estimate, os.path.join(folder, f"epoch_{point.epoch:04d}_{name}.png"))


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
            method=values.method, max_samples=values.max_samples, steps=values.steps,
            learning_rate=values.learning_rate, batch_size=values.batch_size,
            with_transfer=values.transfer, save_curves=values.save_curves, every=values.every,
            seed=values.seed,
        )
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        logging.error("%s: %s", type(error).__name__, error)
        sys.exit(2)
    out_dir = values.out_dir or os.path.join(values.run_dir, "info")
    print(f"{len(rows)} checkpoints -> {os.path.join(out_dir, CSV_FILE)}")


def run():
    """Console entry point (`invariant-reps-estimate-mi`)."""
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
