"""One experiment, end to end: data, model, `fit` with checkpoints, evaluation, results.

`run_experiment(config)` takes the flag values as a dict (so sweeps and tests
can call it without absl) and returns the results that `train` prints and
writes to `<logdir>/results.json`.
"""

import inspect
import json
import logging
import math
import os
import time

import keras
import tensorflow as tf

from invariant_reps import callbacks as ir_callbacks
from invariant_reps import hyperparameters, models, networks
from invariant_reps.cli import run_evaluation
from invariant_reps.cli.compile_options import compile_options, dtype_policy
from invariant_reps.cli.run_files import FINAL_MODEL_FILE, RESULTS_FILE, TENSORBOARD_DIR, write_text_atomically
from invariant_reps.data import registry as data_registry


class ExperimentError(ValueError):
    """A configuration or state problem reported to the user without a traceback."""


# ----------------------------------------------------------------- building
def make_strategy(name):
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ExperimentError("--strategy=multi_worker needs the TF_CONFIG environment variable of the cluster.")
        return tf.distribute.MultiWorkerMirroredStrategy()
    return tf.distribute.get_strategy()


def _network_kwargs(config, method):
    """The network options the chosen builder takes, from the flags and the method's defaults."""
    accepted = inspect.signature(networks.get_network(config["network"])).parameters
    wanted = {"width": config["network_width"], "hidden_units": tuple(config["hidden_units"])}
    normalize = config["normalize_bottleneck"]
    if normalize is None:
        normalize = method.network_defaults.get("normalize_bottleneck")
    elif "normalize_bottleneck" not in accepted:
        raise ExperimentError(f"--normalize_bottleneck does not apply to --network={config['network']}.")
    if normalize:
        wanted["normalize_bottleneck"] = True
    return {name: value for name, value in wanted.items() if name in accepted}


def _optimizer(config):
    if config["optimizer"] == "sgd":
        return keras.optimizers.SGD(config["learning_rate"], momentum=config["momentum"])
    return keras.optimizers.Adam(
        config["learning_rate"], beta_1=config["adam_beta_1"], epsilon=config["adam_epsilon"]
    )


def _declared_values(spec, config):
    """`{hyperparameter: value}` of a method/dataset spec, read from its `--<owner>_<name>` flags."""
    return {h.name: config[spec.flag_name(h.name)] for h in spec.hyperparameters if spec.flag_name(h.name) in config}


def method_params(config):
    """The chosen method's hyperparameters, validated against its declaration."""
    spec = models.get_method(config["method"])
    return spec.resolve(_declared_values(spec, config))


def dataset_params(config):
    """The chosen dataset's hyperparameters, validated against its declaration."""
    spec = data_registry.get_dataset(config["dataset"])
    return hyperparameters.resolve(f"dataset {spec.name!r}", spec.hyperparameters, _declared_values(spec, config))


def build_data(config):
    """The `ExperimentData` of a flag configuration, from the dataset registry."""
    spec = data_registry.get_dataset(config["dataset"])
    options = {name: config[name] for name in data_registry.COMMON_OPTIONS}
    return spec.build(dataset_params(config), **options)


def build_model(config, data):
    """Builds the method's model (not compiled) from flag values and the method's declaration."""
    method = models.get_method(config["method"])
    net = networks.build_network(
        config["network"], data.input_shape, data.num_classes, **_network_kwargs(config, method)
    )
    context = models.ExperimentContext(
        num_classes=data.num_classes,
        task=data.task,
        sensitive_kind=data.sensitive_kind,
        num_sensitive_classes=data.num_sensitive_classes,
        num_examples=len(data.train),
        epochs=config["epochs"],
        seed=config["seed"],
        weight_decay=config["weight_decay"],
    )
    return method.build(net.encoder, net.head, method_params(config), context)


