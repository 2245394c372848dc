"""The information-bottleneck evaluation of a trained run: `python -m invariant_reps.evaluate --run_dir=RUN`.

Loads `RUN/model.keras` and `RUN/results.json` (dataset, its parameters and
the run's flags), rebuilds the dataset from the registry and measures, as
the DisenIB seed's evaluation does (spec B.4), on the training split and on
every evaluation set of the dataset (for `mnist`: train and test):

- accuracy of the decoder on the code (one sample for VIB/NIB);
- I(X;T) = log N - mean_i H(p(. | z_i)) over the split (Monte Carlo, blocked;
  `evaluation.ib_information`) and I(Y;T) = H(Y) - mean predictive entropy;
- FGSM (negative true-class logit, eps 0.1 / 0.2 / 0.3 in the data's scale,
  clipped to the pixel range) on the initially correct examples;
- ODIN (T = 1000, eps = 0.0014) detection of clipped N(0, 1) noise against the
  first evaluation set: FPR at 95% TPR, AUROC, AUPR-In/Out, detection error.

I(X;T) needs the code's distribution `q(t | x) = N(mean, stddev^2)`: a model
with a `code_distribution(x) -> (mean, stddev)` method (VIB, NIB) gives its
own; for a deterministic model (Vanilla, EnD, IRENE, ...) the code is the mean
and `--code_stddev` (default 1.0, DisenIB's `class_std`) the deviation. The
codes are `model.encoder(x)` in inference mode (a sample for VIB/NIB).

Writes `RUN/evaluation.json`, TensorBoard scalars under
`RUN/tensorboard/evaluation`, and prints a table. The flags (`define_flags`)
and the entry point (`run`) are in `cli/evaluate_flags.py`, which checks the
flags before TensorFlow loads.
"""

import importlib
import importlib.util
import json
import os
import sys

import keras
import numpy as np
from absl import app, flags, logging

from invariant_reps.callbacks import write_scalars
from invariant_reps.data import registry as data_registry
from invariant_reps.data.experiment_data import subsample
from invariant_reps.data.mnist_classification import PIXEL_RANGES
from invariant_reps.data.sources import SOURCES
from invariant_reps.cli.evaluate_flags import PARTS, define_flags, run  # noqa: F401  (re-exported)
from invariant_reps.evaluation import adversarial, ib_information, ood

EVALUATION_FILE = "evaluation.json"
TENSORBOARD_SUBDIR = os.path.join("tensorboard", "evaluation")


# ------------------------------------------------------------------ loading
def load_run(run_dir, imports=()):
    """`(results, model, data)` of a finished training run.

    Raises:
        FileNotFoundError: the run directory, its model.keras or results.json is missing.
        ValueError: the run's dataset (or a custom object of its model) is not registered in this process.
    """
    _import_modules(imports)
    if not run_dir or not os.path.isdir(run_dir):
        raise FileNotFoundError(f"Run directory {run_dir!r} does not exist (pass the --logdir of a training run).")
    paths = {name: os.path.join(run_dir, name) for name in ("results.json", "model.keras")}
    for name, path in paths.items():
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{path} is missing: `python -m invariant_reps.train` writes {name} when a run finishes; "
                "evaluate a finished run."
            )
    with open(paths["results.json"]) as f:
        results = json.load(f)
    try:
        spec = data_registry.get_dataset(results["dataset"])
    except ValueError as error:
        raise ValueError(
            f"The run's dataset {results['dataset']!r} is not registered in this process ({error}) If a module of "
            "yours registers it, pass --import=your_module."
        ) from None
    try:
        model = keras.saving.load_model(paths["model.keras"])
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"Cannot load {paths['model.keras']}: {error}. If the model uses a method, network or layer "
            "registered in a module of yours, pass --import=your_module."
        ) from None
    run_flags = results.get("flags", {})
    options = {name: run_flags[name] for name in data_registry.COMMON_OPTIONS if name in run_flags}
    if options.get("source") == "auto" and results.get("source") in SOURCES:
        options["source"] = results["source"]  # The source "auto" chose at training time.
    data = spec.build(results.get("dataset_params", {}), **options)
    return results, model, data


