"""Every command-line flag of `invariant_reps.train` (and of the sweeps that call it).

Experiments live in flagfiles: `python -m invariant_reps.train
--flagfile=flags/end_biased_mnist_rho0.997.cfg`. Two kinds of flags:

- the run's own flags, defined here once (network, optimisation, data
  options common to datasets, run control);
- one flag per declared hyperparameter of every registered method and
  dataset, named `--<method>_<name>` / `--<dataset>_<name>` (`--end_alpha`,
  `--irene_gamma`, `--biased_mnist_rho`), defined from the registries by
  `define_registered_flags`, so that no flag means two things. A method or
  dataset registered in a user's module gets its flags when the module is
  named with `--import=my_module` (imported before the flags are parsed).

`--list` prints the registered methods and datasets with their
hyperparameters; `--helpfull` shows every flag, grouped by owner.

Both kinds can be defined on any `FlagValues` (`define_run_flags`,
`define_hyperparameter_flags`): the train command first checks the command
line against a copy built from the package's recorded declarations
(`_startup.BUILTIN_HYPERPARAMETERS`), before TensorFlow loads, then parses it
with `FLAGS` once the registries are imported. This module imports no
TensorFlow.
"""

import importlib
import importlib.util
import math
import os
import sys

from absl import flags

from invariant_reps import registries

SOURCES = ("auto", "tfds", "idx", "digits")
OPTIMIZERS = ("adam", "sgd")
LR_SCHEDULES = ("constant", "step", "multistep", "cosine", "two_stage_cosine")
STRATEGIES = ("default", "mirrored", "multi_worker")
PROBES = ("linear", "mlp", "none")
JIT_COMPILE = ("auto", "true", "false")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")

FLAGS = flags.FLAGS

#: `{flag name: ("method" | "dataset", owner name, hyperparameter name)}`.
HYPERPARAMETER_FLAGS = {}


def registered_names(kind):
    """The names registered as `kind` ("method", "dataset", "network"); imports the registries (TensorFlow)."""
    from invariant_reps import data, models, networks

    return {
        "method": models.available_methods,
        "dataset": data.available_datasets,
        "network": networks.available_networks,
    }[kind]()


