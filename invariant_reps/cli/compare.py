"""Several methods on one experiment, side by side: `train --compare=vanilla,end`.

Each method trains with the same data, network, optimizer and seed in
`<logdir>/<method>/` (so each is an ordinary, resumable run), then one table
compares what the dataset declares (its metrics on every evaluation set), the
leakage of s from z and the training time, and `<logdir>/comparison.png`
draws the same numbers. The table and the figure are also written as
`<logdir>/comparison.json` and `comparison.md`.
"""

import json
import os

import keras
import matplotlib

matplotlib.use("Agg")
from matplotlib import figure as mpl_figure  # noqa: E402

from invariant_reps.cli import experiment  # noqa: E402
from invariant_reps.data import registry as dataset_registry  # noqa: E402
from invariant_reps.evaluation import metrics as metric_registry  # noqa: E402

COMPARISON_PNG = "comparison.png"


class EpochProgress(keras.callbacks.Callback):
    """One progress bar over the epochs of a run (for `--verbose=0` runs shown side by side)."""

    def __init__(self, label, epochs):
        super().__init__()
        self.label, self.epochs, self.bar = label, epochs, None

    def on_train_begin(self, logs=None):
        print(self.label, flush=True)
        self.bar = keras.utils.Progbar(self.epochs, unit_name="epoch", stateful_metrics=["loss", "accuracy"])

    def on_epoch_end(self, epoch, logs=None):
        shown = [(k, v) for k, v in (logs or {}).items() if k in ("loss", "accuracy")]
        self.bar.update(epoch + 1, values=shown)


def run_comparison(config, methods):
    """Trains `methods` in turn on `config`'s experiment; returns `{method: results}`."""
    if len(set(methods)) != len(methods) or not methods:
        raise experiment.ExperimentError(f"--compare needs distinct method names; received {methods}.")
    results = {}
    for index, method in enumerate(methods, 1):
        run = dict(config, method=method, logdir=os.path.join(config["logdir"], method))
        label = f"[{index}/{len(methods)}] {method}: {config['epochs']} epochs on {config['dataset']}"
        progress = [EpochProgress(label, config["epochs"])] if config["verbose"] == 0 else []
        results[method] = experiment.run_experiment(run, callbacks=progress)
    return results


def comparison_rows(all_results):
    """`[(key, label, percent)]` of the numbers the table shows, from the dataset's declaration."""
    first = next(iter(all_results.values()))
    spec = dataset_registry.get_dataset(first["dataset"])
    rows = []
    for set_name, set_label in spec.evaluation_sets.items():
        for metric_name in spec.metrics:
            metric = metric_registry.get_metric(metric_name)
            rows.append((f"{set_name}_{metric_name}", f"{set_label} {metric.label}", metric.percent))
    what = first.get("sensitive_name", "s")
    rows.append(("leakage_accuracy", f"leakage: {what} read from z by a linear probe", True))
    rows.append(("leakage_r2", f"leakage: {what} from z (probe R^2)", False))
    return [row for row in rows if any(row[0] in r["final"] for r in all_results.values())]


def _format(value, percent):
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if percent else f"{value:.3g}"


def format_comparison(all_results):
    """The comparison as a Markdown table (one column per method)."""
    methods = list(all_results)
    lines = ["| | " + " | ".join(methods) + " |", "|---|" + "---:|" * len(methods)]
    for key, label, percent in comparison_rows(all_results):
        values = [_format(all_results[m]["final"].get(key), percent) for m in methods]
        lines.append(f"| {label} | " + " | ".join(values) + " |")
    chance = next(iter(all_results.values()))["final"].get("leakage_chance")
    if chance is not None:
        lines.append("| leakage chance level | " + " | ".join(_format(chance, True) for _ in methods) + " |")
    seconds = [r.get("seconds_per_epoch") for r in all_results.values()]
    epochs = [r["epochs"] for r in all_results.values()]
    lines.append("| seconds of training | " + " | ".join(
        "n/a" if s is None else f"{s * e:.0f}" for s, e in zip(seconds, epochs)) + " |")
    return "\n".join(lines)


def plot_comparison(all_results, path):
    """Grouped bars, one group per compared number, one bar per method; saved to `path`."""
    rows = [row for row in comparison_rows(all_results) if row[2]]  # The percentages share one axis.
    methods = list(all_results)
    fig = mpl_figure.Figure(figsize=(1.8 + 1.6 * len(rows), 4.2))
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(methods)
    for index, method in enumerate(methods):
        values = [100 * (all_results[method]["final"].get(key) or 0.0) for key, _, _ in rows]
        positions = [i + (index - (len(methods) - 1) / 2) * width for i in range(len(rows))]
        bars = ax.bar(positions, values, width, label=method)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([label.replace(" (", "\n(") for _, label, _ in rows], fontsize=8)
    ax.set_ylabel("%")
    ax.set_ylim(0, 110)
    first = next(iter(all_results.values()))
    ax.set_title(f"{first['dataset']}: " + " vs ".join(methods))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def write_comparison(all_results, logdir):
    """Writes comparison.{md,json,png} into `logdir`; returns the Markdown table."""
    table = format_comparison(all_results)
    experiment.write_text_atomically(os.path.join(logdir, "comparison.md"), table + "\n")
    summary = {method: {"final": r["final"], "seconds_per_epoch": r["seconds_per_epoch"], "epochs": r["epochs"],
                        "method_params": r["method_params"]} for method, r in all_results.items()}
    experiment.write_text_atomically(os.path.join(logdir, "comparison.json"), json.dumps(summary, indent=1))
    plot_comparison(all_results, os.path.join(logdir, COMPARISON_PNG))
    return table
