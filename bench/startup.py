"""How long a command takes to report a mistaken flag, against loading TensorFlow.

Runs, alternately (A B A B ...) and each in a fresh interpreter, every command with a bad flag and
`python -c "import tensorflow"`, and writes the `startup` section of bench/RESULTS.md: the median wall
time of each and its ratio to the TensorFlow import measured beside it.

    python bench/startup.py --repeats=5
"""

import datetime
import os
import statistics
import subprocess
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _results  # noqa: E402

flags.DEFINE_integer("repeats", 5, "Alternations of each command with the TensorFlow import.", lower_bound=1)
flags.DEFINE_bool("write_results", True, "Update bench/RESULTS.md.")
FLAGS = flags.FLAGS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COMMANDS = (
    ("train, a non-integer --epochs", ["-m", "invariant_reps.train", "--epochs=abc"]),
    ("train, a misspelt flag (--epoch)", ["-m", "invariant_reps.train", "--epoch=3"]),
    ("train, a misspelt --method", ["-m", "invariant_reps.train", "--method=endd"]),
    ("train, a bad hyperparameter value (--end_alpha=-1)",
     ["-m", "invariant_reps.train", "--method=end", "--end_alpha=-1"]),
    ("train, a misspelt hyperparameter (--end_alph)", ["-m", "invariant_reps.train", "--method=end", "--end_alph=1"]),
    ("train with --import, a misspelt --method (checked after the import)",
     ["-m", "invariant_reps.train", "--import=json", "--method=endd"]),
    ("sweep, --top_k=0", ["-m", "invariant_reps.sweep", "--top_k=0"]),
    ("evaluate, a non-integer --max_examples", ["-m", "invariant_reps.evaluate", "--run_dir=x", "--max_examples=a"]),
    ("estimate_mi, an unknown --method", ["-m", "invariant_reps.estimate_mi", "--run_dir=x", "--method=mime"]),
)
IMPORT_TENSORFLOW = ["-c", "import tensorflow"]


def _seconds(args):
    start = time.perf_counter()
    completed = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if args is IMPORT_TENSORFLOW and completed.returncode != 0:
        raise RuntimeError(completed.stderr[-2000:])
    if args is not IMPORT_TENSORFLOW and "FATAL Flags parsing error" not in completed.stderr:
        raise RuntimeError(f"{args}: no flag error reported:\n{completed.stderr[-2000:]}")
    return elapsed


def main(argv):
    del argv
    rows = []
    for label, args in COMMANDS:
        command, tensorflow = [], []
        for _ in range(FLAGS.repeats):
            command.append(_seconds(args))
            tensorflow.append(_seconds(IMPORT_TENSORFLOW))
        rows.append((label, args, statistics.median(command), statistics.median(tensorflow)))
        print(f"{label}: {rows[-1][2]:.2f} s (import tensorflow: {rows[-1][3]:.2f} s)", flush=True)
    lines = [
        "## Time to report a mistaken flag (`bench/startup.py`)", "",
        f"Command: `python bench/startup.py --repeats={FLAGS.repeats}`  ",
        f"Date: {datetime.date.today().isoformat()}; 2 CPU cores; each number the median of {FLAGS.repeats} fresh "
        "interpreters, alternated with `python -c \"import tensorflow\"` (the ratio compares the two).", "",
        "| mistake | command | seconds to the error | import tensorflow (s) | ratio |",
        "|---|---|---:|---:|---:|",
    ]
    for label, args, seconds, tensorflow in rows:
        lines.append(f"| {label} | `python {' '.join(args)}` | {seconds:.2f} | {tensorflow:.2f} | "
                     f"{seconds / tensorflow:.2f} |")
    lines += [
        "", "Every flag of the package's own methods and datasets is checked before TensorFlow loads (their "
        "declarations are recorded in `invariant_reps/_builtin_declarations.py`). With `--import`, a user's "
        "module may register more, so the names given to --method/--dataset/--network, unknown flags and flags "
        "that do not fit together are checked after the import (the last train row).",
    ]
    if FLAGS.write_results:
        _results.update_section("startup", "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    app.run(main)
