"""End-to-end tests of `python -m invariant_reps.estimate_mi` on tiny checkpoints."""

import csv
import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl import flags

from invariant_reps.cli import estimate_mi
from invariant_reps.data import registry as data_registry
from invariant_reps.evaluation import dt_tradeoff_mine
from invariant_reps.evaluation import information_dynamics
from invariant_reps.models import Vanilla
from invariant_reps.networks import build_network

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The run's recorded options: source_test is cut to 60 examples, which only results.json says.
RUN_FLAGS = {"seed": 0, "source": "digits", "data_dir": None, "max_train_examples": 200, "max_test_examples": 60}
TINY_DT = ["--dt_xt_steps=12", "--dt_ty_steps=12", "--dt_batch_size=32", "--dt_hidden_units=8",
           "--dt_readout_window=5"]


def _parse(argv):
    flag_values = estimate_mi.define_flags(flags.FlagValues())
    flag_values(["estimate_mi"] + argv)
    return flag_values


def _write_results(folder, dataset, run_flags, source="digits", dataset_params=None):
    """The keys of train's results.json that estimate_mi reads."""
    results = {"dataset": dataset, "source": source, "dataset_params": dataset_params or {}, "flags": run_flags}
    with open(os.path.join(folder, estimate_mi.RESULTS_FILE), "w") as file:
        json.dump(results, file)