def define_run_flags(flag_values, known_names=registered_names):
    """Defines the run's own flags (not the registered hyperparameters) on `flag_values`.

    Args:
        flag_values: the `absl.flags.FlagValues` to define them on.
        known_names: `known_names(kind)` gives the valid `--method`, `--dataset`
            and `--network` values, or None to accept any.

    Returns:
        The names of the defined flags, without `--experiment` (expanded before parsing).
    """
    names = []

    def define(definer, name, *args, **kwargs):
        definer(name, *args, flag_values=flag_values, **kwargs)
        names.append(name)

    # What to train.
    define(flags.DEFINE_string, "method", "vanilla", "Registered method (python -m invariant_reps.train --list).")
    define(flags.DEFINE_string, "dataset", "biased_mnist", "Registered dataset (see --list).")
    define(
        flags.DEFINE_multi_string, "import", [],
        "Python module(s) to import before parsing, e.g. a user's module that registers a method, dataset or "
        "network with the public decorators (repeatable).",
    )
    define(flags.DEFINE_bool, "list", False, "Print the registered methods, datasets and networks, then exit.")
    define(
        flags.DEFINE_list, "compare", [],
        "Train these methods one after the other on the same data, network and seed (each in <logdir>/<method>), "
        "then print one comparison table and write <logdir>/comparison.png, e.g. --compare=vanilla,end.",
    )
    flags.DEFINE_string(
        "experiment", None,
        "Run the bundled flagfile flags/<NAME>.cfg (from any directory; expanded before parsing).",
        flag_values=flag_values,
    )
    define(flags.DEFINE_string, "network", "simple_conv", "Registered network name (see --list).")
    define(flags.DEFINE_float, "network_width", 1.0, "Width multiplier of networks that take `width`.")
    define(flags.DEFINE_multi_integer, "hidden_units", [256, 128], "Hidden layer sizes of networks that take them.")
    define(
        flags.DEFINE_bool, "normalize_bottleneck", None,
        "L2-normalize z in the forward path (default: the method's network default, e.g. on for EnD).",
    )

    # Data options common to datasets (each dataset takes those its builder names; see --list).
    define(
        flags.DEFINE_enum, "source", "auto", SOURCES,
        "Where MNIST comes from: tfds, an IDX directory (--data_dir), the embedded scikit-learn digits, or auto "
        "(tfds when available, else the embedded digits).",
    )
    define(flags.DEFINE_string, "data_dir", None, "IDX directory (source=idx) or tfds data directory.")
    define(flags.DEFINE_float, "test_size", 0.2, "Fraction held out as the test split when the source has only one.")
    define(
        flags.DEFINE_float, "validation_fraction", None,
        "Fraction of the training data held out for validation; 0 disables; unset: the dataset's default "
        "(Biased-MNIST: 0.3, recoloured at rho=0.1, EnD's protocol; mnist: 0.1).",
    )
    define(flags.DEFINE_integer, "max_train_examples", 0, "Use at most this many training examples (0: all).")
    define(flags.DEFINE_integer, "max_test_examples", 0, "Use at most this many test examples per test set (0: all).")

    # Optimisation.
    define(flags.DEFINE_integer, "epochs", 10, "Number of epochs.", lower_bound=1)
    define(flags.DEFINE_integer, "batch_size", 256, "Batch size.", lower_bound=1)
    define(flags.DEFINE_enum, "optimizer", "adam", OPTIMIZERS, "Optimizer of encoder + head.")
    define(flags.DEFINE_float, "learning_rate", 1e-3, "Initial learning rate.", lower_bound=0.0)
    define(flags.DEFINE_float, "momentum", 0.9, "SGD momentum of encoder + head.", lower_bound=0.0)
    define(
        flags.DEFINE_float, "adam_beta_1", 0.9, "Adam beta_1 (DisenIB's seed: 0.5).", lower_bound=0.0, upper_bound=1.0
    )
    define(flags.DEFINE_float, "adam_epsilon", 1e-8, "Adam epsilon (PyTorch's default 1e-8; Keras's is 1e-7).")
    define(
        flags.DEFINE_float, "weight_decay", 0.0,
        "Coupled L2 weight decay of encoder + head, as PyTorch's optimizers apply it (grad += wd * w).",
        lower_bound=0.0,
    )
    define(flags.DEFINE_enum, "lr_schedule", "constant", LR_SCHEDULES, "Per-epoch learning-rate schedule.")
    define(flags.DEFINE_integer, "lr_step_epochs", 20, "Step schedule: decay every this many epochs.", lower_bound=1)
    define(
        flags.DEFINE_list, "lr_milestones", ["40", "60"], "Multistep schedule: epochs (1-based) after which to decay."
    )
    define(flags.DEFINE_float, "lr_decay", 0.1, "Multiplicative decay of the step / multistep schedules.")
    define(
        flags.DEFINE_integer, "lr_restart_epoch", 0,
        "two_stage_cosine: first (0-based) epoch of the second cosine, restarted at 0.1x (0: --epochs).",
        lower_bound=0,
    )

    # Run.
    define(flags.DEFINE_integer, "seed", 0, "Seed of initialisation, data order and data generation.")
    define(flags.DEFINE_bool, "deterministic", True, "Enable TensorFlow op determinism (repeatable runs and resumes).")
    define(
        flags.DEFINE_string, "logdir", None,
        "Run directory: checkpoints, TensorBoard events, results.json, model.keras.",
    )
    define(
        flags.DEFINE_bool, "resume", True,
        "Resume from the newest checkpoint in --logdir. With --noresume a logdir that holds checkpoints is refused "
        "(no work is ever overwritten).",
    )
    define(
        flags.DEFINE_integer, "keep_checkpoints", 0, "Keep only the newest N epoch checkpoints (0: keep all).",
        lower_bound=0,
    )
    define(flags.DEFINE_enum, "strategy", "default", STRATEGIES, "tf.distribute strategy.")
    define(
        flags.DEFINE_enum, "jit_compile", "auto", JIT_COMPILE,
        "XLA-compile the training step (keras.Model.compile(jit_compile=...)): auto (Keras's choice: on with an "
        "accelerator, off on a CPU-only machine, under a tf.distribute strategy or under --deterministic), true "
        "(needs --nodeterministic) or false.",
    )
    define(
        flags.DEFINE_enum, "mixed_precision", "none", MIXED_PRECISION,
        "Keras mixed-precision policy of the encoder and head: none (float32), mixed_float16 (GPUs; dynamic loss "
        "scaling) or mixed_bfloat16 (CPUs with AVX512-BF16/AMX, TPUs, recent GPUs). Loss terms, critics, "
        "adversaries, estimators and the leakage probe stay in float32.",
    )
    define(
        flags.DEFINE_integer, "steps_per_execution", 1,
        "Training steps run per tf.function call (keras.Model.compile(steps_per_execution=...)); > 1 removes the "
        "per-step Python overhead of small steps. Batch-level callbacks then run once per call.",
        lower_bound=1,
    )
    define(flags.DEFINE_enum, "leakage_probe", "linear", PROBES, "Probe fitted on frozen z to measure leakage of s.")
    define(
        flags.DEFINE_bool, "eval_every_epoch", True,
        "Evaluate the test sets after every epoch (for best-epoch selection).",
    )
    define(flags.DEFINE_string, "tensorboard_layout", None, "Custom-scalar layout JSON (default: the package's).")
    define(flags.DEFINE_integer, "verbose", 1, "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")
    define(
        flags.DEFINE_integer, "early_stopping_patience", 0,
        "Stop after this many epochs without a better --early_stopping_monitor (0: never; the DisenIB seed: 10).",
        lower_bound=0,
    )
    define(
        flags.DEFINE_string, "early_stopping_monitor", "val_accuracy",
        "Logged metric early stopping watches (maximised; minimised if its name contains 'loss'): val_accuracy, or "
        "test_accuracy for the DisenIB seed's stop-on-test (which selects on the test set; not recommended).",
    )
    _register_validators(flag_values, known_names)
    return names