def input_range(results, data, clip="auto"):
    """The `(lo, hi)` the attacks clip to, or None.

    "auto": the range named by the dataset's `pixel_range` hyperparameter
    (`mnist`: [-1, 1] by default), else the observed min and max of the
    training inputs. "none": no clipping. "lo,hi": that range.
    """
    if clip == "none":
        return None
    if clip != "auto":
        try:
            lo, hi = (float(v) for v in str(clip).split(","))
        except ValueError:
            raise ValueError(f"--clip must be auto, none or 'lo,hi'; received {clip!r}.") from None
        if not lo < hi:
            raise ValueError(f"--clip needs lo < hi; received {clip!r}.")
        return lo, hi
    pixel_range = results.get("dataset_params", {}).get("pixel_range")
    if pixel_range in PIXEL_RANGES:
        return PIXEL_RANGES[pixel_range]
    x = np.asarray(data.train.arrays()[0])
    lo, hi = float(x.min()), float(x.max())
    return (lo, hi) if lo < hi else None


def _import_modules(names):
    """Imports user modules (dotted names, also from the current directory, or `.py` paths) for their registrations.

    (`cli.flags.import_user_modules` does the same, but importing `cli.flags` defines the train app's flags,
    which share names with this app's.)
    """
    if names and os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in names:
        try:
            if name.endswith(".py"):
                spec = importlib.util.spec_from_file_location(os.path.splitext(os.path.basename(name))[0], name)
                if spec is None or not os.path.isfile(name):
                    raise ImportError(f"no such file {name!r}")
                module = importlib.util.module_from_spec(spec)
                sys.modules[spec.name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"--import={name}: {error}") from error


# --------------------------------------------------------------- measuring
def _two_class(logits):
    """`[N, K]` logits as they are; a binary model's `[N, 1]` logit l as `[-l/2, l/2]` (same softmax)."""
    return np.concatenate([-0.5 * logits, 0.5 * logits], axis=1) if logits.shape[1] == 1 else logits


def classifier(model):
    """`logits_fn(x, training=False)` of the model, with a binary logit as two classes."""
    import tensorflow as tf

    def logits_fn(x, training=False):
        logits = model(x, training=training)
        return tf.concat([-0.5 * logits, 0.5 * logits], axis=1) if logits.shape[-1] == 1 else logits

    return logits_fn


def codes_and_logits(model, x, batch_size):
    """One code `t = model.encoder(x)` per example (inference mode) and the head's logits on it."""
    codes, logits = [], []
    for start in range(0, len(x), batch_size):
        code = model.encoder(x[start : start + batch_size], training=False)
        logits.append(np.asarray(model.head(code, training=False), np.float64))
        codes.append(np.asarray(code, np.float64).reshape(len(logits[-1]), -1))
    return np.concatenate(codes), _two_class(np.concatenate(logits))


def information(model, x, y, code_stddev=1.0, batch_size=256):
    """`{accuracy, I_XT, I_YT, H_Y, log_N}` of one split (nats), with the codes and logits of one pass.

    The code distribution is the model's `code_distribution(x)` when it has
    one, else the code itself with standard deviation `code_stddev`.
    """
    codes, logits = codes_and_logits(model, x, batch_size)
    if hasattr(model, "code_distribution"):
        means, stddevs = model.code_distribution(x, batch_size=batch_size)
        means = np.asarray(means, np.float64).reshape(len(codes), -1)
    else:
        means, stddevs = codes, code_stddev
    return {
        "accuracy": float(np.mean(np.argmax(logits, axis=1) == y)),
        "I_XT": ib_information.mutual_information_xt(codes, means, stddevs),
        "I_YT": ib_information.mutual_information_yt(logits, y),
        "H_Y": ib_information.label_entropy(y),
        "log_N": float(np.log(len(y))),
    }