def _cosine(base, step, steps):
    return base * 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def learning_rate_at(config, epoch):
    """Learning rate of 0-based `epoch` under the per-epoch schedule.

    step: `lr * decay^(epoch // lr_step_epochs)` (PyTorch StepLR);
    multistep: `lr * decay^(milestones passed)` (MultiStepLR); cosine:
    `lr * (1 + cos(pi * epoch / epochs)) / 2`; two_stage_cosine (the CTC seed's):
    cosine until `lr_restart_epoch`, then a restart at `0.1 * lr` and a cosine
    over the remaining epochs.
    """
    base = config["learning_rate"]
    if config["lr_schedule"] == "cosine":
        return _cosine(base, epoch, config["epochs"])
    if config["lr_schedule"] == "two_stage_cosine":
        restart = config["lr_restart_epoch"] or config["epochs"]
        if epoch < restart:
            return _cosine(base, epoch, restart)
        return _cosine(0.1 * base, epoch - restart, config["epochs"] - restart)
    if config["lr_schedule"] == "step":
        return base * config["lr_decay"] ** (epoch // config["lr_step_epochs"])
    if config["lr_schedule"] == "multistep":
        passed = sum(epoch >= int(m) for m in config["lr_milestones"])
        return base * config["lr_decay"] ** passed
    return base


# ------------------------------------------------------------------ running
def _restore_or_build(config, data, strategy, checkpoint_dir):
    latest = ir_callbacks.latest_checkpoint(checkpoint_dir)
    if latest is not None and not config["resume"]:
        raise ExperimentError(
            f"{checkpoint_dir} already holds checkpoints (newest: epoch {latest[0]}). Pass --resume to continue "
            "that run, or choose another --logdir: a run is never overwritten."
        )
    with strategy.scope():
        for epoch, path in reversed(ir_callbacks.list_checkpoints(checkpoint_dir)):
            try:
                model = keras.saving.load_model(path)
            except Exception as error:  # A truncated or corrupt file: any loader error.
                logging.warning(
                    "Checkpoint %s is unreadable (%s: %s); falling back to the previous one.",
                    path, type(error).__name__, str(error).splitlines()[0] if str(error) else "",
                )
                continue
            logging.info("Resuming from %s (epoch %d).", path, epoch)
            return model, epoch
        if latest is not None:
            raise ExperimentError(
                f"No checkpoint in {checkpoint_dir} is readable. Move them away to start afresh, or use another "
                "--logdir."
            )
        # The policy is read when the layers are created: only the model is built under it (the
        # leakage probe fitted later stays float32; a checkpoint carries its layers' policies).
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(dtype_policy(config))
        try:
            model = build_model(config, data)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        model.compile(optimizer=_optimizer(config), **compile_options(config))
        return model, 0


def check_writable(directory):
    """Creates `directory` and checks a file can be written there, before any training.

    Raises:
        ExperimentError: naming the directory and the operating system's reason.
    """
    try:
        os.makedirs(directory, exist_ok=True)
        probe = os.path.join(directory, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as error:
        raise ExperimentError(f"Cannot write to {directory}: {error.strerror or error}.") from None


def _write_json_atomically(path, value):
    write_text_atomically(path, json.dumps(value, indent=1))


def _history_from_checkpointed_run(logdir):
    path = os.path.join(logdir, "history.json")
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {}


class _HistoryRecorder(keras.callbacks.Callback):
    """Keeps every epoch's logs in `<logdir>/history.json`, across resumes."""

    def __init__(self, path, history):
        super().__init__()
        self.path, self.history = path, history

    def on_epoch_end(self, epoch, logs=None):
        self.history.setdefault("epoch", []).append(epoch + 1)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        _write_json_atomically(self.path, self.history)


def _check_combination(config, data):
    method = models.get_method(config["method"])
    try:
        method.check_applies(data.task, data.sensitive_kind, f"--dataset={config['dataset']}")
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    if not method.distributed and config["strategy"] != "default":
        raise ExperimentError(f"--method={method.name} runs with --strategy=default only.")


def run_experiment(config, callbacks=()):
    """Trains and evaluates one configuration; returns the results dict.

    Args:
        config: `{flag_name: value}` for every flag of `invariant_reps.cli.flags`
            (`flags.config_from_flags()`), hyperparameter flags included.
        callbacks: extra Keras callbacks for `fit` (e.g. a progress display).

    Returns:
        The results, as also written to `<logdir>/results.json`.
    """
    logdir = config["logdir"]
    if not logdir:
        raise ExperimentError("--logdir is required: it receives checkpoints, events and results.")
    method = models.get_method(config["method"])
    dataset = data_registry.get_dataset(config["dataset"])
    method_values, dataset_values = method_params(config), dataset_params(config)  # Fails fast on bad values.
    try:
        compile_options(config), dtype_policy(config)  # Likewise.
    except ValueError as error:
        raise ExperimentError(str(error)) from None
    checkpoint_dir = os.path.join(logdir, "checkpoints")
    for directory in (logdir, checkpoint_dir, os.path.join(logdir, TENSORBOARD_DIR)):
        check_writable(directory)
    keras.utils.set_random_seed(config["seed"])
    if config["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    data = build_data(config)
    _check_combination(config, data)
    if data.source != config["source"] and "source" in dataset.accepted_options():
        logging.warning("Data source: %s (asked for %s).", data.source, config["source"])
    strategy = make_strategy(config["strategy"])
    model, initial_epoch = _restore_or_build(config, data, strategy, checkpoint_dir)
    epochs = config["epochs"]
    history = _history_from_checkpointed_run(logdir) if initial_epoch else {}
    history = {k: v[:initial_epoch] for k, v in history.items()}
    stopper = None
    if config.get("early_stopping_patience"):
        monitor = config["early_stopping_monitor"]
        stopper = ir_callbacks.EarlyStoppingOnMetric(
            monitor, config["early_stopping_patience"], mode="min" if "loss" in monitor else "max", history=history
        )

    batch_size = config["batch_size"]
    if initial_epoch < epochs and not (stopper and stopper.stopped):
        train, steps = data.train_dataset(
            batch_size, config["seed"], initial_epoch, epochs - initial_epoch, include_index=method.needs_index
        )
        validation = data.eval_dataset(data.validation, batch_size) if data.validation is not None else None
        position = TrainingPosition()
        fit_callbacks = [
            keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate_at(config, epoch)),
        ]
        if config["eval_every_epoch"]:
            fit_callbacks.append(run_evaluation.EvaluationSetMetrics(data.tests, dataset.metrics, batch_size))
        if stopper is not None:  # After EvaluationSetMetrics, which logs <set>_<metric>.
            fit_callbacks.append(stopper)
        fit_callbacks += [
            keras.callbacks.TensorBoard(os.path.join(logdir, TENSORBOARD_DIR), update_freq="epoch", write_graph=False),
            ir_callbacks.EpochCheckpoint(checkpoint_dir, keep=config["keep_checkpoints"] or None),
            _HistoryRecorder(os.path.join(logdir, "history.json"), history),
            keras.callbacks.TerminateOnNaN(),
            position,
            *callbacks,
        ]
        _write_tensorboard_setup(config, logdir)
        start = time.time()
        try:
            with ir_callbacks.interrupt_guard() as interrupt:  # Ctrl-C is never swallowed by library code
                model.fit(
                    train,
                    epochs=epochs,
                    initial_epoch=initial_epoch,
                    steps_per_epoch=steps,
                    validation_data=validation,
                    callbacks=[interrupt, *fit_callbacks],
                    shuffle=False,  # the pipeline shuffles, per epoch, reproducibly
                    verbose=config["verbose"],
                )
        except tf.errors.InvalidArgumentError as error:
            if "NaN or inf" not in error.message:
                raise
            reason = next(line for line in error.message.splitlines() if "NaN or inf" in line)
            reason = reason.split(" : Tensor had")[0].strip()
            raise ExperimentError(
                f"Training stopped at epoch {position.epoch + 1}, batch {position.batch + 1}: {reason}. "
                f"{_last_checkpoint_note(checkpoint_dir)}"
            ) from None
        seconds_per_epoch = (time.time() - start) / max(1, len(history.get("epoch", [])) - initial_epoch)
        if not all(math.isfinite(value) for value in history.get("loss", [])):
            raise ExperimentError(
                "Training stopped early: the loss became NaN. Lower --learning_rate or the method weights; "
                f"the last good checkpoint is in {checkpoint_dir}."
            )
    else:
        seconds_per_epoch = None
    results = {
        "method": method.name,
        "dataset": dataset.name,
        "source": data.source,
        "method_params": method_values,
        "dataset_params": dataset_values,
        "sensitive_name": data.sensitive_name,
        "seed": config["seed"],
        "epochs": epochs,
        "final": run_evaluation.evaluate_run(config, data, model, history),
        "history": history,
        "best_epoch": run_evaluation.best_epoch(history),
        "stopped_epoch": stopper.stopped_epoch if stopper else None,
        "seconds_per_epoch": seconds_per_epoch,
        "flags": {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool, list, type(None)))},
    }
    model.save(os.path.join(logdir, FINAL_MODEL_FILE))
    _write_json_atomically(os.path.join(logdir, RESULTS_FILE), results)
    ir_callbacks.write_scalars(
        os.path.join(logdir, TENSORBOARD_DIR, "test"),
        {f"test/{k}": v for k, v in results["final"].items() if isinstance(v, (int, float))},
        step=epochs,
    )
    return results


