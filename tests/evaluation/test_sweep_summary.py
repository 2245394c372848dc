"""Tests of the sweep's model selection: best epoch, top-k mean ± std, tables."""

import csv
import io
import math

import pytest

from invariant_reps.evaluation import sweep_summary


def _end_rows():
    """EnD, rho = 0.999, issue #3: the top-3 runs by valid_acc and two worse runs."""
    return [
        {"run": "a", "val_accuracy": 0.40, "unbiased_test_accuracy": 90.00, "biased_test_accuracy": 99.0},
        {"run": "b", "val_accuracy": 0.91, "unbiased_test_accuracy": 51.10, "biased_test_accuracy": 90.0},
        {"run": "c", "val_accuracy": 0.95, "unbiased_test_accuracy": 55.63, "biased_test_accuracy": 85.0},
        {"run": "d", "val_accuracy": 0.30, "unbiased_test_accuracy": 95.00, "biased_test_accuracy": 99.0},
        {"run": "e", "val_accuracy": 0.88, "unbiased_test_accuracy": 50.17, "biased_test_accuracy": 91.0},
    ]


# ---------------------------------------------------------------- best_epoch
def test_best_epoch_max_min_and_epoch_names():
    history = {"epoch": [11, 12, 13, 14], "val_accuracy": [0.2, 0.9, 0.5, 0.7], "val_loss": [3.0, 1.0, 0.5, 2.0]}
    assert sweep_summary.best_epoch(history, "val_accuracy") == 12
    assert sweep_summary.best_epoch(history, "val_loss", mode="min") == 13
    # Without "epoch", epochs are numbered from 1.
    assert sweep_summary.best_epoch({"val_accuracy": [0.2, 0.9, 0.5]}, "val_accuracy") == 2


def test_best_epoch_ties_go_to_the_earliest_epoch():
    history = {"epoch": [1, 2, 3, 4], "val_accuracy": [0.5, 0.8, 0.8, 0.8]}
    assert sweep_summary.best_epoch(history, "val_accuracy") == 2
    assert sweep_summary.best_epoch({"l": [2.0, 1.0, 1.0]}, "l", mode="min") == 2


def test_best_epoch_skips_nan_epochs():
    history = {"val_accuracy": [0.3, math.nan, 0.4, None]}
    assert sweep_summary.best_epoch(history, "val_accuracy") == 3


def test_best_epoch_errors_name_the_problem():
    with pytest.raises(ValueError, match=r"'val_acc' is not in the history; available: \['val_accuracy'\]"):
        sweep_summary.best_epoch({"val_accuracy": [0.1]}, "val_acc")
    with pytest.raises(ValueError, match="no finite value"):
        sweep_summary.best_epoch({"val_accuracy": [math.nan]}, "val_accuracy")
    with pytest.raises(ValueError, match="no finite value"):
        sweep_summary.best_epoch({"val_accuracy": []}, "val_accuracy")
    with pytest.raises(ValueError, match="mode='best'"):
        sweep_summary.best_epoch({"val_accuracy": [0.1]}, "val_accuracy", mode="best")


def test_metrics_at_best_epoch_reads_history_then_final():
    results = {
        "history": {
            "epoch": [1, 2, 3],
            "val_accuracy": [0.5, 0.9, 0.7],
            "unbiased_test_accuracy": [0.1, 0.2, 0.3],
        },
        "final": {"unbiased_test_accuracy": 0.3, "leakage_accuracy": 0.6},
    }
    row = sweep_summary.metrics_at_best_epoch(
        results, "val_accuracy", ["unbiased_test_accuracy", "leakage_accuracy", "absent_metric"]
    )
    # The unbiased accuracy is the epoch-2 one (0.2), not the final 0.3; the
    # leakage exists only as a final value; the absent metric is left out.
    assert row == {"best_epoch": 2, "val_accuracy": 0.9, "unbiased_test_accuracy": 0.2, "leakage_accuracy": 0.6}


# -------------------------------------------------------------- top_k_summary
def test_top_k_summary_reproduces_end_table_1():
    summary = sweep_summary.top_k_summary(
        _end_rows(), "val_accuracy", ["unbiased_test_accuracy", "biased_test_accuracy"], k=3
    )
    mean, std = summary["unbiased_test_accuracy"]
    # (55.63 + 51.10 + 50.17) / 3 = 52.30; deviations 3.33, -1.20, -2.13;
    # population std = sqrt((11.0889 + 1.44 + 4.5369) / 3) = sqrt(5.6886) = 2.3851.
    assert mean == pytest.approx(52.30, abs=1e-9)
    assert std == pytest.approx(2.3851, abs=1e-4)
    assert sweep_summary.format_mean_std(mean / 100, std / 100, percent=True) == "52.30 ± 2.39"
    mean, std = summary["biased_test_accuracy"]
    assert mean == pytest.approx((85.0 + 90.0 + 91.0) / 3)
    assert std == pytest.approx(math.sqrt(((85 - 88.666667) ** 2 + (90 - 88.666667) ** 2 + (91 - 88.666667) ** 2) / 3))


