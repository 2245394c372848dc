"""One experiment, end to end: data, model, `fit` with checkpoints, evaluation, results.

`run_experiment(config)` takes the flag values as a dict (so sweeps and tests
can call it without absl) and returns the results that `train` prints and
writes to `<logdir>/results.json`.
"""

import json
import logging
import math
import os
import time

import keras
import numpy as np
import tensorflow as tf

from invariant_reps import callbacks as ir_callbacks
from invariant_reps import models, networks
from invariant_reps.cli import experiment_data
from invariant_reps.evaluation import leakage, transfer

RESULTS_FILE = "results.json"
FINAL_MODEL_FILE = "model.keras"
TENSORBOARD_DIR = "tensorboard"


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


def _network_kwargs(config):
    kwargs = {}
    if config["network"] in ("simple_conv", "cifar_resnet"):
        kwargs["width"] = config["network_width"]
    if config["network"] == "mlp":
        kwargs["hidden_units"] = tuple(config["hidden_units"])
    normalize = config["normalize_bottleneck"]
    if normalize is None:
        normalize = config["method"] == "end"
    if normalize:
        kwargs["normalize_bottleneck"] = True
    return kwargs


def _optimizer(config):
    if config["optimizer"] == "sgd":
        return keras.optimizers.SGD(config["learning_rate"], momentum=config["momentum"])
    return keras.optimizers.Adam(config["learning_rate"], epsilon=config["adam_epsilon"])


def _default(value, fallback):
    return fallback if value is None else value


def build_model(config, data):
    """Builds the method's model (not compiled) from flag values."""
    net = networks.build_network(
        config["network"], data.input_shape, data.num_classes, **_network_kwargs(config)
    )
    method, wd = config["method"], config["weight_decay"]
    if method == "vanilla":
        return models.Vanilla(net.encoder, net.head, weight_decay=wd)
    if method == "end":
        return models.EnD(
            net.encoder,
            net.head,
            num_sensitive_classes=data.num_sensitive_classes,
            alpha=_default(config["alpha"], 0.1),
            beta=_default(config["beta"], 0.1),
            orthogonal_variant=config["end_orthogonal_variant"],
            parallel_pairs=config["end_parallel_pairs"],
            weight_decay=wd,
        )
    if method == "irene":
        return models.IRENE(
            net.encoder,
            net.head,
            num_sensitive_classes=data.num_sensitive_classes,
            alpha=_default(config["alpha"], 0.5),
            gamma=_default(config["gamma"], 0.2),
            privacy_optimizer=keras.optimizers.SGD(config["privacy_learning_rate"], momentum=config["momentum"]),
            privacy_weight_decay=config["privacy_weight_decay"],
            privacy_steps=config["privacy_steps"],
            routing=config["irene_routing"],
            weight_decay=wd,
        )
    if method == "ctc":
        return models.CTC(
            net.encoder,
            net.head,
            num_examples=len(data.train),
            alpha=config["ctc_a"],
            beta=config["ctc_b"],
            instance_temperature=config["instance_t"],
            instance_momentum=config["instance_m"],
            temporal_temperature=config["nce_t"],
            temporal_momentum=config["nce_m"],
            projection_dim=config["projection_dim"],
            num_negatives=config["num_negatives"],
            update_memory_bank=config["update_memory_bank"],
            stage_two_epoch=config["stage_two_epoch"] or config["epochs"],
            weight_decay=wd,
            weight_decay_coef=config["weight_decay_coef"],
            seed=config["seed"],
        )
    raise ExperimentError(f"--method={method} is not available for --dataset={config['dataset']}.")


def _cosine(base, step, steps):
    return base * 0.5 * (1.0 + math.cos(math.pi * step / max(steps, 1)))


