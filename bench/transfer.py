r"""Benchmark: discriminability vs transferability, vanilla vs CTC (dt-tradeoff).

The seed's experiment (Cui et al., ECCV 2022) scaled down to a 2-core CPU:
train a network on a source task with and without contrastive temporal
coding, save a checkpoint every epoch, and for every checkpoint measure the
source test accuracy (discriminability) and the accuracy of a linear probe
of the frozen representation on a target task (transferability). The seed's
claim: CTC ends with a better target probe than vanilla training.

Task (`data/transfer_tasks.py`): source = digits 0-4, target = digits 5-9,
from the embedded scikit-learn digits (default, offline) or, with
`--source=idx`, from the shared MNIST t10k files split 8,000 / 2,000.

Both runs share the network, SGD (momentum 0.9), batch size, weight decay,
data order and initialisation. Vanilla uses a cosine learning-rate decay
over the run; CTC uses the seed's two-stage cosine (`train_ctc.py`,
`adjust_learning_rate_decouple`): cosine over stage one, then a restart at
0.1x the learning rate, cosine over stage two. I(X;T) and I(T;Y) of every
`--mi_every`-th checkpoint are estimated with the `estimate_mi` CLI's code
(SMILE, held-out), which writes each run's CSV and information-plane plot.

    python bench/transfer.py
    python bench/transfer.py --source=idx --data_dir=../shared/data/mnist

The same runs through the CLIs: flags/vanilla_digits_transfer.cfg and
flags/ctc_digits.cfg, then `python -m invariant_reps.estimate_mi --transfer`.
"""

import datetime
import math
import os
import pathlib
import platform
import sys
import time

import keras
import numpy as np
from absl import app, flags

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import _results  # noqa: E402

from invariant_reps.cli import estimate_mi  # noqa: E402
from invariant_reps.data.pipeline import make_array_dataset  # noqa: E402
from invariant_reps.data.transfer_tasks import load_transfer_task  # noqa: E402
from invariant_reps.evaluation import information_dynamics  # noqa: E402
from invariant_reps.evaluation.transfer import transfer_curve  # noqa: E402
from invariant_reps.models import Vanilla  # noqa: E402
from invariant_reps.models.ctc import CTC  # noqa: E402
from invariant_reps.networks import build_network  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_enum("source", "digits", ("digits", "idx"), "Embedded digits, or IDX MNIST (--data_dir).")
flags.DEFINE_string("data_dir", "../shared/data/mnist", "IDX folder for --source=idx.")
flags.DEFINE_list("hidden_units", ["512", "256", "128"], "Widths of the mlp encoder; the last is z.")
flags.DEFINE_integer("epochs", 30, "Epochs of each run.")
flags.DEFINE_integer("stage_two_epoch", 20, "CTC: epochs of stage one (seed: 200 of 300).")
flags.DEFINE_integer("batch_size", 64, "Batch size (seed: 64).")
flags.DEFINE_float("learning_rate", 0.05, "Initial SGD learning rate (seed: 0.05).")
flags.DEFINE_float("weight_decay", 5e-4, "Coupled L2 weight decay (seed: 5e-4).")
flags.DEFINE_float("weight_decay_coef", 2.0, "CTC: weight-decay multiplier of stage one (seed: 2.0).")
flags.DEFINE_float("ctc_a", 0.5, "CTC: weight of instance discrimination (seed transfer setting: 0.5).")
flags.DEFINE_float("ctc_b", 1.0, "CTC: weight of the temporal term (seed: 1.0).")
flags.DEFINE_float("instance_t", 0.1, "CTC: instance temperature.")
flags.DEFINE_float("instance_m", 0.9, "CTC: instance bank momentum.")
flags.DEFINE_float("nce_t", 0.1, "CTC: temporal temperature.")
flags.DEFINE_float("nce_m", 0.9, "CTC: temporal bank momentum.")
flags.DEFINE_integer("num_negatives", 4096, "CTC: negatives per batch (all rows when the set is smaller).")
flags.DEFINE_integer("mi_every", 10, "Estimate I(X;T), I(T;Y) every N epochs (0: skip).")
flags.DEFINE_integer("mi_steps", 1000, "Critic steps per MI estimate.")
flags.DEFINE_enum("mi_eval_on", "source_train", estimate_mi.EVAL_SPLITS,
                  "Split the MI is estimated on (the digits test split has only 180 source examples).")
flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds; the first gets the full curve and MI, the others the final probe.")
flags.DEFINE_string("out_dir", "bench/out/transfer", "Runs, checkpoints and figures.")
flags.DEFINE_string("results_path", "bench/RESULTS.md", "Results file (relative to the repo root).")

SECTION = "transfer"
METHODS = ("vanilla", "ctc")


def cosine_rate(epoch, num_epochs, base):
    """Cosine decay of `base` over `num_epochs` (0-based `epoch`)."""
    return base * 0.5 * (1.0 + math.cos(math.pi * epoch / num_epochs))


