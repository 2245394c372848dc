"""Methods and datasets grow by addition: a user's module trains from the CLI; every flagfile parses."""

import glob
import json
import os
import subprocess
import sys

import pytest

from invariant_reps import data, models
from invariant_reps.cli import experiment
from invariant_reps.cli import flags as ir_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FLAGFILES = sorted(glob.glob(os.path.join(ROOT, "flags", "*.cfg")))


def _train(args):
    return subprocess.run(
        [sys.executable, "-m", "invariant_reps.train", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def test_a_method_and_dataset_from_a_user_module_train_from_the_cli(tmp_path):
    completed = _train([
        "--import=tests.cli.plugin_example", "--method=toy_shrink", "--dataset=toy_blobs",
        "--toy_shrink_weight=0.5", "--toy_blobs_num_examples=120", "--network=mlp", "--hidden_units=8",
        "--epochs=1", "--batch_size=32", "--verbose=0", f"--logdir={tmp_path}",
    ])
    assert completed.returncode == 0, completed.stderr[-3000:]
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["method"] == "toy_shrink" and results["dataset"] == "toy_blobs"
    assert results["method_params"] == {"weight": 0.5}
    assert results["dataset_params"] == {"num_examples": 120, "nan_row": -1}
    final = results["final"]
    # The user's metric is computed from the same predictions as the accuracy.
    assert final["test_toy_error_rate"] == pytest.approx(1.0 - final["test_accuracy"])
    assert len(results["history"]["test_toy_error_rate"]) == 1
    assert "z_square" in results["history"]
    # s = sign of a coordinate the blobs are centred on: a linear probe on z reads it well above chance.
    assert final["leakage_accuracy"] > final["leakage_chance"] + 0.2
    assert "held-out blobs error rate" in completed.stdout


def test_list_shows_user_registrations_with_their_hyperparameters():
    completed = _train(["--import=tests.cli.plugin_example", "--list"])
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "toy_shrink: CE + lambda * mean(z^2)" in completed.stdout
    assert "--toy_shrink_weight (float, default 1.0, in [0, inf]): lambda: weight of mean(z^2)" in completed.stdout
    assert "--toy_blobs_num_examples" in completed.stdout
    for name in models.available_methods() + data.available_datasets():
        assert f"\n{name}: " in completed.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--end_gama=1"], "method 'end' has no hyperparameter 'gama'; its hyperparameters are: --end_alpha"),
        (["--end_alpha=abc"], "--end_alpha"),
        (["--irene_gamma=1"], "--irene_gamma is a hyperparameter of method 'irene', but --method=end"),
        (["--method=bogus"], "Unknown method 'bogus'. Registered methods: "),
        (["--import=no_such_module_xyz"], "--import=no_such_module_xyz"),
        (["--biased_mnist_rho=1.5"], "--biased_mnist_rho=1.5"),
    ],
)
def test_bad_hyperparameter_flags_are_clear_errors(args, message, tmp_path):
    completed = _train(["--flagfile=flags/end_digits.cfg", f"--logdir={tmp_path}", *args])
    assert completed.returncode != 0
    assert message in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.fixture
def parsed_flags():
    ir_flags.define_registered_flags()
    yield ir_flags.FLAGS
    ir_flags.FLAGS.unparse_flags()


@pytest.mark.parametrize("path", FLAGFILES, ids=[os.path.basename(p) for p in FLAGFILES])
def test_every_flagfile_parses_and_resolves(path, parsed_flags, monkeypatch):
    monkeypatch.chdir(ROOT)  # Flagfiles name each other by relative path.
    parsed_flags.unparse_flags()
    parsed_flags(["train", f"--flagfile={path}"])
    assert ir_flags.misplaced_hyperparameters(parsed_flags) == []
    config = ir_flags.config_from_flags(parsed_flags)
    method = models.get_method(config["method"])
    dataset = data.get_dataset(config["dataset"])
    params = experiment.method_params(config)
    assert set(params) == {h.name for h in method.hyperparameters}
    assert set(experiment.dataset_params(config)) == {h.name for h in dataset.hyperparameters}
    method.check_applies(dataset.task, dataset.sensitive, dataset.name)
