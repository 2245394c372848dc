"""`GaussianCode`: statistics, sampling (also at inference), seeds, noise consistency, config."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.layers.variational import GaussianCode, replica_consistent_normal


def _features(batch=6, dim=5, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype("float32")


def _constant(layer, dim, bias):
    """Zero kernel: the linear layer outputs `bias` for every input."""
    layer.build((None, dim))
    bias = np.asarray(bias, "float32")
    layer.parameters_dense.set_weights([np.zeros((dim, bias.size), "float32"), bias])


def test_per_example_statistics_split_mu_and_s_with_sigma_exp_s():
    h = _features()
    layer = GaussianCode(2, scale="per_example")
    _constant(layer, 5, [1.0, -2.0, 0.5, -1.0])  # mu = (1, -2), s = (0.5, -1)
    mean, stddev = layer.statistics(h)
    np.testing.assert_allclose(mean, np.tile([1.0, -2.0], (6, 1)))
    np.testing.assert_allclose(stddev, np.tile(np.exp([0.5, -1.0]), (6, 1)), rtol=1e-6)
    assert layer.parameters_dense.kernel.shape == (5, 4)


def test_shared_scale_is_one_trainable_scalar_initialised_to_the_given_log_scale():
    h = _features()
    layer = GaussianCode(3, scale="shared", initial_log_scale=1.0)
    mean, stddev = layer.statistics(h)
    assert layer.parameters_dense.kernel.shape == (5, 3)
    assert layer.log_scale.shape == () and layer.log_scale.trainable
    np.testing.assert_allclose(stddev, np.full((6, 3), np.e), rtol=1e-6)
    np.testing.assert_allclose(mean, layer.parameters_dense(h), rtol=1e-6)


@pytest.mark.parametrize("training", [True, False])
def test_samples_at_inference_by_default_with_the_posterior_moments(training):
    draws = 4000
    h = np.zeros((draws, 5), "float32")
    layer = GaussianCode(2, scale="per_example", seed=3)
    _constant(layer, 5, [1.5, -0.5, np.log(0.2), np.log(2.0)])
    samples = np.asarray(layer(h, training=training))
    tolerance = 5.0 * np.array([0.2, 2.0]) / np.sqrt(draws)
    np.testing.assert_array_less(np.abs(samples.mean(axis=0) - [1.5, -0.5]), tolerance)
    np.testing.assert_array_less(np.abs(samples.std(axis=0) - [0.2, 2.0]), tolerance)


def test_inference_returns_the_mean_exactly_when_sampling_at_inference_is_off():
    h = _features()
    layer = GaussianCode(3, scale="shared", sample_at_inference=False, seed=1)
    mean, _ = layer.statistics(h)
    np.testing.assert_array_equal(layer(h), mean)
    assert not np.allclose(layer(h, training=True), mean)  # training still samples


def test_seeded_noise_is_reproducible_and_fresh_at_each_call():
    h = _features()
    first, second = GaussianCode(3, seed=7), GaussianCode(3, seed=7)
    first.build(h.shape)
    second.build(h.shape)
    second.set_weights(first.get_weights())
    sample = np.asarray(first(h))
    np.testing.assert_array_equal(sample, second(h))
    assert not np.allclose(sample, first(h))


def test_single_device_noise_is_a_plain_draw_of_the_local_shape():
    generator, reference = keras.random.SeedGenerator(5), keras.random.SeedGenerator(5)
    noise = replica_consistent_normal(tf.constant([4, 3]), generator)
    np.testing.assert_array_equal(noise, keras.random.normal((4, 3), seed=reference))


def test_gradient_reaches_mu_s_and_the_shared_scale_through_the_sample():
    h = tf.constant(_features(batch=8))
    for scale in ("per_example", "shared"):
        layer = GaussianCode(2, scale=scale, seed=0)
        layer.build(h.shape)
        with tf.GradientTape() as tape:
            t = layer(h, training=True)
            loss = tf.reduce_sum(t)
        mean, log_scale = layer.last_statistics()
        eps = (t - mean) / tf.exp(log_scale)
        variables = [layer.parameters_dense.bias] + ([layer.log_scale] if scale == "shared" else [])
        gradients = tape.gradient(loss, variables)
        # d sum(t) / d bias: 1 per example for mu; eps * sigma for s (per example) or summed for the shared l.
        bias_gradient = gradients[0].numpy()
        np.testing.assert_allclose(bias_gradient[:2], [8.0, 8.0], rtol=1e-6)
        if scale == "per_example":
            np.testing.assert_allclose(bias_gradient[2:], tf.reduce_sum(eps * tf.exp(log_scale), 0), rtol=1e-5)
        else:
            np.testing.assert_allclose(gradients[1], tf.reduce_sum(eps * tf.exp(log_scale)), rtol=1e-5)


def test_last_statistics_are_those_of_the_latest_call():
    layer = GaussianCode(2, scale="per_example")
    with pytest.raises(ValueError, match="has not been called"):
        layer.last_statistics()
    h = _features()
    layer(h)
    mean, log_scale = layer.last_statistics()
    expected_mean, expected_std = layer.statistics(h)
    np.testing.assert_allclose(mean, expected_mean)
    np.testing.assert_allclose(np.exp(log_scale), expected_std, rtol=1e-6)


def test_config_round_trip_and_functional_save(tmp_path):
    layer = GaussianCode(4, scale="shared", initial_log_scale=0.3, sample_at_inference=False, seed=2)
    clone = GaussianCode.from_config(layer.get_config())
    for name in ("units", "scale", "initial_log_scale", "sample_at_inference", "seed"):
        assert getattr(clone, name) == getattr(layer, name)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, GaussianCode(4, scale="per_example", sample_at_inference=False)(inputs))
    path = str(tmp_path / "code.keras")
    model.save(path)
    h = _features()
    np.testing.assert_array_equal(keras.saving.load_model(path)(h), model(h))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"units": 0}, "units"),
        ({"units": 2, "scale": "diagonal"}, "scale"),
        ({"units": 2, "initial_log_scale": float("nan")}, "initial_log_scale"),
        ({"units": 2, "seed": 1.5}, "seed"),
    ],
)
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GaussianCode(**kwargs)
