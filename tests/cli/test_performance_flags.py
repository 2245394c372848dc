"""--jit_compile, --mixed_precision and --steps_per_execution: parsed, validated, applied, recorded.

One-epoch runs of Vanilla on the embedded digits (a small MLP, 256 examples,
batches of 64: 4 steps), in this process, from the same seed:

- `--steps_per_execution=2` runs the same steps inside fewer `tf.function`
  calls: the same loss, to float32 rounding (rtol 1e-5);
- `--jit_compile=true --nodeterministic` (XLA; Keras refuses XLA under op
  determinism, so the CLI refuses the combination) fuses and reorders the float32 arithmetic: the
  same loss within rtol 1e-4;
- `--mixed_precision=mixed_bfloat16` rounds the MLP's matmuls to bfloat16
  (8-bit mantissa, relative rounding 2^-9): the loss within 3% of float32,
  the encoder computing in bfloat16, the logits float32.
"""

import json
import os

import keras
import numpy as np
import pytest
from absl import flags
from tensorflow.python.framework import config as tf_config

from invariant_reps.cli import experiment
from invariant_reps.cli import flags as ir_flags

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
QUICK = [
    "--flagfile=flags/vanilla_biased_mnist.cfg", "--source=digits", "--network=mlp", "--hidden_units=32",
    "--max_train_examples=256", "--max_test_examples=64", "--batch_size=64", "--epochs=1", "--verbose=0",
    "--validation_fraction=0", "--leakage_probe=none", "--noeval_every_epoch",
]


@pytest.fixture
def parse(monkeypatch):
    monkeypatch.chdir(ROOT)  # The flagfiles name each other by relative path.
    ir_flags.define_registered_flags()

    def parse_args(args):
        ir_flags.FLAGS.unparse_flags()
        ir_flags.FLAGS(["train", *QUICK, *args])
        return ir_flags.config_from_flags(ir_flags.FLAGS)

    yield parse_args
    ir_flags.FLAGS.unparse_flags()


def _run(parse, tmp_path, name, *args):
    config = parse([f"--logdir={tmp_path / name}", *args])
    experiment.run_experiment(config)
    with open(tmp_path / name / experiment.RESULTS_FILE) as f:
        results = json.load(f)
    model = keras.saving.load_model(str(tmp_path / name / experiment.FINAL_MODEL_FILE))
    return results, model


def test_defaults_keep_the_previous_behaviour(parse):
    config = parse([])
    assert (config["jit_compile"], config["mixed_precision"], config["steps_per_execution"]) == ("auto", "none", 1)
    assert experiment.compile_options(config) == {"jit_compile": "auto", "steps_per_execution": 1}
    assert experiment.dtype_policy(config) == "float32"


@pytest.mark.parametrize(
    "arg, message",
    [
        ("--mixed_precision=float16", "--mixed_precision"),
        ("--jit_compile=yes", "--jit_compile"),
        ("--steps_per_execution=0", "--steps_per_execution"),
    ],
)
def test_unknown_values_are_refused_at_parsing(parse, arg, message):
    with pytest.raises(flags.IllegalFlagValueError, match=message):
        parse([arg])


def test_config_values_are_checked_without_absl(tmp_path):
    with pytest.raises(ValueError, match="--mixed_precision must be one of none, mixed_float16"):
        experiment.dtype_policy({"mixed_precision": "bfloat16"})
    with pytest.raises(ValueError, match="--jit_compile must be one of auto, true, false"):
        experiment.compile_options({"jit_compile": True})
    with pytest.raises(ValueError, match="--steps_per_execution must be an integer >= 1"):
        experiment.compile_options({"steps_per_execution": 0})
    with pytest.raises(ValueError, match="--jit_compile=true needs --nodeterministic"):
        experiment.compile_options({"jit_compile": "true", "deterministic": True})
    # run_experiment refuses them before building anything, as a user-facing ExperimentError.
    config = {"logdir": str(tmp_path), "method": "vanilla", "dataset": "biased_mnist", "deterministic": True,
              "jit_compile": "true"}
    with pytest.raises(experiment.ExperimentError, match="--jit_compile=true needs --nodeterministic"):
        experiment.run_experiment(config)
    assert experiment.compile_options({"jit_compile": "false", "steps_per_execution": 4}) == {
        "jit_compile": False, "steps_per_execution": 4,
    }


def test_each_flag_trains_the_same_run_and_is_recorded(parse, tmp_path):
    plain, _ = _run(parse, tmp_path, "plain")
    several, several_model = _run(parse, tmp_path, "several", "--steps_per_execution=2")
    deterministic = tf_config.is_op_determinism_enabled()  # Process-wide; the plain runs turned it on.
    tf_config.disable_op_determinism()
    try:
        xla, xla_model = _run(parse, tmp_path, "xla", "--jit_compile=true", "--nodeterministic")
    finally:
        if deterministic:
            tf_config.enable_op_determinism()
    mixed, mixed_model = _run(parse, tmp_path, "mixed", "--mixed_precision=mixed_bfloat16")
    assert keras.mixed_precision.global_policy().name == "float32"  # Restored after the run.

    assert several["flags"]["steps_per_execution"] == 2 and several_model.steps_per_execution == 2
    assert xla["flags"]["jit_compile"] == "true" and xla_model.jit_compile is True
    assert mixed["flags"]["mixed_precision"] == "mixed_bfloat16"
    assert plain["flags"]["mixed_precision"] == "none" and plain["flags"]["jit_compile"] == "auto"
    weighted = [layer for layer in mixed_model.encoder._flatten_layers() if layer._trainable_variables]
    assert weighted and {layer.compute_dtype for layer in weighted} == {"bfloat16"}
    assert keras.backend.standardize_dtype(mixed_model(np.zeros((2, 28, 28, 3), "float32")).dtype) == "float32"

    loss = plain["history"]["loss"][-1]
    np.testing.assert_allclose(several["history"]["loss"][-1], loss, rtol=1e-5)
    np.testing.assert_allclose(xla["history"]["loss"][-1], loss, rtol=1e-4)
    np.testing.assert_allclose(mixed["history"]["loss"][-1], loss, rtol=3e-2)
