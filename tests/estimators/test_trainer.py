"""CriticTrainer: the reported value is computed before the update."""

import pytest

from invariant_reps.estimators import CriticTrainer
from invariant_reps.estimators import SeparableCritic
from invariant_reps.estimators import ground_truth


@pytest.mark.parametrize("method", ["nwj", "infonce", "smile"])
def test_train_step_returns_the_pre_update_bound_and_updates(method):
    x, y = ground_truth.correlated_gaussian(32, dim=2, rho=0.8, seed=0)
    trainer = CriticTrainer(SeparableCritic(hidden_units=(8,), seed=0), method=method)
    before = float(trainer.evaluate(x, y))
    assert float(trainer.train_step(x, y)) == pytest.approx(before, abs=1e-5)
    assert float(trainer.evaluate(x, y)) != pytest.approx(before, abs=1e-7)


def test_mine_trains_its_moving_average_but_evaluates_with_plain_dv():
    x, y = ground_truth.correlated_gaussian(32, dim=2, rho=0.8, seed=1)
    trainer = CriticTrainer(SeparableCritic(hidden_units=(8,), seed=0), method="mine")
    trainer.evaluate(x, y)
    assert float(trainer.mine_objective.num_updates) == 0.0
    trainer.train_step(x, y)
    trainer.train_step(x, y)
    assert float(trainer.mine_objective.num_updates) == 2.0


def test_rejects_unknown_method_and_bad_rates():
    critic = SeparableCritic()
    with pytest.raises(ValueError, match="'ksg'"):
        CriticTrainer(critic, method="ksg")
    with pytest.raises(ValueError, match="learning_rate=0"):
        CriticTrainer(critic, learning_rate=0)
    with pytest.raises(ValueError, match="clip=-1"):
        CriticTrainer(critic, clip=-1)
