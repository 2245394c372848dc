"""NIB: the pairwise compression bounds, the shared scale and the signs of its gradient."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.models.nib import NIB, nib_compression, pairwise_kl

MEANS = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
LOG_STDDEV = 0.5  # sigma^2 = e


def _hand_pairwise_kl(means, log_stddev):
    variance = math.exp(2 * log_stddev)
    return np.array([[np.sum((a - b) ** 2) / (2 * variance) for b in means] for a in means])


def test_pairwise_kl_of_equal_covariance_gaussians():
    np.testing.assert_allclose(pairwise_kl(MEANS, LOG_STDDEV), _hand_pairwise_kl(MEANS, LOG_STDDEV), rtol=1e-6)


def test_jensen_bound_is_the_mean_over_all_ordered_pairs_including_i_equals_j():
    # Squared distances 1, 4, 5 each twice, 0 on the diagonal: mean 20 / 9, over 2 sigma^2 = 2e.
    expected = (20.0 / 9.0) / (2.0 * math.e)
    assert float(nib_compression(MEANS, LOG_STDDEV)) == pytest.approx(expected, rel=1e-6)
    assert float(nib_compression(MEANS, LOG_STDDEV)) == pytest.approx(
        _hand_pairwise_kl(MEANS, LOG_STDDEV).mean(), rel=1e-6)


def test_kde_bound_is_the_pairwise_log_sum_exp():
    kl = _hand_pairwise_kl(MEANS, LOG_STDDEV)
    expected = -np.mean([math.log(np.mean(np.exp(-row))) for row in kl])
    kde = float(nib_compression(MEANS, LOG_STDDEV, "kde"))
    assert kde == pytest.approx(expected, rel=1e-6)
    assert 0.0 < kde < float(nib_compression(MEANS, LOG_STDDEV))  # Jensen: the mean KL bounds it above


def test_far_apart_codes_saturate_the_kde_bound_at_log_n():
    far = 100.0 * MEANS
    assert float(nib_compression(far, 0.0, "kde")) == pytest.approx(math.log(3.0), rel=1e-6)
    assert float(nib_compression(far, 0.0)) > 1000.0
    assert float(nib_compression(np.zeros((4, 2)), 0.0, "kde")) == pytest.approx(0.0, abs=1e-6)


def test_unknown_bound_is_refused():
    with pytest.raises(ValueError, match="bound"):
        nib_compression(MEANS, 0.0, "upper")


def _identity_nib(**kwargs):
    """mu = x (the code layer's kernel set to I); head Dense(2 -> 2) with logits (4 t_0, -4 t_0)."""
    inputs = keras.Input((2,))
    encoder = keras.Model(inputs, keras.layers.Dense(2, name="code")(inputs))
    head_in = keras.Input((2,))
    head = keras.Model(head_in, keras.layers.Dense(2)(head_in))
    model = NIB(encoder, head, seed=0, **kwargs)
    model.code_layer.parameters_dense.set_weights([np.eye(2, dtype="float32"), np.zeros(2, "float32")])
    model.head.set_weights([np.array([[4.0, -4.0], [0.0, 0.0]], "float32"), np.zeros(2, "float32")])
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    return model


@pytest.mark.parametrize("bound", ["jensen", "kde"])
def test_model_reports_the_bound_of_its_batch_means_and_sigma(bound):
    model = _identity_nib(bound=bound, lam=0.5, initial_log_stddev=LOG_STDDEV)
    x = MEANS.astype("float32")
    logs = model.evaluate(x, np.zeros(3, np.int64), batch_size=3, verbose=0, return_dict=True)
    expected = float(nib_compression(MEANS, LOG_STDDEV, bound))
    assert logs["compression"] == pytest.approx(expected, rel=1e-5)
    assert logs["code_stddev"] == pytest.approx(math.exp(LOG_STDDEV), rel=1e-6)
    assert logs["loss"] == pytest.approx(logs["task_loss"] + 0.5 * expected, rel=1e-5)
    mean, stddev = model.code_distribution(x)
    np.testing.assert_allclose(mean, MEANS, rtol=1e-6)
    np.testing.assert_allclose(stddev, np.full((3, 2), math.exp(LOG_STDDEV)), rtol=1e-6)


def test_ce_pushes_sigma_down_and_the_compression_pushes_it_up():
    """Two well separated classes at t_0 = +-1: noise only hurts the CE; C falls as 1 / sigma^2."""
    model = _identity_nib(lam=1.0)
    n = 4000
    y = np.arange(n) % 2
    x = np.stack([np.where(y == 0, 1.0, -1.0), np.zeros(n)], axis=1).astype("float32")
    log_scale = model.code_layer.log_scale
    with tf.GradientTape(persistent=True) as tape:
        t = model.encoder(x, training=True)
        ce = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, model.head(t), from_logits=True))
        terms = model.compute_loss_terms(None, t, None, training=True)
    ce_gradient = float(tape.gradient(ce, log_scale))
    compression_gradient = float(tape.gradient(terms["compression_penalty"], log_scale))
    # Gradient descent moves l against the gradient: CE's is positive (sigma down), C's negative (sigma up).
    assert ce_gradient > 0.1
    # Jensen bound C = mean ||mu_i - mu_bar||^2 / sigma^2, so dC/dl = -2 C exactly.
    assert compression_gradient == pytest.approx(-2.0 * float(terms["compression"]), rel=1e-5)
    assert float(terms["compression"]) == pytest.approx(1.0 / math.e**2, rel=1e-4)  # Var(x_0) = 1, sigma = e


def test_bad_hyperparameters_are_refused():
    with pytest.raises(ValueError, match="bound"):
        _identity_nib(bound="upper")
    with pytest.raises(ValueError, match="initial_log_stddev"):
        _identity_nib(initial_log_stddev=float("inf"))


def test_keras_round_trip_keeps_the_shared_scale_and_bound(tmp_path):
    model = _identity_nib(bound="kde", initial_log_stddev=0.25, sample_at_inference=False)
    model.code_layer.log_scale.assign(-0.75)
    x = MEANS.astype("float32")
    expected = model.predict(x, verbose=0)
    model.save(tmp_path / "nib.keras")
    restored = keras.saving.load_model(tmp_path / "nib.keras")
    assert (restored.bound, restored.initial_log_stddev, restored.sample_at_inference) == ("kde", 0.25, False)
    assert float(restored.code_layer.log_scale.numpy()) == -0.75
    np.testing.assert_array_equal(restored.predict(x, verbose=0), expected)
