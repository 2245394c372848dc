"""`python -m invariant_reps.train` end to end: outputs, TensorBoard, resume after a kill, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import invariant_reps  # noqa: F401  (registers the custom objects for load_model)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = [
    "--flagfile=flags/vanilla_biased_mnist.cfg",
    "--source=digits",
    "--network=mlp",
    "--hidden_units=32",
    "--max_train_examples=256",
    "--max_test_examples=128",
    "--batch_size=64",
    "--verbose=0",
]


def _train(args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "invariant_reps.train", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=300, **kwargs,
    )


def _tags(directory):
    from tensorboard.backend.event_processing import event_accumulator

    accumulator = event_accumulator.EventAccumulator(directory, size_guidance={"tensors": 0})
    accumulator.Reload()
    return set(accumulator.Tags()["tensors"]) | set(accumulator.Tags()["scalars"]), accumulator


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    logdir = str(tmp_path_factory.mktemp("run"))
    completed = _train([*QUICK, "--epochs=2", f"--logdir={logdir}"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    return logdir, completed


def test_prints_results_table_and_writes_outputs(quick_run):
    logdir, completed = quick_run
    for label in ("unbiased test (rho=0.1) accuracy", "biased test (rho=1) accuracy", "leakage: colour from z", "leakage chance level"):
        assert label in completed.stdout
    with open(os.path.join(logdir, "results.json")) as f:
        results = json.load(f)
    assert results["source"] == "digits" and results["epochs"] == 2
    assert results["history"]["epoch"] == [1, 2]
    assert len(results["history"]["unbiased_test_accuracy"]) == 2
    # Vanilla keeps the colour: a linear probe on z reads it almost perfectly (chance is about 10%).
    assert results["final"]["leakage_accuracy"] >= 0.9
    assert results["final"]["leakage_chance"] == pytest.approx(0.1, abs=0.05)
    assert results["dataset_params"] == {"rho": 0.99} and results["method_params"] == {}
    assert sorted(os.listdir(os.path.join(logdir, "checkpoints"))) == ["epoch_0001.keras", "epoch_0002.keras"]


def test_final_model_reloads_and_predicts_the_same(quick_run):
    logdir, _ = quick_run
    model = keras.saving.load_model(os.path.join(logdir, "model.keras"))
    last = keras.saving.load_model(os.path.join(logdir, "checkpoints", "epoch_0002.keras"))
    x = np.random.default_rng(0).uniform(-1, 1, size=(8, 28, 28, 3)).astype("float32")
    np.testing.assert_array_equal(model.predict(x, verbose=0), last.predict(x, verbose=0))


def test_tensorboard_has_per_epoch_scalars_layout_and_hparams(quick_run):
    logdir, _ = quick_run
    board = os.path.join(logdir, "tensorboard")
    train_tags, accumulator = _tags(os.path.join(board, "train"))
    assert {"epoch_loss", "epoch_task_loss", "epoch_accuracy", "epoch_learning_rate"} <= train_tags
    assert len(accumulator.Tensors("epoch_loss")) == 2
    validation_tags, _ = _tags(os.path.join(board, "validation"))
    assert {"epoch_loss", "epoch_task_loss", "epoch_accuracy"} <= validation_tags
    root_tags, _ = _tags(board)
    assert "custom_scalars__config__" in root_tags
    assert "_hparams_/session_start_info" in root_tags
    test_tags, _ = _tags(os.path.join(board, "test"))
    assert {"test/unbiased_test_accuracy", "test/leakage_accuracy"} <= test_tags


def test_rerun_resumes_instead_of_retraining(quick_run):
    logdir, _ = quick_run
    completed = _train([*QUICK, "--epochs=3", f"--logdir={logdir}"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "Resuming from" in completed.stderr
    with open(os.path.join(logdir, "results.json")) as f:
        assert json.load(f)["history"]["epoch"] == [1, 2, 3]


def test_noresume_refuses_to_overwrite(quick_run):
    logdir, _ = quick_run
    completed = _train([*QUICK, "--epochs=1", "--noresume", f"--logdir={logdir}"])
    assert completed.returncode != 0
    assert "already holds checkpoints" in completed.stderr


def test_killed_run_resumes_to_the_same_weights(tmp_path):
    args = [*QUICK, "--epochs=6", "--max_train_examples=1024"]
    reference = _train([*args, f"--logdir={tmp_path / 'uninterrupted'}"])
    assert reference.returncode == 0, reference.stderr[-3000:]

    logdir = tmp_path / "interrupted"
    process = subprocess.Popen(
        [sys.executable, "-m", "invariant_reps.train", *args, f"--logdir={logdir}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 240
    while not (logdir / "checkpoints" / "epoch_0002.keras").exists():
        assert process.poll() is None and time.time() < deadline, "run ended before it could be killed"
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (logdir / "results.json").exists(), "the run finished before the kill"
    completed_epochs = len(list((logdir / "checkpoints").glob("epoch_*.keras")))
    assert 2 <= completed_epochs < 6

    resumed = _train([*args, f"--logdir={logdir}"])
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming from" in resumed.stderr
    expected = keras.saving.load_model(tmp_path / "uninterrupted" / "model.keras")
    actual = keras.saving.load_model(logdir / "model.keras")
    assert len(actual.weights) == len(expected.weights)
    assert len(actual.optimizer.variables) == len(expected.optimizer.variables)
    for a, b in zip(actual.weights, expected.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6, err_msg=a.path)
    for a, b in zip(actual.optimizer.variables, expected.optimizer.variables):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6, err_msg=a.path)


@pytest.mark.parametrize(
    "flag, message",
    [
        ("--method=bogus", "Unknown method 'bogus'. Registered methods: "),
        ("--network=bogus", "Unknown network 'bogus'. Registered networks: cifar_resnet, "),
        ("--source=bogus", "value should be one of <auto|tfds|idx|digits>"),
        ("--biased_mnist_rho=1.5", "--biased_mnist_rho=1.5: 1.5 is not"),
    ],
)
def test_unknown_flag_values_list_the_valid_ones(flag, message):
    completed = _train([*QUICK, "--epochs=1", "--logdir=/tmp/never-used", flag])
    assert completed.returncode != 0
    assert message in completed.stderr


def test_missing_idx_directory_is_a_clear_error(tmp_path):
    completed = _train([*QUICK, "--epochs=1", "--source=idx", f"--data_dir={tmp_path}", f"--logdir={tmp_path / 'r'}"])
    assert completed.returncode == 2
    assert "No IDX file" in completed.stderr
    assert "Traceback" not in completed.stderr


@pytest.mark.parametrize(
    "flags_, message",
    [
        (["--flagfile=flags/vanilla_digits_transfer.cfg", "--method=end"],
         "Method 'end' needs a sensitive variable of kind discrete, but --dataset=digits_transfer has a 'none' one"),
        (["--dataset=digits_transfer"],
         "--biased_mnist_rho is a hyperparameter of dataset 'biased_mnist', but --dataset=digits_transfer"),
        (["--method=ctc", "--strategy=mirrored"], "--method=ctc runs with --strategy=default only"),
    ],
)
def test_method_and_dataset_must_fit(tmp_path, flags_, message):
    base = QUICK if not flags_[0].startswith("--flagfile") else ["--source=digits", "--verbose=0"]
    completed = _train([*base, "--epochs=1", f"--logdir={tmp_path}", *flags_])
    assert completed.returncode == 2
    assert message in completed.stderr


def test_ctc_trains_on_the_transfer_task_and_reports_the_target_probe(tmp_path):
    completed = _train([
        "--flagfile=flags/ctc_digits.cfg", "--epochs=2", "--ctc_stage_two_epoch=1", "--lr_restart_epoch=1",
        "--max_train_examples=128", "--hidden_units=16", "--ctc_num_negatives=32", "--ctc_projection_dim=8",
        "--verbose=0", f"--logdir={tmp_path}",
    ])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "transfer: target linear-probe acc." in completed.stdout
    with open(tmp_path / "results.json") as f:
        results = json.load(f)
    assert results["method"] == "ctc" and results["dataset"] == "digits_transfer"
    assert {"instance_loss", "temporal_loss", "source_test_accuracy"} <= set(results["history"])
    # The reported probe is the linear probe of the saved encoder on the target task (digits 5-9).
    from invariant_reps.data import transfer_tasks
    from invariant_reps.evaluation import transfer

    task = transfer_tasks.load_transfer_task("digits_transfer", "digits")
    encoder = keras.saving.load_model(tmp_path / "model.keras").encoder
    probe = transfer.linear_probe(encoder, task.target_train, task.target_test)
    assert results["final"]["target_probe_accuracy"] == pytest.approx(probe, abs=1e-9)