def evaluate_run(run_dir, *, max_examples=0, epsilons=adversarial.DEFAULT_EPSILONS, skip=(), batch_size=256,
                 seed=0, code_stddev=1.0, clip="auto", ood_temperature=ood.DEFAULT_TEMPERATURE,
                 ood_epsilon=ood.DEFAULT_MAGNITUDE, imports=(), write=True):
    """Evaluates a finished run (see the module docstring) and returns the `evaluation.json` dict.

    Args:
        run_dir: the training run's `--logdir`.
        max_examples: evaluate at most this many (seeded) examples per split; 0: all.
        epsilons: FGSM strengths in the input scale.
        skip: parts to skip, from "fgsm", "ood", "mi".
        batch_size: examples per forward pass.
        seed: seed of the subsets, the OOD noise and Keras's global RNG.
        code_stddev: > 0, sigma of a deterministic model's code for I(X;T).
        clip: "auto", "none" or "lo,hi" (see `input_range`).
        ood_temperature: ODIN's T.
        ood_epsilon: ODIN's perturbation.
        imports: modules to import first (user-registered datasets or methods).
        write: write `evaluation.json` and the TensorBoard scalars.

    Returns:
        `{"run_dir", "method", "dataset", "source", "settings": {...}, "metrics": {name: number}}` with
        metrics `<split>_{accuracy, I_XT, I_YT, H_Y, log_N, num_examples}`,
        `<split>_fgsm_eps_<eps>` (fraction of the initially correct still correct),
        `<split>_fgsm_num_initially_correct` and `ood_<metric>`.

    Example:
        >>> evaluation = evaluate_run("runs/vib_mnist", max_examples=2000)
        >>> evaluation["metrics"]["test_I_XT"], evaluation["metrics"]["ood_auroc"]
    """
    unknown = sorted(set(skip) - set(PARTS))
    if unknown:
        raise ValueError(f"Unknown part(s) to skip {unknown}; choose from {PARTS}.")
    if not (isinstance(code_stddev, (int, float)) and np.isfinite(code_stddev) and code_stddev > 0):
        raise ValueError(f"`code_stddev` must be a finite number > 0; received {code_stddev!r}.")
    results, model, data = load_run(run_dir, imports)
    keras.utils.set_random_seed(seed)
    clip_range = input_range(results, data, clip)
    splits = {"train": data.train, **data.tests}
    metrics = {}
    arrays = {}
    for offset, (name, split) in enumerate(splits.items()):
        x, y, _ = split.arrays()
        x, y = subsample(np.asarray(x), np.asarray(y).astype(np.int64).reshape(-1), max_examples, seed + offset)
        arrays[name] = (x, y)
        metrics[f"{name}_num_examples"] = len(y)
        if "mi" in skip:
            _, logits = codes_and_logits(model, x, batch_size)
            metrics[f"{name}_accuracy"] = float(np.mean(np.argmax(logits, axis=1) == y))
        else:
            values = information(model, x, y, code_stddev, batch_size)
            metrics.update({f"{name}_{key}": value for key, value in values.items()})
        if "fgsm" not in skip:
            attack = adversarial.fgsm_robustness(classifier(model), x, y, epsilons, clip=clip_range,
                                                 batch_size=batch_size)
            metrics.update({f"{name}_{key}": value for key, value in attack.as_dict().items()})
    in_distribution = next(iter(data.tests))
    if "ood" not in skip:
        detection = ood.odin_detection(
            classifier(model), arrays[in_distribution][0], seed=seed, temperature=ood_temperature,
            epsilon=ood_epsilon, clip=clip_range, batch_size=batch_size,
        )
        metrics.update({f"ood_{key}": value for key, value in detection.as_dict().items()})
    evaluation = {
        "run_dir": os.path.abspath(run_dir),
        "method": results.get("method"),
        "dataset": results.get("dataset"),
        "source": data.source,
        "settings": {
            "splits": list(splits), "max_examples": max_examples, "epsilons": [float(e) for e in epsilons],
            "skip": sorted(skip),
            "batch_size": batch_size, "seed": seed, "clip": None if clip_range is None else list(clip_range),
            "code_distribution": "model" if hasattr(model, "code_distribution") else f"code, stddev {code_stddev:g}",
            "ood_in_distribution": in_distribution, "ood_out_distribution": "clipped N(0, 1) noise",
            "ood_temperature": ood_temperature, "ood_epsilon": ood_epsilon, "fgsm_loss": "logit",
        },
        "metrics": metrics,
    }
    if write:
        path = os.path.join(run_dir, EVALUATION_FILE)
        with open(path + ".partial", "w") as f:  # A reader never sees a half-written file.
            json.dump(evaluation, f, indent=1)
        os.replace(path + ".partial", path)
        step = len(results.get("history", {}).get("epoch", [])) or results.get("epochs") or 0
        write_scalars(os.path.join(run_dir, TENSORBOARD_SUBDIR),
                      {f"evaluation/{k}": v for k, v in metrics.items() if np.isfinite(v)}, step=step)
    return evaluation


