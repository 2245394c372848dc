r"""Benchmark: discriminability vs transferability, vanilla vs CTC (dt-tradeoff).

The seed's experiment (Cui et al., ECCV 2022) scaled down to a 2-core CPU:
train a network on a source task with and without contrastive temporal
coding, keep a checkpoint every epoch, and measure, per checkpoint, the
source test accuracy (discriminability) and the accuracy of a linear probe
of the frozen representation on a target task (transferability). The seed's
claim: CTC ends with a better target probe than vanilla training.

Every run is the project's own command line, nothing is re-implemented here:

    python -m invariant_reps.train --flagfile=flags/<vanilla_digits_transfer|ctc_digits>.cfg \
        --logdir=<out_dir>/<method>_seed<k> --seed=<k>
    python -m invariant_reps.estimate_mi --run_dir=<out_dir>/<method>_seed<k> --transfer ...

and the table is built from their outputs (`results.json`,
`info/information_dynamics.csv`). Task (`data/transfer_tasks.py`): source =
digits 0-4, target = digits 5-9, from the embedded scikit-learn digits
(default, offline) or, with `--source=idx`, the shared MNIST t10k files.
The first seed gets the information dynamics every `--mi_every` epochs (the
curve); further seeds only their final checkpoint. Runs are resumable: a run
whose `results.json` exists is not retrained, and an existing
`information_dynamics.csv` is reused (delete it to re-estimate).

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
FLAGFILES = {"vanilla": "flags/vanilla_digits_transfer.cfg", "ctc": "flags/ctc_digits.cfg"}
METHODS = tuple(FLAGFILES)
# Shared flags that a fair one-factor comparison would hold equal (read back from results.json).
SHARED_FLAGS = ("network", "hidden_units", "optimizer", "learning_rate", "momentum", "batch_size",
                "weight_decay", "epochs", "lr_schedule", "stage_two_epoch")


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


def format_summary(first_runs, finals, seeds):
    lines = [
        "| method | final source acc | final target probe acc | best target probe acc (epoch) | "
        f"I(X;T) first -> last | I(T;Y) first -> last | final target probe, seeds {', '.join(seeds)}: "
        "mean +- std |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in METHODS:
        results, rows = first_runs[method]
        best = max(rows, key=lambda row: row["target_probe_acc"])
        per_seed = np.asarray(finals[method])
        lines.append(
            f"| {method} | {results['final']['source_test_accuracy']:.4f} | "
            f"{results['final']['target_probe_accuracy']:.4f} | {best['target_probe_acc']:.4f} "
            f"({best['epoch']}) | {rows[0]['I_XT']:.2f} -> {rows[-1]['I_XT']:.2f} | "
            f"{rows[0]['I_TY']:.2f} -> {rows[-1]['I_TY']:.2f} | {per_seed.mean():.4f} +- "
            f"{per_seed.std():.4f} ({', '.join(f'{value:.4f}' for value in per_seed)}) |"
        )
    return "\n".join(lines)


def format_curve(first_runs):
    """The first seed's curve at the epochs estimate_mi measured, with the learning rate of that epoch."""
    by_method = {method: {row["epoch"]: row for row in rows} for method, (_, rows) in first_runs.items()}
    history = {method: results["history"] for method, (results, _) in first_runs.items()}
    lines = [
        "| epoch | vanilla lr | vanilla source acc | vanilla target probe acc | vanilla I(X;T) | "
        "CTC lr | CTC source acc | CTC target probe acc | CTC I(X;T) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for epoch in sorted(set(by_method["vanilla"]) & set(by_method["ctc"])):
        cells = []
        for method in METHODS:
            row, index = by_method[method][epoch], history[method]["epoch"].index(epoch)
            cells += [f"{history[method]['learning_rate'][index]:.4f}", f"{row['source_acc']:.4f}",
                      f"{row['target_probe_acc']:.4f}", f"{row['I_XT']:.2f}"]
        lines.append(f"| {epoch} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def describe_setup(first_runs, task):
    vanilla, ctc = (first_runs[method][0]["flags"] for method in METHODS)
    differing = [name for name in SHARED_FLAGS if vanilla[name] != ctc[name]]
    difference = ", ".join(f"`{name}` {vanilla[name]} vs {ctc[name]}" for name in differing) or "none"
    return (
        f"Source task: digits 0-4 ({first_runs['vanilla'][0]['source']}, {len(task.source_train[1])} train / "
        f"{len(task.source_test[1])} test); target task: digits 5-9 (linear probe fitted on "
        f"{len(task.target_train[1])}, scored on {len(task.target_test[1])}). Network: {vanilla['network']} "
        f"{'-'.join(str(units) for units in vanilla['hidden_units'])} (z = last layer); {vanilla['optimizer']} "
        f"lr {vanilla['learning_rate']} momentum {vanilla['momentum']}, batch {vanilla['batch_size']}, weight "
        f"decay {vanilla['weight_decay']}, {vanilla['epochs']} epochs. CTC: a={ctc['ctc_a']} b={ctc['ctc_b']}, "
        f"instance_t={ctc['instance_t']} instance_m={ctc['instance_m']} nce_t={ctc['nce_t']} "
        f"nce_m={ctc['nce_m']}, {ctc['num_negatives']} negatives, projection {ctc['projection_dim']}, "
        f"weight_decay_coef={ctc['weight_decay_coef']} (stage one), stage two from epoch "
        f"{ctc['stage_two_epoch']}.\n\n"
        f"**Not a one-factor comparison.** Besides `--method`, the two flagfiles differ in the learning-rate "
        f"schedule ({difference}): vanilla decays by a cosine over the whole run, CTC follows the seed's "
        f"two-stage cosine (cosine over stage one, then a restart at 0.1x the learning rate and a second "
        f"cosine), as in the seed's `train_ctc.py`. Part of any gap below may come from the schedule.\n\n"
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


def main(argv):
    del argv
    total_start = time.time()
    seeds = [str(int(seed)) for seed in FLAGS.seeds]
    first_runs, seconds = {}, {}
    finals = {method: [] for method in METHODS}
    for number, seed in enumerate(seeds):
        for method in METHODS:
            results, rows, seconds[method, seed] = run_one(method, seed, first=number == 0)
            finals[method].append(results["final"]["target_probe_accuracy"])
            if number == 0:
                first_runs[method] = (results, rows)

    out_dir = _results.REPO_ROOT / FLAGS.out_dir
    curves = {method: rows for method, (_, rows) in first_runs.items()}
    title = f"vanilla vs CTC, seed {seeds[0]}"
    plot_over_epochs(curves, str(out_dir / "over_epochs.png"), title=title)
    plot_information_plane(curves, str(out_dir / "information_plane.png"), title=title)

    data_dir = _results.REPO_ROOT / FLAGS.data_dir if FLAGS.source == "idx" else None
    task = load_transfer_task("digits_transfer", source=FLAGS.source, data_dir=data_dir)
    ctc_mean, vanilla_mean = np.mean(finals["ctc"]), np.mean(finals["vanilla"])
    wins = sum(c > v for c, v in zip(finals["ctc"], finals["vanilla"]))
    ties = sum(c == v for c, v in zip(finals["ctc"], finals["vanilla"]))
    verdict = "above" if ctc_mean > vanilla_mean else "not above"
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
        f"CTC's final target probe accuracy is **{verdict}** vanilla's: mean {ctc_mean:.4f} vs "
        f"{vanilla_mean:.4f} over {len(seeds)} seeds, CTC higher in {wins} of them"
        f"{f' (tied in {ties})' if ties else ''}; one target test example is {1 / len(task.target_test[1]):.4f}."
        f"\n\nPer-epoch curve of seed {seeds[0]} (the epochs estimate_mi measured; `lr` is the learning rate "
        f"of that epoch, from `history`):\n\n{format_curve(first_runs)}\n\n"
        f"Figures: `{FLAGS.out_dir}/over_epochs.png`, `{FLAGS.out_dir}/information_plane.png`; each run's own "
        f"under `<run>/info/`.\n"
    )
    path = _results.update_section(SECTION, markdown, FLAGS.results_path)
    print(markdown)
    print(f"Wrote section '{SECTION}' of {path}")


if __name__ == "__main__":
    app.run(main)
