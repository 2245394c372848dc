"""DisenIB (fully connected): its losses by hand, the spectral norm, the schedule and the gradient routing."""

import keras
import numpy as np
import pytest
import tensorflow as tf

import invariant_reps as ir
from invariant_reps.models import disenib_objectives as objectives
from invariant_reps.models.disenib import MISSING_LABEL_MESSAGE, DisenIB
from invariant_reps.models.disenib_layers import SpectralDense
from tests.models import method_harness as harness

TINY = dict(num_samples=2, estimator_units=8, reconstructor_units=8)


def _model(seed=0, **kwargs):
    keras.utils.set_random_seed(seed)
    encoder, head = harness.networks(6, 3, seed)
    model = DisenIB(encoder, head, seed=seed, **{**TINY, **kwargs})
    # Eager steps: the same train_step without tracing a graph per model (fast on a busy CPU).
    model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    model.ensure_built()
    return model


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 6)).astype("float32"), rng.integers(0, 3, n)


# ------------------------------------------------------------------ the losses, by hand
def test_clustering_averages_each_code_with_its_neighbours_by_mean_absolute_distance():
    codes = np.array([[0.0, 0.0], [0.1, 0.05], [0.3, 0.0]], "float32")
    # d01 = (0.1 + 0.05) / 2 = 0.075 < 0.1; d02 = 0.15; d12 = (0.2 + 0.05) / 2 = 0.125.
    expected = [[0.05, 0.025], [0.05, 0.025], [0.3, 0.0]]
    np.testing.assert_allclose(objectives.cluster_codes(codes, 0.1), expected, atol=1e-7)
    # Radius 1.0 (the class codes'): everything is one cluster.
    np.testing.assert_allclose(objectives.cluster_codes(codes, 1.0), np.tile(codes.mean(0), (3, 1)), atol=1e-7)
    # One dimension: 0 and 0.05 merge, 1.0 stays alone.
    np.testing.assert_allclose(objectives.cluster_codes([[0.0], [0.05], [1.0]], 0.1), [[0.025], [0.025], [1.0]])


def test_estimator_loss_by_hand():
    loss, product_mean, joint_mean = objectives.estimator_loss([0.5, 2.0], [[-1.0], [0.0]], 0.05)
    # (0.25 + 1) / 2 + (0 + 1) / 2 + 0.05 * ((0.5 + 2 - 1 + 0) / 4)^2
    np.testing.assert_allclose(float(loss), 0.625 + 0.5 + 0.05 * 0.375**2, rtol=1e-6)
    np.testing.assert_allclose([float(product_mean), float(joint_mean)], [1.25, -0.5])
    # The optimum: product samples at +1, joint samples at -1, centred.
    assert float(objectives.estimator_loss([1.0, 1.0], [-1.0, -1.0])[0]) == 0.0


def test_wall_loss_and_its_gradient_by_hand():
    style = tf.constant([[4.0, 0.0]])
    code = tf.constant([[-5.0, 1.0]])
    with tf.GradientTape() as tape:
        tape.watch([style, code])
        wall = objectives.wall_loss(style, code, 3.0)
    np.testing.assert_allclose(float(wall), (1.0 + 0.0 + 4.0 + 0.0) / 4)
    grad_style, grad_code = tape.gradient(wall, [style, code])
    # d/de relu(|e| - 3)^2 / 4 = 2 (|e| - 3) sign(e) / 4 outside the box, 0 inside: it pulls codes back.
    np.testing.assert_allclose(grad_style, [[0.5, 0.0]])
    np.testing.assert_allclose(grad_code, [[-1.0, 0.0]])


def test_resample_rows_are_example_major_and_have_the_asked_spread():
    mean = np.array([[0.0, 10.0], [5.0, -5.0]], "float32")
    seed = keras.random.SeedGenerator(0)
    np.testing.assert_array_equal(objectives.resample(mean, 0.0, 3, seed), np.repeat(mean, 3, axis=0))
    np.testing.assert_array_equal(objectives.repeat_rows(np.array([7, 8]), 3), [7, 7, 7, 8, 8, 8])
    samples = np.asarray(objectives.resample(mean, 0.5, 4000, seed)).reshape(2, 4000, 2)
    np.testing.assert_allclose(samples.mean(axis=1), mean, atol=0.05)
    np.testing.assert_allclose(samples.std(axis=1), 0.5, atol=0.03)


