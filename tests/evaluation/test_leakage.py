"""The leakage probe: fresh classifier on frozen z, held-out accuracy, honest chance level."""

import keras
import numpy as np
import pytest

from invariant_reps.evaluation import leakage_probe


def _identity_encoder(dim):
    x = keras.Input((dim,))
    return keras.Model(x, keras.layers.Identity()(x))


def _data(n, seed, informative):
    rng = np.random.default_rng(seed)
    s = rng.integers(0, 3, n)
    z = rng.normal(size=(n, 4)).astype("float32")
    if informative:
        z[:, 0] += 4.0 * s  # s is linearly recoverable from z
    return z, s


def test_informative_representation_leaks():
    encoder = _identity_encoder(4)
    result = leakage_probe(encoder, _data(600, 0, True), _data(300, 1, True))
    assert result.metric == "accuracy" and result.probe == "linear"
    assert result.score > 0.95
    assert result.num_train == 600 and result.num_test == 300


def test_independent_representation_stays_near_chance():
    encoder = _identity_encoder(4)
    result = leakage_probe(encoder, _data(600, 0, False), _data(3000, 1, False))
    assert abs(result.score - result.chance) < 0.05
    assert result.chance == pytest.approx(1 / 3, abs=0.03)


def test_chance_is_the_majority_class_rate_on_the_test_split():
    encoder = _identity_encoder(4)
    z_train, s_train = _data(200, 0, False)
    z_test = np.zeros((10, 4), "float32")
    s_test = np.array([1] * 7 + [0] * 3)
    s_train[:150] = 1  # majority class of the train split is 1
    result = leakage_probe(encoder, (z_train, s_train), (z_test, s_test))
    assert result.chance == pytest.approx(0.7)


def test_continuous_sensitive_variable_uses_r2():
    encoder = _identity_encoder(4)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(500, 4)).astype("float32")
    s = 2.0 * z[:, 1] + 0.1 * rng.normal(size=500)
    result = leakage_probe(encoder, (z[:400], s[:400]), (z[400:], s[400:]), discrete=False)
    assert result.metric == "r2" and result.score > 0.95 and abs(result.chance) < 0.05


def test_mlp_probe_finds_nonlinear_leakage():
    encoder = _identity_encoder(4)
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2000, 4)).astype("float32")
    s = (z[:, 0] ** 2 + z[:, 1] ** 2 > 1.4).astype(int)  # a circle: not linearly separable
    linear = leakage_probe(encoder, (z[:1500], s[:1500]), (z[1500:], s[1500:]))
    mlp = leakage_probe(encoder, (z[:1500], s[:1500]), (z[1500:], s[1500:]), probe="mlp")
    assert mlp.score > 0.9 > linear.score + 0.2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"probe": "svm"}, "Unknown probe 'svm'"),
        ({"train": (np.zeros((4, 4), "float32"), np.zeros(4, int))}, "at least two sensitive classes"),
        ({"train": (np.zeros((4, 4), "float32"), np.array([0, 1, np.nan, 1]))}, "NaN/inf"),
    ],
)
def test_bad_input(kwargs, message):
    encoder = _identity_encoder(4)
    args = {"train": _data(50, 0, True), "test": _data(20, 1, True)}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        leakage_probe(encoder, args.pop("train"), args.pop("test"), **args)
