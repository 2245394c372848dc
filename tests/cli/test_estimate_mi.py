"""End-to-end tests of `python -m invariant_reps.estimate_mi` on tiny checkpoints."""

import csv
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl import flags

from invariant_reps.cli import estimate_mi
from invariant_reps.data.transfer_tasks import load_transfer_task
from invariant_reps.models import Vanilla
from invariant_reps.networks import build_network

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _parse(argv):
    flag_values = estimate_mi.define_flags(flags.FlagValues())
    flag_values(["estimate_mi"] + argv)
    return flag_values


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two epoch checkpoints of a tiny mlp trained on the digits 0-4 source task."""
    folder = tmp_path_factory.mktemp("vanilla_run")
    task = load_transfer_task("digits_transfer", source="digits")
    x, y = task.source_train
    keras.utils.set_random_seed(0)
    network = build_network("mlp", task.input_shape, task.num_source_classes, hidden_units=(16,))
    model = Vanilla(network.encoder, network.head)
    model.compile(optimizer="adam")
    os.makedirs(folder / "checkpoints")
    for epoch in (1, 2):
        model.fit(x[:200], y[:200], epochs=1, verbose=0)
        model.save(str(folder / "checkpoints" / f"epoch_{epoch:04d}.keras"))
    return str(folder)


def test_main_writes_csv_plots_and_tensorboard(run_dir, tmp_path):
    out_dir = str(tmp_path / "info")
    flag_values = _parse(
        [f"--run_dir={run_dir}", f"--out_dir={out_dir}", "--steps=20", "--max_samples=150",
         "--transfer"]
    )
    estimate_mi.main(["estimate_mi"], flag_values)
    with open(os.path.join(out_dir, estimate_mi.CSV_FILE)) as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "I_XT", "I_TY", "source_acc", "target_probe_acc"]
    for row in rows:
        assert all(np.isfinite(float(value)) for value in row.values())
        assert 0.0 <= float(row["target_probe_acc"]) <= 1.0
    for name in (estimate_mi.PLANE_FILE, estimate_mi.OVER_EPOCHS_FILE):
        with open(os.path.join(out_dir, name), "rb") as file:
            assert file.read(4) == b"\x89PNG"
    assert os.listdir(os.path.join(out_dir, "tensorboard"))
    assert sorted(os.listdir(os.path.join(out_dir, "curves"))) == [
        "epoch_0001_I_TY.png", "epoch_0001_I_XT.png", "epoch_0002_I_TY.png", "epoch_0002_I_XT.png"
    ]


def test_default_out_dir_and_non_neural_method(run_dir):
    rows = estimate_mi.evaluate_run(
        run_dir, method="gaussian", eval_on="target_test", max_samples=100, verbose=0
    )
    assert len(rows) == 2 and set(rows[0]) == {"epoch", "I_XT", "I_TY"}
    assert os.path.isfile(os.path.join(run_dir, "info", estimate_mi.CSV_FILE))


def test_bad_method_is_rejected_with_the_valid_values():
    with pytest.raises(flags.IllegalFlagValueError, match="smile"):
        _parse(["--run_dir=/tmp", "--method=mime"])


def test_run_dir_is_required():
    with pytest.raises(flags.IllegalFlagValueError, match="run_dir"):
        _parse([])


def test_run_dir_without_checkpoints_exits_with_a_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoints"):
        estimate_mi.evaluate_run(str(tmp_path))
    # The module entry point reports it and exits with status 2.
    result = subprocess.run(
        [sys.executable, "-m", "invariant_reps.estimate_mi", f"--run_dir={tmp_path}"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert result.returncode == 2
    assert "No checkpoints" in result.stderr
