"""Tests of CTC's seed variant (invariant_reps/models/ctc_seed.py through `CTC`): steps by hand, snapshot, refresh."""

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.data.pipeline import make_array_dataset
from invariant_reps.models.ctc import CTC

NUM_EXAMPLES = 12
LABELS = np.repeat([0, 1, 2], 4)[np.random.default_rng(1).permutation(NUM_EXAMPLES)]  # 4 per class: 8 others


def _x():
    return np.random.default_rng(0).normal(size=(NUM_EXAMPLES, 6)).astype("float32")


def _networks(batch_norm=False):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(8)(inputs)
    if batch_norm:
        hidden = keras.layers.BatchNormalization()(hidden)
    z = keras.layers.Dense(5)(keras.layers.Activation("tanh")(hidden))
    z_in = keras.Input((5,))
    return keras.Model(inputs, z), keras.Model(z_in, keras.layers.Dense(3)(z_in))


def _model(learning_rate=0.0, batch_norm=False, **kwargs):
    encoder, head = _networks(batch_norm)
    options = dict(projection_dim=4, stage_two_epoch=1, instance_temperature=0.5, temporal_temperature=0.5,
                   instance_momentum=0.5, temporal_momentum=0.5, seed=3)
    options.update(kwargs)
    model = CTC(encoder, head, num_examples=NUM_EXAMPLES, **options)
    model.compile(optimizer=keras.optimizers.SGD(learning_rate))
    model.ensure_built()
    return model


def _fit_full_batch(model, epochs, initial_epoch=0):
    inputs = {"inputs": _x(), "index": np.arange(NUM_EXAMPLES)}
    return model.fit(inputs, LABELS, batch_size=NUM_EXAMPLES, epochs=epochs, initial_epoch=initial_epoch,
                     shuffle=False, verbose=0).history


def _embed(features, linear):
    kernel, bias = (v.numpy() for v in linear)
    out = features @ kernel + bias
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _normalize(rows):
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _crd(probabilities, num_examples):
    noise = (probabilities.shape[1] - 1) / num_examples
    positive = np.log(probabilities[:, 0] / (probabilities[:, 0] + noise + 1e-7))
    negative = np.log(noise / (probabilities[:, 1:] + noise + 1e-7))
    return -(positive.sum() + negative.sum()) / len(probabilities)


def test_one_step_of_each_stage_equals_the_hand_computation():
    # Learning rate 0: weights stay put, so every quantity is computable from the initial state. K = 16384 is
    # capped at 8 (each class has 8 other-class rows), so each example's candidates are all other-class rows
    # and the loss, a sum over candidates, does not depend on the random draw.
    model = _model(num_negatives=16384, update_memory_bank=False)
    state = model.contrast
    memories = {name: getattr(state, name).numpy().copy()
                for name in ("instance_memory", "student_memory", "snapshot_memory")}
    z = model.encoder(_x()).numpy()

    # Stage one: v = normalize(P z), N-way softmax at t = 0.5 over all 12 rows, then momentum 0.5.
    history = _fit_full_batch(model, epochs=1)
    assert state.negatives_in_use == 8
    np.testing.assert_array_equal(state.labels.numpy(), LABELS)
    v = _embed(z, state.instance_projection)
    logits = v @ memories["instance_memory"].T / 0.5
    expected = np.mean(np.log(np.exp(logits).sum(axis=1)) - np.diag(logits))
    assert history["instance_loss"][0] == pytest.approx(expected, rel=1e-5)
    assert history["temporal_loss"][0] == 0.0
    np.testing.assert_allclose(state.instance_memory.numpy(),
                               _normalize(0.5 * memories["instance_memory"] + 0.5 * v), atol=1e-6)
    for name in ("student_memory", "snapshot_memory"):  # stage two's memories wait
        np.testing.assert_array_equal(getattr(state, name).numpy(), memories[name])
    instance_after = state.instance_memory.numpy().copy()

    # Stage two: the snapshot equals the encoder (nothing moved); without update_memory_bank the memories keep
    # their initial rows at the boundary; CRD NCE both ways with Z from this batch.
    history = _fit_full_batch(model, epochs=2, initial_epoch=1)
    v_s, v_t = _embed(z, state.student_head), _embed(z, state.snapshot_head)
    candidates = np.array([[i, *np.flatnonzero(LABELS != LABELS[i])] for i in range(NUM_EXAMPLES)])
    student_scores = np.exp(np.einsum("bkd,bd->bk", memories["snapshot_memory"][candidates], v_s) / 0.5)
    snapshot_scores = np.exp(np.einsum("bkd,bd->bk", memories["student_memory"][candidates], v_t) / 0.5)
    normalizers = np.array([student_scores.mean(), snapshot_scores.mean()]) * NUM_EXAMPLES
    np.testing.assert_allclose(state.normalizers.numpy(), normalizers, rtol=1e-5)
    expected = (_crd(student_scores / normalizers[0], NUM_EXAMPLES)
                + _crd(snapshot_scores / normalizers[1], NUM_EXAMPLES))
    assert history["temporal_loss"][0] == pytest.approx(expected, rel=1e-5)
    assert history["instance_loss"][0] == 0.0
    np.testing.assert_allclose(state.student_memory.numpy(),
                               _normalize(0.5 * memories["student_memory"] + 0.5 * v_s), atol=1e-6)
    np.testing.assert_allclose(state.snapshot_memory.numpy(),
                               _normalize(0.5 * memories["snapshot_memory"] + 0.5 * v_t), atol=1e-6)
    np.testing.assert_array_equal(state.instance_memory.numpy(), instance_after)

    # Z is set once: a second stage-two epoch keeps it.
    _fit_full_batch(model, epochs=3, initial_epoch=2)
    np.testing.assert_allclose(state.normalizers.numpy(), normalizers, rtol=1e-5)


