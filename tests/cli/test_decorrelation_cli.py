"""The decorrelation methods' bad input through the train command's own path, in process (no TF start-up per case).

`_run` parses the flags as `python -m invariant_reps.train` does and calls `experiment.run_experiment`, whose
`ExperimentError`/`ValueError` the command prints as one line (exit 2). Each case checks the message names the
cause and that the run directory holds no half-written output (no results, history or checkpoint file).
"""

import os

import pytest
from absl import flags as absl_flags

from invariant_reps.cli import experiment
from invariant_reps.cli import flags as ir_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_TOY = [
    "--flagfile=flags/vanilla_seed_toy.cfg", "--seed_toy_num_per_class=64", "--seed_toy_num_validation_per_class=0",
    "--seed_toy_num_test_per_class=50", "--batch_size=32", "--epochs=1", "--hidden_units=4", "--verbose=0",
    "--leakage_probe=none",
]


@pytest.fixture
def run(monkeypatch):
    monkeypatch.chdir(ROOT)  # flagfiles name each other by relative path
    ir_flags.define_registered_flags()

    def _run(args, logdir):
        ir_flags.FLAGS.unparse_flags()
        ir_flags.FLAGS(["train", *args, f"--logdir={logdir}"])  # the command's parser: bad values fail here
        assert ir_flags.misplaced_hyperparameters() == []
        with pytest.raises(ValueError) as error:  # ExperimentError is a ValueError; main prints either
            experiment.run_experiment(ir_flags.config_from_flags())
        return str(error.value)

    yield _run
    ir_flags.FLAGS.unparse_flags()


def _written_files(logdir):
    if not os.path.exists(logdir):
        return []
    return [os.path.join(d, f) for d, _, files in os.walk(logdir) for f in files if "tensorboard" not in d]


@pytest.mark.parametrize("method", ["disco", "mi_penalty", "kl_update", "adversarial"])
def test_negative_lambda_is_refused_before_the_run_directory_exists(run, method, tmp_path):
    logdir = tmp_path / "run"
    with pytest.raises(absl_flags.IllegalFlagValueError, match=f"--{method}_lam=-1: -1.0 is not a non-negative"):
        run([*TINY_TOY, f"--method={method}", f"--{method}_lam=-1"], logdir)
    assert not logdir.exists()


def test_a_continuous_nuisance_given_to_a_method_on_classes_is_refused(run, tmp_path):
    message = run([*TINY_TOY, "--method=end"], tmp_path)
    assert "Method 'end' needs a sensitive variable of kind discrete" in message
    assert "'continuous'" in message
    assert _written_files(tmp_path) == []


def test_a_diverging_critic_stops_the_run_naming_the_critic_and_leaves_no_outputs(run, tmp_path):
    # NWJ's e^(T - 1) overflows once a 1e30 learning rate has blown the critic's weights up.
    message = run([*TINY_TOY, "--method=mi_penalty", "--mi_penalty_bound=nwj", "--mi_penalty_critic_steps=1",
                   "--mi_penalty_critic_width=4", "--mi_penalty_critic_learning_rate=1e30"], tmp_path)
    assert "Training stopped at epoch 1, batch" in message
    assert "critic T(r, s)" in message and "NaN or inf" in message
    assert "no checkpoint to resume from" in message
    assert _written_files(tmp_path) == []
