"""The train CLI under failure: corrupt checkpoints, unwritable paths, full disks, NaN batches, Ctrl-C."""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.callbacks import EpochCheckpoint

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOY = [
    "--import=tests.cli.plugin_example", "--method=toy_shrink", "--dataset=toy_blobs", "--network=mlp",
    "--hidden_units=8", "--batch_size=32", "--verbose=0", "--leakage_probe=none",
]


def _train(args, **kwargs):
    return subprocess.run(
        [sys.executable, "-m", "invariant_reps.train", *args], cwd=ROOT, capture_output=True, text=True,
        timeout=300, **kwargs,
    )


def _one_line_error(completed, expected):
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert expected in completed.stderr
    assert "Traceback" not in completed.stderr


def test_a_corrupt_newest_checkpoint_falls_back_to_the_previous_one(tmp_path):
    first = _train([*TOY, "--epochs=2", f"--logdir={tmp_path}"])
    assert first.returncode == 0, first.stderr[-2000:]
    newest = tmp_path / "checkpoints" / "epoch_0002.keras"
    newest.write_bytes(newest.read_bytes()[:100])  # Truncated, as by a crash of the file system.
    resumed = _train([*TOY, "--epochs=3", f"--logdir={tmp_path}"])
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"Checkpoint {newest} is unreadable" in resumed.stderr
    assert "Resuming from" in resumed.stderr and "epoch_0001.keras (epoch 1)" in resumed.stderr
    results = json.loads((tmp_path / "results.json").read_text())
    assert results["history"]["epoch"] == [1, 2, 3]


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "epoch_0001.keras").write_bytes(b"not a zip")
    _one_line_error(_train([*TOY, "--epochs=2", f"--logdir={tmp_path}"]), "No checkpoint in")


def test_a_logdir_that_cannot_be_created_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    completed = _train([*TOY, "--epochs=1", f"--logdir={blocker / 'run'}"])
    _one_line_error(completed, f"Cannot write to {blocker / 'run'}")


def test_an_unwritable_checkpoints_dir_fails_before_training(tmp_path):
    (tmp_path / "checkpoints").write_text("a file where the directory should be")
    completed = _train([*TOY, "--epochs=1", f"--logdir={tmp_path}"])
    _one_line_error(completed, f"Cannot write to {tmp_path / 'checkpoints'}")
    assert not (tmp_path / "history.json").exists()


def test_a_full_disk_during_a_checkpoint_leaves_no_partial_file(tmp_path, monkeypatch):
    model = ir.Vanilla(*_tiny())
    model.compile()
    callback = EpochCheckpoint(str(tmp_path))
    callback.set_model(model)

    def full_disk(path, *args, **kwargs):
        with open(path, "wb") as f:
            f.write(b"half a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device", path)

    monkeypatch.setattr(model, "save", full_disk)
    with pytest.raises(OSError, match="No space left on device"):
        callback.on_epoch_end(0, {"loss": 1.0})
    assert os.listdir(tmp_path) == []


def test_nan_in_a_later_batch_stops_with_its_position_and_the_last_checkpoint(tmp_path):
    # Row 200 is in the 7th batch of 32 of the second epoch's order or the first's: the message names it.
    completed = _train([*TOY, "--epochs=2", "--toy_blobs_nan_row=200", f"--logdir={tmp_path}"])
    _one_line_error(completed, "Training stopped at epoch 1, batch ")
    assert "NaN or inf in a training batch (inputs)" in completed.stderr
    assert "No epoch completed, so there is no checkpoint to resume from." in completed.stderr


def test_divergence_names_the_loss_and_the_last_good_checkpoint(tmp_path):
    completed = _train([*TOY, "--epochs=3", "--optimizer=sgd", "--learning_rate=1e30", f"--logdir={tmp_path}"])
    _one_line_error(completed, "The training objective (the loss) became NaN or inf")
    for path in (tmp_path / "checkpoints").glob("*.keras"):
        restored = keras.saving.load_model(path)
        assert all(np.isfinite(w.numpy()).all() for w in restored.weights)


def _default_sigint():
    # A test run started in the background of a non-interactive shell inherits an ignored SIGINT, and so would
    # the run below (Python leaves an inherited SIG_IGN alone): restore the terminal's default in the child.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_prints_one_line_with_how_to_resume(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "invariant_reps.train", *TOY, "--epochs=200", "--toy_blobs_num_examples=2000",
         f"--logdir={tmp_path}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=_default_sigint,
    )
    deadline = time.time() + 240
    while not (tmp_path / "checkpoints" / "epoch_0001.keras").exists():
        assert process.poll() is None and time.time() < deadline, "the run ended before it could be interrupted"
        time.sleep(0.05)
    for _ in range(4):
        # TensorFlow's runtime very rarely loses a SIGINT (about once in 50 runs here); a user presses Ctrl-C
        # again, and so does this test, 30 s later: the one-line message and exit status are what it checks.
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
            break
        except subprocess.TimeoutExpired:
            continue
    else:
        process.kill()
        pytest.fail("four SIGINTs, 30 s apart, did not stop the run")
    assert process.returncode == 130, stderr[-3000:]
    assert "Interrupted. Epochs up to " in stderr and "rerun the same command to resume" in stderr
    assert "Traceback" not in stderr
    assert not list((tmp_path / "checkpoints").glob("*.partial*"))


@pytest.mark.parametrize("flag", ["--weight_decay=nan", "--learning_rate=-1"])
def test_non_finite_or_negative_optimizer_flags_are_refused(flag, tmp_path):
    completed = _train([*TOY, "--epochs=1", f"--logdir={tmp_path}", flag])
    assert completed.returncode != 0
    assert flag.split("=")[0] in completed.stderr
    assert not (tmp_path / "checkpoints").exists()


def test_a_finished_run_says_where_its_outputs_are(tmp_path):
    completed = _train([*TOY, "--epochs=1", f"--logdir={tmp_path}"])
    assert completed.returncode == 0, completed.stderr[-2000:]
    for line in (f"Model:        {tmp_path / 'model.keras'}", f"tensorboard --logdir={tmp_path / 'tensorboard'}",
                 f"Checkpoints:  {tmp_path / 'checkpoints'}/epoch_NNNN.keras"):
        assert line in completed.stdout


def _tiny():
    inputs = keras.Input((4,))
    z = keras.layers.Dense(3)(inputs)
    z_in = keras.Input((3,))
    return keras.Model(inputs, z), keras.Model(z_in, keras.layers.Dense(2)(z_in))


def test_early_stopping_stops_and_a_rerun_does_not_train_again(tmp_path):
    args = [*TOY, "--epochs=10", "--learning_rate=0", "--early_stopping_patience=2", f"--logdir={tmp_path}"]
    first = _train(args)
    assert first.returncode == 0, first.stderr[-2000:]
    results = json.loads((tmp_path / "results.json").read_text())
    # With a zero learning rate val_accuracy never improves on epoch 1: stop after 2 more epochs.
    assert results["history"]["epoch"] == [1, 2, 3] and results["stopped_epoch"] == 3
    again = _train([*args[:-1], "--epochs=12", f"--logdir={tmp_path}"])
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads((tmp_path / "results.json").read_text())["history"]["epoch"] == [1, 2, 3]
