"""Hyperparameter sweeps over `invariant_reps.train`, summarised as EnD reports them.

Grid search (the cartesian product of every `--grid`):

    python -m invariant_reps.sweep --flagfile=flags/end_digits.cfg --sweep_dir=sweeps/end \
        --grid="end_alpha=0.1,1,10" --grid="end_beta=0.1,1"

Random search (`--random_search` draws, seeded by `--sweep_seed`):

    python -m invariant_reps.sweep --flagfile=flags/end_digits.cfg --sweep_dir=sweeps/end \
        --random_search=20 --space="end_alpha=loguniform:0.01:50" --space="end_beta=uniform:0:1"

`--flagfile` is the *training* flagfile (`--train_flagfile`), the base of every
run: `python -m invariant_reps.train --flagfile=<base> --logdir=<sweep_dir>/run_NNN
<--train_flags> --<name>=<value> ...`, each in a subprocess. Rerunning a killed
sweep skips the runs with a `results.json`; the others rerun and resume from
their checkpoints. Each run is scored at its best epoch by `--select_metric`, and
the `--report_metrics` are summarised as mean ± std (ddof=0) over the `--top_k`
best runs (EnD's protocol, `invariant_reps.evaluation.sweep_summary`). Written to
`--sweep_dir`: `results.csv`, `results.md`, `summary.md`, `summary.json`, the plan
`sweep.json`, and TensorBoard hparams (`tensorboard --logdir=<sweep_dir>`, HParams tab).
"""

import glob
import json
import math
import os
import re
import shlex
import subprocess
import sys

from absl import app, flags

from invariant_reps.cli.sweep_space import (  # noqa: F401  (re-exported)
    GRID_FORM,
    SPACE_FORMS,
    Dimension,
    parse_grid_spec,
    parse_space_spec,
    plan_runs,
)
from invariant_reps.cli.run_files import RESULTS_FILE, TENSORBOARD_DIR, write_text_atomically

# TensorFlow, TensorBoard and the evaluation package load after the flags are checked (inside the functions
# below), so that a mistaken flag is reported at once.

PLAN_FILE = "sweep.json"
SELECT_MODES = ("max", "min")  # evaluation.sweep_summary.MODES (tests/cli/test_startup.py checks they agree)
EVENTS_SUFFIX = ".sweep"  # Marks the event files this command writes (and rewrites).

FLAGS = flags.FLAGS

flags.DEFINE_string("train_flagfile", None, "Training flagfile, the base of every run (alias: --flagfile).")
flags.DEFINE_string("sweep_dir", None, "Directory of the sweep: one run_NNN logdir per run, tables, summary.")
flags.DEFINE_multi_string("grid", [], f"A grid dimension, {GRID_FORM}; repeat for the cartesian product.")
flags.DEFINE_integer("random_search", 0, "Number of random-search runs drawn from the --space specs.", lower_bound=0)
flags.DEFINE_multi_string("space", [], "A random-search dimension, one of: " + "; ".join(SPACE_FORMS.values()) + ".")
flags.DEFINE_integer("sweep_seed", 0, "Seed of the random search.")
flags.DEFINE_integer("top_k", 3, "Number of best runs summarised (EnD: 3).", lower_bound=1)
flags.DEFINE_string("select_metric", "val_accuracy", "Per-epoch metric whose best epoch is kept and ranks runs.")
flags.DEFINE_enum("select_mode", "max", SELECT_MODES, "Whether the best --select_metric is its max or min.")
_REPORTED = ["unbiased_test_accuracy", "biased_test_accuracy", "leakage_accuracy"]
flags.DEFINE_list("report_metrics", _REPORTED, "Metrics at each run's best epoch (else its final ones).")
flags.DEFINE_string("train_flags", "", 'Extra flags for every run, e.g. "--epochs=5 --source=digits".')
flags.DEFINE_bool("dry_run", False, "Print the planned runs and their commands, and run nothing.")
flags.DEFINE_string("train_module", "invariant_reps.train", "Module each run executes with `python -m`.")
flags.DEFINE_bool("percent", True, "Show metrics whose name contains 'accuracy' as percentages in the summary.")


