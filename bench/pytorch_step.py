"""The package's training step against the equivalent PyTorch step, side by side (issue 13, item 0).

The network is SimpleConvNet (`invariant_reps/networks/simple_conv.py`; the EnD seed's `src/models.py`):
four 7x7 Conv2d + BatchNorm2d (+ ReLU, the last Tanh), global average pooling, Linear(10). The PyTorch
module here is written for the comparison and starts from the *same initial weights* (the Keras
model's, exported to it; conv kernels N(0, 2 / (C_out 49)), biases U(+-1/sqrt(fan_in)), BN 1/0), on
the same arrays, batch 256 and optimizer (Adam 1e-3, PyTorch's eps 1e-8 on both sides). The first
batch's loss of both sides is printed as the equivalence check.

Each framework runs in its own worker process (its own thread pools, no shared OpenMP/oneDNN
runtime); this process drives them in lockstep, A B A B ..., so both see the same machine load; the
table gives medians over blocks. Only the ratio is meaningful on a shared machine.

Rows (Keras side):
- `package`: `Vanilla` (the package's training step) fed by the package's pipeline
  (`make_array_dataset`, shuffled per epoch, prefetched), `compile()` with the package's defaults;
- `package, --deterministic`: the same with TensorFlow op determinism, which the CLI turns on by default;
- `package, --jit_compile=true`: the same step XLA-compiled;
- `package, mixed_bfloat16`: the same under `keras.mixed_precision` bfloat16 (the CPU's AVX512-BF16).

torch is an optional bench dependency (`pip install .[bench]`); without it the bench says so and exits.

    python bench/pytorch_step.py                 # widths 0.25 and 1, 5 blocks
    python bench/pytorch_step.py --widths=0.25 --blocks=7

Writes the section `pytorch_step` of bench/RESULTS.md and `bench/pytorch_step.json`.
"""

import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 256
NUM_EXAMPLES = 1024
KERAS_ROWS = {"package": [], "package, --deterministic": ["deterministic"],
              "package, --jit_compile=true": ["xla"], "package, mixed_bfloat16": ["mixed_bfloat16"]}


def _arrays():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (NUM_EXAMPLES, 28, 28, 3)).astype("float32")
    return x, rng.integers(0, 10, NUM_EXAMPLES), rng.integers(0, 10, NUM_EXAMPLES)


# ---------------------------------------------------------------- workers
def keras_worker(width, options, weights_path):
    import keras
    import tensorflow as tf

    import invariant_reps as ir

    if "deterministic" in options:
        tf.config.experimental.enable_op_determinism()
    if "mixed_bfloat16" in options:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x, y, s = _arrays()
    keras.utils.set_random_seed(0)
    net = ir.build_network("simple_conv", (28, 28, 3), 10, width=width)
    if weights_path and not os.path.exists(weights_path):
        import numpy as np

        np.savez(weights_path, **{v.path: v.numpy() for v in net.encoder.weights + net.head.weights})
    model = ir.Vanilla(net.encoder, net.head)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, epsilon=1e-8), jit_compile="xla" in options or "auto")
    first_loss = float(model.compute_loss(y=y[:BATCH], y_pred=model(x[:BATCH], training=True)))
    batches = ir.data.make_array_dataset(x, y, s, BATCH, shuffle_seed=0, num_epochs=10_000, drop_remainder=True)
    stamps = []

    class Timer(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            stamps.append((time.perf_counter(), time.process_time()))

    def run(steps):
        stamps.clear()
        model.fit(batches.dataset, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[Timer()])
        return stamps[0], stamps[-1]

    return run, first_loss


def torch_worker(width, weights_path):
    import numpy as np
    import torch
    from torch import nn

    weights = np.load(weights_path)

    def keras_weight(suffix):
        return next(weights[k] for k in weights.files if k.endswith(suffix))

    # The widths come from the exported kernels (no TensorFlow in this process).
    layers, blocks = [], 4
    for block in range(1, blocks + 1):
        kernel = keras_weight(f"conv{block}/kernel")  # Keras HWIO -> torch OIHW.
        size, _, in_channels, out_channels = kernel.shape
        conv = nn.Conv2d(in_channels, out_channels, size, padding=size // 2)
        batch_norm = nn.BatchNorm2d(out_channels, eps=1e-5, momentum=0.1)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()))
            conv.bias.copy_(torch.from_numpy(keras_weight(f"conv{block}/bias")))
        layers += [conv, batch_norm, nn.Tanh() if block == blocks else nn.ReLU()]
    linear = nn.Linear(out_channels, 10)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(keras_weight("logits/kernel").T.copy()))
        linear.bias.copy_(torch.from_numpy(keras_weight("logits/bias")))
    model = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten(), linear)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-8)
    x, y, _ = _arrays()
    x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
    y = torch.from_numpy(y)
    first_loss = float(nn.functional.cross_entropy(model(x[:BATCH]), y[:BATCH]))
    position = [0]

    def step():
        start = (position[0] % (NUM_EXAMPLES // BATCH)) * BATCH
        position[0] += 1
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(x[start:start + BATCH]), y[start:start + BATCH])
        loss.backward()
        optimizer.step()
        return loss.item()

    def run(steps):
        stamps = []
        for _ in range(steps):
            step()
            stamps.append((time.perf_counter(), time.process_time()))
        return stamps[0], stamps[-1]

    return run, first_loss


def worker_main(argv):
    framework, width, weights_path, options = argv[0], float(argv[1]), argv[2], argv[3:]
    if framework == "torch":
        run, first_loss = torch_worker(width, weights_path)
    else:
        run, first_loss = keras_worker(width, options, weights_path)
    run(3)  # Warm-up: tracing, allocator, oneDNN primitive caches.
    print(json.dumps({"ready": True, "first_loss": first_loss}), flush=True)
    for line in sys.stdin:
        steps = int(line)
        (wall0, cpu0), (wall1, cpu1) = run(steps)
        print(json.dumps([(wall1 - wall0) / (steps - 1), (cpu1 - cpu0) / (steps - 1)]), flush=True)


# ------------------------------------------------------------- controller
class Worker:
    def __init__(self, label, framework, width, weights_path, options=()):
        self.label = label
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
        self.process = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--worker", framework, str(width), weights_path, *options],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{label} worker failed:\n{self.process.stderr.read()[-3000:]}")
        self.first_loss = json.loads(line)["first_loss"]
        self.samples = []

    def run(self, steps):
        self.process.stdin.write(f"{steps}\n")
        self.process.stdin.flush()
        self.samples.append(json.loads(self.process.stdout.readline()))

    def close(self):
        self.process.stdin.close()
        self.process.wait()