def test_reconstruction_loss_is_the_mean_over_every_element():
    np.testing.assert_allclose(float(objectives.reconstruction_loss([[1.0, 2.0]], [[0.0, 0.0]])), 2.5)


# ------------------------------------------------------------------ spectral normalisation
def test_spectral_dense_divides_by_the_largest_singular_value_and_updates_u_only_in_training():
    layer = SpectralDense(3, bias_initializer="ones")
    x = np.random.default_rng(0).normal(size=(4, 5)).astype("float32")
    layer(x)
    u_before = layer.u.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u_before)  # inference: u is not stored
    for _ in range(60):
        outputs = layer(x, training=True)
    kernel = layer.kernel.numpy()
    sigma = np.linalg.svd(kernel, compute_uv=False)[0]
    np.testing.assert_allclose(float(layer.spectral_norm()[0]), sigma, rtol=1e-4)
    np.testing.assert_allclose(outputs, x @ kernel / sigma + 1.0, rtol=1e-4, atol=1e-5)
    restored = SpectralDense.from_config(layer.get_config())
    assert restored.units == 3 and restored.power_iterations == 1


# ------------------------------------------------------------------ schedule and routing
def test_schedule_counts_seed_steps_estimator_iterations_and_the_four_to_one_alternation():
    model = _model(main_iterations=10, estimator_iterations=3, estimator_start_step=2, style_updates=4)
    flags = [{k: bool(v) for k, v in model.schedule(i).items()} for i in range(40)]
    assert [f["estimator_on"] for f in flags[:10]] == [False] * 7 + [True] * 3
    assert not any(f["independence_on"] for f in flags[:20]) and all(f["independence_on"] for f in flags[20:])
    # From the first active main iteration (20): E_s, E_s, E_s, E_s, E_t, E_s, ...
    assert [f["to_class"] for f in flags[20:30]] == [False, False, False, False, True] * 2


def _one_step(lambda_est, iteration, **kwargs):
    model = _model(lambda_est=lambda_est, **kwargs)
    model.main_iteration.assign(iteration)
    x, y = _data()
    model.train_on_batch(x, y)
    return model


def _changed(first, second):
    return [not np.array_equal(a.numpy(), b.numpy()) for a, b in zip(first.weights, second.weights)]


