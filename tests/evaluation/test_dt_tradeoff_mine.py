"""Tests of invariant_reps/evaluation/dt_tradeoff_mine.py: the seed's MINE protocol (spec §A.3)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.evaluation import dt_tradeoff_mine as protocol

TINY = dict(batch_size=256, hidden_units=32, readout_window=50)


def _gaussian_pair(rho, num=2000, seed=0):
    """1-D Gaussians with correlation rho: I = -0.5 log(1 - rho^2) nats."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(num, 1))
    return a, rho * a + math.sqrt(1 - rho**2) * rng.normal(size=(num, 1))


def test_readout_is_the_last_entry_of_the_seeds_moving_average():
    values = [1.0, 2.0, 3.0, 4.0, 5.0]
    # ma(values, 2) = [mean(1, 2), mean(2, 3), mean(3, 4)]: the window ending one before the last value.
    np.testing.assert_allclose(protocol.moving_average(values, 2), [1.5, 2.5, 3.5])
    assert protocol.seed_readout(values, 2) == 3.5
    assert protocol.seed_readout(values, 3) == 3.0  # mean(2, 3, 4)
    # Fewer values than the window (the seed raises): all but the last; one value: itself; none: NaN.
    assert protocol.seed_readout(values, 500) == 2.5
    assert protocol.moving_average(values, 500).size == 0
    assert protocol.seed_readout([7.0], 500) == 7.0
    assert math.isnan(protocol.seed_readout([], 500))


def test_loss_value_and_moving_average_by_hand():
    joint = tf.Variable([1.0, 3.0])
    marginal = tf.Variable([0.0, math.log(3.0)])
    with tf.GradientTape() as tape:
        loss, value, log_average = protocol.seed_mine_loss(joint, marginal, 0.0, 0.01)
    # b = mean(e^0, e^log3) = 2; m_1 = 0.99 * 1 + 0.01 * 2 = 1.01 (m_0 = 1, updated before use).
    assert float(value) == pytest.approx(2.0 - math.log(2.0), abs=1e-6)
    assert math.exp(float(log_average)) == pytest.approx(1.01, abs=1e-6)
    assert float(loss) == pytest.approx(-(2.0 - 2.0 / 1.01), abs=1e-6)
    # Gradient: -grad mean_joint T + grad b / m_1, i.e. -1/2 per joint score and e^T_k / (2 m_1) per marginal one.
    joint_grad, marginal_grad = tape.gradient(loss, [joint, marginal])
    np.testing.assert_allclose(joint_grad, [-0.5, -0.5], atol=1e-6)
    np.testing.assert_allclose(marginal_grad, [1.0 / 2.02, 3.0 / 2.02], atol=1e-6)
    # Next iteration from m_1 = 1.01 with b = 1: m_2 = 0.99 * 1.01 + 0.01.
    _, _, log_next = protocol.seed_mine_loss([0.0], [0.0], log_average, 0.01)
    assert math.exp(float(log_next)) == pytest.approx(0.99 * 1.01 + 0.01, abs=1e-6)
    # alpha = 1: the plain batch mean.
    _, _, log_plain = protocol.seed_mine_loss([0.0], [0.0, math.log(3.0)], 5.0, 1.0)
    assert math.exp(float(log_plain)) == pytest.approx(2.0, abs=1e-5)


def test_marginal_rows_are_independent_draws_without_replacement():
    rng = np.random.default_rng(0)
    joint, marginal_a, marginal_b = protocol.draw_rows(rng, 1000, 400)
    for rows in (joint, marginal_a, marginal_b):
        assert rows.shape == (400,) and len(set(rows.tolist())) == 400
    # Not a shuffle of the joint batch: each draw holds rows the joint batch lacks (expected 240 of 400).
    assert len(set(marginal_a) - set(joint)) > 150 and len(set(marginal_b) - set(joint)) > 150
    assert not np.array_equal(np.sort(marginal_a), np.sort(marginal_b))
    # The whole set: every draw is a permutation.
    full = protocol.draw_rows(rng, 10, 10)
    assert all(sorted(rows.tolist()) == list(range(10)) for rows in full)


def test_critic_architecture_and_initialization():
    critic = protocol.SeedMineCritic(hidden_units=256, seed=3)
    critic.build((None, 300))
    dense = [*critic.hidden, critic.output_layer]
    assert [layer.units for layer in dense] == [256, 256, 256, 1]
    assert [layer.activation.__name__ for layer in dense] == ["relu", "relu", "relu", "linear"]
    for layer in critic.hidden:
        assert np.std(layer.kernel.numpy()) == pytest.approx(0.02, rel=0.05)
        assert not np.any(layer.bias.numpy())
    limit = 1.0 / math.sqrt(256)  # PyTorch's Linear default, kernel and bias.
    for weights in (critic.output_layer.kernel.numpy(), critic.output_layer.bias.numpy()):
        assert np.all(np.abs(weights) <= limit)
    assert np.std(critic.output_layer.kernel.numpy()) == pytest.approx(limit / math.sqrt(3), rel=0.3)
    assert critic(np.zeros((5, 300), "float32")).shape == (5,)
    clone = protocol.SeedMineCritic.from_config(critic.get_config())
    clone.build((None, 300))
    np.testing.assert_array_equal(clone.hidden[0].kernel.numpy(), critic.hidden[0].kernel.numpy())
    assert keras.saving.get_registered_object("invariant_reps>SeedMineCritic") is protocol.SeedMineCritic


