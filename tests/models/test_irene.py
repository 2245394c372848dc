import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.data.packing import pack_inputs
from invariant_reps.models.irene import IRENE, plugin_mutual_information
from invariant_reps.networks import build_network
from tests.models.toy import random_batch


def _entropy(probabilities):
    probabilities = probabilities[probabilities > 0]
    return -np.sum(probabilities * np.log(probabilities))


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _mi_by_entropies(labels, logits, num_classes):
    """Independent form I = [H(q_v) + H(q_vhat) - H(P)] / ln K, no clamps."""
    joint = np.eye(num_classes)[labels].T @ _softmax(logits) / len(labels)
    return (
        _entropy(joint.sum(axis=1)) + _entropy(joint.sum(axis=0)) - _entropy(joint.ravel())
    ) / np.log(num_classes)


# ----------------------------------------------------------- MI estimator
def test_confident_correct_head_on_uniform_labels():
    labels = np.arange(100) % 10
    logits = 10.0 * np.eye(10)[labels]  # p(correct) = e^10 / (e^10 + 9)
    value = float(plugin_mutual_information(labels, logits, 10))
    # Rows of the joint have entropy ~0.0045 nats, so I ~ 1 - 0.0045 / ln 10.
    np.testing.assert_allclose(value, _mi_by_entropies(labels, logits, 10), rtol=1e-5)
    np.testing.assert_allclose(value, 0.998, atol=5e-4)
    saturated = plugin_mutual_information(labels, 50.0 * np.eye(10)[labels], 10)
    np.testing.assert_allclose(saturated, 1.0, rtol=1e-5)  # H(v) / ln 10, H(v) = ln 10


def test_binary_split_gives_label_entropy_in_bits():
    labels = np.array([0] * 90 + [1] * 10)
    value = plugin_mutual_information(labels, 50.0 * np.eye(2)[labels], 2)
    # H(0.9, 0.1) = -(0.9 log2 0.9 + 0.1 log2 0.1) = 0.4690 bits.
    np.testing.assert_allclose(value, 0.4690, atol=1e-4)


def test_prediction_independent_of_label_gives_zero():
    labels = np.array([0, 1, 2, 2, 1, 0, 0, 2])
    constant = np.tile([[2.0, -1.0, 0.5]], (8, 1))
    np.testing.assert_allclose(plugin_mutual_information(labels, constant, 3), 0.0, atol=1e-6)
    uniform = np.zeros((8, 3))
    np.testing.assert_allclose(plugin_mutual_information(labels, uniform, 3), 0.0, atol=1e-6)


def test_random_head_matches_entropy_form():
    rng = np.random.default_rng(0)
    labels, logits = rng.integers(0, 5, 64), rng.normal(size=(64, 5))
    np.testing.assert_allclose(
        plugin_mutual_information(labels, logits, 5),
        _mi_by_entropies(labels, logits, 5),
        rtol=1e-4,
    )


