"""MIPenalty / KLUpdate: the critic's bound, the penalties, masking, gradient routing, failure modes."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

import invariant_reps as ir
from invariant_reps.models import critic_data
from invariant_reps.models.critic_network import CRITIC_SALT, PENALTY_SALT, DecorrelationCritic, stateless_permutation
from invariant_reps.models.mi_penalty import KLUpdate, MIPenalty, critic_bound, kl_penalty, penalty_value


def _softplus(v):
    return np.log1p(np.exp(v))


def _networks(input_dim=3, outputs=1, seed=0):
    x = keras.Input((input_dim,))
    z = keras.layers.Dense(4, activation="tanh", kernel_initializer=keras.initializers.GlorotUniform(seed),
                           name="hidden")(x)
    z_in = keras.Input((4,))
    logits = keras.layers.Dense(outputs, kernel_initializer=keras.initializers.GlorotUniform(seed + 1))(z_in)
    return keras.Model(x, z, name="encoder"), keras.Model(z_in, logits, name="head")


def _data(n=32, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3)).astype("float32")
    s = (x[:, 1] + 0.5 * rng.normal(size=n)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    return x, y, s


def _model(cls=MIPenalty, **kwargs):
    encoder, head = _networks()
    kwargs.setdefault("critic_width", 8)
    kwargs.setdefault("critic_steps", 1)
    kwargs.setdefault("standardize_sensitive", "none")
    model = cls(encoder, head, seed=3, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    model.ensure_built()
    return model


def _scores_by_hand(model, x, s, counter, mask=None):
    """Joint and marginal critic scores recomputed from the model's parts."""
    r = model(x).numpy()
    s = s.reshape(-1, 1)
    if mask is not None:
        r, s = r[mask], s[mask]
    perm = stateless_permutation(len(r), 3, PENALTY_SALT, counter).numpy()
    joint = model.critic((r, s)).numpy()
    marginal = model.critic((r, s[perm])).numpy()
    return joint, marginal


def _terms(model, x, y, s):
    batch = ir.models.Batch(tf.constant(x), tf.constant(y), tf.constant(s), None)
    z = model.encoder(x)
    return {k: float(v) for k, v in model.compute_loss_terms(batch, z, model.head(z), training=False).items()}


# ------------------------------------------------------------------------------------------- the bounds
def test_dv_critic_estimates_the_mi_of_correlated_gaussians_within_ten_percent():
    # I(a; b) = -0.5 log(1 - rho^2) for jointly Gaussian a, b with correlation rho.
    rho = 0.8
    truth = -0.5 * math.log(1 - rho**2)
    critic = DecorrelationCritic(seed=0)
    critic.build(((None, 1), (None, 1)))
    optimizer = keras.optimizers.Adam(3e-3)

    def sample(n, seed):
        rng = np.random.default_rng(seed)
        a = rng.normal(size=(n, 1))
        return a.astype("float32"), (rho * a + math.sqrt(1 - rho**2) * rng.normal(size=(n, 1))).astype("float32")

    @tf.function
    def step(r, s, counter):
        with tf.GradientTape() as tape:
            marginal_s = tf.gather(s, stateless_permutation(tf.shape(r)[0], 0, CRITIC_SALT, counter))
            loss = -critic_bound("dv", critic((r, s), training=True), critic((r, marginal_s), training=True))
        optimizer.apply_gradients(zip(tape.gradient(loss, critic.trainable_variables), critic.trainable_variables))

    for k in range(800):
        step(*sample(128, k), tf.constant(k, tf.int64))
    r, s = sample(20000, 10**6)
    estimates = [
        float(critic_bound("dv", critic((r, s)), critic((r, tf.gather(s, stateless_permutation(20000, 0, 2, k))))))
        for k in range(4)
    ]
    assert abs(np.mean(estimates) - truth) < 0.1 * truth, (estimates, truth)


def test_bounds_and_penalties_equal_hand_computation_on_fixed_scores():
    joint = np.array([1.0, 2.0, 3.0], "float32")
    marginal = np.array([0.5, -1.0, 0.0], "float32")
    dv = joint.mean() - math.log(np.exp(marginal).mean())
    jsd = -(_softplus(-joint).mean() + _softplus(marginal).mean()) + math.log(4.0)
    heuristic = _softplus(-marginal).mean()  # -mean log sigma(T_marg)
    np.testing.assert_allclose(critic_bound("dv", joint, marginal), dv, rtol=1e-6)
    np.testing.assert_allclose(critic_bound("jsd", joint, marginal), jsd, rtol=1e-6)
    np.testing.assert_allclose(penalty_value("minmax", critic_bound("dv", joint, marginal), marginal), dv, rtol=1e-6)
    np.testing.assert_allclose(penalty_value("heuristic", None, marginal), heuristic, rtol=1e-6)
    np.testing.assert_allclose(penalty_value("combined", tf.constant(-0.5), marginal), max(0.0, heuristic - 0.5),
                               rtol=1e-6)
    assert float(penalty_value("minmax", tf.constant(-0.3), marginal)) == 0.0  # relu
    assert float(penalty_value("combined", tf.constant(-5.0), marginal)) == 0.0
    np.testing.assert_allclose(kl_penalty(joint), 2.0, rtol=1e-6)


