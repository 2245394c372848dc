"""The flags of `python -m invariant_reps.estimate_mi` (see `invariant_reps.cli.estimate_mi`).

Standard library and absl only: the command checks its flags before it loads
TensorFlow. The choices and defaults below mirror the library's
(tests/cli/test_startup.py checks that they agree).

Flags are defined by `define_flags`, called from `run()`, rather than at
import: this app shares flag names (`--method`, `--dataset`, `--source`,
`--seed`) with the train app, whose flags live in the global registry, so a
process that imports both (a test session) must not define them twice.
"""

from absl import app, flags

from invariant_reps import _startup

#: `evaluation.information_dynamics.HELD_OUT` / `PROTOCOLS`.
HELD_OUT = "held_out"
PROTOCOLS = (HELD_OUT, "dt_tradeoff")
#: `estimators.METHODS` and `information_dynamics.DEFAULT_METHOD`.
METHODS = (
    "mine", "nwj", "infonce", "smile", "ksg", "binned", "gaussian", "lnc", "mixed_ksg", "gaussian_copula", "club",
    "l1out", "auto",
)
DEFAULT_METHOD = "smile"
#: `estimators.preprocessing.PREPROCESSING`.
PREPROCESSING = ("none", "standardize", "copula")
#: The defaults of `evaluation.dt_tradeoff_mine.DtTradeoffSettings` (the seed's protocol).
SEED_DT_TRADEOFF = dict(
    xt_steps=10_000, xt_learning_rate=8e-5, ty_steps=20_000, ty_learning_rate=1e-5, batch_size=5000,
    hidden_units=1024, readout_window=500,
)


def define_flags(flag_values=flags.FLAGS):
    """Defines this app's flags on `flag_values` and returns it."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("run_dir", None, "Run directory holding checkpoints/epoch_NNNN.keras and results.json.",
                        **define)
    flags.DEFINE_string("out_dir", None, "Output directory (default: <run_dir>/info).", **define)
    flags.DEFINE_string("layer", None, "Encoder layer whose output is T (default: the encoder output z).", **define)
    flags.DEFINE_string("dataset", None, "Dataset of the run (default: read from <run_dir>/results.json).", **define)
    flags.DEFINE_string("source", None, "Data source of the dataset (default: the run's).", **define)
    flags.DEFINE_string("data_dir", None, "IDX or tfds data directory (default: the run's).", **define)
    flags.DEFINE_string(
        "eval_on", None, "Split whose X, Y the MI is measured on: an evaluation set of the dataset, train, "
        "validation, target_train or target_test (default: the dataset's first evaluation set; the seed uses "
        "the test split).", **define,
    )
    flags.DEFINE_list(
        "protocol", [HELD_OUT], f"MI protocol(s), comma-separated, from {', '.join(PROTOCOLS)}: held_out = the "
        "package's held-out bound, dt_tradeoff = the seed's MINE protocol (spec A.3).", **define,
    )
    flags.register_validator(
        "protocol", _check_protocols, message=f"--protocol takes a comma-separated subset of {', '.join(PROTOCOLS)}.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "max_samples", None, "Examples used per estimate, a fixed seeded subset (default: 2000 for held_out, all "
        "for dt_tradeoff).", lower_bound=10, **define,
    )
    flags.DEFINE_integer("seed", 0, "Seed of the sample subset and of the estimators.", **define)
    # held_out protocol
    flags.DEFINE_enum("method", DEFAULT_METHOD, METHODS, "held_out: MI estimator.", **define)
    flags.DEFINE_integer("steps", 2000, "held_out: most critic training steps per estimate.", lower_bound=1, **define)
    flags.DEFINE_enum(
        "preprocessing", None, PREPROCESSING, "held_out: marginal transform before estimating, MI unchanged "
        "(default: copula, i.e. normal scores, for neural methods; the method's own otherwise).", **define,
    )
    flags.DEFINE_float("learning_rate", 5e-4, "held_out: critic learning rate (Adam).", lower_bound=0.0, **define)
    flags.DEFINE_integer(
        "batch_size", None, "held_out: pairs per critic batch (default: 128, or a fifth of the samples when fewer).",
        lower_bound=2, **define,
    )
    # dt_tradeoff protocol (defaults: the seed's)
    for pair, quantity in (("xt", "I(X;T)"), ("ty", "I(T;Y)")):
        steps, learning_rate = SEED_DT_TRADEOFF[f"{pair}_steps"], SEED_DT_TRADEOFF[f"{pair}_learning_rate"]
        flags.DEFINE_integer(f"dt_{pair}_steps", steps, f"dt_tradeoff: MINE iterations for {quantity}.",
                             lower_bound=1, **define)
        flags.DEFINE_float(f"dt_{pair}_learning_rate", learning_rate, f"dt_tradeoff: Adam lr for {quantity}.",
                           lower_bound=0.0, **define)
    flags.DEFINE_integer("dt_batch_size", SEED_DT_TRADEOFF["batch_size"],
                         "dt_tradeoff: rows per joint/marginal batch (clamped to the split's size).",
                         lower_bound=2, **define)
    flags.DEFINE_integer("dt_hidden_units", SEED_DT_TRADEOFF["hidden_units"],
                         "dt_tradeoff: width of the critic's 3 hidden layers.", lower_bound=1, **define)
    flags.DEFINE_integer("dt_readout_window", SEED_DT_TRADEOFF["readout_window"],
                         "dt_tradeoff: training estimates averaged for the readout.", lower_bound=1, **define)
    flags.DEFINE_bool("transfer", False, "Also run the transfer probe (source_acc, target_probe_acc).", **define)
    flags.DEFINE_bool("save_curves", True, "Save each neural estimate's training curve under curves/.", **define)
    flags.DEFINE_integer("every", 1, "Evaluate every N-th epoch's checkpoint, and the last (seed: --skip).",
                         lower_bound=1, **define)
    flags.mark_flag_as_required("run_dir", flag_values=flag_values)
    return flag_values


def _check_protocols(values):
    unknown = [value for value in values if value not in PROTOCOLS]
    if unknown or not values:
        raise flags.ValidationError(
            f"Unknown --protocol value(s) {unknown or values}; expected a comma-separated subset of "
            f"{', '.join(PROTOCOLS)}."
        )
    return True


def run():
    """Console entry point (`invariant-reps-estimate-mi`): checks the flags, then loads TensorFlow."""
    define_flags()
    app.run(_main)


def _main(argv):
    return _startup.load_and_call("invariant_reps.cli.estimate_mi", argv)  # the checkpoints' Keras objects
