import re

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.layers import VariationalBottleneck


def _features(batch=8, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype(
        "float32"
    )


def _heads_in_numpy(layer, h):
    """mu and sigma = softplus(a) + min_scale from the layer's own heads."""
    mean = np.asarray(layer.mean_dense(h))
    raw_scale = np.asarray(layer.scale_dense(h), dtype="float64")
    scale = np.logaddexp(0.0, raw_scale) + layer.min_scale
    return mean, scale


def _set_constant_heads(layer, dim, mean_bias, raw_scale_bias):
    """Zero kernels, so mu and a are the given biases for every input."""
    layer.build((None, dim))
    units = layer.units
    layer.mean_dense.set_weights(
        [np.zeros((dim, units)), np.asarray(mean_bias, "float32")]
    )
    layer.scale_dense.set_weights(
        [np.zeros((dim, units)), np.asarray(raw_scale_bias, "float32")]
    )


def _softplus_inverse(x):
    return np.log(np.expm1(x))


def test_kl_matches_closed_form_from_heads():
    h = _features()
    layer = VariationalBottleneck(3, seed=0)
    kl = np.asarray(layer.kl_divergence(h))
    mean, scale = _heads_in_numpy(layer, h)
    expected = 0.5 * np.sum(
        mean**2 + scale**2 - 1.0 - 2.0 * np.log(scale), axis=-1
    )
    assert kl.shape == (8,)
    np.testing.assert_allclose(kl, expected, rtol=1e-5, atol=1e-6)


def test_kl_hand_computed_values():
    # mu = [2, 0], sigma = [1, 1]: KL = 0.5 * 2^2 = 2 nats.
    # mu = [0, 0], sigma = [e, 1]: KL = 0.5 * (e^2 - 1 - 2) = 2.1945 nats.
    h = _features(batch=2, dim=4)
    min_scale = 1e-4
    unit_scale = _softplus_inverse(1.0 - min_scale)
    layer = VariationalBottleneck(2, min_scale=min_scale)
    _set_constant_heads(layer, 4, [2.0, 0.0], [unit_scale, unit_scale])
    np.testing.assert_allclose(layer.kl_divergence(h), [2.0, 2.0], rtol=1e-5)

    e_scale = _softplus_inverse(np.e - min_scale)
    _set_constant_heads(layer, 4, [0.0, 0.0], [e_scale, unit_scale])
    expected = 0.5 * (np.e**2 - 3.0)
    np.testing.assert_allclose(
        layer.kl_divergence(h), [expected, expected], rtol=1e-5
    )


def test_kl_is_zero_at_the_prior():
    h = _features(batch=3, dim=4)
    layer = VariationalBottleneck(5)
    _set_constant_heads(
        layer, 4, np.zeros(5), np.full(5, _softplus_inverse(1.0 - 1e-4))
    )
    np.testing.assert_allclose(layer.kl_divergence(h), np.zeros(3), atol=1e-6)


def test_distribution_and_prior_shapes():
    h = _features(batch=6, dim=5)
    layer = VariationalBottleneck(3)
    posterior = layer.distribution(h)
    assert posterior.batch_shape == (6,)
    assert posterior.event_shape == (3,)
    prior = layer.prior()
    assert prior.batch_shape == ()
    assert prior.event_shape == (3,)
    mean, scale = _heads_in_numpy(layer, h)
    np.testing.assert_allclose(posterior.mean(), mean, rtol=1e-6)
    np.testing.assert_allclose(posterior.stddev(), scale, rtol=1e-5)


def test_inference_output_is_the_mean_exactly():
    h = _features()
    layer = VariationalBottleneck(4, seed=1)
    mean = np.asarray(layer.mean_dense(h))
    np.testing.assert_array_equal(layer(h), mean)
    np.testing.assert_array_equal(layer(h, training=False), mean)
    np.testing.assert_array_equal(layer.distribution(h).mean(), mean)


def test_training_samples_have_posterior_mean_and_std():
    draws = 4000
    h = np.tile(_features(batch=1, dim=5), (draws, 1))
    layer = VariationalBottleneck(3, seed=2)
    _set_constant_heads(
        layer, 5, [1.5, -0.5, 0.0], _softplus_inverse([0.2, 1.0, 3.0])
    )
    samples = np.asarray(layer(h, training=True))
    assert samples.shape == (draws, 3)
    scale = np.array([0.2, 1.0, 3.0]) + 1e-4
    # Loose: 5 standard errors of the sample mean / std.
    tolerance = 5.0 * scale / np.sqrt(draws)
    np.testing.assert_allclose(
        samples.mean(axis=0), [1.5, -0.5, 0.0], atol=tolerance.max()
    )
    assert np.all(np.abs(samples.std(axis=0) - scale) < tolerance)


def test_samples_are_reproducible_with_a_seed_and_vary_across_calls():
    h = _features()
    first = VariationalBottleneck(3, seed=7)
    second = VariationalBottleneck(3, seed=7)
    first.build(h.shape)
    second.build(h.shape)
    second.set_weights(first.get_weights())
    sample_a = np.asarray(first(h, training=True))
    np.testing.assert_array_equal(sample_a, second(h, training=True))
    assert not np.allclose(sample_a, first(h, training=True))


def test_gradient_flows_to_both_heads_through_the_sample():
    # t = mu + sigma * eps, sigma = softplus(a) + min_scale, so
    # d sum(t) / d mean_bias = batch and
    # d sum(t) / d scale_bias = sum_b eps * sigmoid(a), eps = (t - mu) / sigma.
    h = tf.constant(_features(batch=16, dim=5))
    layer = VariationalBottleneck(3, seed=3)
    layer.build(h.shape)
    with tf.GradientTape() as tape:
        sample = layer(h, training=True)
        total = tf.reduce_sum(sample)
    variables = [
        layer.mean_dense.kernel,
        layer.mean_dense.bias,
        layer.scale_dense.kernel,
        layer.scale_dense.bias,
    ]
    grads = [np.asarray(g) for g in tape.gradient(total, variables)]
    assert all(np.any(g != 0.0) for g in grads)

    np.testing.assert_allclose(grads[1], np.full(3, 16.0), rtol=1e-6)
    mean, scale = _heads_in_numpy(layer, h)
    raw_scale = np.asarray(layer.scale_dense(h), "float64")
    noise = (np.asarray(sample, "float64") - mean) / scale
    expected = np.sum(noise / (1.0 + np.exp(-raw_scale)), axis=0)
    np.testing.assert_allclose(grads[3], expected, rtol=1e-4, atol=1e-5)


def test_min_scale_floors_the_standard_deviation():
    h = _features(batch=4, dim=5)
    layer = VariationalBottleneck(3, min_scale=1e-2)
    # softplus(-50) ~ 2e-22, so sigma is min_scale to float32 precision.
    _set_constant_heads(layer, 5, np.zeros(3), np.full(3, -50.0))
    stddev = np.asarray(layer.distribution(h).stddev())
    assert np.all(stddev >= 1e-2)
    np.testing.assert_allclose(stddev, np.full((4, 3), 1e-2), rtol=1e-6)
    # KL = 0.5 * 3 * (s^2 - 1 - 2 log s) with s = 0.01: finite and large.
    s = 1e-2
    expected = 1.5 * (s**2 - 1.0 - 2.0 * np.log(s))
    np.testing.assert_allclose(layer.kl_divergence(h), expected, rtol=1e-5)


def _small_model(seed=5):
    inputs = keras.Input((6,))
    features = keras.layers.Dense(4, activation="relu")(inputs)
    t = VariationalBottleneck(3, min_scale=1e-3, seed=seed, name="vib")(
        features
    )
    logits = keras.layers.Dense(2)(t)
    return keras.Model(inputs, logits)


def test_functional_model_keras_round_trip(tmp_path):
    model = _small_model()
    assert model.get_layer("vib").output.shape == (None, 3)
    x = _features(batch=5, dim=6)
    path = str(tmp_path / "vib.keras")
    model.save(path)
    restored = keras.saving.load_model(path)
    layer = restored.get_layer("vib")
    assert isinstance(layer, VariationalBottleneck)
    assert (layer.units, layer.min_scale, layer.seed) == (3, 1e-3, 5)
    np.testing.assert_array_equal(
        restored.predict(x, verbose=0), model.predict(x, verbose=0)
    )


def test_fit_samples_in_training_mode():
    model = _small_model()
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    x = _features(batch=16, dim=6)
    y = np.arange(16) % 2
    seed_state = model.get_layer("vib").seed_generator.state
    counter_before = int(np.asarray(seed_state)[1])
    history = model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    # One draw per training step: 16 examples / batch of 8 = 2 steps.
    assert int(np.asarray(seed_state)[1]) == counter_before + 2


def test_config_round_trip():
    layer = VariationalBottleneck(7, min_scale=1e-3, seed=11, name="bottleneck")
    config = layer.get_config()
    assert (config["units"], config["min_scale"], config["seed"]) == (
        7,
        1e-3,
        11,
    )
    restored = VariationalBottleneck.from_config(config)
    assert (restored.units, restored.min_scale, restored.seed) == (7, 1e-3, 11)
    assert restored.name == "bottleneck"


@pytest.mark.parametrize("units", [0, -3, 2.5, True, "4"])
def test_bad_units_raise(units):
    with pytest.raises(ValueError, match=re.escape(f"units={units!r}")):
        VariationalBottleneck(units)


@pytest.mark.parametrize(
    "min_scale", [0.0, -1e-3, float("nan"), float("inf"), "1e-4", False]
)
def test_bad_min_scale_raises(min_scale):
    with pytest.raises(ValueError, match=re.escape(f"min_scale={min_scale!r}")):
        VariationalBottleneck(3, min_scale=min_scale)


def test_bad_seed_raises():
    with pytest.raises(ValueError, match=re.escape("seed=1.5")):
        VariationalBottleneck(3, seed=1.5)
