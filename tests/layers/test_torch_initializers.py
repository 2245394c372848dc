import keras
import numpy as np
import pytest

from invariant_reps.layers import FanInUniform
from invariant_reps.layers import torch_default_kernel
from invariant_reps.layers import torch_kaiming_normal_fan_out


def test_fan_in_uniform_bound_and_spread():
    values = np.asarray(FanInUniform(fan_in=64, seed=0)(shape=(4000,)))
    bound = 1.0 / 8.0
    assert np.all(np.abs(values) <= bound)
    assert np.max(np.abs(values)) > 0.99 * bound
    # U(-b, b) has standard deviation b / sqrt(3).
    np.testing.assert_allclose(np.std(values), bound / np.sqrt(3), rtol=0.05)


def test_fan_in_uniform_config_round_trip_through_keras_serialization():
    initializer = FanInUniform(fan_in=49, seed=3)
    assert initializer.get_config() == {"fan_in": 49, "seed": 3}
    restored = keras.initializers.deserialize(
        keras.initializers.serialize(initializer)
    )
    assert isinstance(restored, FanInUniform)
    np.testing.assert_array_equal(restored((5,)), initializer((5,)))


@pytest.mark.parametrize("fan_in", [0, -3, 2.5, True, "7"])
def test_fan_in_uniform_rejects_bad_fan_in(fan_in):
    with pytest.raises(ValueError, match="fan_in"):
        FanInUniform(fan_in=fan_in)


def test_torch_default_kernel_is_uniform_with_fan_in_bound():
    # Dense kernel (fan_in=100, units=50): U(+-1/sqrt(100)) = U(+-0.1).
    values = np.asarray(torch_default_kernel(seed=1)(shape=(100, 50)))
    assert np.all(np.abs(values) <= 0.1 + 1e-7)
    np.testing.assert_allclose(np.std(values), 0.1 / np.sqrt(3), rtol=0.05)


def test_kaiming_normal_fan_out_std():
    # Conv kernel (7, 7, 8, 32): fan_out = 32 * 49, std = sqrt(2 / 1568).
    values = np.asarray(torch_kaiming_normal_fan_out(seed=2)((7, 7, 8, 32)))
    np.testing.assert_allclose(np.std(values), np.sqrt(2 / 1568), rtol=0.05)
    np.testing.assert_allclose(np.mean(values), 0.0, atol=0.003)


def test_each_call_returns_a_fresh_seed():
    # A shared unseeded initializer would give two layers identical weights.
    first, second = torch_default_kernel(), torch_default_kernel()
    assert not np.array_equal(first((4, 4)), second((4, 4)))