def test_snapshot_stays_frozen_and_heads_and_projection_move_only_when_the_seed_s_do():
    model = _model(learning_rate=0.1, batch_norm=True, weight_decay=0.01, num_negatives=5)
    state = model.contrast
    heads = [v.numpy().copy() for v in state.head_variables]
    projection = [v.numpy().copy() for v in state.instance_projection]
    _fit_full_batch(model, epochs=1)
    # Stage one: the heads get no gradient and, as in the seed's SGD, no weight decay; P is never trained.
    for before, variable in zip(heads, state.head_variables):
        np.testing.assert_array_equal(variable.numpy(), before)
    boundary = [v.numpy().copy() for v in model.encoder.weights]  # BatchNorm statistics included
    _fit_full_batch(model, epochs=4, initial_epoch=1)
    assert int(state.snapshot_taken.numpy()) == 1 and state.negatives_in_use == 5
    for before, variable in zip(boundary, state.snapshot.weights):
        np.testing.assert_array_equal(variable.numpy(), before)
    assert all(not np.array_equal(before, v.numpy()) for before, v in zip(boundary, model.encoder.weights))
    assert all(not np.array_equal(before, v.numpy()) for before, v in zip(heads, state.head_variables))
    for before, variable in zip(projection, state.instance_projection):
        np.testing.assert_array_equal(variable.numpy(), before)
    trainable = {id(v) for v in model.trainable_variables}
    assert not trainable & {id(v) for v in [*state.snapshot.weights, *state.instance_projection]}


def test_refresh_fills_both_memories_from_the_snapshot_once():
    model = _model(learning_rate=0.1, update_memory_bank=True)
    state = model.contrast
    _fit_full_batch(model, epochs=1)
    instance = state.instance_memory.numpy().copy()
    model.set_epoch(1)
    assert model.begin_stage_two()
    # The seed's update_memory_bank: memory_v1 = normalize(W_s g), memory_v2 = normalize(W_t g) for every
    # row, g = the snapshot's features (here the encoder's: the snapshot was just taken).
    g = model.encoder(_x()).numpy()
    np.testing.assert_allclose(state.student_memory.numpy(), _embed(g, state.student_head), atol=1e-6)
    np.testing.assert_allclose(state.snapshot_memory.numpy(), _embed(g, state.snapshot_head), atol=1e-6)
    np.testing.assert_array_equal(state.instance_memory.numpy(), instance)
    assert not model.begin_stage_two()  # once


def test_weight_decay_switches_at_the_boundary_and_spares_the_heads_in_stage_one():
    model = _model(weight_decay=0.01, weight_decay_coef=2.0, stage_two_epoch=3)
    heads = {id(v) for v in model.contrast.head_variables}
    variables = model.trainable_variables
    def squares(group):
        return sum(float(np.sum(v.numpy() ** 2)) for v in group)

    body = squares([v for v in variables if id(v) not in heads])
    head = squares(model.contrast.head_variables)
    def decay():
        return float(model.weight_decay_multiplier() * model._coupled_weight_decay(variables, model.weight_decay))

    model.set_epoch(2)
    assert decay() == pytest.approx(2.0 * 0.5 * 0.01 * body, rel=1e-5)
    model.set_epoch(3)
    assert decay() == pytest.approx(0.5 * 0.01 * (body + head), rel=1e-5)


def test_resume_after_the_boundary_keeps_the_snapshot_and_equals_straight_training(tmp_path):
    def batches(start, epochs):
        return make_array_dataset(_x(), LABELS, np.zeros(NUM_EXAMPLES), 4, shuffle_seed=0, start_epoch=start,
                                  num_epochs=epochs - start, include_index=True)

    def fit(model, start, epochs):
        data = batches(start, epochs)
        model.fit(data.dataset, epochs=epochs, initial_epoch=start, steps_per_epoch=data.steps_per_epoch,
                  verbose=0)

    straight = _model(learning_rate=0.05, num_negatives=6)
    fit(straight, 0, 3)
    first = _model(learning_rate=0.05, num_negatives=6)
    fit(first, 0, 2)
    first.save(tmp_path / "epoch_2.keras")
    resumed = keras.saving.load_model(tmp_path / "epoch_2.keras")
    assert resumed.variant == "seed" and int(resumed.contrast.snapshot_taken.numpy()) == 1
    for a, b in zip(resumed.contrast.snapshot.weights, first.contrast.snapshot.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    fit(resumed, 2, 3)
    assert len(resumed.weights) == len(straight.weights)
    for a, b in zip(resumed.weights, straight.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6, err_msg=a.path)


def test_one_class_data_and_generators_are_clear_errors():
    model = _model()
    with pytest.raises(ValueError, match="at least two classes"):
        model.fit({"inputs": _x(), "index": np.arange(NUM_EXAMPLES)}, np.zeros(NUM_EXAMPLES, "int64"), verbose=0)

    def generator():
        while True:
            yield {"inputs": _x(), "index": np.arange(NUM_EXAMPLES)}, LABELS

    with pytest.raises(ValueError, match="not a generator"):
        _model().fit(generator(), steps_per_epoch=1, verbose=0)


def test_the_registered_default_is_the_seed_variant():
    spec = ir.get_method("ctc")
    assert spec.resolve()["variant"] == "seed"
    with pytest.raises(ValueError, match="variant"):
        spec.resolve({"variant": "two_banks"})
    with pytest.raises(ValueError, match="num_negatives"):
        _model(num_negatives=None)