def _check_milestones(values):
    try:
        return all(int(v) > 0 for v in values)
    except ValueError:
        return False


def _register_validators(flag_values, known_names):
    def validator(name, check, message):
        flags.register_validator(name, check, message=message, flag_values=flag_values)

    validator("lr_milestones", _check_milestones, "--lr_milestones must be positive integers, e.g. 40,60.")
    validator("validation_fraction", lambda f: f is None or 0.0 <= f < 1.0, "--validation_fraction must be in [0, 1).")
    validator("test_size", lambda f: 0.0 < f < 1.0, "--test_size must be in (0, 1).")
    validator(
        "experiment", lambda name: name is None,
        "--experiment is expanded from the command line only; inside a flagfile use --flagfile=flags/NAME.cfg.",
    )
    for name in ("network_width", "learning_rate", "momentum", "adam_beta_1", "adam_epsilon", "weight_decay",
                 "lr_decay", "test_size", "validation_fraction"):
        validator(name, lambda value: value is None or math.isfinite(value), f"--{name} must be a finite number.")
    for kind in ("method", "dataset", "network"):
        flags.register_validator(kind, _name_validator(kind, known_names), flag_values=flag_values)


def _name_validator(kind, known_names):
    def check(name):
        known = known_names(kind)
        if known is None:
            return True
        try:
            registries.lookup(dict.fromkeys(known), name, kind)
        except ValueError as error:
            raise flags.ValidationError(
                f"{error} Register your own with the public decorator and --import=your_module."
            ) from None
        return True

    return check


#: The run's own flags, defined on `FLAGS` (the hyperparameter flags: `HYPERPARAMETER_FLAGS`).
RUN_FLAG_NAMES = define_run_flags(FLAGS)


# ------------------------------------------------------------ registered hyperparameters
def _define_hyperparameter(flag_name, hyperparameter, module_name, flag_values):
    h = hyperparameter
    common = dict(default=h.default, help=h.help, module_name=module_name, flag_values=flag_values)
    if h.type is float:
        flags.DEFINE_float(flag_name, lower_bound=h.lower, upper_bound=h.upper, **common)
    elif h.type is int:
        flags.DEFINE_integer(flag_name, lower_bound=h.lower, upper_bound=h.upper, **common)
    elif h.type is bool:
        flags.DEFINE_bool(flag_name, **common)
    elif h.choices is not None:
        flags.DEFINE_enum(flag_name, enum_values=list(h.choices), **common)
    else:
        flags.DEFINE_string(flag_name, **common)

    def check(value):
        try:
            h.validate(value)
        except ValueError as error:
            raise flags.ValidationError(f"--{flag_name}: {error}") from None
        return True

    if h.type in (float, int):
        flags.register_validator(flag_name, check, flag_values=flag_values)


