"""The flags of `python -m invariant_reps.evaluate` (see `invariant_reps.cli.evaluate`).

Standard library and absl only: the command checks its flags before it loads
TensorFlow (tests/cli/test_startup.py checks the defaults below against the
library's). Flags are defined by `define_flags` (called from `run()`) because
they share names (`--seed`, `--batch_size`, `--import`) with the train app's.
"""

from absl import app, flags

from invariant_reps import _startup

PARTS = ("fgsm", "ood", "mi")
#: `evaluation.ood.DEFAULT_TEMPERATURE` / `DEFAULT_MAGNITUDE` (ODIN's T = 1000, eps = 0.0014).
ODIN_TEMPERATURE = 1000.0
ODIN_MAGNITUDE = 0.0014


def define_flags(flag_values=flags.FLAGS):
    """Defines this app's flags on `flag_values` and returns it."""
    define = dict(flag_values=flag_values)
    flags.DEFINE_string("run_dir", None, "Training run directory (its --logdir): model.keras, results.json.", **define)
    flags.DEFINE_integer("max_examples", 0, "Evaluate at most this many (seeded) examples per split; 0: all.",
                         lower_bound=0, **define)
    flags.DEFINE_list("epsilons", ["0.1", "0.2", "0.3"], "FGSM strengths, in the input scale.", **define)
    flags.DEFINE_list("skip", [], f"Parts to skip, from {', '.join(PARTS)}.", **define)
    flags.DEFINE_integer("batch_size", 256, "Examples per forward pass.", lower_bound=1, **define)
    flags.DEFINE_integer("seed", 0, "Seed of the subsets, the OOD noise and Keras's RNG.", **define)
    flags.DEFINE_float("code_stddev", 1.0, "sigma of a deterministic model's code for I(X;T) (DisenIB: 1.0).",
                       **define)
    flags.DEFINE_string("clip", "auto", "Input range of the attacks: auto, none, or 'lo,hi'.", **define)
    flags.DEFINE_float("ood_temperature", ODIN_TEMPERATURE, "ODIN temperature T.", **define)
    flags.DEFINE_float("ood_epsilon", ODIN_MAGNITUDE, "ODIN input perturbation.", **define)
    flags.DEFINE_multi_string("import", [], "Module(s) registering the run's dataset/method/network.", **define)
    flags.mark_flag_as_required("run_dir", flag_values=flag_values)
    return flag_values


def run():
    """Console entry point (`invariant-reps-evaluate`): checks the flags, then loads TensorFlow."""
    define_flags()
    app.run(_main)


def _main(argv):
    return _startup.load_and_call("invariant_reps.cli.evaluate", argv)  # model.keras's Keras objects
