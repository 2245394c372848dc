"""Model selection over a hyperparameter sweep, and its tables.

EnD's reporting protocol (Tartaglione et al., CVPR 2021, `results.py` of the
official code): for each run keep the epoch with the highest validation
accuracy; rank runs by that accuracy; report the mean and the population
standard deviation (ddof=0) of the test metrics over the top 3 runs. The top 3
are three hyperparameter configurations, not three seeds.

Every function here is pure: results in, numbers or text out.

Example:
    >>> rows = [{"run": "run_000", "val_accuracy": 0.91, "unbiased_test_accuracy": 0.75},
    ...         {"run": "run_001", "val_accuracy": 0.88, "unbiased_test_accuracy": 0.5},
    ...         {"run": "run_002", "val_accuracy": 0.80, "unbiased_test_accuracy": 0.70}]
    >>> top_k_summary(rows, "val_accuracy", ["unbiased_test_accuracy"], k=2)
    {'unbiased_test_accuracy': (0.625, 0.125)}
"""

import csv
import io
import math

import numpy as np

MODES = ("max", "min")


def _check_mode(mode):
    if mode not in MODES:
        raise ValueError(f"`mode` must be one of {MODES}; received mode={mode!r}.")


def _is_number(value):
    return (
        isinstance(value, (int, float, np.integer, np.floating))
        and not isinstance(value, bool)
        and not math.isnan(value)
    )


def _best_index(history, metric, mode):
    _check_mode(mode)
    if metric not in history:
        raise ValueError(
            f"Metric {metric!r} is not in the history; available: {sorted(history)}."
        )
    values = [float(v) if _is_number(v) else math.nan for v in history[metric]]
    if all(math.isnan(v) for v in values):
        raise ValueError(f"Metric {metric!r} has no finite value in the history: {history[metric]}.")
    sign = 1.0 if mode == "max" else -1.0
    # Like pandas' idxmax: NaN epochs are skipped, ties go to the earliest epoch.
    return max(
        (i for i, v in enumerate(values) if not math.isnan(v)),
        key=lambda i: (sign * values[i], -i),
    )


def best_epoch(history, metric, mode="max"):
    """The epoch at which `metric` is best (the earliest one on ties).

    Args:
        history: `{name: [value per epoch]}`, as Keras' `History.history`,
            optionally with `"epoch": [1, 2, ...]` naming the epochs.
        metric: the key to select on, e.g. `"val_accuracy"`.
        mode: `"max"` or `"min"`.

    Returns:
        The 1-based epoch number (`history["epoch"][i]` when present).

    Example:
        >>> best_epoch({"epoch": [1, 2, 3], "val_accuracy": [0.5, 0.7, 0.7]}, "val_accuracy")
        2
    """
    index = _best_index(history, metric, mode)
    epochs = history.get("epoch")
    return int(epochs[index]) if epochs and len(epochs) > index else index + 1


def metrics_at_best_epoch(results, select_metric, report_metrics, mode="max"):
    """One run's row: its best epoch and the metrics at that epoch.

    A report metric is read from `results["history"]` at the best epoch; one
    measured only once after training (such as the leakage probe) is read
    from `results["final"]`. Metrics found in neither are left out.

    Args:
        results: a run's `results.json` content (`"history"`, `"final"`).
        select_metric: history key whose best epoch is kept.
        report_metrics: metric names to report.
        mode: `"max"` or `"min"` for `select_metric`.

    Returns:
        `{"best_epoch": e, select_metric: value, metric: value, ...}`.
    """
    history = results.get("history") or {}
    final = results.get("final") or {}
    index = _best_index(history, select_metric, mode)
    row = {"best_epoch": best_epoch(history, select_metric, mode)}
    for metric in [select_metric, *report_metrics]:
        values = history.get(metric)
        if values is not None and len(values) > index and _is_number(values[index]):
            row[metric] = float(values[index])
        elif _is_number(final.get(metric)):
            row[metric] = float(final[metric])
    return row


def top_k_rows(rows, select_metric, k, mode="max"):
    """The `k` rows with the best `select_metric`, best first.

    Rows without a numeric `select_metric` (failed or unfinished runs) are not
    ranked. Ties keep the rows' input order (a stable sort). With fewer than
    `k` ranked rows, all of them are returned.
    """
    _check_mode(mode)
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"`k` must be a positive integer; received k={k!r}.")
    ranked = [row for row in rows if _is_number(row.get(select_metric))]
    ranked.sort(key=lambda row: row[select_metric], reverse=(mode == "max"))
    return ranked[:k]


def top_k_summary(rows, select_metric, report_metrics, k, mode="max"):
    """Mean and population std (ddof=0) of each metric over the top-k rows.

    Args:
        rows: one dict per run, e.g. from `metrics_at_best_epoch`.
        select_metric: the key runs are ranked by.
        report_metrics: the keys to summarise.
        k: how many runs to keep (EnD: 3); all ranked runs if fewer.
        mode: `"max"` or `"min"` for `select_metric`.

    Returns:
        `{metric: (mean, std)}`. A metric missing from some of the top rows is
        averaged over the rows that have it; missing from all, it is
        `(nan, nan)`.

    Example (EnD, rho = 0.999, issue #3 of the official code):
        >>> rows = [{"v": 3, "u": 55.63}, {"v": 2, "u": 51.10}, {"v": 1, "u": 50.17}]
        >>> mean, std = top_k_summary(rows, "v", ["u"], k=3)["u"]
        >>> round(mean, 2), round(std, 2)
        (52.3, 2.39)
    """
    top = top_k_rows(rows, select_metric, k, mode)
    summary = {}
    for metric in report_metrics:
        values = [float(row[metric]) for row in top if _is_number(row.get(metric))]
        if values:
            summary[metric] = (float(np.mean(values)), float(np.std(values, ddof=0)))
        else:
            summary[metric] = (math.nan, math.nan)
    return summary


def format_value(value, precision=4):
    """Text for one table cell: numbers to `precision` significant digits, "" for missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{precision}g}"
    return str(value)


def markdown_table(rows, columns, precision=4):
    """A GitHub-flavoured markdown table of `rows` (dicts) over `columns`."""
    if not columns:
        raise ValueError("`columns` must name at least one column.")

    def cell(value):
        return format_value(value, precision).replace("|", "\\|").replace("\n", " ")

    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "|".join("---" for _ in columns) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(cell(row.get(column)) for column in columns) + " |")
    return "\n".join(lines) + "\n"


def csv_table(rows, columns):
    """CSV text of `rows` (dicts) over `columns`; missing values are empty cells."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({column: "" if row.get(column) is None else row[column] for column in columns})
    return buffer.getvalue()


def format_mean_std(mean, std, percent=False):
    """`"52.30 ± 2.39"`: two decimals of percentages, or four of raw values."""
    if math.isnan(mean):
        return "n/a"
    if percent:
        return f"{100 * mean:.2f} ± {100 * std:.2f}"
    return f"{mean:.4f} ± {std:.4f}"


def summary_markdown(summary, k, percent_metrics=()):
    """The top-k summary as a markdown table, one row per metric.

    Args:
        summary: `{metric: (mean, std)}` from `top_k_summary`.
        k: the `k` it was computed with (for the header).
        percent_metrics: metrics stored as fractions and shown as percentages.
    """
    lines = [f"| metric | top-{k} mean ± std |", "|---|---|"]
    for metric, (mean, std) in summary.items():
        label = f"{metric} (%)" if metric in percent_metrics else metric
        lines.append(f"| {label} | {format_mean_std(mean, std, metric in percent_metrics)} |")
    return "\n".join(lines) + "\n"
