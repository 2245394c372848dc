import keras
import numpy as np
import pytest

from invariant_reps.layers import FanInUniform
from invariant_reps.layers import L2Normalize
from invariant_reps.networks import build_network
from invariant_reps.networks import simple_conv


@pytest.fixture(scope="module")
def full_width():
    """The paper-size network (built, never run: building is cheap)."""
    keras.utils.set_random_seed(0)
    return simple_conv((28, 28, 3), 10)


def _images(batch=2, size=28):
    rng = np.random.default_rng(0)
    return rng.uniform(size=(batch, size, size, 3)).astype("float32")


def test_structure_matches_spec(full_width):
    encoder, head = full_width
    convs = [encoder.get_layer(f"conv{i}") for i in range(1, 5)]
    assert [conv.filters for conv in convs] == [16, 32, 64, 128]
    for conv in convs:
        assert conv.kernel_size == (7, 7)
        assert conv.strides == (1, 1)
        assert conv.padding == "same"
        assert conv.use_bias
        assert conv.output.shape[1:3] == (28, 28)  # No pooling inside.
    for i in range(1, 5):
        bn = encoder.get_layer(f"bn{i}")
        assert bn.epsilon == 1e-5
        assert bn.momentum == 0.9
    activations = [
        encoder.get_layer(name).activation
        for name in ("relu1", "relu2", "relu3", "tanh4")
    ]
    assert activations == [keras.activations.relu] * 3 + [
        keras.activations.tanh
    ]
    pooling = encoder.get_layer("bottleneck")
    assert isinstance(pooling, keras.layers.GlobalAveragePooling2D)
    assert encoder.output.shape == (None, 128)
    assert head.get_layer("logits").units == 10


def test_layer_order_is_conv_bn_activation(full_width):
    encoder, _ = full_width
    names = [layer.name for layer in encoder.layers]
    assert names == [
        "x",
        "conv1", "bn1", "relu1",
        "conv2", "bn2", "relu2",
        "conv3", "bn3", "relu3",
        "conv4", "bn4", "tanh4",
        "bottleneck",
    ]


def test_parameter_count_matches_pytorch(full_width):
    encoder, head = full_width
    # Convs: 7*7*C_in*C_out + C_out; BN: gamma and beta; Linear: 128*10 + 10.
    channels = [3, 16, 32, 64, 128]
    convs = sum(49 * a * b + b for a, b in zip(channels, channels[1:]))
    batch_norms = sum(2 * c for c in channels[1:])
    expected = convs + batch_norms + 128 * 10 + 10
    trainable = sum(
        int(np.prod(w.shape))
        for w in encoder.trainable_weights + head.trainable_weights
    )
    assert trainable == expected == 531210


def test_conv_kernel_init_is_kaiming_normal_fan_out(full_width):
    encoder, _ = full_width
    for i, c_out in zip((3, 4), (64, 128)):
        kernel = np.asarray(encoder.get_layer(f"conv{i}").kernel)
        np.testing.assert_allclose(
            np.std(kernel), np.sqrt(2.0 / (c_out * 49)), rtol=0.05
        )
        np.testing.assert_allclose(np.mean(kernel), 0.0, atol=1e-3)


def test_conv_bias_and_linear_init_are_pytorch_uniform(full_width):
    encoder, head = full_width
    bias = np.asarray(encoder.get_layer("conv4").bias)
    bound = 1.0 / np.sqrt(64 * 49)
    assert np.all(np.abs(bias) <= bound)
    assert np.max(np.abs(bias)) > 0.8 * bound
    logits = head.get_layer("logits")
    kernel, dense_bias = np.asarray(logits.kernel), np.asarray(logits.bias)
    bound = 1.0 / np.sqrt(128)
    assert np.all(np.abs(kernel) <= bound + 1e-7)
    assert np.all(np.abs(dense_bias) <= bound)
    np.testing.assert_allclose(np.std(kernel), bound / np.sqrt(3), rtol=0.1)
    bn = encoder.get_layer("bn1")
    np.testing.assert_array_equal(bn.gamma, np.ones(16))
    np.testing.assert_array_equal(bn.beta, np.zeros(16))


def test_forward_shapes_and_tanh_range():
    encoder, head = build_network("simple_conv", (28, 28, 3), 10, width=0.25)
    assert [encoder.get_layer(f"conv{i}").filters for i in range(1, 5)] == [
        4, 8, 16, 32,
    ]
    z = np.asarray(encoder(_images(), training=True))
    assert z.shape == (2, 32)
    assert np.all(np.abs(z) <= 1.0)  # Mean of Tanh features.
    assert head(z).shape == (2, 10)


def test_normalized_bottleneck_feeds_unit_vectors_to_head():
    encoder, head = simple_conv(
        (12, 12, 3), 4, width=0.25, normalize_bottleneck=True
    )
    pooling = encoder.get_layer("global_pool")
    assert isinstance(pooling, keras.layers.GlobalAveragePooling2D)
    assert isinstance(encoder.get_layer("bottleneck"), L2Normalize)
    z = np.asarray(encoder(_images(3, 12)))
    np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, rtol=1e-5)
    pooled = keras.Model(encoder.input, pooling.output)
    raw = np.asarray(pooled(_images(3, 12)))
    np.testing.assert_allclose(
        z, raw / np.linalg.norm(raw, axis=-1, keepdims=True), rtol=1e-5
    )


def test_accepts_unknown_spatial_size():
    encoder, _ = simple_conv((None, None, 3), 2, width=0.25)
    assert encoder(_images(1, 9)).shape == (1, 32)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"width": 0}, "width"),
        ({"width": -0.5}, "width"),
        ({"num_classes": 0}, "num_classes"),
        ({"input_shape": (28, 28)}, "3 dimensions"),
        ({"input_shape": (28, 28, None)}, "axis 2"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    arguments = {"input_shape": (28, 28, 3), "num_classes": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        simple_conv(**arguments)


def test_encoder_save_and_load_round_trip(tmp_path):
    encoder, head = simple_conv(
        (10, 10, 3), 3, width=0.25, normalize_bottleneck=True
    )
    images = _images(2, 10)
    path = tmp_path / "encoder.keras"
    encoder.save(path)
    restored = keras.models.load_model(path)
    np.testing.assert_array_equal(restored(images), encoder(images))
    bias_init = restored.get_layer("conv2").bias_initializer
    assert isinstance(bias_init, FanInUniform)
    assert bias_init.fan_in == 4 * 49
    head_path = tmp_path / "head.keras"
    head.save(head_path)
    z = encoder(images)
    np.testing.assert_array_equal(
        keras.models.load_model(head_path)(z), head(z)
    )
