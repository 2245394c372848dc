"""`python -m invariant_reps.evaluate` end to end, against the library functions it reports, and its errors."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from absl import flags

import invariant_reps as ir
from invariant_reps.cli import evaluate
from invariant_reps.data.experiment_data import subsample
from invariant_reps.evaluation import fgsm_robustness, mutual_information_xt, mutual_information_yt, odin_detection

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DIGITS = dict(source="digits", max_train_examples=300, max_test_examples=100, validation_fraction=0.1, seed=0)


def _run(module, args):
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def vib_run(tmp_path_factory):
    """A one-epoch VIB run on 270 digits (train CLI), then the evaluate CLI on it."""
    logdir = str(tmp_path_factory.mktemp("vib_digits"))
    trained = _run("invariant_reps.train", [
        "--flagfile=flags/vib_digits.cfg", "--network_width=0.05", "--epochs=1", "--max_train_examples=300",
        "--max_test_examples=100", f"--logdir={logdir}", "--verbose=0"])
    assert trained.returncode == 0, trained.stderr[-3000:]
    evaluated = _run("invariant_reps.evaluate", [f"--run_dir={logdir}", "--batch_size=512"])
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    with open(os.path.join(logdir, evaluate.EVALUATION_FILE)) as f:
        return logdir, evaluated.stdout, json.load(f)


def test_writes_evaluation_json_table_and_tensorboard(vib_run):
    logdir, stdout, evaluation = vib_run
    assert (evaluation["method"], evaluation["dataset"], evaluation["source"]) == ("vib", "mnist", "digits")
    assert evaluation["settings"]["splits"] == ["train", "test"]
    assert evaluation["settings"]["clip"] == [-1.0, 1.0] and evaluation["settings"]["code_distribution"] == "model"
    metrics = evaluation["metrics"]
    for split, count in (("train", 270), ("test", 100)):
        assert metrics[f"{split}_num_examples"] == count
        for key in ("accuracy", "I_XT", "I_YT", "H_Y", "log_N", "fgsm_eps_0.1", "fgsm_eps_0.2", "fgsm_eps_0.3",
                    "fgsm_num_initially_correct"):
            assert f"{split}_{key}" in metrics
        assert metrics[f"{split}_log_N"] == pytest.approx(np.log(count))
        assert 0.0 <= metrics[f"{split}_I_XT"] <= metrics[f"{split}_log_N"] + 1e-9
        assert metrics[f"{split}_I_YT"] <= metrics[f"{split}_H_Y"] + 1e-9
    for key in ("fpr_at_95_tpr", "auroc", "aupr_in", "aupr_out", "detection_error"):
        assert 0.0 <= metrics[f"ood_{key}"] <= 1.0
    for label in ("train I(X;T) / I(Y;T) (nats)", "test FGSM eps=0.1/0.2/0.3 (%)", "OOD AUROC (%)"):
        assert label in stdout
    from tensorboard.backend.event_processing import event_accumulator

    board = event_accumulator.EventAccumulator(os.path.join(logdir, "tensorboard", "evaluation"))
    board.Reload()
    assert "evaluation/test_I_XT" in board.Tags()["tensors"]


def test_numbers_equal_the_library_functions_on_the_restored_model(vib_run):
    """The same passes in the same order (one batch per split): the restored noise state gives equal numbers."""
    logdir, _, evaluation = vib_run
    metrics = evaluation["metrics"]
    model = keras.saving.load_model(os.path.join(logdir, "model.keras"))
    data = ir.get_dataset("mnist").build({}, **DIGITS)
    expected = {}
    for split, (x, y, _) in (("train", data.train.arrays()), ("test", data.tests["test"].arrays())):
        codes = model.encoder(x, training=False)
        logits = np.asarray(model.head(codes), np.float64)
        mean, stddev = model.code_distribution(x, batch_size=512)
        expected[f"{split}_accuracy"] = np.mean(np.argmax(logits, 1) == y)
        expected[f"{split}_I_XT"] = mutual_information_xt(np.asarray(codes, np.float64), mean, stddev)
        expected[f"{split}_I_YT"] = mutual_information_yt(logits, y)
        attack = fgsm_robustness(model, x, y, (0.1, 0.2, 0.3), clip=(-1.0, 1.0), batch_size=512)
        expected.update({f"{split}_{k}": v for k, v in attack.as_dict().items()})
    ood = odin_detection(model, data.tests["test"].arrays()[0], seed=0, clip=(-1.0, 1.0), batch_size=512)
    expected.update({f"ood_{k}": v for k, v in ood.as_dict().items()})
    for key, value in expected.items():
        np.testing.assert_allclose(metrics[key], value, rtol=1e-9, err_msg=key)


@pytest.fixture(scope="module")
def vanilla_run(tmp_path_factory):
    """A deterministic model's run directory, written in-process."""
    logdir = tmp_path_factory.mktemp("vanilla")
    data = ir.get_dataset("mnist").build({}, **DIGITS)
    keras.utils.set_random_seed(0)
    net = ir.build_network("ib_mlp", (784,), 10, width=0.05)
    model = ir.Vanilla(*net)
    model.compile(optimizer="adam")
    model.fit(*data.train.arrays()[:2], epochs=1, verbose=0)
    model.save(str(logdir / "model.keras"))
    results = {"method": "vanilla", "dataset": "mnist", "source": "digits", "epochs": 1,
               "dataset_params": {"flatten": True, "pixel_range": "minus_one_one"}, "flags": dict(DIGITS)}
    (logdir / "results.json").write_text(json.dumps(results))
    return str(logdir), model, data


