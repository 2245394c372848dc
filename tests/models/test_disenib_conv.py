"""Convolutional DisenIB: the seed's MNIST/Shapes geometry, the discriminator gate, routing of the GAN term."""

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.models import disenib_conv_networks as conv
from invariant_reps.models.disenib_conv import DisenIBConv


def test_mnist_networks_have_the_seed_shapes():
    net = ir.build_network("disenib_conv_mnist", (28, 28, 1), 10)
    # 28 -> 13 -> 6 -> 2 (k5 s2 p1): 64 x 2 x 2 = 256 features into Linear(256 -> 16).
    assert net.encoder.get_layer("conv3_norm").output.shape[1:] == (2, 2, 64)
    assert net.encoder.get_layer("bottleneck").kernel.shape == (256, 16)
    assert net.head.get_layer("logits").kernel.shape == (16, 10) and not net.head.get_layer("logits").use_bias
    rec = conv.build_conv_reconstructor(16, 16, 10, (28, 28, 1))
    # 128 x 2 x 2 -> 6 -> 14 -> 28 (k4 s2, paddings 0, 0, 1).
    assert [rec.get_layer(f"deconv{i}").output.shape[1] for i in (1, 2)] == [6, 14]
    out = rec([np.zeros((3, 16), "float32"), np.array([0, 4, 9], "int32")])
    assert out.shape == (3, 28, 28, 1) and float(np.min(out)) >= 0.0 and float(np.max(out)) <= 1.0
    disc = conv.build_discriminator((28, 28, 1))
    assert disc.get_layer("logits").kernel.shape == (512, 2)


def test_shapes_networks_reach_64_pixels_and_the_seed_feature_size():
    net = ir.build_network("disenib_conv_shapes", (64, 64, 1), 3)
    assert net.encoder.get_layer("bottleneck").kernel.shape == (256, 16)  # 64 -> 31 -> 15 -> 7 -> 2
    rec = conv.build_conv_reconstructor(16, 16, 3, (64, 64, 1))
    assert rec.output.shape[1:] == (64, 64, 1)


def test_instance_norm_normalises_each_example_and_channel_without_affine_parameters():
    layer = conv.instance_norm(2, "norm")
    x = np.random.default_rng(0).normal(3.0, 2.0, size=(2, 5, 5, 2)).astype("float32")
    y = np.asarray(layer(x))
    np.testing.assert_allclose(y.mean(axis=(1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(y.var(axis=(1, 2)), 1.0, rtol=1e-3)
    assert not layer.weights


def test_conv_reconstructor_view_is_channels_first_like_pytorch():
    rec = conv.build_conv_reconstructor(16, 16, 10, (28, 28, 1))
    # Channel c of the 128 x 2 x 2 map holds features 4c..4c+3 of [style 256, class 256]: the first 64
    # channels come from the style code alone.
    view = keras.Model(rec.inputs, rec.get_layer("channels_last").output)
    base = view([np.zeros((1, 16), "float32"), np.array([0], "int32")])
    moved = view([np.ones((1, 16), "float32"), np.array([0], "int32")])
    changed = np.any(np.asarray(base) != np.asarray(moved), axis=(0, 1, 2))
    assert not changed[64:].any()


def test_unknown_image_size_is_a_clear_error():
    with pytest.raises(ValueError, match="square images of size \\[28, 64\\]"):
        conv.build_conv_reconstructor(16, 16, 10, (32, 32, 3))
    with pytest.raises(ValueError, match="takes 28 x 28 images"):
        ir.build_network("disenib_conv_mnist", (64, 64, 1), 10)


def _model(max_accuracy, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    encoder = keras.Model(inputs, keras.layers.Dense(4, name="bottleneck")(inputs))
    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, use_bias=False)])
    model = DisenIBConv(encoder, head, estimator_units=8, main_iterations=2, estimator_start_step=0,
                        gan_start_step=0, discriminator_max_accuracy=max_accuracy, seed=seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
    model.ensure_built()
    return model


@pytest.mark.parametrize("max_accuracy, updated", [(0.0, False), (1.0, True)])
def test_discriminator_steps_only_below_its_accuracy_limit_and_never_from_the_generator_term(max_accuracy, updated):
    model = _model(max_accuracy)
    rng = np.random.default_rng(0)
    x, y = rng.uniform(size=(8, 6)).astype("float32"), rng.integers(0, 3, 8)
    before = [v.numpy().copy() for v in model.discriminator.trainable_variables]
    logs = model.train_on_batch(x, y, return_dict=True)  # iteration 0: generator term on, no D iteration
    assert logs["generator"] > 0.0
    assert all(np.array_equal(a, v.numpy()) for a, v in zip(before, model.discriminator.trainable_variables))
    logs = model.train_on_batch(x, y, return_dict=True)  # iteration 1: the D iteration of the seed step
    changed = any(not np.array_equal(a, v.numpy()) for a, v in zip(before, model.discriminator.trainable_variables))
    assert changed == updated
    assert int(model.auxiliary_optimizer("discriminator").iterations.numpy()) == int(updated)
    assert 0.0 <= logs["discriminator_accuracy"] <= 1.0
    main = {id(v) for v in model.trainable_variables}
    assert not main & {id(v) for v in model.discriminator.weights}


def test_conv_defaults_are_the_seed_mnist_settings():
    spec = ir.get_method("disenib_conv")
    params = spec.resolve({})
    assert (params["num_samples"], params["clustering"], params["spectral_norm"]) == (1, False, False)
    assert (params["estimator_iterations"], params["lambda_gan"], params["gan_start_step"]) == (1, 0.1, 1000)
    fc = ir.get_method("disenib").resolve({})
    assert (fc["num_samples"], fc["clustering"], fc["spectral_norm"], fc["estimator_iterations"]) == (10, True, True, 3)