def _validator(parse):
    """An absl flag validator reporting the ValueError of `parse(flag_value)`."""

    def check(value):
        try:
            parse(value)
        except ValueError as error:
            raise flags.ValidationError(str(error)) from None
        return True

    return check


def _parse_train_flags(text):
    """The tokens of `--train_flags`; raises ValueError unless they are `--name[=value]` flags."""
    try:
        tokens = shlex.split(text)
    except ValueError as error:
        raise ValueError(f"--train_flags={text!r} cannot be split: {error}.") from None
    for token in tokens:
        if not token.startswith("--") or token.split("=")[0] == "--logdir":
            raise ValueError(f"--train_flags must hold --name=value flags other than --logdir; found {token!r}.")
    return tokens


flags.register_validator("grid", _validator(lambda specs: [parse_grid_spec(spec) for spec in specs]))
flags.register_validator("space", _validator(lambda specs: [parse_space_spec(spec) for spec in specs]))
flags.register_validator("train_flags", _validator(_parse_train_flags))


def _flag_text(value):
    return str(value).lower() if isinstance(value, bool) else str(value)


def run_command(run_dir, params):
    """The argv of one run."""
    return [
        sys.executable, "-m", FLAGS.train_module, f"--flagfile={FLAGS.train_flagfile}", f"--logdir={run_dir}",
        *_parse_train_flags(FLAGS.train_flags), *(f"--{name}={_flag_text(v)}" for name, v in params.items()),
    ]


