import keras
import numpy as np
import pytest

from invariant_reps.networks import Network
from invariant_reps.networks import available_networks
from invariant_reps.networks import build_network
from invariant_reps.networks import get_network
from invariant_reps.networks import register_network
from invariant_reps.networks import registry


@pytest.fixture(autouse=True)
def isolated_registry(monkeypatch):
    """Lets each test register names without leaking them to other tests."""
    monkeypatch.setattr(
        registry, "_NETWORK_BUILDERS", dict(registry._NETWORK_BUILDERS)
    )


def _tiny_network(input_shape, num_classes, units=3):
    inputs = keras.Input(shape=input_shape)
    z = keras.layers.Dense(units, name="bottleneck")(inputs)
    encoder = keras.Model(inputs, z)
    z_input = keras.Input(shape=(units,))
    head = keras.Model(z_input, keras.layers.Dense(num_classes)(z_input))
    return Network(encoder, head)


def test_builtins_are_registered_in_sorted_order():
    assert {"cifar_resnet", "mlp", "simple_conv"} <= set(available_networks())
    assert available_networks() == sorted(available_networks())


def test_register_then_get_and_build():
    decorated = register_network("tiny")(_tiny_network)
    assert decorated is _tiny_network
    assert get_network("tiny") is _tiny_network
    assert "tiny" in available_networks()
    encoder, head = build_network("tiny", (4,), 2, units=5)
    assert encoder.output.shape == (None, 5)
    assert head.output.shape == (None, 2)


def test_unknown_name_lists_known_names_sorted():
    with pytest.raises(ValueError) as error:
        get_network("resnet50")
    assert "Unknown network 'resnet50'" in str(error.value)
    assert f"Known networks: {', '.join(available_networks())}." in str(error.value)


def test_unknown_name_suggests_close_match():
    with pytest.raises(ValueError, match="Did you mean 'simple_conv'"):
        build_network("simple_cnv", (28, 28, 3), 10)


def test_duplicate_name_raises_unless_overwrite():
    register_network("tiny")(_tiny_network)
    with pytest.raises(ValueError, match="'tiny' is already registered"):
        register_network("tiny")(_tiny_network)

    def replacement(input_shape, num_classes):
        return _tiny_network(input_shape, num_classes, units=7)

    register_network("tiny", overwrite=True)(replacement)
    assert get_network("tiny") is replacement


def test_builtin_names_are_protected():
    with pytest.raises(ValueError, match="'mlp' is already registered"):
        register_network("mlp")(_tiny_network)


@pytest.mark.parametrize("name", ["", "two words", "tab\tname", 3, None])
def test_rejects_invalid_names(name):
    with pytest.raises(ValueError, match="non-empty string"):
        register_network(name)
    with pytest.raises(ValueError, match="non-empty string"):
        get_network(name)


def test_rejects_non_callable_builder():
    with pytest.raises(ValueError, match="must be callable"):
        register_network("broken")("not a function")


def test_builder_returning_single_model_needs_bottleneck_layer():
    @register_network("whole")
    def whole(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(inputs))

    with pytest.raises(ValueError, match="bottleneck_layer"):
        build_network("whole", (3,), 2)


def test_builder_returning_plain_pair_becomes_network():
    @register_network("pair")
    def pair(input_shape, num_classes):
        return tuple(_tiny_network(input_shape, num_classes))

    network = build_network("pair", (3,), 2)
    assert isinstance(network, Network)


def test_builder_returning_garbage_raises():
    register_network("garbage")(lambda input_shape, num_classes: 42)
    with pytest.raises(ValueError, match="must return Network"):
        build_network("garbage", (3,), 2)


def test_full_model_builder_is_split_at_named_bottleneck():
    @register_network("user_cnn", bottleneck_layer="features")
    def user_cnn(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)
        x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
        z = keras.layers.GlobalAveragePooling2D(name="features")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(z))

    assert isinstance(user_cnn((8, 8, 1), 3), keras.Model)  # Unwrapped.
    encoder, head = build_network("user_cnn", (8, 8, 1), 3)
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype("float32")
    z = encoder(x)
    assert z.shape == (2, 4)
    assert head(z).shape == (2, 3)


def test_rejects_bad_bottleneck_layer_argument():
    with pytest.raises(ValueError, match="bottleneck_layer"):
        register_network("bad", bottleneck_layer="")
