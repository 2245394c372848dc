"""Biased-MNIST benchmark: vanilla vs EnD vs IRENE on the real MNIST digits in ../shared/data/mnist.

The shared folder holds the 10,000-digit MNIST test split only; it is split
8,000 train / 2,000 test with a fixed seed (`--test_size=0.2`). Each method
trains at rho with its paper's protocol (flags/<method>_biased_mnist_rho<rho>.cfg)
shortened to --epochs epochs and narrowed to --network_width, is tested
unbiased (rho=0.1) and biased (rho=1), and the colour leakage of z is
measured with a fresh linear probe. Results go to the `biased_mnist` section
of bench/RESULTS.md.

    python bench/biased_mnist.py                                  # SimpleConvNet (width 0.25), ~1 h on 2 cores
    python bench/biased_mnist.py --network=mlp --epochs=30 --end_alpha=1 --end_beta=1   # MLP, ~10 min
    python bench/biased_mnist.py --epochs=2 --rhos=0.99 --methods=vanilla   # smoke test

Each configuration writes its own section, `biased_mnist_<network>`.
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
flags.DEFINE_enum("network", "simple_conv", ["simple_conv", "mlp"], "Network (simple_conv: the papers').")
flags.DEFINE_float("network_width", 0.25, "SimpleConvNet width multiplier (1.0 = the paper's network).")
flags.DEFINE_list("hidden_units", ["256", "128"], "MLP hidden layer sizes (last = bottleneck).")
flags.DEFINE_float("end_alpha", None, "EnD alpha (default: the flagfile's).")
flags.DEFINE_float("end_beta", None, "EnD beta (default: the flagfile's).")
flags.DEFINE_float("irene_gamma", None, "IRENE gamma (default: the flagfile's).")
flags.DEFINE_bool(
    "same_optimizer", False,
    "Train IRENE with vanilla's optimizer (Adam 1e-3, batch 256, constant rate) instead of its SGD 0.1 protocol, "
    "so that only the regularizer differs between methods (SGD 0.1 collapses the MLP).",
)
flags.DEFINE_string("data_dir", MNIST_DIR, "IDX directory with t10k-images/labels.")
flags.DEFINE_string("out_dir", os.path.join(ROOT, "bench", "out", "biased_mnist"), "Run directories.")
flags.DEFINE_list("extra_flags", [], "Extra train flags for every run, e.g. --extra_flags=--alpha=0.5.")
flags.DEFINE_bool("write_results", True, "Update bench/RESULTS.md.")
FLAGS = flags.FLAGS


def flagfile(method, rho):
    if method == "vanilla":
        return "flags/vanilla_biased_mnist.cfg"
    return f"flags/{method}_biased_mnist_rho{rho}.cfg"


def method_flags(method):
    if method == "end":
        chosen = (("alpha", FLAGS.end_alpha), ("beta", FLAGS.end_beta))
    elif method == "irene":
        chosen = (("gamma", FLAGS.irene_gamma),)
    else:
        return []
    selected = [f"--{name}={value}" for name, value in chosen if value is not None]
    if method == "irene" and FLAGS.same_optimizer:
        selected += ["--optimizer=adam", "--learning_rate=1e-3", "--batch_size=256", "--lr_schedule=constant"]
    return selected


def network_flags():
    if FLAGS.network == "mlp":
        return ["--network=mlp", *(f"--hidden_units={units}" for units in FLAGS.hidden_units)]
    return ["--network=simple_conv", f"--network_width={FLAGS.network_width}"]


def network_label():
    if FLAGS.network == "mlp":
        return f"mlp_{'x'.join(FLAGS.hidden_units)}"
    return f"simple_conv_w{FLAGS.network_width:g}"


def run_one(method, rho):
    suffix = "".join(flag.replace("--", "_").replace("=", "") for flag in method_flags(method))
    logdir = os.path.join(FLAGS.out_dir, network_label(), f"{method}_rho{rho}{suffix}")
    results_path = os.path.join(logdir, "results.json")
    if os.path.exists(results_path):
        print(f"[{method} rho={rho}] done before; reading {results_path}", flush=True)
    else:
        command = [
            sys.executable, "-m", "invariant_reps.train", f"--flagfile={flagfile(method, rho)}",
            "--source=idx", f"--data_dir={FLAGS.data_dir}", "--test_size=0.2", f"--rho={rho}",
            f"--epochs={FLAGS.epochs}", *network_flags(), *method_flags(method), f"--logdir={logdir}",
            "--verbose=2", *FLAGS.extra_flags,
        ]
        print(f"[{method} rho={rho}] {' '.join(command[2:])}", flush=True)
        start = time.time()
        subprocess.run(command, cwd=ROOT, check=True)
        print(f"[{method} rho={rho}] finished in {time.time() - start:.0f} s", flush=True)
    with open(results_path) as f:
        return json.load(f)


def describe(results):
    flags_used = results["flags"]
    if results["method"] == "end":
        return f"EnD (alpha={flags_used['alpha']:g}, beta={flags_used['beta']:g})"
    if results["method"] == "irene":
        return (f"IRENE (alpha={flags_used['alpha']:g}, gamma={flags_used['gamma']:g}, "
                f"{flags_used['optimizer']} {flags_used['learning_rate']:g})")
    return results["method"]


def table(rows):
    lines = [
        "| method (hyperparameters) | rho | unbiased acc. (final) | biased acc. (final) | unbiased acc. at best val. epoch | "
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
            f"| {describe(r)} | {r['rho']} | {100 * final['unbiased_test_accuracy']:.1f} | "
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
        f"## Biased-MNIST, {network_label()}: vanilla vs EnD vs IRENE (real MNIST, 8,000 train / 2,000 test)",
        "",
        f"Command: `python bench/biased_mnist.py {' '.join(sys.argv[1:])}`  ",
        f"Run {datetime.date.today().isoformat()} on {os.cpu_count()} CPU cores; wall time "
        f"{(time.time() - start) / 60:.0f} min (runs already done are reused).",
        "",
        "Each method uses its paper's protocol (flags/<method>_biased_mnist_rho<rho>.cfg: EnD and vanilla Adam 1e-3, "
        "batch 256; IRENE SGD 0.1, batch 100, alpha 0.5, gamma 0.2"
        + ("; here IRENE trains with vanilla's Adam 1e-3, batch 256 (--same_optimizer)" if FLAGS.same_optimizer else "")
        + f"), shortened to {FLAGS.epochs} epochs, with "
        f"network {network_label()} so that it runs on a CPU. Unbiased test: the 2,000 test digits "
        "coloured at rho=0.1; biased test: at rho=1; leakage: a fresh logistic-regression probe of the colour "
        "from frozen z, trained on training digits recoloured at rho=0.1 and scored on the unbiased test set.",
        "",
        table(rows),
    ])
    print(markdown)
    if FLAGS.write_results:
        _results.update_section(f"biased_mnist_{network_label()}", markdown, path=os.path.join(ROOT, "bench", "RESULTS.md"))


if __name__ == "__main__":
    app.run(main)