def test_settings_default_to_the_seed_and_validate():
    seed = protocol.DtTradeoffSettings()
    assert (seed.batch_size, seed.hidden_units, seed.readout_window) == (5000, 1024, 500)
    assert seed.moving_average_rate == 0.01
    assert seed.for_pair("xt") == (10_000, 8e-5) and seed.for_pair("ty") == (20_000, 1e-5)
    with pytest.raises(ValueError, match=r"`batch_size` must be an int >= 2; received 1"):
        protocol.DtTradeoffSettings(batch_size=1)
    with pytest.raises(ValueError, match="`ty_learning_rate` must be a positive finite number"):
        protocol.DtTradeoffSettings(ty_learning_rate=0.0)
    with pytest.raises(ValueError, match=r"moving_average_rate.*\(0, 1\]"):
        protocol.DtTradeoffSettings(moving_average_rate=1.5)
    with pytest.raises(ValueError, match="Unknown pair 'xy'"):
        seed.for_pair("xy")


def test_gaussian_pair_reaches_the_true_mi_and_independence_reads_zero():
    a, b = _gaussian_pair(0.9)
    result = protocol.dt_tradeoff_mi(a, b, steps=300, learning_rate=3e-3, seed=0, **TINY)
    assert result.mi_nats == pytest.approx(-0.5 * math.log(1 - 0.81), abs=0.08)  # 0.830 nats
    assert result.values.size == result.steps == 300 and result.skipped_steps == 0 and not result.warnings
    assert result.mi_nats == protocol.seed_readout(result.values, 50) == pytest.approx(result.moving_average()[-1])
    independent = protocol.dt_tradeoff_mi(a, np.random.default_rng(1).normal(size=a.shape), steps=300,
                                          learning_rate=3e-3, seed=0, **TINY)
    assert abs(independent.mi_nats) < 0.03
    again = protocol.dt_tradeoff_mi(a, b, steps=300, learning_rate=3e-3, seed=0, **TINY)
    np.testing.assert_array_equal(again.values, result.values)


def test_a_readout_still_rising_is_reported():
    a, b = _gaussian_pair(0.9, num=256)
    slow = protocol.dt_tradeoff_mi(a, b, steps=61, learning_rate=3e-3, batch_size=128, hidden_units=16,
                                   readout_window=20, seed=0)
    previous, last = np.mean(slow.values[20:40]), np.mean(slow.values[40:60])
    assert last > previous + 0.1  # still climbing towards 0.83 nats after 61 steps
    assert any(f"rose from {previous:.3f} to {last:.3f} nats" in text for text in slow.warnings)


def test_batch_larger_than_the_data_is_clamped_and_reported(tmp_path):
    a, b = _gaussian_pair(0.5, num=40)
    result = protocol.dt_tradeoff_mi(a, b, steps=8, learning_rate=1e-3, batch_size=5000, hidden_units=8,
                                     readout_window=500)
    assert result.batch_size == 40
    assert any("batch_size=5000 exceeds the 40 rows" in text for text in result.warnings)
    assert any("only 8 iterations recorded" in text for text in result.warnings)
    assert result.mi_nats == pytest.approx(np.mean(result.values[:-1]))
    path = protocol.plot_dt_tradeoff_curve(result, str(tmp_path / "curve.png"))
    with open(path, "rb") as file:
        assert file.read(8) == b"\x89PNG\r\n\x1a\n"


def test_non_finite_iterations_are_skipped(monkeypatch):
    seed_loss = protocol.seed_mine_loss

    def nan_loss(*args):
        loss, value, log_average = seed_loss(*args)
        return loss * np.nan, value, log_average

    monkeypatch.setattr(protocol, "seed_mine_loss", nan_loss)
    a, b = _gaussian_pair(0.5, num=64)
    result = protocol.dt_tradeoff_mi(a, b, steps=5, learning_rate=1e-3, batch_size=64, hidden_units=8)
    assert result.skipped_steps == 5 and result.values.size == 0 and math.isnan(result.mi_nats)
    assert any("5 of 5 iterations had a non-finite loss" in text for text in result.warnings)


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="differ in length: 10 vs 9"):
        protocol.dt_tradeoff_mi(np.zeros((10, 2)), np.zeros((9, 1)), steps=1, learning_rate=1e-3)
    with pytest.raises(ValueError, match="at least 2 rows"):
        protocol.dt_tradeoff_mi(np.zeros((1, 2)), np.zeros((1, 1)), steps=1, learning_rate=1e-3)
    with pytest.raises(ValueError, match=r"`steps` must be an int >= 1; received 0"):
        protocol.dt_tradeoff_mi(np.zeros((10, 2)), np.zeros((10, 1)), steps=0, learning_rate=1e-3)
