"""Pairwise squared distances from the Gram matrix: exact on hand values, zero diagonal, gradient of the definition."""

import numpy as np
import tensorflow as tf

from invariant_reps.models.pairwise import pairwise_squared_distances


def test_hand_values_and_zero_diagonal():
    rows = [[0.0, 0.0], [3.0, 4.0], [3.0, 0.0]]
    expected = [[0.0, 25.0, 9.0], [25.0, 0.0, 16.0], [9.0, 16.0, 0.0]]
    np.testing.assert_allclose(pairwise_squared_distances(rows), expected, atol=1e-5)


def test_matches_the_difference_tensor_with_its_gradient_and_coincident_rows():
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(40, 8)).astype("float32") + 3.0
    rows[5] = rows[1]
    weights = tf.constant(rng.normal(size=(40, 40)).astype("float32"))
    tensor = tf.constant(rows)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(tensor)
        gram = pairwise_squared_distances(tensor)
        explicit = tf.reduce_sum(tf.square(tensor[:, None, :] - tensor[None, :, :]), axis=-1)
        gram_loss, explicit_loss = tf.reduce_sum(weights * gram), tf.reduce_sum(weights * explicit)
    np.testing.assert_allclose(gram.numpy(), explicit.numpy(), rtol=1e-5, atol=1e-4)
    assert gram.numpy()[1, 5] == 0.0 or gram.numpy()[1, 5] < 1e-4
    np.testing.assert_array_equal(np.diag(gram.numpy()), 0.0)
    np.testing.assert_allclose(tape.gradient(gram_loss, tensor), tape.gradient(explicit_loss, tensor),
                               rtol=1e-4, atol=1e-3)
