"""Methods under XLA, mixed precision and several steps per execution give the float32 run's values.

Each case trains one epoch of the method harness's tiny case (3 batches of 16,
Adam 1e-2) with and without the option, from the same initial weights, data
and seeds; the float32 reference of a method is trained once and shared. The
methods are a representative set (every registered method would take minutes
on CI's 2 cores), one per kind of training step:

- `end`: batch-level loss terms only (Gram matrices of z);
- `irene`: an auxiliary network attached in the objective and trained for 2
  inner steps (the `tf.while_loop` of `auxiliary_steps`);
- `adversarial`: an adversary through `critic_base` with its own schedule;
- `mi_penalty`: an MI critic (`critic_base`), sampled pairs;
- `vib`: a KL term and a reparameterised sample of z;
- `ctc`: an epoch-dependent method (schedule variable set by a callback).

Tolerances:

- XLA (`jit_compile=True`): rtol 1e-4, atol 1e-5. Both run float32; XLA fuses
  and reorders the arithmetic, so the last bits differ. Only methods whose
  step draws no random numbers are compared: under XLA TensorFlow's stateless
  RNG (`AUTO_SELECT`) picks another algorithm, so a stochastic method's noise
  differs (VIB, NIB, the MI critics' shuffled pairs, DisenIB); the same
  random stream is then not available to compare against.
- mixed_bfloat16: rtol 5e-2, atol 5e-2. bfloat16 keeps 8 bits of mantissa
  (relative rounding 2^-9 = 0.2%) in the encoder and head; the logits, loss
  terms, critics, adversaries and KL terms are float32 (checked below), so
  the difference is the rounding of the network's forward pass carried
  through three optimizer steps. Accuracy may differ by one example of the
  16 in the last batch.
- mixed_float16 (irene): the same tolerance; the encoder/head optimizer is a
  dynamic `LossScaleOptimizer`.
- `steps_per_execution=3`: the same weights to atol 1e-6 (the same steps run
  inside one `tf.function` call).
"""

import functools

import keras
import numpy as np
import pytest

from tests.models import method_harness as harness

XLA_METHODS = ["end", "irene", "adversarial"]
MIXED_METHODS = ["irene", "mi_penalty", "vib"]
STEPS_METHODS = ["irene", "ctc"]
XLA_TOLERANCE = {"rtol": 1e-4, "atol": 1e-5}
MIXED_TOLERANCE = {"rtol": 5e-2, "atol": 5e-2}


def _case(name, policy="float32", **compile_kwargs):
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        case = harness.make_case(name)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    case.model.compile(optimizer=keras.optimizers.Adam(1e-2), **compile_kwargs)
    return case


def _train(case):
    """`(last logs, weights, auxiliary state)` after one epoch."""
    logs = {key: values[-1] for key, values in harness.fit(case, epochs=1).items()}
    weights = [(v.path, np.array(v.numpy())) for v in case.model.weights]
    return logs, weights, harness.auxiliary_state(case.model)


@functools.lru_cache(maxsize=None)
def _reference(name):
    """The float32, non-XLA, one-step-per-call run of `name` (trained once per test session)."""
    return _train(_case(name, jit_compile=False))


def _assert_same_logs(actual, expected, tolerance, accuracy_atol=1e-6):
    assert set(actual) == set(expected)
    for key, value in expected.items():
        if key.endswith("accuracy"):
            np.testing.assert_allclose(actual[key], value, rtol=0, atol=accuracy_atol, err_msg=key)
        else:
            np.testing.assert_allclose(actual[key], value, err_msg=key, **tolerance)


@pytest.mark.parametrize("name", XLA_METHODS)
def test_xla_gives_the_same_losses(name):
    compiled = _case(name, jit_compile=True)
    assert compiled.model.jit_compile
    logs, _, _ = _train(compiled)
    _assert_same_logs(logs, _reference(name)[0], XLA_TOLERANCE)


@pytest.mark.parametrize("name", MIXED_METHODS)
def test_mixed_bfloat16_gives_close_losses_with_float32_terms(name):
    mixed = _case(name, "mixed_bfloat16", jit_compile=False)
    assert mixed.model.encoder.compute_dtype == "bfloat16"
    for auxiliary in mixed.model.auxiliary_names:  # Critics, adversaries, heads, estimators: float32.
        network = mixed.model.auxiliary_network(auxiliary)
        assert {layer.compute_dtype for layer in network._flatten_layers()} == {"float32"}, auxiliary
    x = mixed.x[:4]
    assert keras.backend.standardize_dtype(mixed.model(x).dtype) == "float32"  # float32 logits.
    logs, _, _ = _train(mixed)
    _assert_same_logs(logs, _reference(name)[0], MIXED_TOLERANCE, accuracy_atol=1 / 16 + 1e-6)


@pytest.mark.parametrize("name", STEPS_METHODS)
def test_steps_per_execution_gives_the_same_weights(name):
    several = _case(name, jit_compile=False, steps_per_execution=3)
    _, weights, auxiliary = _train(several)
    _, expected_weights, expected_auxiliary = _reference(name)
    assert [np.shape(a) for _, a in weights] == [np.shape(b) for _, b in expected_weights]
    for (path, a), (_, b) in zip(weights, expected_weights):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6, err_msg=path)
    harness.assert_same_state(auxiliary, expected_auxiliary, atol=1e-6)


def test_mixed_float16_scales_the_loss_and_gives_close_losses():
    # float16 keeps 11 bits of mantissa (relative rounding 2^-12): the same tolerance as bfloat16 holds with room;
    # Keras wraps the encoder/head optimizer in a dynamic LossScaleOptimizer, which the step's scale_loss uses.
    mixed = _case("irene", "mixed_float16", jit_compile=False)
    assert isinstance(mixed.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert mixed.model.encoder.compute_dtype == "float16"
    logs, _, _ = _train(mixed)
    _assert_same_logs(logs, _reference("irene")[0], MIXED_TOLERANCE, accuracy_atol=1 / 16 + 1e-6)
