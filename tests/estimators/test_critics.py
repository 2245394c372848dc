"""Critics: pair-score orientation, serialization, validation."""

import keras
import numpy as np
import pytest

from invariant_reps.estimators import ConcatCritic
from invariant_reps.estimators import SeparableCritic
from invariant_reps.estimators import get_critic

RNG = np.random.default_rng(0)
X = RNG.normal(size=(3, 2)).astype("float32")
Y = RNG.normal(size=(4, 5)).astype("float32")


def _critics():
    return [
        ConcatCritic(hidden_units=(8,), seed=1),
        SeparableCritic(hidden_units=(8, 8), embedding_dim=4, seed=1),
    ]


@pytest.mark.parametrize("critic", _critics(), ids=["concat", "separable"])
def test_pair_scores_rows_are_x_columns_are_y(critic):
    scores = critic.pair_scores(X, Y).numpy()
    assert scores.shape == (3, 4)
    for i in range(3):
        for j in range(4):
            joint = critic((X[i : i + 1], Y[j : j + 1])).numpy()
            assert joint.shape == (1,)
            assert scores[i, j] == pytest.approx(joint[0], abs=1e-5)


@pytest.mark.parametrize("critic", _critics(), ids=["concat", "separable"])
def test_joint_scores_are_the_diagonal(critic):
    square_y = Y[:3, :]
    np.testing.assert_allclose(
        np.diag(critic.pair_scores(X, square_y).numpy()), critic((X, square_y)).numpy(), atol=1e-5
    )


def test_separable_scores_are_inner_products_of_embeddings():
    critic = SeparableCritic(hidden_units=(8,), embedding_dim=3, seed=0)
    expected = critic.x_embedding(X).numpy() @ critic.y_embedding(Y).numpy().T
    np.testing.assert_allclose(critic.pair_scores(X, Y).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("critic", _critics(), ids=["concat", "separable"])
def test_keras_save_and_load_round_trip(critic, tmp_path):
    scores = critic.pair_scores(X, Y).numpy()
    critic((X, Y[:3]))
    path = tmp_path / "critic.keras"
    critic.save(path)
    restored = keras.models.load_model(path)
    assert type(restored) is type(critic)
    assert restored.get_config() == critic.get_config()
    np.testing.assert_allclose(restored.pair_scores(X, Y).numpy(), scores, atol=1e-6)


def test_same_seed_same_initial_scores():
    first = SeparableCritic(hidden_units=(8,), seed=3).pair_scores(X, Y).numpy()
    second = SeparableCritic(hidden_units=(8,), seed=3).pair_scores(X, Y).numpy()
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize("hidden_units", [(0,), (16, -1), (8.5,), ("64",)])
def test_rejects_bad_hidden_units(hidden_units):
    with pytest.raises(ValueError, match="hidden_units"):
        SeparableCritic(hidden_units=hidden_units)


@pytest.mark.parametrize("embedding_dim", [0, -3, 2.0])
def test_rejects_bad_embedding_dim(embedding_dim):
    with pytest.raises(ValueError, match=f"embedding_dim={embedding_dim}"):
        SeparableCritic(embedding_dim=embedding_dim)


def test_rejects_unknown_activation():
    with pytest.raises(ValueError, match="'relux'"):
        ConcatCritic(activation="relux")


def test_get_critic_by_name_and_unknown_name():
    assert isinstance(get_critic("concat", hidden_units=(4,)), ConcatCritic)
    critic = SeparableCritic()
    assert get_critic(critic) is critic
    with pytest.raises(ValueError, match=r"'bilinear'.*\['concat', 'separable'\]"):
        get_critic("bilinear")
