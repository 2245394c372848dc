"""A method's hyperparameter sweep on Biased-MNIST, selected and reported as the EnD paper does.

Runs `python -m invariant_reps.sweep` on the real MNIST digits of ../shared/data/mnist (8,000 train /
2,000 test) with the fast MLP network: each run is read at its best-validation epoch, runs are ranked by it,
and the top 3 are summarised as mean ± std. The summary and the table go to the `<method>_sweep` section of
bench/RESULTS.md.

    python bench/method_sweep.py --method=end     # alpha, beta in {0.1, 1, 10}: 9 runs, ~15 min on 2 cores
    python bench/method_sweep.py --method=irene --grid=irene_gamma=0.2,1,5 --grid=irene_privacy_steps=1,5 \
        --train_flags="--optimizer=adam --learning_rate=1e-3 --batch_size=256 --lr_schedule=constant"
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

flags.DEFINE_enum("method", "end", ["end", "irene"], "Method whose hyperparameters are swept.")
flags.DEFINE_float("rho", 0.997, "Training colour-digit correlation.")
flags.DEFINE_multi_string(
    "grid", ["end_alpha=0.1,1,10", "end_beta=0.1,1,10"], "Grid dimensions, --<method>_<name> flags (see invariant_reps.sweep)."
)
flags.DEFINE_string("train_flags", "", "Extra train flags for every run.")
flags.DEFINE_integer("epochs", 30, "Epochs per run.")
flags.DEFINE_string("sweep_dir", None, "Sweep directory (default: bench/out/<method>_sweep).")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    if not os.path.exists(os.path.join(MNIST_DIR, "t10k-images-idx3-ubyte.gz")):
        print(f"SKIPPED: the real MNIST digits are not at {MNIST_DIR} (see shared/data/README.md).")
        return
    sweep_dir = FLAGS.sweep_dir or os.path.join(ROOT, "bench", "out", f"{FLAGS.method}_sweep")
    train_flags = (
        f"--source=idx --data_dir={MNIST_DIR} --test_size=0.2 --biased_mnist_rho={FLAGS.rho} --epochs={FLAGS.epochs} "
        f"--network=mlp --hidden_units=256 --hidden_units=128 --verbose=0 {FLAGS.train_flags}"
    )
    command = [
        sys.executable, "-m", "invariant_reps.sweep", f"--flagfile=flags/{FLAGS.method}_biased_mnist_rho{FLAGS.rho}.cfg",
        f"--sweep_dir={sweep_dir}", *(f"--grid={grid}" for grid in FLAGS.grid),
        f"--train_flags={train_flags.strip()}", "--top_k=3",
    ]
    start = time.time()
    subprocess.run(command, cwd=ROOT, check=True)
    with open(os.path.join(sweep_dir, "summary.md")) as f:
        summary = f.read().strip()
    with open(os.path.join(sweep_dir, "results.md")) as f:
        runs = f.read().strip()
    markdown = "\n".join([
        f"## {FLAGS.method} sweep ({', '.join(FLAGS.grid)}), MLP 256x128, rho={FLAGS.rho} "
        "(real MNIST, 8,000 train / 2,000 test)",
        "",
        f"Command: `python bench/method_sweep.py {' '.join(sys.argv[1:])}`  ",
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
    _results.update_section(f"{FLAGS.method}_sweep", markdown, path=os.path.join(ROOT, "bench", "RESULTS.md"))


if __name__ == "__main__":
    app.run(main)
