r"""Benchmark: discriminability vs transferability, vanilla vs CTC's two variants (dt-tradeoff).

The seed's experiment (Cui et al., ECCV 2022) scaled down to a 2-core CPU:
train a network on a source task without and with contrastive temporal coding
(`--ctc_variant=seed`, the seed's algorithm, and `single_bank`, this package's
simplification), keep a checkpoint every epoch, and measure the source test
accuracy (discriminability) and the accuracy of a linear probe of the frozen
representation on a target task (transferability). The seed's claim: CTC ends
with a better target probe than vanilla training.

All three runs share one learning-rate schedule (the seed's two-stage cosine,
restart at 0.1x at epoch 20), network, optimizer, batch and weight decay: the
flagfiles say so and this script refuses to compare runs whose shared flags
differ, so any gap is the method's. Every run is the project's own command line:

    python -m invariant_reps.train --flagfile=flags/<vanilla_digits_transfer|ctc_digits|ctc_digits_single_bank>.cfg \
        --logdir=<out_dir>/<method>_seed<k> --seed=<k>
    python -m invariant_reps.estimate_mi --run_dir=<out_dir>/<method>_seed<k> --transfer ...

and the tables are built from their outputs (`results.json`,
`info/information_dynamics.csv`). Task (`data/transfer_tasks.py`): source =
digits 0-4, target = digits 5-9, from the embedded scikit-learn digits
(default, offline) or, with `--source=idx`, the shared MNIST t10k files.
The first seed gets the information dynamics every `--mi_every` epochs (the
curve); further seeds only their final checkpoint. Runs are resumable: a run
whose `results.json` exists is not retrained, and an existing
`information_dynamics.csv` is reused (delete the run folder after changing the
code or the flagfiles).

    python bench/transfer.py
    python bench/transfer.py --source=idx --data_dir=../shared/data/mnist
"""

import csv
import datetime
import json
import os
import pathlib
import platform
import subprocess
import sys
import time

import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _results  # noqa: E402

from invariant_reps.cli import estimate_mi  # noqa: E402
from invariant_reps.data.transfer_tasks import load_transfer_task  # noqa: E402
from invariant_reps.evaluation import plot_information_plane, plot_over_epochs  # noqa: E402
from invariant_reps.models.ctc_memory import max_class_aware_negatives  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("source", "digits", ("digits", "idx"), "Embedded digits, or IDX MNIST (--data_dir).")
flags.DEFINE_string("data_dir", "../shared/data/mnist", "IDX folder for --source=idx (relative: to the repo root).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; the first gets the MI curve, the others the final checkpoint.")
flags.DEFINE_integer("mi_every", 5, "estimate_mi --every for the first seed (the per-epoch curve).", lower_bound=1)
flags.DEFINE_integer("mi_steps", 1000, "estimate_mi --steps: most critic steps per MI estimate.", lower_bound=1)
flags.DEFINE_enum("mi_eval_on", "source_train", estimate_mi.EVAL_SPLITS,
                  "estimate_mi --eval_on (the digits test split has only 180 source examples).")
flags.DEFINE_string("out_dir", "bench/out/transfer", "Run directories (relative: to the repo root).")
flags.DEFINE_string("results_path", "bench/RESULTS.md", "Results file (relative: to the repo root).")

SECTION = "transfer"
FLAGFILES = {
    "vanilla": "flags/vanilla_digits_transfer.cfg",
    "ctc": "flags/ctc_digits.cfg",  # --ctc_variant=seed
    "ctc_single_bank": "flags/ctc_digits_single_bank.cfg",
}
METHODS = tuple(FLAGFILES)
LABELS = {"vanilla": "vanilla", "ctc": "CTC, variant seed", "ctc_single_bank": "CTC, variant single_bank"}
# Shared flags that the one-factor comparison holds equal (read back from results.json; checked).
SHARED_FLAGS = ("network", "hidden_units", "optimizer", "learning_rate", "momentum", "batch_size",
                "weight_decay", "epochs", "lr_schedule", "lr_restart_epoch", "max_train_examples")


def train_command(method, seed, logdir):
    command = ["-m", "invariant_reps.train", f"--flagfile={FLAGFILES[method]}", f"--logdir={logdir}",
               f"--seed={seed}", "--verbose=0"]
    if FLAGS.source == "idx":
        command += ["--source=idx", f"--data_dir={FLAGS.data_dir}"]
    return command