def two_stage_cosine_rate(epoch, stage_two_epoch, num_epochs, base, restart=0.1):
    """The seed's CTC schedule: cosine over stage one, restart at `restart * base`."""
    if epoch < stage_two_epoch:
        return cosine_rate(epoch, stage_two_epoch, base)
    return cosine_rate(epoch - stage_two_epoch, num_epochs - stage_two_epoch, restart * base)


def build_model(method, task, seed):
    keras.utils.set_random_seed(seed)
    network = build_network(
        "mlp", task.input_shape, task.num_source_classes,
        hidden_units=tuple(int(units) for units in FLAGS.hidden_units),
    )
    if method == "vanilla":
        return Vanilla(network.encoder, network.head, weight_decay=FLAGS.weight_decay)
    return CTC(
        network.encoder, network.head, num_examples=len(task.source_train[1]),
        alpha=FLAGS.ctc_a, beta=FLAGS.ctc_b,
        instance_temperature=FLAGS.instance_t, instance_momentum=FLAGS.instance_m,
        temporal_temperature=FLAGS.nce_t, temporal_momentum=FLAGS.nce_m,
        num_negatives=FLAGS.num_negatives, update_memory_bank=True,
        stage_two_epoch=FLAGS.stage_two_epoch, weight_decay=FLAGS.weight_decay,
        weight_decay_coef=FLAGS.weight_decay_coef, seed=seed,
    )


def train(method, task, run_dir, seed):
    """Trains one run, saving `checkpoints/epoch_NNNN.keras` after every epoch."""
    model = build_model(method, task, seed)
    model.compile(optimizer=keras.optimizers.SGD(FLAGS.learning_rate, momentum=0.9))
    x, y = task.source_train
    batches = make_array_dataset(
        x, y, np.zeros(len(y)), FLAGS.batch_size, shuffle_seed=seed,
        num_epochs=FLAGS.epochs, include_index=True,
    )
    if method == "vanilla":
        def schedule(epoch):
            return cosine_rate(epoch, FLAGS.epochs, FLAGS.learning_rate)
    else:
        def schedule(epoch):
            return two_stage_cosine_rate(epoch, FLAGS.stage_two_epoch, FLAGS.epochs, FLAGS.learning_rate)
    checkpoints = os.path.join(run_dir, "checkpoints")
    os.makedirs(checkpoints, exist_ok=True)
    start = time.time()
    model.fit(
        batches.dataset, epochs=FLAGS.epochs, steps_per_epoch=batches.steps_per_epoch, verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(schedule),
            # Keras formats {epoch} 1-based: epoch_0001.keras after the first epoch.
            keras.callbacks.ModelCheckpoint(os.path.join(checkpoints, "epoch_{epoch:04d}.keras")),
        ],
    )
    return time.time() - start