@pytest.mark.parametrize("iteration, expected", [(3, None), (5, "style"), (8, "style"), (9, "class"), (10, "style")])
def test_independence_gradient_reaches_only_the_scheduled_encoder_and_never_est(iteration, expected):
    # Seed step = 5 iterations, the term on from step 1 (iteration 5): E_s at 5-8, E_t at 9, E_s at 10.
    # Same weights, data and noise; only lambda_est differs, so a weight that differs between the two
    # runs received the encoder-side Est gradient (Adam's update of the other terms is the same).
    settings = dict(main_iterations=5, estimator_iterations=1, estimator_start_step=1, style_updates=4)
    with_term, without = _one_step(0.5, iteration, **settings), _one_step(0.0, iteration, **settings)
    encoders = {"class": with_term.encoder, "style": with_term.style_encoder}
    twins = {"class": without.encoder, "style": without.style_encoder}
    for name in ("class", "style"):
        changed = any(_changed(encoders[name], twins[name]))
        assert changed == (name == expected), (name, iteration)
    # Est is trained by its own loss only: identical in both runs, whatever the term did.
    for a, b in zip(with_term.estimator.weights, without.estimator.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The head and the reconstructor never see the term.
    assert not any(_changed(with_term.head, without.head)) and not any(_changed(with_term.reconstructor,
                                                                                 without.reconstructor))


def test_est_changes_only_in_its_own_iterations():
    settings = dict(main_iterations=5, estimator_iterations=1, estimator_start_step=0)
    for iteration, est_step in ((0, False), (4, True)):
        model = _model(**settings)
        model.main_iteration.assign(iteration)
        before = [v.numpy().copy() for v in model.estimator.trainable_variables]
        x, y = _data()
        logs = model.train_on_batch(x, y, return_dict=True)
        after = [v.numpy() for v in model.estimator.trainable_variables]
        assert any(not np.array_equal(a, b) for a, b in zip(before, after)) == est_step
        assert int(model.auxiliary_optimizer("estimator").iterations.numpy()) == int(est_step)
        assert int(model.main_iteration.numpy()) == iteration + 1
        assert (logs["estimator_loss"] != 0.0) == est_step
    main = {id(v) for v in model.trainable_variables}
    assert not main & {id(v) for v in model.estimator.weights}
    assert {id(v) for v in model.style_encoder.trainable_variables} <= main
    assert {id(v) for v in model.reconstructor.trainable_variables} <= main


# ------------------------------------------------------------------ outputs and bad input
def test_swap_reconstructions_pairs_style_of_row_with_label_of_column():
    model = _model()
    x, y = _data(4)
    grid = model.swap_reconstructions(x, y)
    assert grid.shape == (4, 4, 6)
    style = model.style_encoder(x)
    for i, j in ((0, 3), (2, 1)):
        expected = model.reconstructor([style[i: i + 1], tf.constant(y[j: j + 1], "int32")])
        np.testing.assert_allclose(grid[i, j], np.asarray(expected)[0], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["lambda_rec", "lambda_est", "lambda_wall", "class_noise", "radius"])
def test_negative_weights_are_rejected(name):
    encoder, head = harness.networks(6, 3, 0)
    with pytest.raises(ValueError, match=f"`{name}` must be >= 0"):
        DisenIB(encoder, head, **{name: -0.1})
    with pytest.raises(ValueError, match=f"`{name}` must be >= 0"):
        ir.get_method("disenib").resolve({name: -0.1})


def test_image_encoder_is_rejected_by_the_fully_connected_variant():
    inputs = keras.Input((28, 28, 1))
    encoder = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(inputs)))
    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(10)])
    with pytest.raises(ValueError, match="takes flat inputs"):
        DisenIB(encoder, head)


def test_estimator_iterations_above_main_iterations_are_rejected():
    encoder, head = harness.networks(6, 3, 0)
    with pytest.raises(ValueError, match="`estimator_iterations` \\(4\\) must be <= `main_iterations` \\(3\\)"):
        DisenIB(encoder, head, main_iterations=3, estimator_iterations=4)


def test_missing_label_is_a_clear_error():
    model = _model()
    x, _ = _data()
    with pytest.raises(ValueError, match="needs the task label y"):
        model.train_on_batch(x)
    assert "reconstructor decodes x" in MISSING_LABEL_MESSAGE


def test_nan_codes_stop_training_with_a_message_naming_the_code():
    model = _model()
    kernel = model.encoder.weights[0]
    kernel.assign(np.full(kernel.shape, np.nan, "float32"))
    x, y = _data()
    with pytest.raises(tf.errors.InvalidArgumentError, match="class code E_t"):
        model.train_on_batch(x, y)


def test_the_wall_pulls_codes_that_left_the_box_back():
    # Codes blown up 50x and only the wall in the objective: a few large steps bring them back towards
    # the box [-3, 3]; without the wall nothing moves them.
    x, y = _data(32)

    def largest_code(lambda_wall, steps=6):
        model = _model(lambda_wall=lambda_wall, lambda_rec=0.0, lambda_dec=0.0, lambda_est=0.0)
        model.optimizer.learning_rate.assign(0.5)
        bottleneck = model.encoder.get_layer("bottleneck").kernel
        bottleneck.assign(50.0 * bottleneck.numpy())
        before = np.abs(model.encoder(x)).max()
        for _ in range(steps):
            model.train_on_batch(x, y)
        return before, np.abs(model.encoder(x)).max()

    before, with_wall = largest_code(10.0)
    _, without_wall = largest_code(0.0)
    assert before > 20.0
    assert with_wall < 0.5 * before
    np.testing.assert_allclose(without_wall, before, rtol=1e-6)
