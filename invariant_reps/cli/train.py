"""Train one method on one dataset: `python -m invariant_reps.train --flagfile=flags/<experiment>.cfg`.

Writes to `--logdir`: a checkpoint per epoch (`checkpoints/epoch_NNNN.keras`;
rerunning the same command resumes from the newest), TensorBoard events with
a custom-scalar layout and the run's hparams (`tensorboard/`), the final
model (`model.keras`) and the results (`results.json`), and prints a results
table. `--list` shows the registered methods, datasets and networks;
`--import=my_module` registers a user's own before the flags are parsed.
"""

import json
import sys

from absl import app, flags, logging

from invariant_reps.cli import flags as ir_flags
from invariant_reps.cli import experiment

FLAGS = ir_flags.FLAGS


def describe_registries():
    """The registered methods, datasets and networks, with their hyperparameters."""
    from invariant_reps import data, models, networks

    lines = ["Methods (--method; hyperparameters as --<method>_<name>):", ""]
    lines += [models.get_method(name).describe() for name in models.available_methods()]
    lines += ["", "Datasets (--dataset; hyperparameters as --<dataset>_<name>):", ""]
    lines += [data.get_dataset(name).describe() for name in data.available_datasets()]
    lines += ["", f"Networks (--network): {', '.join(networks.available_networks())}"]
    return "\n".join(lines)


def parse_flags(argv):
    """Imports `--import` modules, defines the registered hyperparameter flags, then parses `argv`.

    Parsing errors are printed as one message (for an unknown hyperparameter
    flag: the owner's valid ones) and exit with status 1.
    """
    early = flags.FlagValues()
    flags.DEFINE_multi_string("import", [], "", flag_values=early)
    try:
        early(list(argv), known_only=True)
        ir_flags.import_user_modules(early["import"].value)
    except (flags.Error, ImportError) as error:
        _fail(str(error))
    ir_flags.define_registered_flags()
    try:
        return FLAGS(argv)
    except flags.UnrecognizedFlagError as error:
        _fail(ir_flags.unknown_flag_message(error.flagname) or str(error))
    except flags.Error as error:
        _fail(str(error))


def _fail(message):
    sys.stderr.write(f"FATAL Flags parsing error: {message}\nPass --list or --helpfull to see the valid flags.\n")
    sys.exit(1)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if FLAGS.list:
        print(describe_registries())
        return
    problems = ir_flags.misplaced_hyperparameters()
    if problems:
        for problem in problems:
            logging.error("%s", problem)
        sys.exit(2)
    config = ir_flags.config_from_flags()
    try:
        results = experiment.run_experiment(config)
    except experiment.ExperimentError as error:
        logging.error("%s", error)
        sys.exit(2)
    except (ValueError, FileNotFoundError) as error:
        # Input problems (bad data, missing files) are reported, not traced.
        logging.error("%s: %s", type(error).__name__, error)
        sys.exit(2)
    print(experiment.format_results_table(results))
    print(f"Results: {FLAGS.logdir}/{experiment.RESULTS_FILE}")
    logging.info("%s", json.dumps(results["final"]))


def run():
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run()