def estimate_command(logdir, seed, every):
    command = ["-m", "invariant_reps.estimate_mi", f"--run_dir={logdir}", "--transfer", f"--every={every}",
               f"--steps={FLAGS.mi_steps}", f"--eval_on={FLAGS.mi_eval_on}", f"--seed={seed}",
               f"--source={FLAGS.source}"]
    if FLAGS.source == "idx":
        command.append(f"--data_dir={FLAGS.data_dir}")
    return command


def run_logged(command, log_path):
    """Runs `python <command>` from the repo root, output to `log_path`; returns its wall seconds."""
    start = time.time()
    with open(log_path, "w") as log:
        completed = subprocess.run([sys.executable, *command], cwd=_results.REPO_ROOT,
                                   stdout=log, stderr=subprocess.STDOUT, check=False)
    if completed.returncode:
        tail = pathlib.Path(log_path).read_text().splitlines()[-15:]
        raise RuntimeError(f"`python {' '.join(command)}` exited with {completed.returncode}; "
                           f"end of {log_path}:\n" + "\n".join(tail))
    return time.time() - start


def read_csv_rows(path):
    with open(path, newline="") as file:
        return [{key: (int(value) if key == "epoch" else float(value)) for key, value in row.items()}
                for row in csv.DictReader(file)]


def run_one(method, seed, first):
    """Trains (unless done) and measures one run.

    Returns:
        `(results, rows, seconds)`: the run's results.json, its
        information-dynamics CSV rows, and the wall seconds of its two
        commands (kept in `bench_seconds.json`, so a reused run reports the
        time it took when it ran).
    """
    logdir = os.path.join(FLAGS.out_dir, f"{method}_seed{seed}")
    absolute = _results.REPO_ROOT / logdir
    absolute.mkdir(parents=True, exist_ok=True)
    seconds_path = absolute / "bench_seconds.json"
    seconds = json.loads(seconds_path.read_text()) if seconds_path.exists() else {}
    ran = []
    results_path = absolute / "results.json"
    if not results_path.exists():
        seconds["train"] = run_logged(train_command(method, seed, logdir), absolute / "train.log")
        ran.append("train")
    results = json.loads(results_path.read_text())
    csv_path = absolute / "info" / estimate_mi.CSV_FILE
    if not csv_path.exists():
        every = FLAGS.mi_every if first else results["epochs"]
        seconds["estimate_mi"] = run_logged(estimate_command(logdir, seed, every), absolute / "estimate_mi.log")
        ran.append("estimate_mi")
    seconds_path.write_text(json.dumps(seconds))
    rows = read_csv_rows(csv_path)
    print(f"{method} seed {seed}: final source {results['final']['source_test_accuracy']:.4f}, "
          f"target probe {results['final']['target_probe_accuracy']:.4f} "
          f"(ran: {', '.join(f'{name} {seconds[name]:.0f} s' for name in ran) or 'nothing, reused'})",
          flush=True)
    return results, rows, dict(seconds, ran=ran)


def mean_std(values):
    values = np.asarray(values, dtype=float)
    return f"{values.mean():.4f} +- {values.std():.4f}"


