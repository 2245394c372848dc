"""Train one method on one dataset: `python -m invariant_reps.train --flagfile=flags/<experiment>.cfg`.

Writes to `--logdir`: a checkpoint per epoch (`checkpoints/epoch_NNNN.keras`;
rerunning the same command resumes from the newest), TensorBoard events with
a custom-scalar layout and the run's hparams (`tensorboard/`), the final
model (`model.keras`) and the results (`results.json`), and prints a results
table.
"""

import json
import sys

from absl import app, logging

from invariant_reps.cli import flags as ir_flags
from invariant_reps.cli import experiment

FLAGS = ir_flags.FLAGS


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    config = {flag.name: flag.value for flag in FLAGS.get_flags_for_module(ir_flags)}
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
    app.run(main)


if __name__ == "__main__":
    run()
