"""The seed's toy (spec A.6) and Louppe et al.'s pivot toy (spec A.5)."""

import numpy as np
import pytest

from invariant_reps.data import nuisance_toys as toys

# Means and covariances are checked on 1e5 events per class: the standard
# error of a mean is 0.003-0.005, of a (co)variance about 0.005-0.01.
N = 100_000


def test_seed_toy_matches_the_notebook():
    x, y, s = toys.make_seed_toy(N, seed=0)
    assert x.shape == (2 * N, 2) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(s, x[:, 0])  # the penalised nuisance is x_1
    np.testing.assert_array_equal(np.bincount(y), [N, N])
    x0, x1 = x[y == 0], x[y == 1]
    # class 0: N((z, 0), [[1, .5], [.5, 1]]) with z ~ N(0, 1): cov [[2, .5], [.5, 1]].
    np.testing.assert_allclose(x0.mean(0), [0.0, 0.0], atol=0.02)
    np.testing.assert_allclose(np.cov(x0.T), [[2.0, 0.5], [0.5, 1.0]], atol=0.03)
    # class 1: N((0, 1.5), I).
    np.testing.assert_allclose(x1.mean(0), [0.0, 1.5], atol=0.02)
    np.testing.assert_allclose(np.cov(x1.T), np.eye(2), atol=0.03)


def test_pivot_toy_matches_the_paper():
    x, y, s = toys.make_pivot_toy(N, seed=1)
    x0, x1, s0, s1 = x[y == 0], x[y == 1], s[y == 0], s[y == 1]
    np.testing.assert_allclose(x0.mean(0), [0.0, 0.0], atol=0.02)
    np.testing.assert_allclose(np.cov(x0.T), [[1.0, -0.5], [-0.5, 1.0]], atol=0.03)
    # z ~ N(0, 1) for every event, independent of x in class 0.
    np.testing.assert_allclose([s.mean(), s.std()], [0.0, 1.0], atol=0.02)
    assert abs(np.corrcoef(x0[:, 1], s0)[0, 1]) < 0.02
    # class 1: N((1, 1 + z), I): x_2 - z ~ N(1, 1), x_1 independent of z.
    residual = np.stack([x1[:, 0], x1[:, 1] - s1], axis=1)
    np.testing.assert_allclose(residual.mean(0), [1.0, 1.0], atol=0.02)
    np.testing.assert_allclose(np.cov(residual.T), np.eye(2), atol=0.03)
    assert np.corrcoef(x1[:, 1], s1)[0, 1] == pytest.approx(1 / np.sqrt(2), abs=0.01)


@pytest.mark.parametrize("make", [toys.make_seed_toy, toys.make_pivot_toy])
def test_reproducible_per_seed(make):
    a, b, c = make(100, seed=5), make(100, seed=5), make(100, seed=6)
    for first, second, other in zip(a, b, c):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(a.x, c.x)


def test_toy_batch_is_a_random_half_of_a_fresh_draw():
    rng = np.random.default_rng(0)
    first, second = toys.toy_batch("seed", rng), toys.toy_batch("seed", rng)
    assert first.x.shape == (512, 2) and not np.array_equal(first.x, second.x)
    assert 180 < first.y.sum() < 332  # about half of each class (binomial sd 11)
    np.testing.assert_array_equal(first.s, first.x[:, 0])


def test_toy_dataset_streams_reproducible_packed_batches():
    dataset = toys.make_toy_dataset("pivot", seed=3, batch_size=64, num_per_class=100, num_batches=3)
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 3
    inputs, labels = batches[2]
    assert inputs["inputs"].shape == (64, 2) and inputs["sensitive"].shape == (64,) and labels.dtype == np.float32
    expected = toys.toy_batch("pivot", np.random.default_rng([3, 2]), 64, 100)
    np.testing.assert_array_equal(inputs["inputs"], expected.x)
    np.testing.assert_array_equal(inputs["sensitive"], expected.s)
    np.testing.assert_array_equal(labels, expected.y)
    again = next(iter(toys.make_toy_dataset("pivot", seed=3, batch_size=64, num_per_class=100).skip(2)))
    np.testing.assert_array_equal(again[0]["inputs"].numpy(), expected.x)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="Unknown toy 'louppe'"):
        toys.toy_batch("louppe", np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"`batch_size` \(600\) cannot exceed the 2 \* num_per_class = 200"):
        toys.toy_batch("seed", np.random.default_rng(0), batch_size=600, num_per_class=100)
    with pytest.raises(ValueError, match="`num_per_class` must be an int >= 1"):
        toys.make_seed_toy(0)
    with pytest.raises(ValueError, match="`seed` must be an int >= 0"):
        toys.make_toy_dataset("seed", seed=-1)
