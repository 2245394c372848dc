"""FGSM as the IB papers run it: -logit_y gradient, clip to [-1, 1], initially-correct examples only."""

import math

import keras
import numpy as np
import pytest

from invariant_reps.evaluation import FGSMResult, fgsm_perturbation, fgsm_robustness

# Logits W x + b on 4 inputs and 3 classes. W[0, 3] = 0 exercises sign(0) = 0; row 2 shares the signs
# of row 0 with larger weights, so attacking class 0 lowers logit 2 more: wrong examples can become right.
W = np.array([[1.0, -2.0, 0.5, 0.0], [-0.5, 1.5, 2.0, -1.0], [2.0, -3.0, 1.5, 0.5]])
B = np.array([0.1, -0.2, 0.05])


def _linear_model():
    x = keras.Input((4,))
    dense = keras.layers.Dense(3)
    model = keras.Model(x, dense(x))
    dense.set_weights([W.T.astype("float32"), B.astype("float32")])
    return model


def _data(num=60, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, size=(num, 4)).astype("float32"), rng.integers(0, 3, num)


def _logits(x):
    return np.asarray(x, np.float64) @ W.T + B


def test_logit_loss_perturbation_is_minus_sign_of_true_class_row():
    x, y = _data(12)
    x[0] = [0.95, -0.95, 0.9, 0.2]  # pushed past the clip range at eps 0.3
    got = fgsm_perturbation(_linear_model(), x, y, (0.1, 0.3))
    for index, eps in enumerate((0.1, 0.3)):
        # grad_x (-logit_y) = -W_y, so x' = clip(x - eps sign(W_y)); sign(0) = 0 leaves x[:, 3] for y = 0.
        expected = np.clip(x - np.float32(eps) * np.sign(W[y]).astype("float32"), -1, 1)
        np.testing.assert_allclose(got[index], expected, rtol=0, atol=1e-7)
    assert got.shape == (2, 12, 4)
    assert np.all(got[1][y == 0][:, 3] == x[y == 0][:, 3])
    assert got[1][0].max() <= 1.0 and got[1][0].min() >= -1.0


def test_cross_entropy_loss_perturbation():
    x, y = _data(12, seed=1)
    logits = _logits(x)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    gradient = (p - np.eye(3)[y]) @ W  # grad_x CE = W^T (softmax - onehot)
    assert np.abs(gradient).min() > 1e-4  # no component near zero: the sign is unambiguous in float32
    got = fgsm_perturbation(_linear_model(), x, y, 0.2, loss="cross_entropy", clip=None)
    np.testing.assert_allclose(got[0], x + np.float32(0.2) * np.sign(gradient), rtol=0, atol=1e-7)


def _expected_counts(x, y, epsilons):
    initially = np.argmax(_logits(x), 1) == y
    still = []
    flipped_to_correct = 0
    for eps in epsilons:
        attacked = np.clip(x - eps * np.sign(W[y]), -1, 1)
        correct_after = np.argmax(_logits(attacked), 1) == y
        still.append(int(np.sum(initially & correct_after)))
        flipped_to_correct += int(np.sum(~initially & correct_after))
    return int(initially.sum()), still, flipped_to_correct


@pytest.mark.parametrize("batch_size", [1, 7, 256])
def test_only_initially_correct_examples_count(batch_size):
    x, y = _data(60)
    epsilons = (0.1, 0.2, 0.3)
    initially, still, flipped_to_correct = _expected_counts(x, y, epsilons)
    # The attack would make some wrong examples right: counting them would change the numbers.
    assert 0 < initially < 60 and flipped_to_correct > 0
    result = fgsm_robustness(_linear_model(), x, y, batch_size=batch_size)
    assert isinstance(result, FGSMResult)
    assert result.epsilons == epsilons and result.loss == "logit"
    assert result.num_examples == 60 and result.num_initially_correct == initially
    assert list(result.num_still_correct) == still
    assert result.accuracy == pytest.approx([s / initially for s in still], abs=0)
    assert result.clean_accuracy == pytest.approx(initially / 60)
    assert result.as_dict()["fgsm_eps_0.2"] == result.accuracy[1]


def test_plain_callable_and_forward_passes():
    x, y = _data(10)
    calls = []

    def logits_fn(inputs, training=False):  # a stochastic model would draw noise in each of these passes
        assert training is False
        calls.append(int(inputs.shape[0]))
        return keras.ops.matmul(inputs, W.T.astype("float32")) + B.astype("float32")

    result = fgsm_robustness(logits_fn, x, y, (0.1, 0.3), batch_size=10)
    correct = result.num_initially_correct
    # classify all, one gradient pass on the correct ones, one re-classification per eps.
    assert calls == [10, correct, correct, correct]
    reference = fgsm_robustness(lambda inputs: inputs @ W.T.astype("float32") + B, x, y, (0.1, 0.3))
    assert reference == result


def test_no_correct_example_gives_nan():
    x, y = _data(5)
    wrong = (np.argmax(_logits(x), 1) + 1) % 3
    result = fgsm_robustness(_linear_model(), x, wrong, (0.1,))
    assert result.num_initially_correct == 0 and result.num_still_correct == (0,)
    assert math.isnan(result.accuracy[0])


def test_input_independent_model_is_not_perturbed():
    x, y = _data(4)
    constant = lambda inputs: keras.ops.ones((inputs.shape[0], 3)) * np.array([0.0, 1.0, 0.0], "float32")  # noqa: E731
    np.testing.assert_array_equal(fgsm_perturbation(constant, x, y, 0.3)[0], x)
    result = fgsm_robustness(constant, x, np.ones(4, int), (0.3,))
    assert result.num_initially_correct == 4 and result.accuracy == (1.0,)


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(epsilons=(0.1, -0.2)), "finite and >= 0; received -0.2"),
        (dict(epsilons=float("nan")), "finite and >= 0"),
        (dict(epsilons=()), "`epsilons` is empty"),
        (dict(loss="nll"), "Unknown FGSM loss 'nll'"),
        (dict(clip=(1.0, -1.0)), "lo < hi"),
        (dict(clip=1.0), r"\(lo, hi\) pair"),
        (dict(batch_size=0), "`batch_size` must be a positive int"),
    ],
)
def test_bad_options_raise(kwargs, match):
    x, y = _data(4)
    with pytest.raises(ValueError, match=match):
        fgsm_robustness(_linear_model(), x, y, **kwargs)


def test_bad_data_raise():
    model = _linear_model()
    x, y = _data(4)
    with pytest.raises(ValueError, match=r"`x` is empty"):
        fgsm_robustness(model, np.zeros((0, 4)), np.zeros(0, int))
    with pytest.raises(ValueError, match=r"`y` must be \[N\] = \[4\] class ids; got shape \(3,\)"):
        fgsm_robustness(model, x, y[:3])
    with pytest.raises(ValueError, match="integer class ids"):
        fgsm_robustness(model, x, y.astype(float))
    with pytest.raises(ValueError, match=r"\[0, 3\); example 2 is 5"):
        fgsm_robustness(model, x, np.array([0, 1, 5, 2]))
    with pytest.raises(ValueError, match=r"\[0, 3\); example 2 is 5"):
        fgsm_perturbation(model, x, np.array([0, 1, 5, 2]), 0.1)
    bad = x.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN/inf .*example 1"):
        fgsm_robustness(model, bad, y)
    with pytest.raises(ValueError, match=r"logits of shape \[4, K\]"):
        fgsm_robustness(lambda inputs: keras.ops.sum(inputs, axis=1), x, y)
    with pytest.raises(TypeError, match="callable"):
        fgsm_robustness("model", x, y)