def format_summary(curves, mi_rows, finals):
    seeds = ", ".join(FLAGS.seeds)
    lines = [
        "| method | final source acc | final target probe acc | best target probe acc (epoch) | "
        f"I(X;T) first -> last | I(T;Y) first -> last | final target probe, seeds {seeds}: mean +- std |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for method in METHODS:
        curve = curves[method]
        best = max(curve, key=lambda point: point.target_probe_accuracy)
        mi = mi_rows.get(method) or []
        xt = f"{mi[0]['I_XT']:.2f} -> {mi[-1]['I_XT']:.2f}" if mi else "-"
        ty = f"{mi[0]['I_TY']:.2f} -> {mi[-1]['I_TY']:.2f}" if mi else "-"
        per_seed = np.asarray(finals[method])
        lines.append(
            f"| {method} | {curve[-1].source_accuracy:.4f} | {curve[-1].target_probe_accuracy:.4f} | "
            f"{best.target_probe_accuracy:.4f} ({best.epoch}) | {xt} | {ty} | "
            f"{per_seed.mean():.4f} +- {per_seed.std():.4f} ({', '.join(f'{v:.4f}' for v in per_seed)}) |"
        )
    return "\n".join(lines)


def format_curve(curves, every=5):
    lines = [
        "| epoch | vanilla source acc | vanilla target probe acc | CTC source acc | CTC target probe acc |",
        "|---:|---:|---:|---:|---:|",
    ]
    for vanilla, ctc in zip(curves["vanilla"], curves["ctc"]):
        if vanilla.epoch % every == 0 or vanilla.epoch == 1:
            lines.append(
                f"| {vanilla.epoch} | {vanilla.source_accuracy:.4f} | {vanilla.target_probe_accuracy:.4f} | "
                f"{ctc.source_accuracy:.4f} | {ctc.target_probe_accuracy:.4f} |"
            )
    return "\n".join(lines)


def main(argv):
    del argv
    total_start = time.time()
    data_dir = FLAGS.data_dir if FLAGS.source == "idx" else None
    task = load_transfer_task("digits_transfer", source=FLAGS.source, data_dir=data_dir)
    curves, mi_rows, seconds = {}, {}, {}
    finals = {method: [] for method in METHODS}
    for number, seed in enumerate(int(seed) for seed in FLAGS.seeds):
        for method in METHODS:
            run_dir = os.path.join(FLAGS.out_dir, f"seed{seed}", method)
            elapsed = train(method, task, run_dir, seed)
            checkpoints = information_dynamics.list_checkpoints(run_dir)
            if number:  # Further seeds: the final checkpoint only.
                checkpoints = checkpoints[-1:]
            curve = transfer_curve(checkpoints, task.source_test, task.target_train, task.target_test)
            finals[method].append(curve[-1].target_probe_accuracy)
            print(f"seed {seed} {method}: {elapsed:.0f}s training, final source "
                  f"{curve[-1].source_accuracy:.4f}, target probe {curve[-1].target_probe_accuracy:.4f}")
            if number:
                continue
            curves[method], seconds[method] = curve, elapsed
            if FLAGS.mi_every:
                mi_rows[method] = estimate_mi.evaluate_run(
                    run_dir, source=FLAGS.source, data_dir=data_dir, eval_on=FLAGS.mi_eval_on,
                    steps=FLAGS.mi_steps, every=FLAGS.mi_every, seed=seed, verbose=0,
                )

    rows = {}
    for method in METHODS:
        mi_by_epoch = {row["epoch"]: row for row in mi_rows.get(method, [])}
        rows[method] = [dict(point.as_row(), **mi_by_epoch.get(point.epoch, {})) for point in curves[method]]
    information_dynamics.plot_over_epochs(
        rows, os.path.join(FLAGS.out_dir, "over_epochs.png"), title="vanilla vs CTC"
    )
    if FLAGS.mi_every:
        information_dynamics.plot_information_plane(
            rows, os.path.join(FLAGS.out_dir, "information_plane.png"), title="vanilla vs CTC"
        )

    ctc_final, vanilla_final = np.mean(finals["ctc"]), np.mean(finals["vanilla"])
    verdict = "above" if ctc_final > vanilla_final else "not above"
    wins = sum(c > v for c, v in zip(finals["ctc"], finals["vanilla"]))
    num_train = len(task.source_train[1])
    command = "python bench/transfer.py " + " ".join(sys.argv[1:])
    markdown = (
        "## Transfer: discriminability vs transferability, vanilla vs CTC (dt-tradeoff)\n\n"
        f"Command: `{command.strip()}`  \n"
        f"Date: {datetime.date.today().isoformat()}  \n"
        f"Machine: {os.cpu_count()} CPU cores ({platform.processor() or platform.machine()}); "
        f"total {time.time() - total_start:.0f} s (training: vanilla {seconds['vanilla']:.0f} s, "
        f"CTC {seconds['ctc']:.0f} s)\n\n"
        f"Source task: digits 0-4 ({task.data_source}, {num_train} train / "
        f"{len(task.source_test[1])} test); target task: digits 5-9 (linear probe fitted on "
        f"{len(task.target_train[1])}, scored on {len(task.target_test[1])}). Network: mlp "
        f"{'-'.join(FLAGS.hidden_units)} (z = last layer); SGD lr {FLAGS.learning_rate} "
        f"momentum 0.9, batch {FLAGS.batch_size}, weight decay {FLAGS.weight_decay}, {FLAGS.epochs} "
        f"epochs. CTC: stage two from epoch {FLAGS.stage_two_epoch}, a={FLAGS.ctc_a} b={FLAGS.ctc_b}, "
        f"instance_t={FLAGS.instance_t} instance_m={FLAGS.instance_m} nce_t={FLAGS.nce_t} "
        f"nce_m={FLAGS.nce_m}, weight_decay_coef={FLAGS.weight_decay_coef} (stage one). MI: SMILE "
        f"held-out estimate in nats every {FLAGS.mi_every} epochs ({FLAGS.mi_steps} critic steps, "
        f"{FLAGS.mi_eval_on} split), seed {FLAGS.seeds[0]}.\n\n"
        f"{format_summary(curves, mi_rows, finals)}\n\n"
        f"CTC's final target probe accuracy is **{verdict}** vanilla's: mean {ctc_final:.4f} vs "
        f"{vanilla_final:.4f} over {len(FLAGS.seeds)} seeds, CTC higher in {wins} of them "
        f"({len(task.target_test[1])} target test examples: one example is "
        f"{1 / len(task.target_test[1]):.4f}).\n\n"
        f"Per-epoch curve of seed {FLAGS.seeds[0]} (from the saved checkpoints):\n\n{format_curve(curves)}\n"
    )
    path = _results.update_section(SECTION, markdown, FLAGS.results_path)
    print(markdown)
    print(f"Wrote section '{SECTION}' of {path}")


if __name__ == "__main__":
    app.run(main)