# ---------------------------------------------------------------------------------- the model's terms
@pytest.mark.parametrize("penalty", ["minmax", "heuristic", "combined"])
def test_mi_penalty_term_equals_hand_computation_from_the_critics_outputs(penalty):
    x, y, s = _data()
    model = _model(penalty=penalty, bound="dv", lam=2.0)
    joint, marginal = _scores_by_hand(model, x, s, counter=0)
    dv = joint.mean() - math.log(np.exp(marginal).mean())
    heuristic = _softplus(-marginal).mean()
    expected = {"minmax": max(dv, 0.0), "heuristic": heuristic, "combined": max(dv + heuristic, 0.0)}[penalty]
    np.testing.assert_allclose(_terms(model, x, y, s)["mi_penalty"], expected, rtol=1e-5, atol=1e-6)


def test_the_critic_without_layer_norm_is_a_plain_elu_mlp_and_round_trips():
    model = _model(critic_layer_norm=False, critic_depth=3)
    layers = model.critic.score_network.layers
    assert not any(isinstance(layer, keras.layers.LayerNormalization) for layer in layers)
    assert [type(layer).__name__ for layer in layers] == ["Dense", "Activation"] * 3 + ["Dense"]
    clone = MIPenalty.from_config(model.get_config())
    assert clone.critic.layer_norm is False and len(clone.critic.score_network.layers) == 7
    assert sum(isinstance(layer, keras.layers.LayerNormalization)
               for layer in _model().critic.score_network.layers) == 2  # default: the seed's LayerNorm


def test_kl_update_penalty_is_the_mean_joint_critic_score():
    x, y, s = _data()
    model = _model(KLUpdate, lam=10.0)
    joint, _ = _scores_by_hand(model, x, s, counter=0)
    np.testing.assert_allclose(_terms(model, x, y, s)["kl_penalty"], joint.mean(), rtol=1e-5)


def test_background_only_sees_background_events_only_with_log_n_background():
    x, y, s = _data()
    model = _model(bound="dv", background_only=True)
    background = y == 0
    joint, marginal = _scores_by_hand(model, x, s, counter=0, mask=background)
    # DV normalises the marginal term by the number of background events, not the batch size.
    expected = max(joint.mean() - (np.log(np.exp(marginal).sum()) - np.log(background.sum())), 0.0)
    np.testing.assert_allclose(_terms(model, x, y, s)["mi_penalty"], expected, rtol=1e-5, atol=1e-6)
    shuffled_signal = s.copy()
    shuffled_signal[~background] = np.random.default_rng(9).normal(size=(~background).sum())
    assert _terms(model, x, y, shuffled_signal) == _terms(model, x, y, s)  # signal events do not count


def test_fit_standardises_s_with_training_statistics_kept_by_a_round_trip(tmp_path):
    x, y, s = _data()
    model = _model(standardize_sensitive="dataset")
    model.fit(ir.pack_inputs(x, 5.27 + 0.01 * s), y, batch_size=16, epochs=1, verbose=0)
    np.testing.assert_allclose(model.sensitive_mean, [np.mean(5.27 + 0.01 * s.astype(np.float64))], rtol=1e-6)
    np.testing.assert_allclose(model.sensitive_std, [np.std(5.27 + 0.01 * s.astype(np.float64))], rtol=1e-5)
    features = model.sensitive_features(tf.constant(5.27 + 0.01 * s)).numpy()[:, 0]
    np.testing.assert_allclose(features.std(), 1.0, rtol=1e-3)
    model.save(tmp_path / "m.keras")
    assert keras.saving.load_model(tmp_path / "m.keras").sensitive_mean == model.sensitive_mean


# ------------------------------------------------------------------------------------- gradient routing
def test_penalty_gradient_reaches_the_classifier_and_the_critic_is_outside_its_optimizer():
    x, y, s = _data()
    model = _model(KLUpdate)
    assert not {id(v) for v in model.critic.trainable_variables} & {id(v) for v in model.trainable_variables}
    with tf.GradientTape() as tape:
        batch = ir.models.Batch(tf.constant(x), tf.constant(y), tf.constant(s), None)
        z = model.encoder(x)
        penalty = model.compute_loss_terms(batch, z, model.head(z), training=True)["kl_penalty"]
    gradients = tape.gradient(penalty, model.encoder.trainable_variables)
    assert float(tf.norm(gradients[0])) > 1e-4  # the encoder's kernel feels the penalty


def _weights(network):
    return [v.numpy().copy() for v in network.weights]


def _changed(before, network):
    return any(not np.array_equal(a, b.numpy()) for a, b in zip(before, network.weights))


