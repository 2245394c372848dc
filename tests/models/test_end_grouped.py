"""EnD's terms without the B x B Gram matrix equal the explicit Gram-matrix formulas.

`orthogonal_term` ("sum") and `parallel_term` (both pair sets) are computed from per-group and
per-chunk sums (models/end.py); here they are checked, value and gradient, against the official
definitions written out on the full float64 Gram matrix (EnD Sec. 3.2-3.4), on random batches
that span several chunks (with padding), and on the edge cases: a bias group of one sample, a
target class with a single bias value, classes absent from the batch, an unknown batch size.
"""

import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.models.end import orthogonal_term, parallel_term


def _explicit_terms(z, target, bias, num_bias_classes, variant, pairs):
    """R_perp and R_par from the explicit masked Gram matrix, float64."""
    unit = z / tf.maximum(tf.norm(z, axis=1, keepdims=True), 1e-12)
    size = len(target)
    lower = np.tril(np.ones((size, size)), -1)
    gram = tf.clip_by_value(tf.matmul(unit, unit, transpose_b=True) * lower, -1.0, 1.0)
    if variant == "elementwise":
        gram_perp = tf.abs(gram)
    else:
        gram_perp = gram
    class_sums = [
        tf.reduce_sum(gram_perp * lower * np.outer(bias == c, bias == c))
        for c in range(num_bias_classes)
    ]
    same_bias_pairs = sum((lower * np.outer(bias == c, bias == c)).sum() for c in range(num_bias_classes))
    orthogonal = tf.add_n([tf.abs(s) for s in class_sums]) / max(same_bias_pairs, 1.0)
    same_target = target[:, None] == target[None, :]
    if pairs == "lower_triangle":
        bias_order = bias[:, None] < bias[None, :]
    else:
        bias_order = bias[:, None] != bias[None, :]
    mask = lower * same_target * bias_order
    parallel = tf.reduce_sum(mask * (1.0 - gram) / 2.0) / max(mask.sum(), 1.0)
    return orthogonal, parallel


def _value_and_gradient(fn, z):
    z = tf.constant(z)
    with tf.GradientTape() as tape:
        tape.watch(z)
        value = fn(z)
    return float(value), tape.gradient(value, z).numpy()


def _assert_matches(z, target, bias, num_target_classes, num_bias_classes, fn=None):
    for variant, pairs in (("sum", "lower_triangle"), ("elementwise", "symmetric")):
        expected = [
            _value_and_gradient(
                lambda v, k=k: _explicit_terms(v, target, bias, num_bias_classes, variant, pairs)[k],
                z.astype("float64"),
            )
            for k in (0, 1)
        ]
        terms = (
            lambda v: orthogonal_term(v, bias, num_bias_classes, variant),
            lambda v: parallel_term(v, target, bias, num_target_classes, num_bias_classes, pairs),
        )
        for term, (value, gradient) in zip(terms, expected):
            got_value, got_gradient = _value_and_gradient(fn(term) if fn else term, z)
            np.testing.assert_allclose(got_value, value, rtol=1e-6, atol=1e-7)
            scale = max(np.abs(gradient).max(), 1e-12)
            np.testing.assert_allclose(got_gradient, gradient, rtol=1e-5, atol=1e-6 * scale)


def _clustered_batch(rng, size, dim, num_target_classes, num_bias_classes, aligned=0.8):
    """Bias mostly follows the target, features mostly follow the bias (cosines far from 0)."""
    target = rng.integers(0, num_target_classes, size)
    bias = np.where(
        rng.random(size) < aligned, target % num_bias_classes, rng.integers(0, num_bias_classes, size)
    )
    centres = rng.normal(size=(num_bias_classes, dim))
    z = rng.normal(size=(size, dim)) + 2.0 * centres[bias]
    return z.astype("float32"), target, bias


@pytest.mark.parametrize(
    "seed, size, num_target_classes, num_bias_classes",
    [
        (0, 300, 3, 4),  # 3 chunks of 128, the last one padded
        (1, 40, 5, 3),  # one chunk, smaller than 128
        (2, 290, 12, 12),  # 144 cells: chunks of 144
        (3, 257, 2, 2),  # one sample in the last chunk
    ],
)
def test_grouped_terms_equal_explicit_gram_formulas(seed, size, num_target_classes, num_bias_classes):
    rng = np.random.default_rng(seed)
    z, target, bias = _clustered_batch(rng, size, 6, num_target_classes, num_bias_classes)
    _assert_matches(z, target, bias, num_target_classes, num_bias_classes)


def test_edge_cases_equal_explicit_gram_formulas():
    rng = np.random.default_rng(5)
    # Bias 3 has one sample; target 1 has only bias 2 (no R_par pair of its own); target 2 and
    # bias classes 0 and 5 never occur; a zero feature row (norm floor, cosine 0).
    target = np.array([0, 0, 0, 0, 1, 1, 1, 3, 3, 0, 3, 1])
    bias = np.array([1, 2, 4, 1, 2, 2, 2, 4, 1, 3, 4, 2])
    z = rng.normal(size=(12, 4)).astype("float32")
    z[6] = 0.0
    _assert_matches(z, target, bias, 4, 6)


def test_unknown_batch_size_equals_explicit_gram_formulas():
    """In `fit` the batch dimension is unknown when tracing: the chunk padding is dynamic."""
    rng = np.random.default_rng(6)
    z, target, bias = _clustered_batch(rng, 200, 5, 3, 3)

    def traced(term):
        return tf.function(term, input_signature=[tf.TensorSpec([None, 5], tf.float32)])

    _assert_matches(z, target, bias, 3, 3, fn=traced)


def test_lower_triangle_depends_on_batch_order_across_chunks():
    """Reversing the batch swaps the official pair set for its complement within the symmetric set,
    also for pairs in different chunks: lower(batch) + lower(reversed) = symmetric."""
    rng = np.random.default_rng(7)
    z, target, bias = _clustered_batch(rng, 300, 4, 2, 3)
    forward = parallel_term(z, target, bias, 2, 3)
    backward = parallel_term(z[::-1], target[::-1], bias[::-1], 2, 3)
    symmetric = parallel_term(z, target, bias, 2, 3, "symmetric")
    _, expected_forward = _explicit_terms(z.astype("float64"), target, bias, 3, "sum", "lower_triangle")
    np.testing.assert_allclose(forward, float(expected_forward), rtol=1e-6)
    lower_pairs = [
        ((target[:, None] == target[None, :]) & order & np.tri(300, k=-1, dtype=bool)).sum()
        for order in (bias[:, None] < bias[None, :], bias[:, None] > bias[None, :])
    ]
    combined = (lower_pairs[0] * float(forward) + lower_pairs[1] * float(backward)) / sum(lower_pairs)
    np.testing.assert_allclose(combined, float(symmetric), rtol=1e-6)
    assert abs(float(forward) - float(backward)) > 1e-3