def define_hyperparameter_flags(declarations, flag_values=FLAGS, defined=HYPERPARAMETER_FLAGS):
    """Defines `--<owner>_<name>` for each declared hyperparameter; flags already in `defined` are skipped.

    Args:
        declarations: `{"method" | "dataset": {owner name: hyperparameters}}`.
        flag_values: the `FlagValues` to define them on.
        defined: `{flag name: (kind, owner, hyperparameter name)}`, updated.
    """
    for kind, owners in declarations.items():
        for owner, hyperparameters in owners.items():
            for hyperparameter in hyperparameters:
                flag_name = f"{owner}_{hyperparameter.name}"
                if flag_name in defined:
                    continue
                if flag_name in flag_values:
                    raise ValueError(
                        f"The {kind} {owner!r} declares hyperparameter {hyperparameter.name!r}, whose flag "
                        f"--{flag_name} is already a flag. Rename the hyperparameter."
                    )
                _define_hyperparameter(flag_name, hyperparameter, f"invariant_reps {kind} {owner}", flag_values)
                defined[flag_name] = (kind, owner, hyperparameter.name)


def define_registered_flags():
    """Defines `--<owner>_<name>` for every registered method and dataset hyperparameter (on `FLAGS`).

    Idempotent: flags already defined are skipped, so it is called again
    after `--import` registers more.
    """
    from invariant_reps.data import registry as dataset_registry
    from invariant_reps.models import registry as method_registry

    define_hyperparameter_flags({
        "method": {n: method_registry.get_method(n).hyperparameters for n in method_registry.available_methods()},
        "dataset": {n: dataset_registry.get_dataset(n).hyperparameters for n in dataset_registry.available_datasets()},
    })


def import_user_modules(module_names):
    """Imports each module (so that its registrations run): a dotted name or a `.py` path.

    A dotted name is looked up from the current directory too, so a module
    next to the flagfiles imports without installing it.
    """
    if os.getcwd() not in sys.path:
        sys.path.append(os.getcwd())
    for name in module_names:
        try:
            if name.endswith(".py"):
                if not os.path.isfile(name):
                    raise ImportError(f"no such file {name!r}")
                module_name = os.path.splitext(os.path.basename(name))[0]
                spec = importlib.util.spec_from_file_location(module_name, name)
                module = importlib.util.module_from_spec(spec)
                sys.modules[module_name] = module
                spec.loader.exec_module(module)
            else:
                importlib.import_module(name)
        except ImportError as error:
            raise ImportError(f"--import={name}: {error}") from error


def config_from_flags(flag_values=FLAGS):
    """`{flag name: value}` of every flag of this module (after parsing)."""
    return {name: flag_values[name].value for name in [*RUN_FLAG_NAMES, *HYPERPARAMETER_FLAGS]}


def misplaced_hyperparameters(flag_values=FLAGS, defined=HYPERPARAMETER_FLAGS):
    """Messages for hyperparameter flags given explicitly for a method/dataset other than the chosen one."""
    chosen = {"method": flag_values.method, "dataset": flag_values.dataset}
    allowed = {"method": {flag_values.method, *flag_values.compare}, "dataset": {flag_values.dataset}}
    problems = []
    for flag, (kind, owner, _) in defined.items():
        if flag_values[flag].present and owner not in allowed[kind]:
            valid = sorted(f"--{f}" for f, (k, o, _) in defined.items() if k == kind and o == chosen[kind])
            problems.append(
                f"--{flag} is a hyperparameter of {kind} {owner!r}, but --{kind}={chosen[kind]}; the "
                f"hyperparameters of {chosen[kind]!r} are: {', '.join(valid) or '(none)'}."
            )
    return problems


def unknown_flag_message(name, defined=HYPERPARAMETER_FLAGS):
    """A message for an unknown flag that lists the valid hyperparameters of the owner it names."""
    for kind in ("method", "dataset"):
        owners = {o for (k, o, _) in defined.values() if k == kind}
        for owner in sorted(owners, key=len, reverse=True):
            if name.startswith(owner + "_"):
                valid = sorted(f"--{f}" for f, (k, o, _) in defined.items() if k == kind and o == owner)
                return (
                    f"Unknown flag --{name}: {kind} {owner!r} has no hyperparameter "
                    f"{name[len(owner) + 1:]!r}; its hyperparameters are: {', '.join(valid)}."
                )
    return None
