"""Tests of invariant_reps/models/ctc_memory.py: CTC's losses, negatives and bank update, by hand."""

import math

import keras
import numpy as np
import pytest

from invariant_reps.models import ctc_memory


def test_instance_discrimination_is_the_n_way_softmax_over_every_row():
    # Memory m0 = (1, 0), m1 = (0, 1), m2 = (-1, 0); t = 1. Every row is a class:
    #   v0 = (1, 0), own row 0: logits (1, 0, -1) -> log(e + 1 + e^-1) - 1 = 0.407606
    #   v1 = (0, 1), own row 1: logits (0, 1, 0)  -> log(2 + e) - 1        = 0.551445
    #   mean = 0.479525
    memory = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], "float32")
    queries = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    loss = ctc_memory.instance_discrimination_loss(queries, memory, [0, 1], 1.0)
    assert float(loss) == pytest.approx(0.4795253, abs=1e-6)
    # t = 0.5 doubles the logits; v0 alone: log(1 + e^-2 + e^-4).
    loss = ctc_memory.instance_discrimination_loss(queries[:1], memory, [0], 0.5)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2) + math.exp(-4)), abs=1e-6)


def test_instance_discrimination_gradient_reaches_the_queries_only():
    import tensorflow as tf

    memory = tf.Variable([[1.0, 0.0], [0.0, 1.0]])
    queries = tf.Variable([[1.0, 0.0]])
    with tf.GradientTape() as tape:
        loss = ctc_memory.instance_discrimination_loss(queries, memory, [0], 1.0)
    grad_queries, grad_memory = tape.gradient(loss, [queries, memory])
    assert grad_memory is None
    # d/dv [logsumexp(v.m0, v.m1) - v.m0] = softmax . M - m0 = (p0 - 1, p1), p = softmax(1, 0).
    p0 = math.e / (math.e + 1)
    np.testing.assert_allclose(grad_queries.numpy(), [[p0 - 1, 1 - p0]], atol=1e-6)


def test_crd_nce_loss_matches_the_seed_formula_by_hand():
    # N = 10, K = 2 negatives: K * P_n = 0.2; eps = 1e-7.
    #   row 0, P = (0.5 | 0.1, 0.2): -[log(0.5/0.7) + log(0.2/0.3) + log(0.2/0.4)] = 1.435085
    #   row 1, P = (0.3 | 0.3, 0.05): -[log(0.3/0.5) + log(0.2/0.5) + log(0.2/0.25)] = 1.650260
    #   sum / B = 1.542673
    probabilities = np.array([[0.5, 0.1, 0.2], [0.3, 0.3, 0.05]], "float32")
    assert float(ctc_memory.crd_nce_loss(probabilities, 10)) == pytest.approx(1.5426726, abs=1e-5)
    assert float(ctc_memory.crd_nce_loss(probabilities[:1], 10)) == pytest.approx(1.4350853, abs=1e-5)


def test_contrast_scores_read_each_example_s_candidates():
    memory = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], "float32")
    queries = np.array([[1.0, 0.0], [0.6, 0.8]], "float32")
    candidates = np.array([[0, 1, 2], [1, 0, 0]])
    scores = ctc_memory.contrast_scores(queries, memory, candidates, temperature=0.5)
    expected = np.exp(np.array([[1.0, 0.0, -1.0], [0.8, 0.6, 0.6]]) / 0.5)
    np.testing.assert_allclose(scores, expected, rtol=1e-6)


def test_class_aware_negatives_never_include_the_class_or_unknown_rows():
    labels = np.array([0, 0, 0, 1, 1, 2, 2, 2, -1, 1])
    targets = np.array([0, 1, 2, 0])
    generator = keras.random.SeedGenerator(0)
    drawn = set()
    for _ in range(20):
        rows = np.asarray(ctc_memory.class_aware_negatives(labels, targets, 5, generator))
        assert rows.shape == (4, 5)
        for target, row in zip(targets, rows):
            assert len(set(row)) == 5  # without replacement
            assert np.all(labels[row] != target) and np.all(labels[row] >= 0)
        drawn |= set(rows[0])
    # Class 0 has exactly 6 eligible rows (3, 4, 5, 6, 7, 9); 20 draws of 5 reach all of them.
    assert drawn == {3, 4, 5, 6, 7, 9}


