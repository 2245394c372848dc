"""The shared training step: term routing, auxiliaries, weight decay, validation, saving."""

import keras
import numpy as np
import pytest

import invariant_reps
from invariant_reps.models import InvariantModel, Vanilla
from tests.models.toy import ToyMethod, tiny_networks


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = rng.integers(0, 2, n)
    s = rng.integers(0, 2, n)
    return x, y, s


def test_logs_report_every_term_and_auxiliary_metric():
    x, y, s = _data()
    model = ToyMethod(*tiny_networks())
    model.compile(optimizer="adam")
    history = model.fit(
        invariant_reps.pack_inputs(x, s), y, epochs=1, batch_size=8, verbose=0,
        validation_data=(invariant_reps.pack_inputs(x, s), y),
    )
    expected = {"loss", "task_loss", "accuracy", "z_square", "adversary_loss", "adversary_accuracy"}
    assert expected <= set(history.history)
    assert {f"val_{name}" for name in expected} <= set(history.history)


def test_reported_term_equals_hand_computed_value():
    x, y, s = _data()
    model = ToyMethod(*tiny_networks())
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # no update: values at init
    logs = model.evaluate(invariant_reps.pack_inputs(x, s), y, batch_size=32, verbose=0, return_dict=True)
    z = model.encoder.predict(x, verbose=0)
    logits = model.head.predict(z, verbose=0)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    cross_entropy = -log_probs[np.arange(len(y)), y].mean()
    np.testing.assert_allclose(logs["z_square"], np.mean(z**2), rtol=1e-5)
    np.testing.assert_allclose(logs["task_loss"], cross_entropy, rtol=1e-5)
    # "loss" is the whole objective: task loss + weight * term.
    np.testing.assert_allclose(logs["loss"], cross_entropy + 0.5 * np.mean(z**2), rtol=1e-5)


def test_training_objective_is_task_plus_weighted_terms():
    x, y, s = _data()
    model = ToyMethod(*tiny_networks(), weight=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = model.fit(invariant_reps.pack_inputs(x, s), y, batch_size=32, epochs=1, verbose=0).history
    np.testing.assert_allclose(logs["loss"][0], logs["task_loss"][0] + 0.5 * logs["z_square"][0], rtol=1e-5)


def test_encoder_optimizer_never_sees_auxiliary_variables():
    model = ToyMethod(*tiny_networks())
    model.compile(optimizer="adam")
    x, y, s = _data()
    model.fit(invariant_reps.pack_inputs(x, s), y, epochs=1, batch_size=16, verbose=0)
    auxiliary = {id(v) for v in model.adversary_network.trainable_variables}
    assert auxiliary and not auxiliary & {id(v) for v in model.trainable_variables}
    # Adam: iterations + learning rate + two slots per encoder/head variable.
    assert len(model.optimizer.variables) == 2 + 2 * len(model.trainable_variables)
    assert int(model.adversary_optimizer.iterations) == 2 * 2  # 2 batches x 2 inner steps


def test_auxiliary_update_leaves_encoder_alone_and_vice_versa():
    x, y, s = _data()
    model = ToyMethod(*tiny_networks(), weight=0.0)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # encoder/head frozen
    before = [v.numpy().copy() for v in model.trainable_variables]
    adversary_before = None
    model.ensure_built()
    adversary_before = [v.numpy().copy() for v in model.adversary_network.trainable_variables]
    model.fit(invariant_reps.pack_inputs(x, s), y, epochs=1, batch_size=32, verbose=0)
    for old, new in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(old, new.numpy())
    changed = [not np.allclose(o, n.numpy()) for o, n in zip(adversary_before, model.adversary_network.trainable_variables)]
    assert all(changed)


def test_coupled_weight_decay_matches_pytorch_rule():
    """One SGD step: w' = w - lr * (grad + wd * w), so the two runs differ by -lr * wd * w."""
    x, y, _ = _data()
    lr, wd = 0.1, 0.01
    updated = {}
    for decay in (0.0, wd):
        model = Vanilla(*tiny_networks(seed=3), weight_decay=decay)
        model.compile(optimizer=keras.optimizers.SGD(lr))
        initial = [v.numpy().copy() for v in model.trainable_variables]
        model.fit(x, y, batch_size=32, epochs=1, verbose=0)
        updated[decay] = [v.numpy() for v in model.trainable_variables]
    for w0, plain, decayed in zip(initial, updated[0.0], updated[wd]):
        np.testing.assert_allclose(decayed - plain, -lr * wd * w0, atol=1e-6)


def test_predict_and_evaluate_need_no_sensitive_variable():
    x, y, s = _data()
    model = ToyMethod(*tiny_networks())
    model.compile()
    model.fit(invariant_reps.pack_inputs(x, s), y, epochs=1, verbose=0)
    assert model.predict(x, verbose=0).shape == (32, 2)
    logs = model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(logs) == {"loss", "task_loss", "accuracy"}


def test_keras_round_trip_restores_predictions_and_auxiliary_state(tmp_path):
    x, y, s = _data()
    model = ToyMethod(*tiny_networks())
    model.compile(optimizer="adam")
    model.fit(invariant_reps.pack_inputs(x, s), y, epochs=2, batch_size=8, verbose=0)
    path = tmp_path / "toy.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    assert type(restored) is ToyMethod
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))
    z = model.encoder.predict(x, verbose=0)
    np.testing.assert_array_equal(restored.adversary_network(z), model.adversary_network(z))
    assert int(restored.adversary_optimizer.iterations) == int(model.adversary_optimizer.iterations)
    for a, b in zip(restored.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_vanilla_round_trip(tmp_path):
    x, y, _ = _data()
    model = Vanilla(*tiny_networks())
    model.compile()
    model.fit(x, y, epochs=1, verbose=0)
    model.save(tmp_path / "v.keras")
    restored = keras.saving.load_model(tmp_path / "v.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda x, y, s: (invariant_reps.pack_inputs(x, s), y + 2), r"task targets must be class ids in \[0, 2\); found [23] at position"),
        (lambda x, y, s: (invariant_reps.pack_inputs(x, s + 3), y), r"sensitive values must be class ids in \[0, 2\)"),
        (lambda x, y, s: (invariant_reps.pack_inputs(np.where(np.arange(32)[:, None] == 5, np.nan, x), s), y), "NaN/inf value.*example 5"),
        (lambda x, y, s: (invariant_reps.pack_inputs(x[:, :3], s), y), r"inputs have shape \(32, 3\) but the encoder expects"),
        (lambda x, y, s: (x, y), "needs the sensitive variable"),
        (lambda x, y, s: ({"x": x, "sensitive": s}, y), "must have the key 'inputs'"),
        (lambda x, y, s: (invariant_reps.pack_inputs(x, s[:10]), y), "differ in length"),
    ],
)
def test_bad_inputs_fail_before_training_with_a_clear_message(mutate, message):
    x, y, s = _data()
    model = ToyMethod(*tiny_networks())
    model.compile()
    inputs, targets = mutate(x.astype("float32"), y, s)
    with pytest.raises(ValueError, match=message):
        model.fit(inputs, targets, epochs=1, verbose=0)