def test_classifier_step_never_moves_the_critic_and_critic_steps_never_move_the_classifier():
    x, y, s = _data()
    frozen_critic = _model(KLUpdate, critic_learning_rate=0.0)  # only the classifier step could move the critic
    critic, classifier = _weights(frozen_critic.critic), _weights(frozen_critic.head)
    frozen_critic.fit(ir.pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0)
    assert not _changed(critic, frozen_critic.critic) and _changed(classifier, frozen_critic.head)

    frozen_classifier = _model(KLUpdate)
    frozen_classifier.optimizer.learning_rate.assign(0.0)  # only the critic steps could move the classifier
    critic, classifier = _weights(frozen_classifier.critic), _weights(frozen_classifier.head)
    frozen_classifier.fit(ir.pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0)
    assert _changed(critic, frozen_classifier.critic) and not _changed(classifier, frozen_classifier.head)


def test_held_out_stream_trains_the_critic_on_it_in_inference_mode():
    x, y, s = _data()
    encoder_input = keras.Input((3,))
    normalized = keras.layers.BatchNormalization(name="bn")(keras.layers.Dense(4)(encoder_input))
    head_input = keras.Input((4,))
    encoder = keras.Model(encoder_input, normalized)
    head = keras.Model(head_input, keras.layers.Dense(1)(head_input))
    model = KLUpdate(encoder, head, critic_width=8, critic_steps=2, critic_stream="held_out",
                     standardize_sensitive="none", seed=0)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    train = ir.data.make_array_dataset(x, y, s, 32).dataset
    with pytest.raises(ValueError, match="attach_held_out"):
        model.fit(train, epochs=1, verbose=0)
    held_x = 100.0 + x  # would drag BatchNorm's moving mean towards 100 if forwarded in training mode
    held = ir.data.make_array_dataset(held_x, y, s, 32).dataset
    moving_mean = encoder.get_layer("bn").moving_mean.numpy()
    features = encoder.layers[1](x).numpy()  # the Dense features of the training batch, before the update
    history = model.fit(critic_data.attach_held_out(train, held), epochs=1, verbose=0).history
    # One training forward on x: momentum 0.99 moves the moving mean 1% towards the batch mean of x's features.
    expected = 0.99 * moving_mean + 0.01 * features.mean(axis=0)
    np.testing.assert_allclose(encoder.get_layer("bn").moving_mean.numpy(), expected, rtol=1e-4, atol=1e-5)
    assert np.isfinite(history["critic_mi"][0])


# ---------------------------------------------------------------------------------------- bad input
def test_bad_hyperparameters_and_inputs_raise_precise_errors():
    with pytest.raises(ValueError, match="lam"):
        ir.get_method("mi_penalty").resolve({"lam": -1.0})
    with pytest.raises(ValueError, match="`lam` must be"):
        _model(lam=-1.0)
    with pytest.raises(ValueError, match="bound"):
        _model(bound="mine")
    with pytest.raises(ValueError, match="background_only"):
        MIPenalty(*_networks(outputs=3), background_only=True)
    x, y, s = _data()
    bad = s.copy()
    bad[5] = np.nan
    with pytest.raises(ValueError, match="sensitive values contain 1 NaN/inf value.*example 5"):
        _model().fit(ir.pack_inputs(x, bad), y, batch_size=16, verbose=0)
    with pytest.raises(ValueError, match="constant over the training data"):
        _model(standardize_sensitive="dataset").fit(ir.pack_inputs(x, np.ones_like(s)), y, batch_size=16, verbose=0)
    with pytest.warns(UserWarning, match="constant in the first training batch"):
        _model(standardize_sensitive="batch").fit(ir.pack_inputs(x, np.ones_like(s)), y, batch_size=16, verbose=0)


def test_a_diverged_critic_stops_training_with_an_error_naming_the_critic():
    x, y, s = _data()
    model = _model(bound="nwj")
    last = model.critic.score_network.layers[-1]
    last.kernel.assign(np.full(last.kernel.shape, 1e30, "float32"))  # e^T overflows: NWJ is -inf
    with pytest.raises(tf.errors.InvalidArgumentError, match="critic T\\(r, s\\)"):
        model.fit(ir.pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0)


# ------------------------------------------------------------------------------- other tensors and s
def test_multiclass_discrete_s_penalises_the_bottleneck_with_one_hot_s():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 3)).astype("float32")
    y, s = rng.integers(0, 3, 32), rng.integers(0, 4, 32)
    model = MIPenalty(*_networks(outputs=3), num_sensitive_classes=4, critic_width=8, critic_steps=1, seed=0)
    model.compile(optimizer="adam")
    history = model.fit(ir.pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0).history
    assert model.penalized == "bottleneck"
    assert model.critic.score_network.layers[0].kernel.shape == (4 + 4, 8)  # [z (4), one-hot s (4)]
    assert {"mi_penalty", "critic_mi"} <= set(history)


def test_a_named_layer_is_penalised_through_a_weight_sharing_tap():
    x, y, s = _data()
    model = _model(KLUpdate, penalized="hidden")
    r = model.penalized_tensor(tf.constant(x), None, None, training=False)
    np.testing.assert_allclose(r.numpy(), model.encoder(x).numpy())
    with pytest.raises(ValueError, match="name of a layer of the functional encoder or head; received 'nope'"):
        _model(penalized="nope")
