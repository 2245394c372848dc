"""Profiles the slowest method of `bench/overhead.py` (DisenIB on the MLP backbone): what dominates its step?

Times the step (the overhead bench's `Runner`: MLP 256-128 on 32 features, batch 1024, 10 classes) with each
of DisenIB's costly options turned down one at a time, in one process, and writes the `profile_disenib`
section of bench/RESULTS.md. With `--trace_dir` it also records a TensorFlow profiler trace of the default
step (`tensorboard --logdir=<trace_dir>`, Profile tab; the plugin is `tensorboard-plugin-profile`).

    python bench/profile_disenib.py
    python bench/profile_disenib.py --trace_dir=bench/out/profile_disenib
"""

import datetime
import os
import sys
import time

from absl import app, flags

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _results  # noqa: E402
import overhead  # noqa: E402


flags.DEFINE_string("trace_dir", None, "Write a TensorFlow profiler trace of two default steps here.")
flags.DEFINE_bool("write_results_profile", True, "Update bench/RESULTS.md.")
FLAGS = flags.FLAGS

VARIANTS = (
    ("the seed's defaults (num_samples 10, clustering, spectral norm, 3 estimator iterations)", {}),
    ("num_samples = 1", {"num_samples": 1}),
    ("no clustering", {"clustering": False}),
    ("no spectral norm", {"spectral_norm": False}),
    ("estimator_iterations = 1", {"estimator_iterations": 1}),
)


def main(argv):
    del argv
    start = time.time()
    plain = overhead.Runner("mlp", "plain", "default")
    plain_seconds = plain.run(FLAGS.steps)[0]
    rows = []
    for label, overrides in VARIANTS:
        runner = overhead.Runner("mlp", "disenib", "default", overrides)
        wall, cpu = runner.run(FLAGS.steps)
        rows.append((label, wall, cpu))
        print(f"{label}: {wall:.3f} s/step", flush=True)
        if FLAGS.trace_dir and not overrides:
            import tensorflow as tf

            tf.profiler.experimental.start(FLAGS.trace_dir)
            runner.run(3)
            tf.profiler.experimental.stop()
    default = rows[0][1]
    lines = [
        "## What dominates DisenIB's step (`bench/profile_disenib.py`)", "",
        f"Command: `python bench/profile_disenib.py`  ",
        f"Date: {datetime.date.today().isoformat()}; {(time.time() - start) / 60:.1f} min; 2 CPU cores.  ",
        "MLP 256-128 on 32 features, batch 1024 (the overhead bench's MLP case); each row changes one option of "
        f"DisenIB's defaults. A plain `keras.Model.fit` step of the same network: {plain_seconds:.3f} s.", "",
        "| DisenIB configuration | s/step | CPU s/step | share of the default step |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {label} | {wall:.3f} | {cpu:.3f} | {wall / default:.2f} |" for label, wall, cpu in rows]
    dominant = min(rows[1:], key=lambda row: row[1])
    lines += ["", f"Dominant cost: the option whose removal saves most is **{dominant[0]}** "
              f"({default:.3f} -> {dominant[1]:.3f} s/step).",
              "num_samples is the seed's own algorithm (every example's codes are drawn num_samples times and the "
              "classifier, reconstructor and estimator see all of them), so the step's cost is the method's arithmetic "
              "on num_samples x batch rows, not framework overhead; lower `--disenib_num_samples` to trade it."]
    markdown = "\n".join(lines)
    print(markdown)
    if FLAGS.write_results_profile:
        _results.update_section("profile_disenib", markdown)


if __name__ == "__main__":
    app.run(main)
