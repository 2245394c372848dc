"""Biased-MNIST benchmark: vanilla vs EnD vs IRENE on the real MNIST digits in ../shared/data/mnist.

The shared folder holds the 10,000-digit MNIST test split only; it is split
8,000 train / 2,000 test with a fixed seed (`--test_size=0.2`). Each method
trains at rho with its paper's protocol (flags/<method>_biased_mnist_rho<rho>.cfg)
shortened to --epochs epochs and narrowed to --network_width, is tested
unbiased (rho=0.1) and biased (rho=1), and the colour leakage of z is
measured with a fresh linear probe. Results go to the `biased_mnist` section
of bench/RESULTS.md.

    python bench/biased_mnist.py                  # full run (about 1 h on 2 CPU cores)
    python bench/biased_mnist.py --epochs=2 --rhos=0.99 --methods=vanilla   # smoke test
"""

import datetime
import json
import os
import subprocess
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _results  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, "..", "shared", "data", "mnist")

flags.DEFINE_list("methods", ["vanilla", "end", "irene"], "Methods to compare.")
flags.DEFINE_list("rhos", ["0.99", "0.997"], "Training colour-digit correlations.")
flags.DEFINE_integer("epochs", 15, "Epochs per run.")
flags.DEFINE_float("network_width", 0.25, "SimpleConvNet width multiplier (1.0 = the paper's network).")
flags.DEFINE_string("data_dir", MNIST_DIR, "IDX directory with t10k-images/labels.")
flags.DEFINE_string("out_dir", os.path.join(ROOT, "bench", "out", "biased_mnist"), "Run directories.")
flags.DEFINE_list("extra_flags", [], "Extra train flags for every run, e.g. --extra_flags=--alpha=0.5.")
flags.DEFINE_bool("write_results", True, "Update bench/RESULTS.md.")
FLAGS = flags.FLAGS


def flagfile(method, rho):
    if method == "vanilla":
        return "flags/vanilla_biased_mnist.cfg"
    return f"flags/{method}_biased_mnist_rho{rho}.cfg"


def run_one(method, rho):
    logdir = os.path.join(FLAGS.out_dir, f"{method}_rho{rho}")
    results_path = os.path.join(logdir, "results.json")
    if os.path.exists(results_path):
        print(f"[{method} rho={rho}] done before; reading {results_path}", flush=True)
    else:
        command = [
            sys.executable, "-m", "invariant_reps.train", f"--flagfile={flagfile(method, rho)}",
            "--source=idx", f"--data_dir={FLAGS.data_dir}", "--test_size=0.2", f"--rho={rho}",
            f"--epochs={FLAGS.epochs}", f"--network_width={FLAGS.network_width}", f"--logdir={logdir}",
            "--verbose=2", *FLAGS.extra_flags,
        ]
        print(f"[{method} rho={rho}] {' '.join(command[2:])}", flush=True)
        start = time.time()
        subprocess.run(command, cwd=ROOT, check=True)
        print(f"[{method} rho={rho}] finished in {time.time() - start:.0f} s", flush=True)
    with open(results_path) as f:
        return json.load(f)


def table(rows):
    lines = [
        "| method | rho | unbiased acc. (final) | biased acc. (final) | unbiased acc. at best val. epoch | "
        "colour leakage from z (probe acc.; chance) | train acc. | s / epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        final, best = r["final"], r.get("best_epoch") or {}
        best_text = (
            f"{100 * best['unbiased_test_accuracy']:.1f} (epoch {best['epoch']})"
            if "unbiased_test_accuracy" in best else "n/a"
        )
        lines.append(
            f"| {r['method']} | {r['rho']} | {100 * final['unbiased_test_accuracy']:.1f} | "
            f"{100 * final['biased_test_accuracy']:.1f} | {best_text} | "
            f"{100 * final['leakage_accuracy']:.1f} ({100 * final['leakage_chance']:.1f}) | "
            f"{100 * final['train_accuracy']:.1f} | {r['seconds_per_epoch'] or 0:.1f} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    if not os.path.exists(os.path.join(FLAGS.data_dir, "t10k-images-idx3-ubyte.gz")):
        print(f"SKIPPED: the real MNIST digits are not at {FLAGS.data_dir} (see shared/data/README.md).")
        return
    start = time.time()
    rows = [run_one(method, rho) for rho in FLAGS.rhos for method in FLAGS.methods]
    markdown = "\n".join([
        "## Biased-MNIST: vanilla vs EnD vs IRENE (real MNIST, 8,000 train / 2,000 test)",
        "",
        f"Command: `python bench/biased_mnist.py --epochs={FLAGS.epochs} --network_width={FLAGS.network_width} "
        f"--rhos={','.join(FLAGS.rhos)} --methods={','.join(FLAGS.methods)}"
        + (f" --extra_flags={','.join(FLAGS.extra_flags)}" if FLAGS.extra_flags else "") + "`  ",
        f"Run {datetime.date.today().isoformat()} on {os.cpu_count()} CPU cores; wall time "
        f"{(time.time() - start) / 60:.0f} min (runs already done are reused).",
        "",
        "Each method uses its paper's protocol (flags/<method>_biased_mnist_rho<rho>.cfg: EnD and vanilla Adam 1e-3, "
        "batch 256; IRENE SGD 0.1, batch 100, alpha 0.5, gamma 0.2), shortened to the epochs above and with a "
        f"SimpleConvNet of width {FLAGS.network_width} so that it runs on a CPU. Unbiased test: the 2,000 test digits "
        "coloured at rho=0.1; biased test: at rho=1; leakage: a fresh logistic-regression probe of the colour "
        "from frozen z, trained on training digits recoloured at rho=0.1 and scored on the unbiased test set.",
        "",
        table(rows),
    ])
    print(markdown)
    if FLAGS.write_results:
        _results.update_section("biased_mnist", markdown, path=os.path.join(ROOT, "bench", "RESULTS.md"))


if __name__ == "__main__":
    app.run(main)