def _load_results(run_dir):
    """The run's results, or None when absent or unreadable (a run killed while writing them)."""
    try:
        with open(os.path.join(run_dir, RESULTS_FILE)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _stderr_tail(path, start, lines=15):
    with open(path, errors="replace") as f:
        f.seek(start)
        return "\n".join(f.read().strip().splitlines()[-lines:])


def _train(run_dir, params):
    """Runs one training subprocess; returns `(results or None, stderr tail)`."""
    os.makedirs(run_dir, exist_ok=True)
    err_path = os.path.join(run_dir, "stderr.log")
    with open(os.path.join(run_dir, "stdout.log"), "a") as out, open(err_path, "a") as err:
        start = err.tell()
        code = subprocess.run(run_command(run_dir, params), stdout=out, stderr=err, check=False).returncode
    results = _load_results(run_dir) if code == 0 else None
    if results is None:
        return None, f"exit status {code}, log {err_path}\n{_stderr_tail(err_path, start)}"
    return results, ""


def _row(run_id, params, results, error=""):
    from invariant_reps.evaluation import sweep_summary

    row = {"run": run_id, **params, "status": "ok" if results else "failed", "error": error}
    if results:
        try:
            row.update(sweep_summary.metrics_at_best_epoch(
                results, FLAGS.select_metric, FLAGS.report_metrics, FLAGS.select_mode))
        except ValueError as error:  # E.g. --select_metric not logged by the run.
            row.update(status="failed", error=str(error))
        row["seconds_per_epoch"] = results.get("seconds_per_epoch")
    return row


def _remove_own_events(directory):
    for path in glob.glob(os.path.join(directory, f"events.out.tfevents.*{EVENTS_SUFFIX}")):
        os.remove(path)


def write_hparams_config(sweep_dir, dimensions, metrics):
    """Declares the swept hparams and their domains, and the metrics, for TensorBoard's HParams tab."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    hparams = []
    for d in dimensions:
        if d.kind in ("grid", "choice"):
            domain = hp.Discrete(list(d.values))
        else:
            domain = hp.IntInterval(d.low, d.high) if d.kind == "int" else hp.RealInterval(d.low, d.high)
        hparams.append(hp.HParam(d.name, domain))
    _remove_own_events(sweep_dir)
    writer = tf.summary.create_file_writer(sweep_dir, filename_suffix=EVENTS_SUFFIX)
    with writer.as_default():
        hp.hparams_config(
            hparams=hparams,
            metrics=[hp.Metric(f"sweep/{m}", display_name=f"{m} (best epoch)") for m in metrics],
        )
    writer.close()


def write_run_summary(run_dir, run_id, params, row, metrics):
    """Writes the run's hparams and its best-epoch metrics (tags `sweep/<metric>`) for TensorBoard."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import api as hp

    board = os.path.join(run_dir, TENSORBOARD_DIR)
    _remove_own_events(board)
    writer = tf.summary.create_file_writer(board, filename_suffix=EVENTS_SUFFIX)
    with writer.as_default():
        # The train CLI records every flag here first; TensorBoard keeps that (consistent) record.
        hp.hparams(params, trial_id=run_id)
        for metric in metrics:
            if metric in row:
                tf.summary.scalar(f"sweep/{metric}", row[metric], step=row["best_epoch"])
    writer.close()


def _describe(params):
    from invariant_reps.evaluation import sweep_summary

    return " ".join(f"{name}={sweep_summary.format_value(v)}" for name, v in params.items())


def _record_plan(sweep_dir, plan):
    """Writes the plan, or checks that an existing sweep_dir holds the same sweep (or its prefix)."""
    record = {
        "train_module": FLAGS.train_module, "train_flagfile": os.path.abspath(FLAGS.train_flagfile),
        "train_flags": _parse_train_flags(FLAGS.train_flags), "runs": [{"run": r, "params": p} for r, p in plan],
    }
    path = os.path.join(sweep_dir, PLAN_FILE)
    if os.path.exists(path):
        with open(path) as f:
            old = json.load(f)
        same_base = all(old.get(key) == record[key] for key in ("train_module", "train_flagfile", "train_flags"))
        if not same_base or old["runs"] != record["runs"][: len(old["runs"])]:
            raise app.UsageError(
                f"{sweep_dir} holds a different sweep ({path}): its runs or base flags differ from this "
                "command's. Use a new --sweep_dir, or the original command to resume it."
            )
    write_text_atomically(path, json.dumps(record, indent=2))


def _dimensions():
    if bool(FLAGS.grid) == bool(FLAGS.space) or bool(FLAGS.random_search) != bool(FLAGS.space):
        raise app.UsageError(
            f"Give --grid={GRID_FORM} (repeatable), or --random_search=N with --space specs; not both."
        )
    dimensions = [parse_grid_spec(s) for s in FLAGS.grid] + [parse_space_spec(s) for s in FLAGS.space]
    names = [d.name for d in dimensions]
    fixed = {token.split("=")[0].lstrip("-") for token in _parse_train_flags(FLAGS.train_flags)}
    for name in names:
        if names.count(name) > 1 or name in fixed:
            raise app.UsageError(f"--{name} is given twice (swept twice, or swept and set in --train_flags).")
    return dimensions


def main(argv):
    """Plans the sweep, runs what is not done yet, writes the tables; returns 1 if every run failed."""
    from invariant_reps.evaluation import sweep_summary

    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.train_flagfile or not FLAGS.sweep_dir:
        raise app.UsageError("--flagfile (the training flagfile) and --sweep_dir are required.")
    dimensions = _dimensions()
    plan = plan_runs(dimensions, FLAGS.random_search, FLAGS.sweep_seed)
    sweep_dir = FLAGS.sweep_dir
    if FLAGS.dry_run:
        for run_id, params in plan:
            command = run_command(os.path.join(sweep_dir, run_id), params)
            print(f"{run_id}  {_describe(params)}\n    {shlex.join(command)}")
        print(f"{len(plan)} planned runs.")
        return 0
    if not os.path.isfile(FLAGS.train_flagfile):
        raise app.UsageError(f"Training flagfile {FLAGS.train_flagfile!r} not found.")
    os.makedirs(sweep_dir, exist_ok=True)
    _record_plan(sweep_dir, plan)
    select, reports = FLAGS.select_metric, [m for m in FLAGS.report_metrics if m != FLAGS.select_metric]
    metrics = [select, *reports]
    write_hparams_config(sweep_dir, dimensions, metrics)
    columns = ["run", *(d.name for d in dimensions), "status", "best_epoch", *metrics, "seconds_per_epoch"]
    rows = [{"run": run_id, **params, "status": "pending"} for run_id, params in plan]
    print(f"Sweep of {len(plan)} runs in {sweep_dir}.")
    for i, (run_id, params) in enumerate(plan):
        run_dir = os.path.join(sweep_dir, run_id)
        print(f"[{i + 1}/{len(plan)}] {run_id} {_describe(params)}", end=" ... ", flush=True)
        results, error, note = _load_results(run_dir), "", "already done"
        if results is None:
            (results, error), note = _train(run_dir, params), "done"
        rows[i] = _row(run_id, params, results, error)
        if rows[i]["status"] == "ok":
            write_run_summary(run_dir, run_id, params, rows[i], metrics)
            scores = ", ".join(f"{m}={sweep_summary.format_value(rows[i].get(m))}" for m in metrics)
            print(f"{note}: best epoch {rows[i]['best_epoch']}, {scores}", flush=True)
        else:
            print(f"FAILED ({rows[i]['error'].splitlines()[0]})", flush=True)
        write_text_atomically(
            os.path.join(sweep_dir, "results.csv"), sweep_summary.csv_table(rows, [*columns, "error"])
        )
        write_text_atomically(os.path.join(sweep_dir, "results.md"), sweep_summary.markdown_table(rows, columns))
    return _report(sweep_dir, rows, reports)


def _json_number(value):
    return None if math.isnan(value) else value


def _report(sweep_dir, rows, reports):
    """Writes and prints the top-k summary and the failures; returns the exit status."""
    from invariant_reps.evaluation import sweep_summary

    select, k = FLAGS.select_metric, FLAGS.top_k
    summary = sweep_summary.top_k_summary(rows, select, [select, *reports], k, FLAGS.select_mode)
    top = sweep_summary.top_k_rows(rows, select, k, FLAGS.select_mode)
    failed = [row for row in rows if row["status"] == "failed"]
    percent = {m for m in summary if FLAGS.percent and "accuracy" in m}
    text = (
        f"Top {len(top)} of {len(rows) - len(failed)} completed runs (--top_k={k}) by {select} "
        f"({FLAGS.select_mode}) at each run's best epoch: {', '.join(row['run'] for row in top) or 'none'}.\n\n"
        + sweep_summary.summary_markdown(summary, len(top), percent)
    )
    write_text_atomically(os.path.join(sweep_dir, "summary.md"), text)
    record = {
        "select_metric": select, "select_mode": FLAGS.select_mode, "top_k": k,
        "num_runs": len(rows), "num_failed": len(failed), "top_runs": top,
        "metrics": {m: {"mean": _json_number(mean), "std": _json_number(std)} for m, (mean, std) in summary.items()},
    }
    write_text_atomically(os.path.join(sweep_dir, "summary.json"), json.dumps(record, indent=2))
    print("\n" + text)
    for row in failed:
        print(f"{row['run']} FAILED: {row['error']}\n")
    if failed:
        print(f"{len(failed)} of {len(rows)} runs failed.")
    return 1 if len(failed) == len(rows) else 0


def parse_flags(argv):
    """absl's parser, after reading `--flagfile` as the training flagfile (`--train_flagfile`)."""
    argv = [re.sub(r"^--?flagfile(?==|$)", "--train_flagfile", arg) for arg in argv]
    return app.parse_flags_with_usage(argv)


def run():
    app.run(main, flags_parser=parse_flags)