def _train_checkpoints(folder, data, epochs=(1, 2)):
    keras.utils.set_random_seed(0)
    network = build_network("mlp", data.input_shape, data.num_classes, hidden_units=(16,))
    model = Vanilla(network.encoder, network.head)
    model.compile(optimizer="adam")
    x, y = data.train.arrays()[:2]
    os.makedirs(os.path.join(folder, "checkpoints"))
    for epoch in epochs:
        model.fit(x, y, epochs=1, verbose=0)
        model.save(os.path.join(folder, "checkpoints", f"epoch_{epoch:04d}.keras"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """Two epoch checkpoints of a tiny mlp on the digits 0-4 source task, with a results.json."""
    folder = str(tmp_path_factory.mktemp("vanilla_run"))
    data = data_registry.get_dataset("digits_transfer").build({}, **RUN_FLAGS)
    _train_checkpoints(folder, data)
    _write_results(folder, "digits_transfer", RUN_FLAGS)
    return folder


def test_both_protocols_side_by_side_in_csv_plots_and_curves(run_dir, tmp_path):
    out_dir = str(tmp_path / "info")
    flag_values = _parse([f"--run_dir={run_dir}", f"--out_dir={out_dir}", "--steps=20", "--transfer",
                          "--protocol=held_out,dt_tradeoff", *TINY_DT])
    estimate_mi.main(["estimate_mi"], flag_values)
    with open(os.path.join(out_dir, estimate_mi.CSV_FILE)) as file:
        rows = list(csv.DictReader(file))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert list(rows[0]) == ["epoch", "I_XT", "I_TY", "I_XT_dt_tradeoff", "I_TY_dt_tradeoff", "source_acc",
                             "target_probe_acc"]
    # The numbers are those of the protocol run on the split results.json describes (60 examples).
    data, _ = estimate_mi.load_run_data(run_dir)
    x, y = data.tests["source_test"].arrays()[:2]
    assert len(y) == 60
    model = information_dynamics.load_checkpoint(os.path.join(run_dir, "checkpoints", "epoch_0002.keras"))
    settings = dt_tradeoff_mine.DtTradeoffSettings(xt_steps=12, ty_steps=12, batch_size=32, hidden_units=8,
                                                   readout_window=5)
    point = information_dynamics.information_point(model, x, y, epoch=2, protocol="dt_tradeoff",
                                                   dt_settings=settings)
    assert float(rows[1]["I_XT_dt_tradeoff"]) == pytest.approx(point.i_xt, abs=1e-6)
    assert float(rows[1]["I_TY_dt_tradeoff"]) == pytest.approx(point.i_ty, abs=1e-6)
    # 60 rows < batch 32 is not clamped; a readout over the 5 estimates before the last of 12.
    assert point.xt_estimate.batch_size == 32 and point.xt_estimate.values.size == 12
    accuracy = np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y)
    assert float(rows[1]["source_acc"]) == pytest.approx(accuracy)
    for name in (estimate_mi.PLANE_FILE, estimate_mi.OVER_EPOCHS_FILE):
        with open(os.path.join(out_dir, name), "rb") as file:
            assert file.read(4) == b"\x89PNG"
    assert os.listdir(os.path.join(out_dir, "tensorboard"))
    assert sorted(os.listdir(os.path.join(out_dir, "curves"))) == sorted(
        f"epoch_000{epoch}_{column}.png" for epoch in (1, 2)
        for column in ("I_XT", "I_TY", "I_XT_dt_tradeoff", "I_TY_dt_tradeoff")
    )


def test_held_out_stays_the_default_protocol(run_dir):
    flag_values = _parse([f"--run_dir={run_dir}"])
    assert flag_values.protocol == ["held_out"]
    assert (flag_values.dt_batch_size, flag_values.dt_hidden_units, flag_values.dt_readout_window) == (5000, 1024, 500)
    assert (flag_values.dt_xt_steps, flag_values.dt_xt_learning_rate) == (10_000, 8e-5)
    assert (flag_values.dt_ty_steps, flag_values.dt_ty_learning_rate) == (20_000, 1e-5)
    rows = estimate_mi.evaluate_run(run_dir, method="gaussian", eval_on="target_test", max_samples=100, verbose=0)
    assert len(rows) == 2 and list(rows[0]) == ["epoch", "I_XT", "I_TY"]
    assert os.path.isfile(os.path.join(run_dir, "info", estimate_mi.CSV_FILE))


def test_run_data_comes_from_results_json_and_flags_override_it(run_dir, tmp_path):
    data, spec = estimate_mi.load_run_data(run_dir)
    assert spec.name == "digits_transfer" and len(data.tests["source_test"]) == 60 and len(data.train) == 200
    # Without results.json, --dataset names the data (a run still training).
    folder = tmp_path / "unfinished"
    folder.mkdir()
    data, spec = estimate_mi.load_run_data(str(folder), dataset="digits_transfer")
    assert spec.name == "digits_transfer" and len(data.tests["source_test"]) > 60
    with pytest.raises(ValueError, match="Unknown MNIST source 'nope'"):
        estimate_mi.load_run_data(run_dir, source="nope")


def test_missing_results_json_is_a_clear_error(run_dir, tmp_path, caplog):
    checkpoints_only = tmp_path / "no_results"
    checkpoints_only.mkdir()
    os.symlink(os.path.join(run_dir, "checkpoints"), checkpoints_only / "checkpoints")
    with pytest.raises(FileNotFoundError, match=r"results.json not found.*--dataset=NAME"):
        estimate_mi.evaluate_run(str(checkpoints_only), verbose=0)
    with caplog.at_level(logging.ERROR), pytest.raises(SystemExit) as exit_info:
        estimate_mi.main(["estimate_mi"], _parse([f"--run_dir={checkpoints_only}"]))
    assert exit_info.value.code == 2 and "results.json not found" in caplog.text


def test_unknown_dataset_in_results_json_is_named(tmp_path):
    _write_results(str(tmp_path), "mnist_colour", RUN_FLAGS)
    with pytest.raises(ValueError, match=r"results.json: Unknown dataset 'mnist_colour'.*digits_transfer"):
        estimate_mi.load_run_data(str(tmp_path))
    with pytest.raises(ValueError, match=r"--dataset: Unknown dataset 'digits'"):
        estimate_mi.load_run_data(str(tmp_path), dataset="digits")


def test_biased_mnist_run_reads_its_own_data(tmp_path):
    """Issue 10: a Biased-MNIST run used to be measured on digits_transfer (a Keras shape error)."""
    run_flags = dict(RUN_FLAGS, max_train_examples=60, max_test_examples=40)
    data = data_registry.get_dataset("biased_mnist").build({"rho": 0.99}, **run_flags)
    _train_checkpoints(str(tmp_path), data, epochs=(1,))
    _write_results(str(tmp_path), "biased_mnist", run_flags, dataset_params={"rho": 0.99})
    rows = estimate_mi.evaluate_run(str(tmp_path), method="gaussian", verbose=0)
    x, y = data.tests["unbiased_test"].arrays()[:2]  # The first evaluation set is the default.
    model = information_dynamics.load_checkpoint(os.path.join(tmp_path, "checkpoints", "epoch_0001.keras"))
    expected = information_dynamics.information_point(model, x, y, epoch=1, method="gaussian")
    assert rows == [expected.as_row()]
    with pytest.raises(ValueError, match="--transfer needs a transfer task"):
        estimate_mi.evaluate_run(str(tmp_path), method="gaussian", with_transfer=True, verbose=0)
    with pytest.raises(ValueError, match="no target task"):
        estimate_mi.evaluate_run(str(tmp_path), method="gaussian", eval_on="target_test", verbose=0)
    with pytest.raises(ValueError, match=r"No split 'nope'.*biased_test"):
        estimate_mi.evaluate_run(str(tmp_path), method="gaussian", eval_on="nope", verbose=0)


def test_bad_flag_values_are_rejected_with_the_valid_values():
    with pytest.raises(flags.IllegalFlagValueError, match="smile"):
        _parse(["--run_dir=/tmp", "--method=mime"])
    with pytest.raises(flags.IllegalFlagValueError, match=r"Unknown --protocol value\(s\) \['seed'\].*dt_tradeoff"):
        _parse(["--run_dir=/tmp", "--protocol=held_out,seed"])
    with pytest.raises(ValueError, match="Unknown protocols"):
        estimate_mi.evaluate_run("/tmp", protocols=("mine",))


def test_run_dir_is_required():
    with pytest.raises(flags.IllegalFlagValueError, match="run_dir"):
        _parse([])


def test_run_dir_without_checkpoints_exits_with_a_message(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoints"):
        estimate_mi.evaluate_run(str(tmp_path))
    # The module entry point reports it and exits with status 2.
    result = subprocess.run(
        [sys.executable, "-m", "invariant_reps.estimate_mi", f"--run_dir={tmp_path}", "--protocol=dt_tradeoff"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert result.returncode == 2
    assert "No checkpoints" in result.stderr
