"""Adversarial: quantile bins, the mixture likelihood, lambda's effect, the pretraining schedule, bad input."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import invariant_reps as ir
from invariant_reps.models.adversarial import Adversarial
from invariant_reps.models.adversary_networks import (
    mixture_negative_log_likelihood,
    quantile_bin_edges,
    quantile_bins,
)


def _networks(outputs=1):
    x = keras.Input((2,))
    encoder = keras.Model(x, keras.layers.Dense(8, activation="tanh")(x))
    z = keras.Input((8,))
    return encoder, keras.Model(z, keras.layers.Dense(outputs)(z))


def _toy(n=512, seed=0):
    """s = x_2 enters the label, so an unconstrained logit carries information about s."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 2)).astype("float32")
    return x, (x[:, 0] + x[:, 1] > 0).astype("float32"), x[:, 1].copy()


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    kwargs.setdefault("adversary_steps", 2)
    kwargs.setdefault("adversary_width", 8)
    model = Adversarial(*_networks(), seed=0, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def test_quantile_bins_are_equal_frequency_and_right_closed():
    edges = quantile_bin_edges(np.arange(8.0), 4)
    np.testing.assert_allclose(edges, [1.75, 3.5, 5.25])  # linear interpolation of the 25/50/75% quantiles
    np.testing.assert_array_equal(quantile_bins([0.0, 1.75, 2.0, 3.5, 5.3, 9.0], edges), [0, 0, 1, 1, 3, 3])
    values = np.random.default_rng(0).normal(size=800)
    counts = np.bincount(quantile_bins(values, quantile_bin_edges(values, 8)).numpy(), minlength=8)
    np.testing.assert_array_equal(counts, [100] * 8)


def test_mixture_negative_log_likelihood_equals_hand_computation():
    # Two components: pi = softmax([0, log 3]) = (1/4, 3/4), mu = (0, 2), sigma = (1, e^{-1}).
    parameters = np.array([[0.0, math.log(3.0), 0.0, 2.0, 0.0, -1.0]], "float32")
    s = 1.5

    def normal(value, mean, sigma):
        return math.exp(-0.5 * ((value - mean) / sigma) ** 2) / (sigma * math.sqrt(2 * math.pi))

    expected = -math.log(0.25 * normal(s, 0.0, 1.0) + 0.75 * normal(s, 2.0, math.exp(-1.0)))
    np.testing.assert_allclose(mixture_negative_log_likelihood([s], parameters, 2), [expected], rtol=1e-5)
    # One standard normal component at its mean: 0.5 log(2 pi).
    np.testing.assert_allclose(mixture_negative_log_likelihood([0.0], [[0.0, 0.0, 0.0]], 1),
                               [0.5 * math.log(2 * math.pi)], rtol=1e-6)


def test_fit_computes_bin_edges_from_the_training_data_and_saves_them(tmp_path):
    x, y, s = _toy(64)
    model = _model(pretrain_epochs=0, num_bins=4)
    model.fit(ir.pack_inputs(x, s), y, batch_size=32, epochs=1, verbose=0)
    np.testing.assert_allclose(model.bin_edges, np.quantile(s.astype(np.float64), [0.25, 0.5, 0.75]))
    np.testing.assert_allclose(model.bin_edge_values.numpy(), model.bin_edges, rtol=1e-6)
    model.save(tmp_path / "adversarial.keras")
    assert keras.saving.load_model(tmp_path / "adversarial.keras").bin_edges == model.bin_edges


def test_larger_lambda_leaves_the_adversary_less_able_to_predict_s():
    x, y, s = _toy()
    losses = {}
    for lam in (0.0, 5.0):
        model = _model(lam=lam, num_bins=4, adversary_steps=2, adversary_learning_rate=2e-2, adversary_width=16,
                       pretrain_epochs=0)
        model.fit(ir.pack_inputs(x, s), y, batch_size=128, epochs=5, verbose=0)
        evaluation = model.evaluate(ir.pack_inputs(x, s), y, batch_size=512, verbose=0, return_dict=True)
        losses[lam] = -evaluation["negative_adversary_loss"]  # L_r as the classifier sees it
    assert losses[0.0] < 1.25  # the free logit tells the adversary much about s's bin
    assert losses[5.0] > 1.3  # close to log 4 = 1.386: the bins can hardly be read from the logit
    assert losses[5.0] > losses[0.0] + 0.1


def test_term_is_minus_the_adversary_loss_and_its_gradient_reaches_the_classifier():
    x, y, s = _toy(32)
    model = _model(pretrain_epochs=0, num_bins=4, bin_edges=[-0.5, 0.0, 0.5])
    model.ensure_built()
    logits = model(x)
    outputs = model.adversary_network(logits).numpy()
    bins = np.searchsorted([-0.5, 0.0, 0.5], s, side="left")  # right-closed bins
    log_softmax = outputs - np.log(np.exp(outputs).sum(axis=1, keepdims=True))
    expected = -np.mean(log_softmax[np.arange(32), bins])
    with tf.GradientTape() as tape:
        z = model.encoder(x)
        batch = ir.models.Batch(tf.constant(x), tf.constant(y), tf.constant(s), None)
        term = model.compute_loss_terms(batch, z, model.head(z), training=True)["negative_adversary_loss"]
    np.testing.assert_allclose(float(term), -expected, rtol=1e-5)
    assert float(tf.norm(tape.gradient(term, model.head.trainable_variables[0]))) > 1e-4
    assert not {id(v) for v in model.adversary_network.trainable_variables} & {id(v) for v in model.trainable_variables}


def test_background_only_averages_the_adversary_loss_over_background():
    x, y, s = _toy(32)
    model = _model(background_only=True, num_bins=4, bin_edges=[-0.5, 0.0, 0.5])
    model.ensure_built()
    r = model(x)
    all_events, _ = model.adversary_loss(r, tf.constant(s), tf.constant(np.zeros_like(y)), training=False)
    background, _ = model.adversary_loss(r, tf.constant(s), tf.constant(y), training=False)
    per_event = keras.losses.sparse_categorical_crossentropy(
        np.searchsorted([-0.5, 0.0, 0.5], s, side="left"), model.adversary_network(r), from_logits=True
    ).numpy()
    np.testing.assert_allclose(float(all_events), per_event.mean(), rtol=1e-5)
    np.testing.assert_allclose(float(background), per_event[y == 0].mean(), rtol=1e-5)


@pytest.mark.parametrize("pretrain_adversary", [False, True])
def test_pretraining_epochs_switch_the_penalty_and_the_adversary_on(pretrain_adversary):
    x, y, s = _toy(64)
    model = _model(pretrain_epochs=1, pretrain_adversary=pretrain_adversary, num_bins=4)
    model.ensure_built()
    initial = [v.numpy().copy() for v in model.adversary_network.weights]

    def adversary_moved():
        return any(not np.array_equal(a, v.numpy()) for a, v in zip(initial, model.adversary_network.weights))

    first = model.fit(ir.pack_inputs(x, s), y, batch_size=32, epochs=1, verbose=0).history
    assert first["negative_adversary_loss"] == [0.0] and first["adversary_loss"][0] > 0
    assert adversary_moved() == pretrain_adversary
    # Frozen: not a single Adam step counted, so the first real step is Adam's first.
    assert int(model.adversary_optimizer.iterations.numpy()) == (4 if pretrain_adversary else 0)
    second = model.fit(ir.pack_inputs(x, s), y, batch_size=32, epochs=2, initial_epoch=1, verbose=0).history
    assert second["negative_adversary_loss"][0] < 0 and adversary_moved()
    assert int(model.adversary_optimizer.iterations.numpy()) == (8 if pretrain_adversary else 4)


def test_mdn_adversary_trains_on_standardised_s():
    x, y, s = _toy(64)
    model = _model(adversary="mdn", mdn_components=3, pretrain_epochs=0)
    history = model.fit(ir.pack_inputs(x, 5.27 + 0.01 * s), y, batch_size=32, epochs=1, verbose=0).history
    np.testing.assert_allclose(model.sensitive_std, [np.std(5.27 + 0.01 * s.astype(np.float64))], rtol=1e-5)
    assert model.adversary_network.layers[-1].units == 9  # 3 x (logit, mean, log sigma)
    assert "adversary_accuracy" not in history and history["adversary_loss"][0] > 0


def test_bad_configurations_raise_precise_errors():
    with pytest.raises(ValueError, match="lam"):
        ir.get_method("adversarial").resolve({"lam": -2.0})
    with pytest.raises(ValueError, match="`lam` must be"):
        Adversarial(*_networks(), lam=-2.0)
    with pytest.raises(ValueError, match="adversary='mdn' models a continuous"):
        Adversarial(*_networks(), adversary="mdn", num_sensitive_classes=3)
    with pytest.raises(ValueError, match="`bin_edges` must be 7 non-decreasing"):
        Adversarial(*_networks(), bin_edges=[0.0, 1.0])
    context = ir.ExperimentContext(num_classes=1, task="binary", sensitive_kind="continuous", epochs=5)
    with pytest.raises(ValueError, match="pretrain_epochs=10 >= epochs=5"):
        ir.get_method("adversarial").build(*_networks(), {}, context)
