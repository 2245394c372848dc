"""EnD's model selection as in the paper: sweep alpha, beta; keep each run's best-validation epoch; top-3 mean ± std.

Runs `python -m invariant_reps.sweep` on the real MNIST digits of ../shared/data/mnist (8,000 train /
2,000 test) at rho=0.997 with the fast MLP network, then copies the sweep's summary and table into the
`end_sweep` section of bench/RESULTS.md.

    python bench/end_sweep.py            # 9 runs x 30 epochs, about 15 min on 2 CPU cores
"""

import datetime
import os
import subprocess
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _results  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MNIST_DIR = os.path.join(ROOT, "..", "shared", "data", "mnist")

flags.DEFINE_float("rho", 0.997, "Training colour-digit correlation.")
flags.DEFINE_list("alphas", ["0.1", "1", "10"], "Grid of EnD alpha.")
flags.DEFINE_list("betas", ["0.1", "1", "10"], "Grid of EnD beta.")
flags.DEFINE_integer("epochs", 30, "Epochs per run.")
flags.DEFINE_string("sweep_dir", os.path.join(ROOT, "bench", "out", "end_sweep"), "Sweep directory.")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not os.path.exists(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")):
        print(f"SKIPPED: the real MNIST digits are not at {MNIST_DIR} (see shared/data/README.md).")
        return
    train_flags = (
        f"--source=idx --data_dir={MNIST_DIR} --test_size=0.2 --rho={FLAGS.rho} --epochs={FLAGS.epochs} "
        "--network=mlp --hidden_units=256 --hidden_units=128 --verbose=0"
    )
    command = [
        sys.executable, "-m", "invariant_reps.sweep", f"--flagfile=flags/end_biased_mnist_rho{FLAGS.rho}.cfg",
        f"--sweep_dir={FLAGS.sweep_dir}", f"--grid=alpha={','.join(FLAGS.alphas)}",
        f"--grid=beta={','.join(FLAGS.betas)}", f"--train_flags={train_flags}", "--top_k=3",
    ]
    start = time.time()
    subprocess.run(command, cwd=ROOT, check=True)
    with open(os.path.join(FLAGS.sweep_dir, "summary.md")) as f:
        summary = f.read().strip()
    with open(os.path.join(FLAGS.sweep_dir, "results.md")) as f:
        runs = f.read().strip()
    markdown = "\n".join([
        f"## EnD alpha/beta sweep, MLP 256x128, rho={FLAGS.rho} (real MNIST, 8,000 train / 2,000 test)",
        "",
        f"Command: `python bench/end_sweep.py {' '.join(sys.argv[1:])}`  ",
        f"Run {datetime.date.today().isoformat()} on {os.cpu_count()} CPU cores; wall time "
        f"{(time.time() - start) / 60:.0f} min. EnD's protocol (spec §3.6): each run is read at its "
        "best-validation epoch (validation = training digits recoloured at rho=0.1), runs are ranked by that "
        "validation accuracy, and the top 3 are reported as mean ± std (ddof=0).",
        "",
        summary,
        "",
        "<details><summary>All runs</summary>",
        "",
        runs,
        "",
        "</details>",
    ])
    print(markdown)
    _results.update_section("end_sweep", markdown, path=os.path.join(ROOT, "bench", "RESULTS.md"))


if __name__ == "__main__":
    app.run(main)
