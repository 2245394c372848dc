import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.layers import L2Normalize


def test_unit_vectors_match_hand_computed_values():
    z = np.array([[3.0, 4.0], [0.0, -2.0], [1.0, 1.0]], dtype="float32")
    expected = [[0.6, 0.8], [0.0, -1.0], [0.5**0.5, 0.5**0.5]]
    np.testing.assert_allclose(L2Normalize()(z), expected, rtol=1e-6)


def test_matches_numpy_on_random_batch():
    z = np.random.default_rng(0).normal(size=(16, 7)).astype("float32")
    expected = z / np.linalg.norm(z, axis=-1, keepdims=True)
    np.testing.assert_allclose(L2Normalize()(z), expected, rtol=1e-5)


def test_zero_vector_maps_to_zero_not_nan():
    z = np.zeros((2, 4), dtype="float32")
    np.testing.assert_array_equal(L2Normalize()(z), np.zeros((2, 4)))


def test_norm_below_epsilon_is_divided_by_epsilon():
    # max(||z||, eps): ||[0.3, 0.4]|| = 0.5 < eps = 1, so z / 1 = z.
    z = np.array([[0.3, 0.4], [3.0, 4.0]], dtype="float32")
    np.testing.assert_allclose(
        L2Normalize(epsilon=1.0)(z), [[0.3, 0.4], [0.6, 0.8]], rtol=1e-6
    )


def test_gradient_at_zero_vector_is_finite():
    z = tf.zeros((3, 5))
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(L2Normalize()(z) * tf.range(5.0))
    gradient = tape.gradient(loss, z).numpy()
    assert np.all(np.isfinite(gradient))


def test_gradient_is_orthogonal_to_input():
    # d(z/||z||)/dz projects out z, so <grad, z> = 0 for any upstream grad.
    z = tf.constant([[1.0, 2.0, -2.0]])
    with tf.GradientTape() as tape:
        tape.watch(z)
        loss = tf.reduce_sum(L2Normalize()(z) * [[0.5, -1.0, 3.0]])
    gradient = tape.gradient(loss, z).numpy()
    np.testing.assert_allclose(np.sum(gradient * z.numpy()), 0.0, atol=1e-6)


def test_axis_tuple_normalises_over_all_given_axes():
    z = np.random.default_rng(1).normal(size=(2, 3, 4)).astype("float32")
    norms = np.sqrt(np.sum(z**2, axis=(1, 2), keepdims=True))
    np.testing.assert_allclose(
        L2Normalize(axis=(1, 2))(z), z / norms, rtol=1e-5
    )


def test_float16_zero_vector_stays_finite():
    z = np.array([[0.0, 0.0], [3.0, 4.0]], dtype="float16")
    out = L2Normalize(dtype="float16")(z)
    assert keras.backend.standardize_dtype(out.dtype) == "float16"
    np.testing.assert_allclose(
        np.asarray(out, "float32"), [[0.0, 0.0], [0.6, 0.8]], atol=1e-3
    )


def test_config_round_trip():
    layer = L2Normalize(axis=(1, 2), epsilon=1e-6, name="unit")
    config = layer.get_config()
    assert config["axis"] == [1, 2]
    assert config["epsilon"] == 1e-6
    restored = L2Normalize.from_config(config)
    assert restored.axis == (1, 2)
    assert restored.epsilon == 1e-6
    assert restored.name == "unit"


@pytest.mark.parametrize("epsilon", [0.0, -1e-3, "small", True])
def test_rejects_bad_epsilon(epsilon):
    with pytest.raises(ValueError, match="epsilon"):
        L2Normalize(epsilon=epsilon)


@pytest.mark.parametrize("axis", [1.5, (), (1, "a"), True])
def test_rejects_bad_axis(axis):
    with pytest.raises(ValueError, match="axis"):
        L2Normalize(axis=axis)


def test_keras_save_and_load_round_trip(tmp_path):
    inputs = keras.Input(shape=(6,))
    z = L2Normalize(name="bottleneck")(keras.layers.Dense(4)(inputs))
    model = keras.Model(inputs, z)
    path = tmp_path / "normalized.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    x = np.random.default_rng(2).normal(size=(3, 6)).astype("float32")
    assert isinstance(restored.get_layer("bottleneck"), L2Normalize)
    np.testing.assert_array_equal(restored(x), model(x))
