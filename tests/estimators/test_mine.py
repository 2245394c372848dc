"""MineObjective: DV value, moving-average gradient, state updates."""

import math

import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.estimators import MineObjective
from invariant_reps.estimators import bounds

JOINT = [1.0, 3.0]
# e^marginal = 2 and 4: batch mean 3.
MARGINAL = [math.log(2.0), math.log(4.0)]


def test_value_is_the_dv_bound():
    objective = MineObjective(moving_average_rate=0.01)
    value = objective(tf.constant(JOINT), tf.constant(MARGINAL))
    assert float(value) == pytest.approx(float(bounds.dv_bound(JOINT, MARGINAL)), abs=1e-6)


def test_moving_average_starts_at_batch_mean_then_decays():
    objective = MineObjective(moving_average_rate=0.1)
    objective(tf.constant(JOINT), tf.constant(MARGINAL))
    assert float(objective.moving_average) == pytest.approx(3.0, rel=1e-6)  # m_1 = 3
    # Second batch: e^0 = 1 twice, mean 1. m_2 = 0.9 * 3 + 0.1 * 1 = 2.8.
    objective(tf.constant(JOINT), tf.constant([0.0, 0.0]))
    assert float(objective.moving_average) == pytest.approx(2.8, rel=1e-6)
    assert float(objective.num_updates) == 2.0
    objective.reset_moving_average()
    objective(tf.constant(JOINT), tf.constant([0.0, 0.0]))
    assert float(objective.moving_average) == pytest.approx(1.0, rel=1e-6)


def _gradients(objective, joint, marginal):
    joint, marginal = tf.Variable(joint), tf.Variable(marginal)
    with tf.GradientTape() as tape:
        value = objective(joint, marginal)
    return [g.numpy() for g in tape.gradient(value, [joint, marginal])]


def test_gradient_divides_by_the_moving_average_not_the_batch_mean():
    objective = MineObjective(moving_average_rate=0.1)
    objective(tf.constant(JOINT), tf.constant([0.0, 0.0]))  # m_1 = 1
    # Next batch mean is 3, so m_2 = 0.9 * 1 + 0.1 * 3 = 1.2.
    joint_grad, marginal_grad = _gradients(objective, JOINT, MARGINAL)
    # MINE: d/dT_k = -(1/M) e^{T_k} / m_2 = -(1/2) * (2, 4) / 1.2.
    np.testing.assert_allclose(marginal_grad, [-1.0 / 1.2, -2.0 / 1.2], rtol=1e-5)
    np.testing.assert_allclose(joint_grad, [0.5, 0.5], rtol=1e-6)
    # Plain DV: d/dT_k = -e^{T_k} / sum e^T = -(2, 4) / 6, a different vector.
    with tf.GradientTape() as tape:
        marginal = tf.Variable(MARGINAL)
        dv = bounds.dv_bound(JOINT, marginal)
    np.testing.assert_allclose(tape.gradient(dv, marginal).numpy(), [-1 / 3, -2 / 3], rtol=1e-5)
    assert not np.allclose(marginal_grad, [-1 / 3, -2 / 3], rtol=1e-2)


def test_rate_one_gives_back_the_dv_gradient():
    objective = MineObjective(moving_average_rate=1.0)
    objective(tf.constant(JOINT), tf.constant([5.0, 5.0]))
    _, marginal_grad = _gradients(objective, JOINT, MARGINAL)
    np.testing.assert_allclose(marginal_grad, [-1 / 3, -2 / 3], rtol=1e-5)


def test_updates_inside_tf_function():
    objective = MineObjective(moving_average_rate=0.5)

    @tf.function
    def step(joint, marginal):
        return objective(joint, marginal)

    step(tf.constant(JOINT), tf.constant(MARGINAL))  # m_1 = 3
    value = step(tf.constant(JOINT), tf.constant([0.0, 0.0]))  # m_2 = 2
    assert float(objective.moving_average) == pytest.approx(2.0, rel=1e-6)
    assert float(value) == pytest.approx(2.0, abs=1e-6)  # DV: 2 - log 1


def test_state_is_non_trainable_and_config_round_trips():
    objective = MineObjective(moving_average_rate=0.02, name="mine")
    assert objective.trainable_weights == []
    assert len(objective.non_trainable_weights) == 2
    clone = MineObjective.from_config(objective.get_config())
    assert clone.moving_average_rate == 0.02 and clone.name == "mine"


@pytest.mark.parametrize("rate", [0.0, -0.1, 1.5])
def test_rejects_rates_outside_unit_interval(rate):
    with pytest.raises(ValueError, match=f"moving_average_rate={rate}"):
        MineObjective(moving_average_rate=rate)