def test_deterministic_model_uses_its_code_with_the_stated_stddev(vanilla_run):
    logdir, model, data = vanilla_run
    evaluation = evaluate.evaluate_run(logdir, max_examples=60, skip=("fgsm",), code_stddev=0.5, seed=4,
                                       write=False)
    assert evaluation["settings"]["code_distribution"] == "code, stddev 0.5"
    metrics = evaluation["metrics"]
    x, y = subsample(*data.train.arrays()[:2], 60, 4)
    codes = np.asarray(model.encoder(x), np.float64)
    logits = np.asarray(model.head(codes), np.float64)
    np.testing.assert_allclose(metrics["train_I_XT"], mutual_information_xt(codes, codes, 0.5), rtol=1e-9)
    np.testing.assert_allclose(metrics["train_I_YT"], mutual_information_yt(logits, y), rtol=1e-9)
    assert metrics["train_accuracy"] == np.mean(np.argmax(logits, 1) == y)
    x_test = subsample(*data.tests["test"].arrays()[:2], 60, 5)[0]
    np.testing.assert_allclose(metrics["ood_auroc"], odin_detection(model, x_test, seed=4).auroc, rtol=1e-9)
    assert not any(key.startswith("train_fgsm") for key in metrics)
    assert not os.path.exists(os.path.join(logdir, evaluate.EVALUATION_FILE))


def test_clip_ranges(vanilla_run):
    results = {"dataset_params": {"pixel_range": "zero_one"}}
    assert evaluate.input_range(results, None) == (0.0, 1.0)
    assert evaluate.input_range(results, None, "none") is None
    assert evaluate.input_range(results, None, "-2,3") == (-2.0, 3.0)
    with pytest.raises(ValueError, match="lo < hi"):
        evaluate.input_range(results, None, "1,0")
    _, _, data = vanilla_run
    assert evaluate.input_range({"dataset_params": {}}, data) == (-1.0, 1.0)  # observed range of the inputs


def test_missing_files_unknown_dataset_and_bad_options(vanilla_run, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluate.evaluate_run(str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="results.json is missing"):
        evaluate.evaluate_run(str(tmp_path))
    logdir, _, _ = vanilla_run
    results = json.loads(open(os.path.join(logdir, "results.json")).read())
    (tmp_path / "results.json").write_text(json.dumps(results))
    with pytest.raises(FileNotFoundError, match="model.keras is missing"):
        evaluate.evaluate_run(str(tmp_path))
    (tmp_path / "model.keras").write_bytes(open(os.path.join(logdir, "model.keras"), "rb").read())
    (tmp_path / "results.json").write_text(json.dumps({**results, "dataset": "my_private_data"}))
    with pytest.raises(ValueError, match="--import=your_module"):
        evaluate.evaluate_run(str(tmp_path))
    with pytest.raises(ValueError, match="skip"):
        evaluate.evaluate_run(logdir, skip=("adversarial",))
    with pytest.raises(ValueError, match="code_stddev"):
        evaluate.evaluate_run(logdir, code_stddev=0.0)


def test_main_reports_errors_with_exit_status_2(tmp_path):
    flag_values = evaluate.define_flags(flags.FlagValues())
    flag_values(["evaluate", f"--run_dir={tmp_path / 'nowhere'}"])
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main(["evaluate"], flag_values)
    assert exit_info.value.code == 2