def compare(width, blocks, steps):
    with tempfile.TemporaryDirectory() as directory:
        weights = os.path.join(directory, "initial_weights.npz")
        workers = [Worker(label, "keras", width, weights, options) for label, options in KERAS_ROWS.items()]
        workers.insert(0, Worker("PyTorch", "torch", width, weights))
    for block in range(blocks):
        for worker in workers:
            worker.run(steps)
        print(f"width {width:g}: block {block + 1}/{blocks}, load {os.getloadavg()[0]:.1f}", flush=True)
    for worker in workers:
        worker.close()
    torch_samples = workers[0].samples
    rows = []
    for worker in workers:
        rows.append({
            "width": width, "step": worker.label, "first_loss": worker.first_loss,
            "seconds_per_step": statistics.median(s[0] for s in worker.samples),
            "cpu_seconds_per_step": statistics.median(s[1] for s in worker.samples),
            # Per block, against the PyTorch run of the same block.
            "ratio_to_pytorch": statistics.median(s[0] / t[0] for s, t in zip(worker.samples, torch_samples)),
            "cpu_ratio_to_pytorch": statistics.median(s[1] / t[1] for s, t in zip(worker.samples, torch_samples)),
        })
    return rows


def main():
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="0.25,1")
    parser.add_argument("--blocks", type=int, default=5)
    parser.add_argument("--steps", default="6,4", help="steps per run for each width (the first is not timed)")
    parser.add_argument("--nowrite_results", action="store_true")
    args = parser.parse_args()
    try:
        import torch  # noqa: F401
    except ImportError:
        print("PyTorch is not installed: the comparison needs the optional bench dependency "
              "(pip install 'invariant_reps[bench]', i.e. torch==2.13.0). Skipped.")
        return
    widths = [float(w) for w in args.widths.split(",")]
    steps = [int(s) for s in args.steps.split(",")]
    start, load = time.time(), os.getloadavg()
    rows = []
    for width, count in zip(widths, steps + steps[-1:] * len(widths)):
        rows += compare(width, args.blocks, count)
        _write(args, rows, start, load)  # After each width, so that a long run keeps what it measured.


def _write(args, rows, start, load):
    lines = [
        "## The training step against the equivalent PyTorch step (`bench/pytorch_step.py`)", "",
        f"Command: `python bench/pytorch_step.py --widths={args.widths} --blocks={args.blocks} --steps={args.steps}`"
        f"  ",
        f"Date: {datetime.date.today().isoformat()}; {(time.time() - start) / 60:.1f} min; 2 shared CPU cores (AMD "
        f"EPYC, AVX512-BF16), load average {load[0]:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; "
        f"TensorFlow and torch {__import__('torch').__version__} in separate worker processes driven A B A B.  ",
        "SimpleConvNet, batch 256, 28x28x3, Adam 1e-3, the same initial weights and arrays on both sides. s/step "
        "and CPU s/step: medians over blocks; ratio: median over blocks of the step's time over the PyTorch "
        "step's in the same block (< 1: faster than PyTorch). first loss: the first batch's loss before any "
        "update, the equivalence check.", "",
        "| width | step | s/step | ratio to PyTorch | CPU s/step | CPU ratio | first loss |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(f"| {row['width']:g} | {row['step']} | {row['seconds_per_step']:.3f} | "
                     f"{row['ratio_to_pytorch']:.2f} | {row['cpu_seconds_per_step']:.3f} | "
                     f"{row['cpu_ratio_to_pytorch']:.2f} | {row['first_loss']:.5f} |")
    lines += ["", "Target (issue 13: the package's step no slower than the PyTorch step, at each width, side by side):"]
    for row in rows:
        if row["step"] == "package":
            met = "met" if row["ratio_to_pytorch"] <= 1.0 else "missed"
            lines.append(f"- width {row['width']:g}: {row['ratio_to_pytorch']:.2f}x PyTorch's time: {met}.")
    table = "\n".join(lines)
    print(table, flush=True)
    with open(os.path.join(ROOT, "bench", "pytorch_step.json"), "w") as f:
        json.dump(rows, f, indent=1)
    if not args.nowrite_results:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import _results

        _results.update_section("pytorch_step", table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker_main(sys.argv[2:])
    else:
        main()