def test_gradient_matches_analytic_form():
    rng = np.random.default_rng(1)
    size, classes = 40, 4
    labels = np.arange(size) % classes
    probabilities = tf.constant(_softmax(rng.normal(size=(size, classes))), "float32")
    with tf.GradientTape() as tape:
        tape.watch(probabilities)
        # softmax(log p) = p, so I is a function of p through the logits.
        value = plugin_mutual_information(labels, tf.math.log(probabilities), classes)
    gradient = tape.gradient(value, probabilities).numpy()

    p = probabilities.numpy().astype("float64")
    joint = np.eye(classes)[labels].T @ p / size
    true_marginal, predicted_marginal = joint.sum(axis=1), joint.sum(axis=0)
    # dI/dp_i[k] = (ln P[v_i,k] - ln q_v[v_i] - ln q_vhat[k] - 1) / (N ln K)
    partial = (
        np.log(joint[labels]) - np.log(true_marginal[labels])[:, None]
        - np.log(predicted_marginal)[None, :] - 1.0
    ) / (size * np.log(classes))
    # p -> p / sum(p) at sum(p) = 1 has Jacobian delta_km - p_k: each row of
    # the partial is shifted by its p-weighted mean (the -1 cancels).
    expected = partial - np.sum(p * partial, axis=1, keepdims=True)
    np.testing.assert_allclose(gradient, expected, rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logits_give_finite_float32_with_absent_classes(dtype):
    labels = np.array([0, 1, 2, 0, 1, 2, 0, 0])  # classes 3..9 absent
    logits = np.random.default_rng(2).normal(size=(8, 10)).astype("float32")
    with tf.GradientTape() as tape:
        low = tf.cast(logits, dtype)
        tape.watch(low)
        value = plugin_mutual_information(labels, low, 10)
    assert value.dtype == tf.float32
    assert np.isfinite(float(value))
    assert np.all(np.isfinite(tape.gradient(value, low).numpy().astype("float32")))
    reference = plugin_mutual_information(labels, low.numpy().astype("float32"), 10)
    np.testing.assert_allclose(value, reference, rtol=1e-6)


def test_estimator_argument_errors():
    with pytest.raises(ValueError, match="`num_classes` must be an int >= 2; received 1"):
        plugin_mutual_information([0, 0], np.zeros((2, 1)), 1)
    with pytest.raises(ValueError, match=r"`num_classes` = 3 columns; received shape \(2, 2\)"):
        plugin_mutual_information([0, 1], np.zeros((2, 2), "float32"), 3)


# ------------------------------------------------------------------ model
_data = random_batch


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    net = build_network("mlp", (6,), 3, hidden_units=(8,))
    kwargs.setdefault("privacy_optimizer", keras.optimizers.SGD(0.1))
    model = IRENE(net.encoder, net.head, num_sensitive_classes=4, **kwargs)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    return model


def _flat_weights(network):
    return np.concatenate([w.ravel() for w in network.get_weights()])


def _one_step(**kwargs):
    """Flat weights of encoder, task head and privacy head before and after
    one full-batch training step."""
    x, y, s = _data()
    model = _model(**kwargs)
    model.ensure_built()
    parts = {"encoder": model.encoder, "head": model.head, "privacy": model.privacy_head}
    before = {key: _flat_weights(part) for key, part in parts.items()}
    model.fit(pack_inputs(x, s), y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    return before, {key: _flat_weights(part) for key, part in parts.items()}


@pytest.mark.parametrize("routing", ["head", "paper"])
def test_gradient_routing(routing):
    before_0, after_0 = _one_step(gamma=0.0, routing=routing)
    before_1, after_1 = _one_step(gamma=50.0, routing=routing)
    for key in before_0:  # same initial weights
        np.testing.assert_array_equal(before_0[key], before_1[key])
    # The MI term reaches the encoder (through H) but not the task head.
    assert np.max(np.abs(after_0["encoder"] - after_1["encoder"])) > 1e-4
    np.testing.assert_allclose(after_0["head"], after_1["head"], rtol=0, atol=1e-7)
    if routing == "head":  # H's update is its cross-entropy only
        np.testing.assert_allclose(after_0["privacy"], after_1["privacy"], rtol=0, atol=1e-7)
    else:  # paper-era: H also descends gamma * I
        assert np.max(np.abs(after_0["privacy"] - after_1["privacy"])) > 1e-4


def test_privacy_weight_decay_reaches_privacy_head():
    before, without = _one_step(privacy_weight_decay=0.0)
    _, with_decay = _one_step(privacy_weight_decay=1.0)
    # Plain SGD with coupled L2: the decayed step differs by -lr * wd * w.
    np.testing.assert_allclose(
        with_decay["privacy"] - without["privacy"], -0.1 * 1.0 * before["privacy"],
        rtol=1e-4, atol=1e-6,
    )
    np.testing.assert_array_equal(with_decay["encoder"], without["encoder"])


def test_fit_logs_and_evaluate_match_the_formulas():
    x, y, s = _data()
    model = _model(alpha=0.5, gamma=0.2, privacy_steps=3)
    history = model.fit(pack_inputs(x, s), y, batch_size=8, epochs=2, verbose=0)
    for key in ("loss", "task_loss", "mutual_information", "privacy_head_loss",
                "privacy_accuracy", "accuracy"):
        assert np.all(np.isfinite(history.history[key])), key
    assert int(model.privacy_optimizer.iterations) == 2 * 4 * 3  # epochs * batches * steps
    logs = model.evaluate(pack_inputs(x, s), y, batch_size=32, verbose=0, return_dict=True)
    private_logits = model.privacy_head(model.encoder(x)).numpy()
    np.testing.assert_allclose(
        logs["mutual_information"], plugin_mutual_information(s, private_logits, 4), rtol=1e-5
    )
    np.testing.assert_allclose(
        logs["privacy_accuracy"], np.mean(private_logits.argmax(axis=1) == s), rtol=1e-6
    )
    np.testing.assert_allclose(
        logs["loss"], 0.5 * logs["task_loss"] + 0.2 * logs["mutual_information"], rtol=1e-5
    )


def test_default_privacy_head_and_optimizer():
    net = build_network("mlp", (6,), 3, hidden_units=(8,))
    model = IRENE(net.encoder, net.head, num_sensitive_classes=5)
    assert isinstance(model.privacy_head, keras.layers.Dense)
    assert model.privacy_head.units == 5
    optimizer = model.privacy_optimizer
    assert isinstance(optimizer, keras.optimizers.SGD)
    np.testing.assert_allclose(float(optimizer.learning_rate), 0.1)
    np.testing.assert_allclose(optimizer.momentum, 0.9)
    config = model.get_config()
    assert (config["alpha"], config["gamma"], config["routing"]) == (0.5, 0.2, "head")
    assert config["privacy_weight_decay"] == 1e-4


def test_save_load_round_trip(tmp_path):
    x, y, s = _data()
    model = _model(gamma=0.3, routing="paper", privacy_steps=2)
    model.fit(pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "irene.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, IRENE)
    config = loaded.get_config()
    assert (config["gamma"], config["routing"], config["privacy_steps"]) == (0.3, "paper", 2)
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))
    z = model.encoder(x)
    np.testing.assert_array_equal(model.privacy_head(z), loaded.privacy_head(z))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_sensitive_classes": 1}, "`num_sensitive_classes` must be an int >= 2; received 1"),
        ({"alpha": -1.0}, "`alpha` must be >= 0; received -1.0"),
        ({"gamma": -0.1}, "`gamma` must be >= 0; received -0.1"),
        ({"privacy_weight_decay": -1e-4}, "`privacy_weight_decay` must be >= 0"),
        ({"privacy_steps": 0}, "`privacy_steps` must be an int >= 1; received 0"),
        ({"routing": "adversarial"}, "`routing` must be one of .*'adversarial'"),
        ({"privacy_head": keras.layers.Dense(3)}, "must output `num_sensitive_classes` = 4 "
                                                  "logits; it outputs 3"),
        ({"privacy_head": "dense"}, "`privacy_head` must be a Keras model or layer; received str"),
    ],
)
def test_bad_arguments(kwargs, message):
    net = build_network("mlp", (6,), 3, hidden_units=(8,))
    kwargs = {"num_sensitive_classes": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        IRENE(net.encoder, net.head, **kwargs)