def test_class_aware_negatives_with_k_equal_to_the_pool_take_the_whole_pool():
    labels = np.array([0, 1, 1, 2])
    rows = np.asarray(ctc_memory.class_aware_negatives(labels, [1, 0], 2, keras.random.SeedGenerator(1)))
    assert set(rows[0]) == {0, 3}
    assert set(rows[1]) <= {1, 2, 3} and len(set(rows[1])) == 2


@pytest.mark.parametrize(
    "labels, expected",
    [([0, 0, 0, 1, 2], 2), ([0, 1, 1, 1, -1, -1], 1), ([3, 3, 3], 0), ([-1, -1], 0), ([0, 1, 0, 1], 2)],
)
def test_max_class_aware_negatives_is_the_smallest_other_class_pool(labels, expected):
    assert ctc_memory.max_class_aware_negatives(labels) == expected


def test_momentum_update_math():
    rows = np.array([[1.0, 0.0]], "float32")
    values = np.array([[0.0, 2.0]], "float32")
    # normalize(0.5 * (1, 0) + 0.5 * (0, 2)) = (0.5, 1) / sqrt(1.25).
    np.testing.assert_allclose(ctc_memory.momentum_update(rows, values, 0.5),
                               np.array([[0.5, 1.0]]) / math.sqrt(1.25), atol=1e-6)
    np.testing.assert_allclose(ctc_memory.momentum_update(rows, values, 1.0), rows, atol=1e-6)
    np.testing.assert_allclose(ctc_memory.momentum_update(rows, values, 0.0), [[0.0, 1.0]], atol=1e-6)


def test_uniform_memory_has_the_seed_bounds_and_unit_rows_on_average():
    rows = np.asarray(ctc_memory.uniform_memory(128, seed=0)((2000, 128)))
    bound = math.sqrt(3 / 128)
    assert rows.min() >= -bound and rows.max() <= bound and rows.max() > 0.99 * bound
    # E||m||^2 = 128 * bound^2 / 3 = 1.
    assert np.mean(np.sum(rows**2, axis=1)) == pytest.approx(1.0, abs=0.01)


def test_write_rows_touches_only_the_given_rows():
    bank = keras.Variable(np.zeros((4, 2), "float32"))
    ctc_memory.write_rows(bank, np.array([2, 0]), np.array([[1.0, 2.0], [3.0, 4.0]], "float32"))
    np.testing.assert_array_equal(bank.numpy(), [[3, 4], [0, 0], [1, 2], [0, 0]])


def test_memory_bank_nce_matches_hand_computation():
    # Bank m0 = (1, 0), m1 = (0, 1), m2 = (-1, 0); query i's positive is m_i,
    # negatives are the two other rows, temperature 1:
    #   v0 = (1, 0):     logits (pos 1 | 0, -1)   -> log(e + 1 + e^-1) - 1 = 0.407606
    #   v1 = (0, 1):     logits (pos 1 | 0, 0)    -> log(e + 2) - 1        = 0.551445
    #   v2 = (0.6, 0.8): logits (pos -0.6 | 0.6, 0.8)
    #                    -> log(e^-0.6 + e^0.6 + e^0.8) + 0.6 = 1.525289 + 0.6 = 2.125289
    #   mean = (0.407606 + 0.551445 + 2.125289) / 3 = 1.028113
    bank = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], "float32")
    queries = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8]], "float32")
    loss = ctc_memory.memory_bank_nce(queries, bank, [0, 1, 2], [0, 1, 2], temperature=1.0)
    assert float(loss) == pytest.approx(1.028113, abs=1e-5)
    # Temperature 0.5 doubles every logit; row 0 alone: log(1 + e^-2 + e^-4).
    loss = ctc_memory.memory_bank_nce(queries[:1], bank, [0], [0, 1, 2], temperature=0.5)
    assert float(loss) == pytest.approx(math.log(1 + math.exp(-2) + math.exp(-4)), abs=1e-5)


def test_memory_bank_nce_excludes_the_positive_from_sampled_negatives():
    bank = np.array([[1.0, 0.0], [0.0, 1.0]], "float32")
    # Both sampled negatives are the positive itself: nothing to contrast.
    assert float(ctc_memory.memory_bank_nce(bank[:1], bank, [0], [0, 0], temperature=1.0)) == pytest.approx(0.0,
                                                                                                          abs=1e-6)
    # A negative drawn twice counts twice: log(e + 2) - 1.
    loss = ctc_memory.memory_bank_nce(bank[:1], bank, [0], [1, 1], temperature=1.0)
    assert float(loss) == pytest.approx(math.log(math.e + 2) - 1, abs=1e-5)