class TrainingPosition(keras.callbacks.Callback):
    """Remembers the 0-based epoch and batch being trained, for error messages and interrupts."""

    epoch, batch = 0, 0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, 0

    def on_train_batch_begin(self, batch, logs=None):
        self.batch = batch


def _last_checkpoint_note(checkpoint_dir):
    latest = ir_callbacks.latest_checkpoint(checkpoint_dir)
    if latest is None:
        return "No epoch completed, so there is no checkpoint to resume from."
    return f"The last good checkpoint is {latest[1]} (epoch {latest[0]}); rerun the same command to resume from it."


def interrupted_note(logdir):
    """Where an interrupted run stands and how to resume it, in one sentence."""
    if not logdir:
        return ""
    latest = ir_callbacks.latest_checkpoint(os.path.join(logdir, "checkpoints"))
    if latest is None:
        return f"No epoch was completed in {logdir}; nothing to resume."
    return (f"Epochs up to {latest[0]} are saved in {os.path.dirname(latest[1])}; rerun the same command to "
            "resume from there.")


def outputs_note(logdir):
    """The closing lines: where a finished run's outputs are."""
    return "\n".join([
        f"Results:      {os.path.join(logdir, RESULTS_FILE)} (and history.json)",
        f"Model:        {os.path.join(logdir, FINAL_MODEL_FILE)}",
        f"Checkpoints:  {os.path.join(logdir, 'checkpoints')}/epoch_NNNN.keras (rerun to resume or extend --epochs)",
        f"TensorBoard:  tensorboard --logdir={os.path.join(logdir, TENSORBOARD_DIR)}",
    ])


def _write_tensorboard_setup(config, logdir):
    board = os.path.join(logdir, TENSORBOARD_DIR)
    ir_callbacks.write_layout(board, ir_callbacks.load_layout(config["tensorboard_layout"]))
    ir_callbacks.write_hparams(board, {k: v for k, v in config.items() if v is not None and k != "logdir"})


format_results_table = run_evaluation.format_results_table