def test_tf_dataset_first_batch_is_validated():
    x, y, s = _data()
    dataset = invariant_reps.data.make_array_dataset(x, y + 5, s, 8).dataset
    model = ToyMethod(*tiny_networks())
    model.compile()
    with pytest.raises(ValueError, match=r"training data \(first batch\): task targets"):
        model.fit(dataset, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"task_weight": -0.5}, "task_weight"),
    ],
)
def test_constructor_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Vanilla(*tiny_networks(), **kwargs) if "task_weight" not in kwargs else InvariantModel(*tiny_networks(), **kwargs)


def test_encoder_must_be_a_keras_model():
    with pytest.raises(ValueError, match="`encoder` must be a Keras model"):
        Vanilla(lambda x: x, tiny_networks()[1])


def test_undeclared_term_is_reported():
    class Broken(ToyMethod):
        def compute_loss_terms(self, batch, z, logits, training):
            return {}

    x, y, s = _data()
    model = Broken(*tiny_networks())
    model.compile()
    with pytest.raises(ValueError, match=r"did not return the declared terms \['z_square'\]"):
        model.fit(invariant_reps.pack_inputs(x, s), y, epochs=1, verbose=0)


@pytest.mark.parametrize(
    "y_or_s, value, message",
    [
        ("s", 2.7, r"sensitive values must be integer class ids in \[0, 2\); found the non-integral value 2.7 at position 3"),
        ("s", 9.0, r"sensitive values must be class ids in \[0, 2\); found 9 at position 3"),
        ("y", 0.5, r"task targets must be integer class ids in \[0, 2\); found the non-integral value 0.5 at position 3"),
        ("y", -1.0, r"task targets must be class ids in \[0, 2\); found -1 at position 3"),
    ],
)
def test_float_labels_must_be_integral_class_ids_in_range(y_or_s, value, message):
    x, y, s = _data()
    y, s = y.astype("float32"), s.astype("float32")
    (y if y_or_s == "y" else s)[3] = value
    model = ToyMethod(*tiny_networks())
    model.compile()
    with pytest.raises(ValueError, match=message):
        model.fit(invariant_reps.pack_inputs(x, s), y, epochs=1, verbose=0)


def test_nan_in_a_later_tf_data_batch_stops_training_at_that_batch():
    import tensorflow as tf

    x, y, s = _data()
    x[20] = np.nan  # third batch of 8; fit checks the first batch only
    dataset = invariant_reps.data.make_array_dataset(x, y, s, 8).dataset
    model = ToyMethod(*tiny_networks())
    model.compile()
    seen = []
    counter = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: seen.append(batch))
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"NaN or inf in a training batch \(inputs\)"):
        model.fit(dataset, epochs=1, verbose=0, callbacks=[counter])
    assert seen == [0, 1]  # batches 0 and 1 trained, batch 2 stopped the run


def test_regularization_losses_are_logged_apart_and_not_scaled_by_the_task_weight():
    x, y, s = _data()
    inputs = keras.Input((4,))
    z = keras.layers.Dense(3, kernel_regularizer=keras.regularizers.L2(0.1), name="bottleneck")(inputs)
    encoder = keras.Model(inputs, z)
    head = tiny_networks()[1]
    model = InvariantModel(encoder, head, task_weight=0.5)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    logs = model.evaluate(invariant_reps.pack_inputs(x, s), y, batch_size=32, verbose=0, return_dict=True)
    kernel = encoder.layers[-1].kernel.numpy()
    penalty = 0.1 * np.sum(kernel**2)
    logits = head.predict(encoder.predict(x, verbose=0), verbose=0)
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    cross_entropy = -log_probs[np.arange(len(y)), y].mean()
    np.testing.assert_allclose(logs["regularization_loss"], penalty, rtol=1e-5)
    np.testing.assert_allclose(logs["task_loss"], cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(logs["loss"], 0.5 * cross_entropy + penalty, rtol=1e-5)
    # Without s no term can be computed: "loss" is the task loss plus regularization, not 0.5 * CE.
    logs = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    np.testing.assert_allclose(logs["loss"], cross_entropy + penalty, rtol=1e-5)
