"""Tests of invariant_reps/models/ctc.py (schedule, data checks, saving) and the single_bank variant.

The seed variant: test_ctc_seed.py; the math: test_ctc_memory.py.
"""

import keras
import numpy as np
import pytest

from invariant_reps.data.pipeline import make_array_dataset
from invariant_reps.models.ctc import CTC
from invariant_reps.models.ctc import CTCSchedule
from invariant_reps.models.ctc_memory import momentum_update
from invariant_reps.networks import build_network

NUM_FEATURES = 6
NUM_CLASSES = 3


def _data(num_examples=24, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(num_examples, NUM_FEATURES)).astype("float32")
    y = rng.integers(0, NUM_CLASSES, num_examples)
    return x, y


def _model(num_examples=24, **kwargs):
    keras.utils.set_random_seed(0)
    network = build_network("mlp", (NUM_FEATURES,), NUM_CLASSES, hidden_units=(8,))
    options = dict(projection_dim=4, num_negatives=None, stage_two_epoch=1, seed=3, variant="single_bank")
    options.update(kwargs)
    return CTC(network.encoder, network.head, num_examples=num_examples, **options)


def _indexed(x, y, batch_size=8, num_epochs=1):
    return make_array_dataset(
        x, y, np.zeros(len(y)), batch_size, shuffle_seed=0, num_epochs=num_epochs,
        include_index=True,
    )


def test_single_bank_fit_updates_only_the_visited_rows_with_the_right_momentum():
    x, y = _data(16)
    # A bank of 20 rows trained on examples 0..15; learning rate 0 keeps the
    # projections fixed, so the expected rows are exact.
    model = _model(num_examples=20, instance_momentum=0.5, stage_two_epoch=5)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.0))
    instance_before = model.contrast.instance_bank.numpy().copy()
    temporal_before = model.contrast.temporal_bank.numpy().copy()
    batches = _indexed(x, y)
    model.fit(batches.dataset, epochs=1, steps_per_epoch=batches.steps_per_epoch, verbose=0)

    z = model.encoder(x)
    instance_v = keras.ops.normalize(model.contrast.instance_projection(z), axis=-1).numpy()
    temporal_v = keras.ops.normalize(model.contrast.temporal_projection(z), axis=-1).numpy()
    expected_instance = momentum_update(instance_before[:16], instance_v, 0.5).numpy()
    np.testing.assert_allclose(model.contrast.instance_bank.numpy()[:16], expected_instance, atol=1e-5)
    # Stage one with update_memory_bank: the temporal bank is overwritten.
    np.testing.assert_allclose(model.contrast.temporal_bank.numpy()[:16], temporal_v, atol=1e-5)
    np.testing.assert_array_equal(model.contrast.instance_bank.numpy()[16:], instance_before[16:])
    np.testing.assert_array_equal(model.contrast.temporal_bank.numpy()[16:], temporal_before[16:])


def test_single_bank_without_update_memory_bank_the_temporal_bank_waits_for_stage_two():
    x, y = _data(16)
    model = _model(num_examples=16, update_memory_bank=False, stage_two_epoch=5)
    model.compile(optimizer="sgd")
    before = model.contrast.temporal_bank.numpy().copy()
    batches = _indexed(x, y)
    model.fit(batches.dataset, epochs=1, steps_per_epoch=batches.steps_per_epoch, verbose=0)
    np.testing.assert_array_equal(model.contrast.temporal_bank.numpy(), before)


@pytest.mark.parametrize("variant", ["single_bank", "seed"])
def test_two_stage_schedule_switches_terms_at_stage_two_epoch(variant):
    x, y = _data()
    model = _model(stage_two_epoch=1, num_negatives=5, variant=variant)
    model.compile(optimizer="sgd")
    batches = _indexed(x, y, num_epochs=2)
    history = model.fit(
        batches.dataset, epochs=2, steps_per_epoch=batches.steps_per_epoch, verbose=0
    ).history
    assert history["instance_loss"][0] > 0 and history["instance_loss"][1] == 0
    assert history["temporal_loss"][0] == 0 and history["temporal_loss"][1] > 0
    assert int(model.epoch.numpy()) == 1
    assert np.all(np.isfinite(history["loss"]))


