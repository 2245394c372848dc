"""Train one method on one dataset: `python -m invariant_reps.train --flagfile=flags/<experiment>.cfg`.

Writes to `--logdir`: a checkpoint per epoch (`checkpoints/epoch_NNNN.keras`;
rerunning the same command resumes from the newest), TensorBoard events with
a custom-scalar layout and the run's hparams (`tensorboard/`), the final
model (`model.keras`) and the results (`results.json`), and prints a results
table. `--list` shows the registered methods, datasets and networks;
`--import=my_module` registers a user's own before the flags are parsed;
`--experiment=NAME` runs the bundled flagfile `flags/NAME.cfg` from any directory
(an installed wheel carries them).
"""

import json
import os
import sys
import tempfile

from absl import app, flags, logging

import invariant_reps
from invariant_reps import _startup
from invariant_reps import registries
from invariant_reps import resources
from invariant_reps.cli import flags as ir_flags

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
    """Parses `argv` in two passes; the first one before TensorFlow loads.

    1. `check_before_loading`: every flag of the package's own methods and
       datasets, as `_builtin_declarations.py` records them (absl only).
    2. Loads the package, imports the `--import` modules, defines the
       registered hyperparameter flags and parses `argv` completely.

    Errors are printed as one message and exit with status 1 (2 for flags
    that do not fit together: a hyperparameter of a method or dataset other
    than the chosen one, no `--logdir`).
    """
    argv = _expand_experiments(argv)
    imports = check_before_loading(argv)
    invariant_reps.load_package()
    try:
        ir_flags.import_user_modules(imports)
    except ImportError as error:
        _fail(str(error))
    ir_flags.define_registered_flags()
    try:
        return FLAGS(argv)
    except flags.UnrecognizedFlagError as error:
        _fail(ir_flags.unknown_flag_message(error.flagname) or str(error))
    except flags.Error as error:
        _fail(str(error))


def check_before_loading(argv):
    """Checks `argv` without TensorFlow; exits with one message on a mistake, else returns `--import`'s modules.

    Checks the run's own flags and the hyperparameters of the package's
    methods and datasets (`_startup.BUILTIN_HYPERPARAMETERS`). Without
    `--import`, also the names given to `--method`/`--dataset`/`--network`,
    unknown flags and flags that do not fit together; with it, those wait
    for the full parse, since the user's modules may register more.
    """
    run_flags, defined = flags.FlagValues(), {}

    def known_names(kind):  # Checked once parsed: the user's modules may register more.
        return None if run_flags["import"].value else _startup.BUILTIN_NAMES[kind]

    ir_flags.define_run_flags(run_flags, known_names)
    ir_flags.define_hyperparameter_flags(_startup.BUILTIN_HYPERPARAMETERS, run_flags, defined)
    try:
        leftover = run_flags(list(argv), known_only=True)
    except flags.Error as error:
        _fail(str(error))
    plugins = run_flags["import"].value
    if plugins:
        return plugins
    for token in leftover[1:]:
        name = token.lstrip("-").split("=", 1)[0]
        if not token.startswith("-") or not name or name in FLAGS or (name.startswith("no") and name[2:] in FLAGS):
            continue  # a positional argument (main() reports it), or absl's own flags (--helpfull, --verbosity)
        hint = registries.did_you_mean(name, run_flags, prefix="--")
        _fail(ir_flags.unknown_flag_message(name, defined) or f"Unknown command line flag '{name}'.{hint}")
    problems = ir_flags.misplaced_hyperparameters(run_flags, defined)
    asks_help = any(token.lstrip("-").startswith("help") or token in ("-h", "-?") for token in leftover[1:])
    if not (run_flags.logdir or run_flags.list or asks_help):
        problems.append("--logdir is required: it receives checkpoints, events and results.")
    if problems:
        sys.stderr.write("".join(f"FATAL Flags parsing error: {problem}\n" for problem in problems))
        sys.exit(2)
    return plugins


def _expand_experiments(argv):
    """Replaces `--experiment=NAME` by the bundled flagfile `flags/NAME.cfg` (works from any directory)."""
    expanded = []
    for arg in argv:
        if arg.startswith("--experiment="):
            workdir = tempfile.mkdtemp(prefix="invariant_reps_flags_")
            try:
                arg = "--flagfile=" + resources.expand_experiment(arg.split("=", 1)[1], workdir)
            except ValueError as error:
                _fail(str(error))
        expanded.append(arg)
    return expanded


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
    from invariant_reps.cli import compare, experiment  # TensorFlow; after the flags are checked

    try:
        if FLAGS.compare:
            all_results = compare.run_comparison(config, FLAGS.compare)
            print(compare.write_comparison(all_results, config["logdir"]))
            print(f"Figure: {os.path.join(config['logdir'], compare.COMPARISON_PNG)}; each run in "
                  f"{os.path.join(config['logdir'], '<method>')}/ (results.json, model.keras, tensorboard/).")
            return
        results = experiment.run_experiment(config)
    except experiment.ExperimentError as error:
        logging.error("%s", error)
        sys.exit(2)
    except KeyboardInterrupt:
        logging.error("Interrupted. %s", experiment.interrupted_note(config["logdir"]))
        sys.exit(130)
    except OSError as error:
        # Disk full, permissions, a path that is a file: one line, no traceback.
        where = f" ({error.filename})" if getattr(error, "filename", None) else ""
        logging.error("File-system error%s: %s. %s", where, error.strerror or error,
                      experiment.interrupted_note(config["logdir"]))
        sys.exit(2)
    except ValueError as error:
        # Input problems (bad data, bad values) are reported, not traced.
        logging.error("%s: %s", type(error).__name__, error)
        sys.exit(2)
    print(experiment.format_results_table(results))
    print(experiment.outputs_note(config["logdir"]))
    logging.info("%s", json.dumps(results["final"]))


def run():
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    run()