def test_top_k_rows_ranks_by_the_selected_metric():
    top = sweep_summary.top_k_rows(_end_rows(), "val_accuracy", k=3)
    assert [row["run"] for row in top] == ["c", "b", "e"]
    lowest = sweep_summary.top_k_rows(_end_rows(), "val_accuracy", k=2, mode="min")
    assert [row["run"] for row in lowest] == ["d", "a"]


def test_ties_keep_the_input_order():
    rows = [{"run": r, "v": v, "m": m} for r, v, m in [("x", 0.5, 1.0), ("y", 0.9, 2.0), ("z", 0.9, 4.0)]]
    assert [row["run"] for row in sweep_summary.top_k_rows(rows, "v", k=1)] == ["y"]
    assert sweep_summary.top_k_summary(rows, "v", ["m"], k=1) == {"m": (2.0, 0.0)}
    assert sweep_summary.top_k_summary(rows, "v", ["m"], k=2) == {"m": (3.0, 1.0)}


def test_k_larger_than_the_number_of_runs_uses_all_ranked_runs():
    rows = [{"v": 0.2, "m": 1.0}, {"v": 0.4, "m": 3.0}, {"status": "failed"}]
    assert sweep_summary.top_k_summary(rows, "v", ["m"], k=10) == {"m": (2.0, 1.0)}


def test_missing_metrics_and_unranked_rows():
    rows = [
        {"v": 0.9, "m": 1.0},
        {"v": 0.8},  # Ranked, but without m: m averages the others.
        {"v": 0.7, "m": 5.0},
        {"v": math.nan, "m": 100.0},  # Not ranked: no finite selection score.
        {"m": 100.0},  # Not ranked: a failed run.
    ]
    summary = sweep_summary.top_k_summary(rows, "v", ["m", "never_logged"], k=3)
    assert summary["m"] == (3.0, 2.0)
    assert all(math.isnan(x) for x in summary["never_logged"])
    empty = sweep_summary.top_k_summary([{"status": "failed"}], "v", ["m"], k=3)
    assert all(math.isnan(x) for x in empty["m"])


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_bad_k_is_rejected(k):
    with pytest.raises(ValueError, match=r"`k` must be a positive integer; received k="):
        sweep_summary.top_k_summary(_end_rows(), "val_accuracy", ["unbiased_test_accuracy"], k=k)


# ------------------------------------------------------------------- tables
def test_markdown_table():
    rows = [{"run": "run_000", "alpha": 0.1, "acc": 0.912345, "status": "ok"}, {"run": "run_001", "status": "a|b"}]
    text = sweep_summary.markdown_table(rows, ["run", "alpha", "acc", "status"])
    assert text.splitlines() == [
        "| run | alpha | acc | status |",
        "|---|---|---|---|",
        "| run_000 | 0.1 | 0.9123 | ok |",
        "| run_001 |  |  | a\\|b |",
    ]
    with pytest.raises(ValueError, match="at least one column"):
        sweep_summary.markdown_table(rows, [])


def test_csv_table_round_trips():
    rows = [{"run": "run_000", "alpha": 0.1, "error": ""}, {"run": "run_001", "error": "line 1\nline, 2"}]
    text = sweep_summary.csv_table(rows, ["run", "alpha", "error"])
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert parsed == [
        {"run": "run_000", "alpha": "0.1", "error": ""},
        {"run": "run_001", "alpha": "", "error": "line 1\nline, 2"},
    ]


def test_summary_markdown_in_percent_and_raw():
    summary = {"unbiased_test_accuracy": (0.5230, 0.02391), "mi": (1.5, 0.25), "leakage_accuracy": (math.nan,) * 2}
    text = sweep_summary.summary_markdown(summary, 3, percent_metrics={"unbiased_test_accuracy"})
    assert text.splitlines() == [
        "| metric | top-3 mean ± std |",
        "|---|---|",
        "| unbiased_test_accuracy (%) | 52.30 ± 2.39 |",
        "| mi | 1.5000 ± 0.2500 |",
        "| leakage_accuracy | n/a |",
    ]
