"""DisCo: the term is dCorr^2 of the batch (weights, background mask, one-hot s), and it decorrelates."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.data.packing import pack_inputs
from invariant_reps.models.disco import DisCo, disco_term
from invariant_reps.models.distance_correlation import distance_correlation_numpy


def _nets(input_dim=3, outputs=1, seed=0):
    x = keras.Input((input_dim,))
    z = keras.layers.Dense(4, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed))(x)
    encoder = keras.Model(x, z)
    z_in = keras.Input((4,))
    head = keras.Model(z_in, keras.layers.Dense(outputs, kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(z_in))
    return encoder, head


def _batch(n=40, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    y = (rng.random(n) < 0.5).astype("float32")
    s = (x[:, 0] + 0.5 * x[:, 1] ** 2 + 0.3 * rng.normal(size=n)).astype("float32")
    w = rng.uniform(0.2, 3.0, n).astype("float32")
    return x, y, s, w


def _logged_term(model, x, y, s, w=None):
    """The `disco` value `evaluate` logs on one full batch (the term of that batch)."""
    logs = model.evaluate(pack_inputs(x, s), y, sample_weight=w, batch_size=len(y), verbose=0, return_dict=True)
    return logs["disco"]


@pytest.mark.parametrize("block_size", [0, 7])
def test_the_term_equals_dcorr2_of_the_logit_and_s_on_the_batch(block_size):
    x, y, s, _ = _batch()
    model = DisCo(*_nets(), lam=3.0, block_size=block_size)
    model.compile(optimizer="adam")
    logits = model.predict(x, verbose=0)[:, 0]
    expected = distance_correlation_numpy(logits, s)
    assert 0.01 < expected < 0.99
    assert _logged_term(model, x, y, s) == pytest.approx(expected, rel=1e-4)


def test_sample_weights_reach_the_term():
    x, y, s, w = _batch()
    model = DisCo(*_nets(), lam=1.0)
    model.compile(optimizer="adam")
    logits = model.predict(x, verbose=0)[:, 0]
    weighted = distance_correlation_numpy(logits, s, weights=w)
    assert abs(weighted - distance_correlation_numpy(logits, s)) > 1e-3  # the weights matter here
    assert _logged_term(model, x, y, s, w) == pytest.approx(weighted, rel=1e-4)
    # Outside a step (a direct call) no weights are left behind: the unweighted value.
    z = model.encoder(x)
    terms = model.compute_loss_terms(_as_batch(x, y, s), z, model.head(z), training=False)
    assert float(terms["disco"]) == pytest.approx(distance_correlation_numpy(logits, s), rel=1e-4)


def _as_batch(x, y, s):
    from invariant_reps.models.base import Batch

    return Batch(tf.constant(x), tf.constant(y), tf.constant(s), None)


def test_background_only_uses_exactly_the_background_events():
    x, y, s, w = _batch()
    model = DisCo(*_nets(), lam=1.0, background_only=True, power=2.0)
    model.compile(optimizer="adam")
    logits = model.predict(x, verbose=0)[:, 0]
    background = y == 0
    expected = distance_correlation_numpy(logits[background], s[background], weights=w[background]) ** 2
    assert _logged_term(model, x, y, s, w) == pytest.approx(expected, rel=1e-4)
    # Signal values do not enter: moving the signal's s changes nothing.
    s_moved = np.where(background, s, s + 100.0 * np.arange(len(s))).astype("float32")
    assert _logged_term(model, x, y, s_moved, w) == pytest.approx(expected, rel=1e-4)


def test_a_batch_without_background_gives_zero_and_a_zero_gradient():
    r = tf.Variable([0.3, -1.0, 2.0])
    with tf.GradientTape() as tape:
        value = disco_term(r, [1.0, 2.0, 3.0], labels=[1.0, 1.0, 1.0], background_only=True)
    assert float(value) == 0.0
    assert np.all(tape.gradient(value, r).numpy() == 0.0)


def test_discrete_s_is_one_hot_so_class_numbering_does_not_matter():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(30, 3)).astype("float32")
    y = rng.integers(0, 3, 30)
    s = rng.integers(0, 4, 30)
    model = DisCo(*_nets(outputs=3), lam=1.0, num_sensitive_classes=4)
    model.compile(optimizer="adam")
    z = model.encoder(x).numpy()
    expected = distance_correlation_numpy(z, np.eye(4)[s])  # "auto" on a 3-logit head: z
    assert _logged_term(model, x, y, s) == pytest.approx(expected, rel=1e-4)
    relabelled = np.array([2, 0, 3, 1])[s]
    assert _logged_term(model, x, y, relabelled) == pytest.approx(expected, rel=1e-4)


def test_probability_representation_penalises_the_sigmoid():
    x, y, s, _ = _batch()
    model = DisCo(*_nets(), representation="probability")
    model.compile(optimizer="adam")
    logits = model.predict(x, verbose=0)[:, 0]
    assert _logged_term(model, x, y, s) == pytest.approx(
        distance_correlation_numpy(1.0 / (1.0 + np.exp(-logits)), s), rel=1e-4
    )


def test_training_with_lambda_decorrelates_the_logit_from_s():
    # y depends on x0, and s = x0 + noise: an unpenalised classifier's logit follows s.
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 3)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    s = (x[:, 0] + 0.1 * rng.normal(size=512)).astype("float32")

    def trained_dcorr(lam):
        keras.utils.set_random_seed(0)
        model = DisCo(*_nets(), lam=lam)
        model.compile(optimizer=keras.optimizers.Adam(0.02))
        model.fit(pack_inputs(x, s), y, batch_size=128, epochs=15, verbose=0, shuffle=False)
        return distance_correlation_numpy(model.predict(x, verbose=0)[:, 0], s)

    free, penalised = trained_dcorr(0.0), trained_dcorr(20.0)
    assert free > 0.2
    assert penalised < free / 4


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"power": 0.5}, "`power` must be a number >= 1"),
        ({"representation": "mean"}, "`representation` must be one of"),
        ({"block_size": -1}, "`block_size` must be an int >= 0"),
        ({"num_sensitive_classes": 1}, "`num_sensitive_classes` must be None"),
        ({"lam": -1.0}, "`lam` must be >= 0"),
    ],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DisCo(*_nets(), **kwargs)


def test_logit_representation_refuses_a_multiclass_head():
    model = DisCo(*_nets(outputs=3), representation="logit")
    z = model.encoder(np.zeros((4, 3), "float32"))
    with pytest.raises(ValueError, match="needs a binary task's single logit"):
        model.decorrelated(z, model.head(z))


def test_background_only_needs_labels():
    with pytest.raises(ValueError, match="needs the task `labels`"):
        disco_term([1.0, 2.0], [0.0, 1.0], background_only=True)


def test_weighted_background_term_is_the_same_under_mirrored_strategy():
    # Each replica reads its own batch slice's weights (thread-local), gathered like the batch: two logical
    # CPUs train exactly as one device.
    import json
    import os
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    completed = subprocess.run(
        [sys.executable, "-m", "tests.models.disco_mirrored_check"], cwd=root, capture_output=True, text=True,
        timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    np.testing.assert_allclose(report["mirrored"]["disco"], report["single"]["disco"], rtol=1e-4)
    for mirrored, single in zip(report["mirrored"]["weights"], report["single"]["weights"]):
        np.testing.assert_allclose(mirrored, single, rtol=1e-4, atol=1e-6)
