"""VIB: the KL compression term, the objective, sampling at inference, NaN reporting."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from invariant_reps.models.vib import VIB, gaussian_kl_to_standard_normal, vib_compression

tfd = tfp.distributions


def _identity_model(dim=2, classes=3, **kwargs):
    """x -> (mu, s) = the linear code layer on x itself; head Dense(dim -> classes)."""
    inputs = keras.Input((dim,))
    encoder = keras.Model(inputs, keras.layers.Dense(dim, name="code")(inputs))
    head_in = keras.Input((dim,))
    head = keras.Model(head_in, keras.layers.Dense(classes)(head_in))
    model = VIB(encoder, head, seed=0, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    return model


def _set_code(model, kernel, bias):
    model.code_layer.parameters_dense.set_weights([np.asarray(kernel, "float32"), np.asarray(bias, "float32")])


def test_kl_hand_computed_values():
    # mu = (2, 0), sigma = (1, 1): 0.5 * 4 = 2. mu = 0, sigma = (e, 1): 0.5 * (e^2 - 1 - 2).
    kl = gaussian_kl_to_standard_normal([[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]])
    np.testing.assert_allclose(kl, [2.0, 0.5 * (math.e**2 - 3.0)], rtol=1e-6)
    assert float(vib_compression([[2.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [1.0, 0.0]])) == pytest.approx(
        0.5 * (2.0 + 0.5 * (math.e**2 - 3.0)), rel=1e-6)


def test_kl_matches_tensorflow_probability():
    rng = np.random.default_rng(0)
    mean, log_stddev = rng.normal(size=(7, 5)), 0.5 * rng.normal(size=(7, 5))
    posterior = tfd.Independent(tfd.Normal(mean, np.exp(log_stddev)), 1)
    prior = tfd.Independent(tfd.Normal(np.zeros(5), np.ones(5)), 1)
    np.testing.assert_allclose(gaussian_kl_to_standard_normal(mean, log_stddev),
                               tfd.kl_divergence(posterior, prior), rtol=1e-5)


@pytest.mark.parametrize("hfunc, lam", [("none", 0.01), ("pow", 0.001), ("exp", 0.1)])
def test_objective_is_ce_plus_lambda_times_h_of_the_batch_kl(hfunc, lam):
    model = _identity_model(lam=lam, hfunc=hfunc, hfunc_param=1.0)
    x = np.random.default_rng(1).normal(size=(8, 2)).astype("float32")
    _set_code(model, np.zeros((2, 4)), [1.0, -0.5, 0.2, -0.3])  # mu = (1, -0.5), s = (0.2, -0.3) everywhere
    logs = model.evaluate(x, np.zeros(8, np.int64), batch_size=8, verbose=0, return_dict=True)
    kl = 0.5 * sum(m**2 + math.exp(2 * s) - 1 - 2 * s for m, s in ((1.0, 0.2), (-0.5, -0.3)))
    h = {"none": kl, "pow": kl**2, "exp": math.exp(kl)}[hfunc]
    assert logs["compression"] == pytest.approx(kl, rel=1e-5)
    assert logs["compression_penalty"] == pytest.approx(h, rel=1e-5)
    assert logs["loss"] == pytest.approx(logs["task_loss"] + lam * h, rel=1e-5)


def test_compression_averages_per_example_kl_over_the_batch():
    model = _identity_model(lam=1.0)
    x = np.array([[2.0, 0.0], [0.0, 0.0]], "float32")
    kernel = np.zeros((2, 4), "float32")
    kernel[0, 0] = 1.0  # mu_0 = x_0
    kernel[1, 2] = 1.0  # s_0 = x_1 (0 here)
    _set_code(model, kernel, np.zeros(4))
    logs = model.evaluate(x, np.zeros(2, np.int64), batch_size=2, verbose=0, return_dict=True)
    assert logs["compression"] == pytest.approx((2.0 + 0.0) / 2, rel=1e-6)  # KLs 2 and 0, averaged


def test_encoder_samples_at_inference_by_default_and_restores_its_noise(tmp_path):
    model = _identity_model()
    x = np.random.default_rng(2).normal(size=(3000, 2)).astype("float32")
    _set_code(model, np.eye(2, 4), [0.0, 0.0, math.log(0.5), math.log(2.0)])
    mean, stddev = model.code_distribution(x)
    np.testing.assert_allclose(mean, x, rtol=1e-6)
    np.testing.assert_allclose(stddev, np.tile([0.5, 2.0], (3000, 1)), rtol=1e-6)
    standardized = (np.asarray(model.encoder(x)) - mean) / stddev
    np.testing.assert_array_less(np.abs(standardized.mean(0)), 0.1)
    np.testing.assert_array_less(np.abs(standardized.std(0) - 1.0), 0.05)
    assert not np.allclose(model.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))
    model.save(tmp_path / "vib.keras")
    restored = keras.saving.load_model(tmp_path / "vib.keras")
    assert restored.sample_at_inference
    np.testing.assert_array_equal(restored.predict(x[:8], verbose=0), model.predict(x[:8], verbose=0))


def test_sampling_at_inference_off_gives_the_mean():
    model = _identity_model(sample_at_inference=False)
    x = np.random.default_rng(3).normal(size=(16, 2)).astype("float32")
    _set_code(model, np.eye(2, 4), [0.0, 0.0, 1.0, 1.0])
    np.testing.assert_array_equal(model.encoder(x), model.code_distribution(x)[0])
    np.testing.assert_array_equal(model.predict(x, verbose=0), model.predict(x, verbose=0))
    assert not np.allclose(model.encoder(x, training=True), x)  # training still samples


def test_nan_codes_are_reported_as_the_compression_term():
    model = _identity_model()
    bias = np.zeros(4, "float32")
    bias[2] = np.nan
    _set_code(model, np.eye(2, 4), bias)
    x = np.ones((4, 2), "float32")
    with pytest.raises(tf.errors.InvalidArgumentError, match="compression term C became NaN"):
        model.fit(x, np.zeros(4, np.int64), batch_size=4, epochs=1, verbose=0)
