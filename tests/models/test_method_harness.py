"""Every registered method through the same checks: fit, evaluate, save/load, resume.

The mirrored-strategy equality of every method is checked in `test_distributed.py`.
"""

import keras
import numpy as np
import pytest

import invariant_reps as ir
from tests.models import method_harness as harness

METHODS = ir.available_methods()


def _all_finite(history):
    return all(np.isfinite(v).all() for v in history.values())


@pytest.mark.parametrize("name", METHODS)
def test_fit_logs_every_declared_term_and_auxiliary_metric(name):
    case = harness.make_case(name)
    history = harness.fit(case)
    expected = {"loss", "task_loss", "accuracy", *case.model.loss_term_names}
    for auxiliary in case.model.auxiliary_names:
        expected |= set(case.model._auxiliary_specs[auxiliary]["trackers"])
    assert expected <= set(history), sorted(expected - set(history))
    assert all(len(values) == harness.EPOCHS for values in history.values())
    assert _all_finite(history)


@pytest.mark.parametrize("name", METHODS)
def test_evaluate_with_s_reports_terms_and_without_s_the_task_only(name):
    case = harness.make_case(name)
    harness.fit(case, epochs=1)
    with_s = case.model.evaluate(case.packed(), case.y, batch_size=harness.BATCH_SIZE, verbose=0, return_dict=True)
    assert set(case.model.loss_term_names) <= set(with_s)
    without_s = case.model.evaluate(case.x, case.y, batch_size=harness.BATCH_SIZE, verbose=0, return_dict=True)
    task_keys = {"loss", "task_loss", "accuracy"}
    if case.model.requires_sensitive:
        assert set(without_s) == task_keys
    else:  # A method that does not use s (CTC) reports its terms either way.
        assert set(without_s) == task_keys | set(case.model.loss_term_names)
    # The task loss does not depend on s: both evaluations measure the same cross-entropy.
    np.testing.assert_allclose(without_s["task_loss"], with_s["task_loss"], rtol=1e-5)


@pytest.mark.parametrize("name", METHODS)
def test_keras_round_trip_restores_predictions_auxiliaries_and_optimizers(name, tmp_path):
    case = harness.make_case(name)
    harness.fit(case)
    path = tmp_path / f"{name}.keras"
    case.model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is type(case.model)
    def hyperparameters(model):  # Nested network configs differ in auto-generated layer names only.
        return {k: v for k, v in model.get_config().items() if isinstance(v, (int, float, str, bool, type(None)))}

    assert hyperparameters(restored) == hyperparameters(case.model)
    np.testing.assert_array_equal(restored.predict(case.x, verbose=0), case.model.predict(case.x, verbose=0))
    assert len(restored.weights) == len(case.model.weights)
    for a, b in zip(restored.weights, case.model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    assert len(restored.optimizer.variables) == len(case.model.optimizer.variables)
    for a, b in zip(restored.optimizer.variables, case.model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
    harness.assert_same_state(harness.auxiliary_state(restored), harness.auxiliary_state(case.model))


@pytest.mark.parametrize("name", METHODS)
def test_resumed_training_equals_uninterrupted_training(name, tmp_path):
    straight = harness.make_case(name)
    harness.fit(straight)

    first = harness.make_case(name)
    harness.fit(first, epochs=1)
    first.model.save(tmp_path / "epoch_1.keras")
    resumed = harness.make_case(name)
    resumed.model = keras.saving.load_model(tmp_path / "epoch_1.keras")
    harness.fit(resumed, start_epoch=1)

    assert len(resumed.model.weights) == len(straight.model.weights)
    for a, b in zip(resumed.model.weights, straight.model.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-6, err_msg=a.path)
    harness.assert_same_state(
        harness.auxiliary_state(resumed.model), harness.auxiliary_state(straight.model), atol=1e-6
    )