@pytest.mark.parametrize("variant", ["single_bank", "seed"])
def test_fit_resumed_at_initial_epoch_starts_in_the_right_stage(variant):
    x, y = _data()
    model = _model(stage_two_epoch=2, num_negatives=5, variant=variant)
    model.compile(optimizer="sgd")
    batches = _indexed(x, y)
    history = model.fit(
        batches.dataset, epochs=3, initial_epoch=2,
        steps_per_epoch=batches.steps_per_epoch, verbose=0,
        callbacks=[CTCSchedule()],
    ).history
    assert history["instance_loss"] == [0.0] and history["temporal_loss"][0] > 0
    if variant == "seed":  # The user's CTCSchedule also took the snapshot at the first stage-two epoch.
        assert int(model.contrast.snapshot_taken.numpy()) == 1


def test_single_bank_weight_decay_uses_the_coefficient_in_stage_one_only():
    model = _model(weight_decay=0.01, weight_decay_coef=2.0, stage_two_epoch=3)
    model.build((None, NUM_FEATURES))
    variables = model.trainable_variables
    squared_norm = sum(float(np.sum(np.square(v.numpy()))) for v in variables)
    def decay():
        multiplier = model.weight_decay_multiplier()
        return float(multiplier * model._coupled_weight_decay(variables, model.weight_decay))

    model.set_epoch(2)
    stage_one = decay()
    model.set_epoch(3)
    stage_two = decay()
    assert stage_one == pytest.approx(2.0 * 0.5 * 0.01 * squared_norm, rel=1e-5)
    assert stage_two == pytest.approx(0.5 * 0.01 * squared_norm, rel=1e-5)


def test_single_bank_keras_round_trip_keeps_config_banks_and_epoch(tmp_path):
    x, y = _data()
    model = _model(alpha=0.5, beta=1.0, instance_temperature=0.2, num_negatives=7)
    model.compile(optimizer="sgd")
    batches = _indexed(x, y, num_epochs=2)
    model.fit(batches.dataset, epochs=2, steps_per_epoch=batches.steps_per_epoch, verbose=0)
    path = str(tmp_path / "ctc.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    assert isinstance(restored, CTC)
    own_config = {k: v for k, v in model.get_config().items() if k not in ("encoder", "head")}
    assert {k: restored.get_config()[k] for k in own_config} == own_config
    np.testing.assert_array_equal(restored.contrast.instance_bank.numpy(), model.contrast.instance_bank.numpy())
    np.testing.assert_array_equal(restored.contrast.temporal_bank.numpy(), model.contrast.temporal_bank.numpy())
    assert int(restored.epoch.numpy()) == 1
    np.testing.assert_allclose(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    np.testing.assert_allclose(restored.encoder(x), model.encoder(x), atol=1e-6)


@pytest.mark.parametrize("variant", ["single_bank", "seed"])
def test_evaluate_needs_no_index_and_reports_zero_terms(variant):
    x, y = _data()
    model = _model(variant=variant, num_negatives=5)
    model.compile(optimizer="sgd")
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert logs["instance_loss"] == 0 and logs["temporal_loss"] == 0
    assert logs["loss"] == pytest.approx(logs["task_loss"])


@pytest.mark.parametrize("variant", ["single_bank", "seed"])
def test_missing_index_is_a_clear_error(variant):
    x, y = _data()
    model = _model(variant=variant, num_negatives=5)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match="include_index=True"):
        model.fit({"inputs": x}, y, epochs=1, verbose=0)
    unindexed = make_array_dataset(x, y, np.zeros(len(y)), 8).dataset
    with pytest.raises(ValueError, match="dataset index"):
        model.fit(unindexed, epochs=1, verbose=0)


def test_out_of_range_index_is_rejected():
    x, y = _data()
    model = _model(num_examples=10)
    model.compile(optimizer="sgd")
    with pytest.raises(ValueError, match=r"example indices must be class ids in \[0, 10\)"):
        model.fit({"inputs": x, "index": np.arange(len(x))}, y, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_examples": 0}, "num_examples"),
        ({"instance_temperature": 0.0}, "instance_temperature"),
        ({"temporal_momentum": 1.5}, "temporal_momentum"),
        ({"num_negatives": 0}, "num_negatives"),
        ({"stage_two_epoch": -1}, "stage_two_epoch"),
        ({"alpha": -0.1}, "instance_loss"),
        ({"variant": "two_banks"}, r"`variant` must be one of \('seed', 'single_bank'\)"),
    ],
)
def test_bad_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(**kwargs)