def format_summary(first_runs, finals, seeds):
    lines = [
        f"| method | final source acc, mean +- std | final target probe acc, mean +- std | target probe, seeds "
        f"{', '.join(seeds)} | seed {seeds[0]}: best target probe (epoch) | seed {seeds[0]}: I(X;T) first -> last "
        f"| seed {seeds[0]}: I(T;Y) first -> last |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in METHODS:
        _, rows = first_runs[method]
        best = max(rows, key=lambda row: row["target_probe_acc"])
        source, target = (np.asarray(finals[method][key]) for key in ("source", "target"))
        lines.append(
            f"| {LABELS[method]} | {mean_std(source)} | {mean_std(target)} | "
            f"{', '.join(f'{value:.4f}' for value in target)} | {best['target_probe_acc']:.4f} ({best['epoch']}) | "
            f"{rows[0]['I_XT']:.2f} -> {rows[-1]['I_XT']:.2f} | {rows[0]['I_TY']:.2f} -> {rows[-1]['I_TY']:.2f} |"
        )
    return "\n".join(lines)


def format_curve(first_runs):
    """The first seed's curve at the epochs estimate_mi measured, with the (shared) learning rate of that epoch."""
    by_method = {method: {row["epoch"]: row for row in rows} for method, (_, rows) in first_runs.items()}
    history = first_runs["vanilla"][0]["history"]
    header = "| epoch | lr | " + " | ".join(
        f"{LABELS[method]}: source acc | target probe acc | I(X;T)" for method in METHODS) + " |"
    lines = [header, "|---:|---:|" + "---:|" * (3 * len(METHODS))]
    for epoch in sorted(set.intersection(*(set(rows) for rows in by_method.values()))):
        cells = [f"{history['learning_rate'][history['epoch'].index(epoch)]:.4f}"]
        for method in METHODS:
            row = by_method[method][epoch]
            cells += [f"{row['source_acc']:.4f}", f"{row['target_probe_acc']:.4f}", f"{row['I_XT']:.2f}"]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def check_one_factor(first_runs):
    """Raises unless every run holds the shared flags (learning-rate schedule included) equal."""
    reference = first_runs["vanilla"][0]["flags"]
    for method in METHODS:
        flags_ = first_runs[method][0]["flags"]
        differing = [name for name in SHARED_FLAGS if flags_.get(name) != reference.get(name)]
        if differing:
            raise ValueError(f"{method} and vanilla differ in {differing}: not a one-factor comparison; align "
                             f"{FLAGFILES[method]} with {FLAGFILES['vanilla']}.")


def describe_setup(first_runs, task):
    vanilla = first_runs["vanilla"][0]["flags"]
    ctc = first_runs["ctc"][0]["flags"]
    capped = min(ctc["ctc_num_negatives"], max_class_aware_negatives(task.source_train[1]))
    return (
        f"Source task: digits 0-4 ({first_runs['vanilla'][0]['source']}, {len(task.source_train[1])} train / "
        f"{len(task.source_test[1])} test); target task: digits 5-9 (linear probe fitted on "
        f"{len(task.target_train[1])}, scored on {len(task.target_test[1])}). Network: {vanilla['network']} "
        f"{'-'.join(str(units) for units in vanilla['hidden_units'])} (z = last layer); {vanilla['optimizer']} "
        f"lr {vanilla['learning_rate']} momentum {vanilla['momentum']}, batch {vanilla['batch_size']}, weight "
        f"decay {vanilla['weight_decay']}, {vanilla['epochs']} epochs, learning rate `{vanilla['lr_schedule']}` "
        f"restarting at 0.1x at epoch {vanilla['lr_restart_epoch']} (the CTC seed's schedule), **the same for "
        f"the three runs** (checked: {', '.join(f'`{name}`' for name in SHARED_FLAGS)} are equal), so they differ "
        f"in the method only.\n\n"
        f"CTC (both variants): a={ctc['ctc_alpha']} b={ctc['ctc_beta']}, instance_t={ctc['ctc_instance_temperature']} "
        f"instance_m={ctc['ctc_instance_momentum']} nce_t={ctc['ctc_temporal_temperature']} "
        f"nce_m={ctc['ctc_temporal_momentum']}, projection {ctc['ctc_projection_dim']}, "
        f"weight_decay_coef={ctc['ctc_weight_decay_coef']} (stage one), stage two from epoch "
        f"{ctc['ctc_stage_two_epoch']}, update_memory_bank={ctc['ctc_update_memory_bank']}. Variant seed: stage "
        f"two against the frozen epoch-{ctc['ctc_stage_two_epoch']} snapshot, two memories and heads, CRD NCE with "
        f"{ctc['ctc_num_negatives']} requested negatives per example, capped at {capped} (the smallest number of "
        f"other-class training examples). Variant single_bank: InfoNCE against one bank per stage "
        f"({first_runs['ctc_single_bank'][0]['flags']['ctc_num_negatives']} negatives: every other row).\n\n"
        f"MI: `estimate_mi` default estimator (SMILE, held-out bound, nats) on the {FLAGS.mi_eval_on} split, "
        f"at most {FLAGS.mi_steps} critic steps, every {FLAGS.mi_every} epochs for seed {FLAGS.seeds[0]} and "
        f"on the final checkpoint for the other seeds. The final numbers are from each run's `results.json`; "
        f"the curve from the first seed's `info/information_dynamics.csv` and `history` (learning rate)."
    )


def command_lines():
    seed = FLAGS.seeds[0]
    lines = []
    for method in METHODS:
        logdir = os.path.join(FLAGS.out_dir, f"{method}_seed{seed}")
        lines.append("python " + " ".join(train_command(method, seed, logdir)))
        lines.append("python " + " ".join(estimate_command(logdir, seed, FLAGS.mi_every)))
    return "\n".join(lines)


def format_timing(seconds, seeds):
    """Each run's `train + estimate_mi` wall seconds ("?" for a run not timed by this bench)."""
    def wall(run, command):
        return f"{run[command]:.0f}" if command in run else "?"

    return "; ".join(
        f"{method}: " + ", ".join(
            f"seed {seed} {wall(seconds[method, seed], 'train')} + {wall(seconds[method, seed], 'estimate_mi')} s"
            for seed in seeds
        )
        for method in METHODS
    )


def verdicts(finals, seeds, task):
    lines = []
    vanilla = np.asarray(finals["vanilla"]["target"])
    for method in METHODS[1:]:
        values = np.asarray(finals[method]["target"])
        wins, ties = int(np.sum(values > vanilla)), int(np.sum(values == vanilla))
        verdict = "above" if values.mean() > vanilla.mean() else "not above"
        lines.append(
            f"- {LABELS[method]}: final target probe accuracy **{verdict}** vanilla's, mean {values.mean():.4f} vs "
            f"{vanilla.mean():.4f} ({values.mean() - vanilla.mean():+.4f}) over {len(seeds)} seeds, higher in "
            f"{wins} of them{f' (tied in {ties})' if ties else ''}."
        )
    lines.append(f"- One target test example is {1 / len(task.target_test[1]):.4f}.")
    return "\n".join(lines)


def main(argv):
    del argv
    total_start = time.time()
    seeds = [str(int(seed)) for seed in FLAGS.seeds]
    first_runs, seconds = {}, {}
    finals = {method: {"source": [], "target": []} for method in METHODS}
    for number, seed in enumerate(seeds):
        for method in METHODS:
            results, rows, seconds[method, seed] = run_one(method, seed, first=number == 0)
            finals[method]["source"].append(results["final"]["source_test_accuracy"])
            finals[method]["target"].append(results["final"]["target_probe_accuracy"])
            if number == 0:
                first_runs[method] = (results, rows)
    check_one_factor(first_runs)

    out_dir = _results.REPO_ROOT / FLAGS.out_dir
    curves = {LABELS[method]: rows for method, (_, rows) in first_runs.items()}
    title = f"vanilla vs CTC, seed {seeds[0]}"
    plot_over_epochs(curves, str(out_dir / "over_epochs.png"), title=title)
    plot_information_plane(curves, str(out_dir / "information_plane.png"), title=title)

    data_dir = _results.REPO_ROOT / FLAGS.data_dir if FLAGS.source == "idx" else None
    task = load_transfer_task("digits_transfer", source=FLAGS.source, data_dir=data_dir)
    trained = sum("train" in run["ran"] for run in seconds.values())
    markdown = (
        "## Transfer: discriminability vs transferability, vanilla vs CTC (dt-tradeoff)\n\n"
        f"Command: `{' '.join(['python bench/transfer.py'] + sys.argv[1:])}`  \n"
        f"Date: {datetime.date.today().isoformat()}  \n"
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}), shared with "
        f"other jobs; this invocation {time.time() - total_start:.0f} s wall, training {trained} of "
        f"{len(seconds)} runs"
        + (f" (the others reused from `{FLAGS.out_dir}`)" if trained < len(seconds) else "")
        + ". Wall seconds per run, train CLI + "
        f"estimate_mi CLI, process start included: {format_timing(seconds, seeds)}.\n\n"
        f"Each run is the train CLI, then the estimate_mi CLI (seed {seeds[0]} shown; the other seeds change "
        f"`--seed` and the run folder, and pass `--every=<epochs>`, the final checkpoint only):\n\n"
        f"```\n{command_lines()}\n```\n\n"
        f"{describe_setup(first_runs, task)}\n\n"
        f"{format_summary(first_runs, finals, seeds)}\n\n"
        f"{verdicts(finals, seeds, task)}\n"
        f"\nPer-epoch curve of seed {seeds[0]} (the epochs estimate_mi measured; `lr` is the learning rate "
        f"of that epoch, from `history`, the same for every run):\n\n{format_curve(first_runs)}\n\n"
        f"Figures: `{FLAGS.out_dir}/over_epochs.png`, `{FLAGS.out_dir}/information_plane.png`; each run's own "
        f"under `<run>/info/`.\n"
    )
    path = _results.update_section(SECTION, markdown, FLAGS.results_path)
    print(markdown)
    print(f"Wrote section '{SECTION}' of {path}")


if __name__ == "__main__":
    app.run(main)
