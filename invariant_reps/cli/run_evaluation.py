"""What a run measures, chosen from the dataset's declaration: metrics per set, leakage, transfer.

The dataset declares its evaluation sets and metrics (`register_dataset`);
`EvaluationSetMetrics` logs `<set>_<metric>` after every epoch (so
TensorBoard, `history.json` and best-epoch selection see them), and
`evaluate_run` assembles the final numbers: the metrics on the training set
and on every evaluation set, the leakage probe on the splits the dataset
names, and the transfer probe when the dataset has a target task.
"""

import keras
import numpy as np

from invariant_reps.data import registry as dataset_registry
from invariant_reps.evaluation import leakage, metrics, transfer


def metrics_on(model, split, metric_names, batch_size):
    """`{metric: value}` of `model` on one split."""
    return metrics.compute_metrics(metric_names, metrics.predict(model, split, batch_size))


class EvaluationSetMetrics(keras.callbacks.Callback):
    """After each epoch, adds `<set>_<metric>` for every evaluation set and declared metric to the logs.

    Args:
        splits: `{set name: split}`.
        metric_names: the dataset's declared metrics.
        batch_size: prediction batch size.
    """

    def __init__(self, splits, metric_names, batch_size):
        super().__init__()
        self.splits, self.metric_names, self.batch_size = splits, tuple(metric_names), batch_size

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        for set_name, split in self.splits.items():
            for metric_name, value in metrics_on(self.model, split, self.metric_names, self.batch_size).items():
                logs[f"{set_name}_{metric_name}"] = value


def best_epoch(history, select="val_accuracy", report=None):
    """`{epoch, <report keys>}` at the epoch with the highest `select`, or None without it."""
    values = history.get(select)
    if not values:
        return None
    index = int(np.nanargmax(values))
    best = {"epoch": history["epoch"][index]}
    for key in report or [k for k in history if k != "epoch"]:
        if key in history and len(history[key]) > index:
            best[key] = history[key][index]
    return best


def evaluate_run(config, data, model, history):
    """The final numbers of a run: `{key: value}` for `results["final"]`.

    Values already logged for the last epoch (same weights) are reused
    rather than measured again.
    """
    spec = dataset_registry.get_dataset(config["dataset"])
    batch_size, epochs = config["batch_size"], config["epochs"]
    final = {f"train_{k}": v for k, v in metrics_on(model, data.train, spec.metrics, batch_size).items()}
    if data.validation is not None:
        val = history.get("val_accuracy", [])
        if "accuracy" in spec.metrics and len(val) == epochs:
            final["validation_accuracy"] = val[-1]
        for name, value in metrics_on(model, data.validation, spec.metrics, batch_size).items():
            final.setdefault(f"validation_{name}", value)
    for set_name, split in data.tests.items():
        logged = {m: history.get(f"{set_name}_{m}", []) for m in spec.metrics}
        if all(len(v) == epochs for v in logged.values()):
            values = {m: v[-1] for m, v in logged.items()}
        else:
            values = metrics_on(model, split, spec.metrics, batch_size)
        final.update({f"{set_name}_{m}": v for m, v in values.items()})
    if config["leakage_probe"] != "none" and data.leakage_splits and data.sensitive_kind != "none":
        probe = leakage_of(config, data, model)
        final[f"leakage_{probe.metric}"] = probe.score  # leakage_accuracy or leakage_r2
        final["leakage_chance"] = probe.chance
    if data.target is not None:
        final["target_probe_accuracy"] = transfer.linear_probe(model.encoder, *data.target)
    return final


def leakage_of(config, data, model):
    """The leakage probe on z, fitted and scored on the splits the dataset names.

    When both names are the same split, it is halved: the probe is fitted on
    the first half and scored on the second.
    """
    fit_name, score_name = data.leakage_splits
    score_x, _, score_s = data.split(score_name).arrays()
    if fit_name == score_name:
        half = len(score_s) // 2
        (fit_x, fit_s), (score_x, score_s) = (score_x[:half], score_s[:half]), (score_x[half:], score_s[half:])
    else:
        fit_x, _, fit_s = data.split(fit_name).arrays()
    return leakage.leakage_probe(
        model.encoder, (fit_x, fit_s), (score_x, score_s), discrete=data.sensitive_kind == "discrete",
        probe=config["leakage_probe"], seed=config["seed"],
    )


def format_results_table(results):
    """The final results as an aligned plain-text table, labelled from the registries."""
    final = results["final"]
    rows = [("method", results["method"]), ("dataset", results["dataset"]), ("data source", results["source"])]
    rows += [(name, f"{value:g}" if isinstance(value, float) else str(value))
             for name, value in results.get("dataset_params", {}).items()]
    try:
        spec = dataset_registry.get_dataset(results["dataset"])
        set_labels = {"train": "train", "validation": "validation", **spec.evaluation_sets}
        metric_names = spec.metrics
    except ValueError:  # A dataset from a module this process did not import.
        set_labels, metric_names = {}, ()
    for set_name, set_label in set_labels.items():
        for metric_name in metric_names:
            key = f"{set_name}_{metric_name}"
            if key in final:
                metric = metrics.get_metric(metric_name)
                rows.append((f"{set_label} {metric.label}", metric.format(final[key])))
    what = results.get("sensitive_name", "s")
    if "leakage_accuracy" in final:
        rows.append((f"leakage: {what} from z (probe acc.)", f"{100 * final['leakage_accuracy']:.2f}%"))
        rows.append(("leakage chance level", f"{100 * final['leakage_chance']:.2f}%"))
    if "leakage_r2" in final:
        rows.append((f"leakage: {what} from z (probe R^2)", f"{final['leakage_r2']:.3f}"))
    if "target_probe_accuracy" in final:
        rows.append(("transfer: target linear-probe acc.", f"{100 * final['target_probe_accuracy']:.2f}%"))
    best = results.get("best_epoch")
    if best:
        rows.append(("best validation epoch", str(best["epoch"])))
    if results.get("seconds_per_epoch"):
        rows.append(("seconds per epoch", f"{results['seconds_per_epoch']:.1f}"))
    width = max(len(label) for label, _ in rows)
    line = "-" * (width + 18)
    return "\n".join([line] + [f"{label:<{width}}  {value:>16}" for label, value in rows] + [line])
