"""DisCo's squared distance correlation: values, weights, blocking and gradients."""

import math

import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.models.distance_correlation import distance_correlation
from invariant_reps.models.distance_correlation import distance_correlation_numpy
from invariant_reps.models.distance_correlation import _gram_distances


def _hand_dcorr2(x, y, w):
    """Weighted double centring written out with plain loops (spec A.8)."""
    n = len(x)
    w = [wi * n / sum(w) for wi in w]  # normalised to mean 1

    def centred(v):
        a = [[abs(v[i] - v[j]) for j in range(n)] for i in range(n)]
        r = [sum(a[i][j] * w[j] for j in range(n)) / n for i in range(n)]
        grand = sum(r[i] * w[i] for i in range(n)) / n
        return [[a[i][j] - r[i] - r[j] + grand for j in range(n)] for i in range(n)]

    a, b = centred(x), centred(y)

    def dcov2(p, q):
        return sum(w[i] * w[j] * p[i][j] * q[i][j] for i in range(n) for j in range(n)) / n**2

    return dcov2(a, b) / math.sqrt(dcov2(a, a) * dcov2(b, b))


X5 = [0.0, 1.0, 3.0, 4.0, 7.0]
Y5 = [2.0, -1.0, 0.5, 3.0, 1.0]


def test_matches_hand_computed_value_on_five_points():
    expected = _hand_dcorr2(X5, Y5, [1.0] * 5)
    assert 0.05 < expected < 0.95  # a non-trivial value
    assert distance_correlation_numpy(X5, Y5) == pytest.approx(expected, rel=1e-12)
    assert float(distance_correlation(X5, Y5)) == pytest.approx(expected, rel=1e-5)
    assert float(distance_correlation(X5, Y5, block_size=2)) == pytest.approx(expected, rel=1e-5)


def test_weighted_matches_hand_computed_value():
    w = [1.0, 2.0, 0.5, 1.5, 3.0]
    expected = _hand_dcorr2(X5, Y5, w)
    assert expected != pytest.approx(_hand_dcorr2(X5, Y5, [1.0] * 5), rel=1e-3)
    assert distance_correlation_numpy(X5, Y5, w) == pytest.approx(expected, rel=1e-12)
    assert float(distance_correlation(X5, Y5, w)) == pytest.approx(expected, rel=1e-5)
    assert float(distance_correlation(X5, Y5, w, block_size=3)) == pytest.approx(expected, rel=1e-5)


def test_integer_weight_equals_duplicated_event():
    # The weighted statistic is dCorr of the weighted empirical distribution.
    x, y = np.array(X5), np.array(Y5)
    weighted = float(distance_correlation(x, y, [1.0, 1.0, 2.0, 1.0, 1.0]))
    duplicated = float(distance_correlation(np.append(x, x[2]), np.append(y, y[2])))
    assert weighted == pytest.approx(duplicated, rel=1e-5)


def test_all_equal_weights_equal_unweighted():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=50), rng.normal(size=50)
    plain = float(distance_correlation(x, y))
    assert float(distance_correlation(x, y, np.full(50, 3.7))) == pytest.approx(plain, rel=1e-5)
    assert float(distance_correlation(x, y, np.full(50, 3.7), block_size=16)) == pytest.approx(plain, rel=1e-5)


def test_independent_samples_give_nearly_zero():
    # For independent x, y the V-statistic is O(1/N): about 2e-3 at N = 2000.
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=2000), rng.normal(size=2000)
    value = float(distance_correlation(x, y, block_size=512))
    assert 0.0 <= value < 0.01
    dependent = float(distance_correlation(x, x**2 + 0.5 * rng.normal(size=2000), block_size=512))
    assert dependent > 0.1  # uncorrelated (Pearson ~0) yet clearly dependent


def test_independent_value_vanishes_like_one_over_n():
    # The V-statistic's bias for independent samples is c / N: 16x the events, ~1/16 the value (0 as N -> inf).
    rng = np.random.default_rng(5)
    small = np.mean([distance_correlation_numpy(rng.normal(size=100), rng.normal(size=100)) for _ in range(20)])
    large = np.mean([distance_correlation_numpy(rng.normal(size=1600), rng.normal(size=1600)) for _ in range(4)])
    assert 8.0 < small / large < 32.0, (small, large)
    assert large < 0.004


@pytest.mark.parametrize("a, b", [(2.5, -1.0), (-0.3, 4.0)])
def test_affine_relation_gives_one(a, b):
    x = np.random.default_rng(2).normal(size=100)
    assert float(distance_correlation(x, a * x + b)) == pytest.approx(1.0, abs=1e-5)
    assert distance_correlation_numpy(x, a * x + b) == pytest.approx(1.0, abs=1e-12)


def test_invariant_to_shifting_and_scaling():
    rng = np.random.default_rng(3)
    x = rng.normal(size=80)
    y = np.sin(2 * x) + 0.3 * rng.normal(size=80)
    base = float(distance_correlation(x, y))
    moved = float(distance_correlation(10.0 * x - 3.0, 0.01 * y + 5.27))
    assert moved == pytest.approx(base, rel=1e-4)


def test_power_exponent():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=60), rng.normal(size=60)
    y = y + x
    r2 = float(distance_correlation(x, y))
    assert float(distance_correlation(x, y, power=2)) == pytest.approx(r2**2, rel=1e-5)
    assert float(distance_correlation(x, y, power=0.5, block_size=7)) == pytest.approx(math.sqrt(r2), rel=1e-5)