def learning_rate_at(config, epoch):
    """Learning rate of 0-based `epoch` under the per-epoch schedule.

    step: `lr * decay^(epoch // lr_step_epochs)` (PyTorch StepLR);
    multistep: `lr * decay^(milestones passed)` (MultiStepLR); cosine:
    `lr * (1 + cos(pi * epoch / epochs)) / 2`; two_stage_cosine (the CTC seed's):
    cosine over stage one, then a restart at `0.1 * lr` and cosine over stage two.
    """
    base = config["learning_rate"]
    if config["lr_schedule"] == "cosine":
        return _cosine(base, epoch, config["epochs"])
    if config["lr_schedule"] == "two_stage_cosine":
        stage_two = config["stage_two_epoch"] or config["epochs"]
        if epoch < stage_two:
            return _cosine(base, epoch, stage_two)
        return _cosine(0.1 * base, epoch - stage_two, config["epochs"] - stage_two)
    if config["lr_schedule"] == "step":
        return base * config["lr_decay"] ** (epoch // config["lr_step_epochs"])
    if config["lr_schedule"] == "multistep":
        passed = sum(epoch >= int(m) for m in config["lr_milestones"])
        return base * config["lr_decay"] ** passed
    return base


def _accuracy(model, dataset):
    return float(model.evaluate(dataset, verbose=0, return_dict=True)["accuracy"])


class TestSetEvaluation(keras.callbacks.Callback):
    """Evaluates the test sets after each epoch and adds `<name>_accuracy` to the logs."""

    def __init__(self, datasets):
        super().__init__()
        self.datasets = datasets

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for name, dataset in self.datasets.items():
            logs[f"{name}_accuracy"] = _accuracy(self.model, dataset)


# ------------------------------------------------------------------ running
def _restore_or_build(config, data, strategy, checkpoint_dir):
    latest = ir_callbacks.latest_checkpoint(checkpoint_dir)
    if latest is not None and not config["resume"]:
        raise ExperimentError(
            f"{checkpoint_dir} already holds checkpoints (newest: epoch {latest[0]}). Pass --resume to continue "
            "that run, or choose another --logdir: a run is never overwritten."
        )
    with strategy.scope():
        if latest is not None:
            epoch, path = latest
            logging.info("Resuming from %s (epoch %d).", path, epoch)
            model = keras.saving.load_model(path)
            return model, epoch
        model = build_model(config, data)
        model.compile(optimizer=_optimizer(config))
        return model, 0


def write_text_atomically(path, text):
    """Writes `text` to `path` so that a reader never sees a half-written file."""
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.write(text)
    os.replace(partial, path)


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


def _best_epoch(history):
    if not history.get("val_accuracy"):
        return None
    index = int(np.argmax(history["val_accuracy"]))
    best = {"epoch": history["epoch"][index]}
    for key in ("val_accuracy", "unbiased_test_accuracy", "biased_test_accuracy", "accuracy"):
        if key in history and len(history[key]) > index:
            best[key] = history[key][index]
    return best


def run_experiment(config):
    """Trains and evaluates one configuration; returns the results dict.

    Args:
        config: `{flag_name: value}` for every flag of `invariant_reps.cli.flags`.

    Returns:
        The results, as also written to `<logdir>/results.json`.
    """
    logdir = config["logdir"]
    if not logdir:
        raise ExperimentError("--logdir is required: it receives checkpoints, events and results.")
    os.makedirs(logdir, exist_ok=True)
    keras.utils.set_random_seed(config["seed"])
    if config["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    if config["method"] == "ctc" and config["strategy"] != "default":
        raise ExperimentError("--method=ctc keeps per-example memory banks and runs with --strategy=default only.")
    allowed = ("vanilla", "ctc") if config["dataset"] in experiment_data.TRANSFER_DATASETS else ("vanilla", "end", "irene")
    if config["method"] not in allowed:
        raise ExperimentError(
            f"--method={config['method']} does not apply to --dataset={config['dataset']}: transfer tasks "
            "(digits_transfer, cifar100) train vanilla or ctc; Biased-MNIST trains vanilla, end or irene."
        )
    data = experiment_data.build_data(config)
    if data.source != config["source"]:
        logging.warning("Data source: %s (asked for %s).", data.source, config["source"])
    strategy = make_strategy(config["strategy"])
    checkpoint_dir = os.path.join(logdir, "checkpoints")
    model, initial_epoch = _restore_or_build(config, data, strategy, checkpoint_dir)
    epochs = config["epochs"]
    history = _history_from_checkpointed_run(logdir) if initial_epoch else {}
    history = {k: v[:initial_epoch] for k, v in history.items()}

    batch_size = config["batch_size"]
    tests = {name: data.eval_dataset(split, batch_size) for name, split in data.tests.items()}
    if initial_epoch < epochs:
        train, steps = data.train_dataset(
            batch_size, config["seed"], initial_epoch, epochs - initial_epoch, include_index=config["method"] == "ctc"
        )
        validation = data.eval_dataset(data.validation, batch_size) if data.validation is not None else None
        fit_callbacks = [
            keras.callbacks.LearningRateScheduler(lambda epoch: learning_rate_at(config, epoch)),
        ]
        if config["eval_every_epoch"]:
            fit_callbacks.append(TestSetEvaluation(tests))
        fit_callbacks += [
            keras.callbacks.TensorBoard(os.path.join(logdir, TENSORBOARD_DIR), update_freq="epoch", write_graph=False),
            ir_callbacks.EpochCheckpoint(checkpoint_dir, keep=config["keep_checkpoints"] or None),
            _HistoryRecorder(os.path.join(logdir, "history.json"), history),
            keras.callbacks.TerminateOnNaN(),
        ]
        _write_tensorboard_setup(config, logdir)
        start = time.time()
        model.fit(
            train,
            epochs=epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps,
            validation_data=validation,
            callbacks=fit_callbacks,
            shuffle=False,  # the pipeline shuffles, per epoch, reproducibly
            verbose=config["verbose"],
        )
        seconds_per_epoch = (time.time() - start) / (epochs - initial_epoch)
        if not all(math.isfinite(value) for value in history.get("loss", [])):
            raise ExperimentError(
                "Training stopped early: the loss became NaN. Lower --learning_rate or the method weights; "
                f"the last good checkpoint is in {checkpoint_dir}."
            )
    else:
        seconds_per_epoch = None
    results = _evaluate(config, data, model, tests, history, seconds_per_epoch)
    model.save(os.path.join(logdir, FINAL_MODEL_FILE))
    _write_json_atomically(os.path.join(logdir, RESULTS_FILE), results)
    ir_callbacks.write_scalars(
        os.path.join(logdir, TENSORBOARD_DIR, "test"),
        {f"test/{k}": v for k, v in results["final"].items() if isinstance(v, (int, float))},
        step=epochs,
    )
    return results


def _write_tensorboard_setup(config, logdir):
    board = os.path.join(logdir, TENSORBOARD_DIR)
    ir_callbacks.write_layout(board, ir_callbacks.load_layout(config["tensorboard_layout"]))
    ir_callbacks.write_hparams(board, {k: v for k, v in config.items() if v is not None and k != "logdir"})


def _evaluate(config, data, model, tests, history, seconds_per_epoch):
    epochs = config["epochs"]

    def final_accuracy(history_key, dataset):
        # The last epoch's logged value was measured on these same weights.
        values = history.get(history_key, [])
        return values[-1] if len(values) == epochs else _accuracy(model, dataset)

    final = {"train_accuracy": _accuracy(model, data.eval_dataset(data.train, config["batch_size"]))}
    if data.validation is not None:
        final["validation_accuracy"] = final_accuracy(
            "val_accuracy", data.eval_dataset(data.validation, config["batch_size"])
        )
    for name, dataset in tests.items():
        final[f"{name}_accuracy"] = final_accuracy(f"{name}_accuracy", dataset)
    if config["leakage_probe"] != "none" and data.num_sensitive_classes:
        probe = _leakage(config, data, model)
        final["leakage_accuracy"] = probe.score
        final["leakage_chance"] = probe.chance
    if data.target is not None:
        final["target_probe_accuracy"] = transfer.linear_probe(model.encoder, *data.target)
    return {
        "method": config["method"],
        "dataset": config["dataset"],
        "source": data.source,
        "rho": config["rho"],
        "seed": config["seed"],
        "epochs": config["epochs"],
        "final": final,
        "history": history,
        "best_epoch": _best_epoch(history),
        "seconds_per_epoch": seconds_per_epoch,
        "flags": {k: v for k, v in config.items() if isinstance(v, (int, float, str, bool, list, type(None)))},
    }


def _leakage(config, data, model):
    """Colour leakage from z, on data where colour and digit are independent.

    The probe trains on the validation split (training digits recoloured at
    rho = 0.1) and is scored on the unbiased test split; without a
    validation split, the unbiased test split is halved.
    """
    test_x, _, test_s = data.tests["unbiased_test"].arrays()
    if data.validation is not None:
        train_x, _, train_s = data.validation.arrays()
    else:
        half = len(test_s) // 2
        (train_x, train_s), (test_x, test_s) = (test_x[:half], test_s[:half]), (test_x[half:], test_s[half:])
    return leakage.leakage_probe(
        model.encoder, (train_x, train_s), (test_x, test_s), probe=config["leakage_probe"], seed=config["seed"]
    )


def format_results_table(results):
    """The final results as an aligned plain-text table."""
    final = results["final"]
    rows = [("method", results["method"]), ("dataset", results["dataset"]), ("data source", results["source"])]
    if results["dataset"] == "biased_mnist":
        rows.append(("rho", f"{results['rho']:g}"))
    labels = {
        "train_accuracy": "train accuracy",
        "validation_accuracy": "validation accuracy (rho=0.1)",
        "unbiased_test_accuracy": "unbiased test accuracy (rho=0.1)",
        "biased_test_accuracy": "biased test accuracy (rho=1)",
        "leakage_accuracy": "leakage: colour from z (probe acc.)",
        "leakage_chance": "leakage chance level",
        "source_test_accuracy": "source-task test accuracy",
        "target_probe_accuracy": "transfer: target linear-probe acc.",
    }
    for key, label in labels.items():
        if key in final:
            rows.append((label, f"{100 * final[key]:.2f}%"))
    best = results.get("best_epoch")
    if best:
        rows.append(("best validation epoch", str(best["epoch"])))
    if results.get("seconds_per_epoch"):
        rows.append(("seconds per epoch", f"{results['seconds_per_epoch']:.1f}"))
    width = max(len(label) for label, _ in rows)
    line = "-" * (width + 18)
    return "\n".join([line] + [f"{label:<{width}}  {value:>16}" for label, value in rows] + [line])