def format_evaluation_table(evaluation):
    """The evaluation as a plain-text table (percentages like the seed's README)."""
    metrics = evaluation["metrics"]
    splits = evaluation["settings"]["splits"]
    rows = [("method", str(evaluation["method"])), ("dataset", f"{evaluation['dataset']} ({evaluation['source']})")]
    for split in splits:
        rows.append((f"{split} examples", str(metrics[f"{split}_num_examples"])))
        rows.append((f"{split} accuracy (%)", f"{100 * metrics[f'{split}_accuracy']:.2f}"))
        if f"{split}_I_XT" in metrics:
            information = f"{metrics[f'{split}_I_XT']:.2f} / {metrics[f'{split}_I_YT']:.2f}"
            rows.append((f"{split} I(X;T) / I(Y;T) (nats)", information))
        fgsm = [metrics[k] for k in metrics if k.startswith(f"{split}_fgsm_eps_")]
        if fgsm:
            epsilons = "/".join(f"{e:g}" for e in evaluation["settings"]["epsilons"])
            rows.append((f"{split} FGSM eps={epsilons} (%)", "/".join(f"{100 * v:.2f}" for v in fgsm)))
    if "ood_auroc" in metrics:
        rows += [
            ("OOD FPR at 95% TPR (%)", f"{100 * metrics['ood_fpr_at_95_tpr']:.2f}"),
            ("OOD AUROC (%)", f"{100 * metrics['ood_auroc']:.2f}"),
            ("OOD AUPR in / out (%)", f"{100 * metrics['ood_aupr_in']:.2f} / {100 * metrics['ood_aupr_out']:.2f}"),
            ("OOD detection error (%)", f"{100 * metrics['ood_detection_error']:.2f}"),
        ]
    width = max(len(label) for label, _ in rows)
    line = "-" * (width + 26)
    return "\n".join([line] + [f"{label:<{width}}  {value:>24}" for label, value in rows] + [line])


# ---------------------------------------------------------------------- app
def main(argv, flag_values=flags.FLAGS):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    values = flag_values
    try:
        try:
            epsilons = [float(e) for e in values.epsilons]
        except ValueError:
            raise ValueError(f"--epsilons must be numbers, e.g. 0.1,0.2,0.3; received {values.epsilons}.") from None
        evaluation = evaluate_run(
            values.run_dir, max_examples=values.max_examples, epsilons=epsilons, skip=values.skip,
            batch_size=values.batch_size, seed=values.seed, code_stddev=values.code_stddev, clip=values.clip,
            ood_temperature=values.ood_temperature, ood_epsilon=values.ood_epsilon, imports=values["import"].value,
        )
    except (FileNotFoundError, ValueError, ImportError) as error:
        logging.error("%s: %s", type(error).__name__, error)
        sys.exit(2)
    print(format_evaluation_table(evaluation))
    print(f"Evaluation: {os.path.join(values.run_dir, EVALUATION_FILE)}")



if __name__ == "__main__":
    run()