def _value_and_grads(x, y, w, block_size, power=1):
    x, y = tf.constant(x, tf.float32), tf.constant(y, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([x, y])
        value = distance_correlation(x, y, w, power=power, block_size=block_size)
    grad_x, grad_y = tape.gradient(value, [x, y])
    return float(value), grad_x.numpy(), grad_y.numpy()


@pytest.mark.parametrize("block_size", [1, 7, 64, 500])
def test_blocked_equals_direct_in_value_and_gradient(block_size):
    rng = np.random.default_rng(5)
    x = rng.normal(size=101)
    y = x**2 + rng.normal(size=101)
    w = rng.uniform(0.2, 3.0, size=101)
    value, gx, gy = _value_and_grads(x, y, w, None, power=2)
    blocked, bx, by = _value_and_grads(x, y, w, block_size, power=2)
    assert blocked == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(bx, gx, rtol=1e-4, atol=1e-7 * np.abs(gx).max())
    np.testing.assert_allclose(by, gy, rtol=1e-4, atol=1e-7 * np.abs(gy).max())


def test_blocked_equals_direct_for_vector_inputs():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(40, 3))
    y = np.stack([x[:, 0] * x[:, 1], rng.normal(size=40)], axis=1)
    value, gx, gy = _value_and_grads(x, y, None, None)
    blocked, bx, by = _value_and_grads(x, y, None, 9)
    assert value == pytest.approx(distance_correlation_numpy(x, y), rel=1e-5)
    assert blocked == pytest.approx(value, rel=1e-5)
    np.testing.assert_allclose(bx, gx, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(by, gy, rtol=1e-4, atol=1e-7)


def test_blocked_gradient_matches_finite_differences():
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=12), rng.normal(size=12) + rng.normal(size=12)
    w = rng.uniform(0.5, 2.0, size=12)
    _, gx, _ = _value_and_grads(x, y, w, 5)
    eps = 1e-6
    for i in (0, 5, 11):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric = (distance_correlation_numpy(up, y, w) - distance_correlation_numpy(down, y, w)) / (2 * eps)
        assert gx[i] == pytest.approx(numeric, rel=1e-3, abs=1e-6)


def test_ties_give_finite_gradients():
    x = np.array([0.0, 0.0, 1.0, 1.0, 2.0])
    for block_size in (None, 2):
        _, gx, gy = _value_and_grads(x, X5, None, block_size)
        assert np.all(np.isfinite(gx)) and np.all(np.isfinite(gy))


def test_runs_in_tf_function_with_unknown_batch_size():
    spec = tf.TensorSpec([None], tf.float32)
    fn = tf.function(lambda a, b: distance_correlation(a, b, block_size=4), input_signature=[spec, spec])
    expected = distance_correlation_numpy(X5, Y5)
    assert float(fn(tf.constant(X5), tf.constant(Y5))) == pytest.approx(expected, rel=1e-5)


def test_constant_input_gives_zero():
    assert float(distance_correlation(np.ones(6), np.arange(6.0))) == 0.0
    assert float(distance_correlation(np.ones(6), np.arange(6.0), block_size=4)) == 0.0
    assert distance_correlation_numpy(np.ones(6), np.arange(6.0)) == 0.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(power=0), "`power` must be a number > 0"),
        (dict(power=-1.0), "`power` must be a number > 0"),
        (dict(block_size=0), "`block_size` must be None or an int >= 1"),
        (dict(block_size=2.5), "`block_size` must be None or an int >= 1"),
        (dict(weights=np.ones(4)), r"`weights` must have shape \[N\] with N = 5"),
        (dict(y=np.zeros(4)), "`x` and `y` must have the same length"),
        (dict(x=np.zeros((5, 2, 2))), r"`x` must have shape \[N\] or \[N, d\]"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    args = dict(x=np.array(X5), y=np.array(Y5))
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        distance_correlation(**args)


def test_numpy_reference_rejects_bad_weights():
    with pytest.raises(ValueError, match="`weights` must be N finite, non-negative"):
        distance_correlation_numpy(X5, Y5, [1.0, -1.0, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="same length"):
        distance_correlation_numpy(X5, Y5[:4])


def test_multidimensional_direct_form_matches_the_reference_with_coincident_rows():
    # The direct form gets vector distances from the Gram matrix (O(N^2) memory, not O(N^2 d)); rows that
    # coincide must still give distance 0 (the diagonal exactly), the reference value and a finite gradient.
    rng = np.random.default_rng(3)
    x = rng.normal(size=(48, 16)).astype("float32") + 5.0
    x[8:12] = x[0]
    y = rng.normal(size=(48, 3)).astype("float32") + x[:, :3]
    x_tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_tensor)
        value = distance_correlation(x_tensor, tf.constant(y))
    gradient = tape.gradient(value, x_tensor).numpy()
    np.testing.assert_allclose(float(value), distance_correlation_numpy(x, y), rtol=1e-4)
    assert np.all(np.isfinite(gradient)) and np.abs(gradient).max() > 0
    distances = _gram_distances(x_tensor).numpy()
    np.testing.assert_array_equal(np.diag(distances), 0.0)
    explicit = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    np.testing.assert_allclose(distances, explicit, atol=1e-2)
