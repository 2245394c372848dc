import keras
import numpy as np
import pytest

from invariant_reps.networks import Network
from invariant_reps.networks import split_model


def _batch(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def _chain_model():
    inputs = keras.Input(shape=(6,))
    x = keras.layers.Dense(8, activation="relu", name="hidden")(inputs)
    z = keras.layers.Dense(4, activation="tanh", name="features")(x)
    x = keras.layers.Dense(5, activation="relu", name="head_hidden")(z)
    x = keras.layers.BatchNormalization(name="head_bn")(x)
    outputs = keras.layers.Dense(3, name="logits")(x)
    return keras.Model(inputs, outputs, name="chain")


def test_linear_chain_split_reproduces_model_exactly():
    model = _chain_model()
    network = split_model(model, "features")
    assert isinstance(network, Network)
    x = _batch(7, 6)
    z = network.encoder(x)
    assert z.shape == (7, 4)
    np.testing.assert_array_equal(network.head(z), model(x))
    assert network.encoder.name == "chain_encoder"
    assert network.head.name == "chain_head"


def test_split_parts_share_weights_with_model():
    model = _chain_model()
    encoder, head = split_model(model, "features")
    assert head.get_layer("logits") is model.get_layer("logits")
    assert encoder.get_layer("hidden") is model.get_layer("hidden")
    head.get_layer("logits").kernel.assign(np.ones((5, 3), "float32"))
    x = _batch(2, 6)
    np.testing.assert_array_equal(head(encoder(x)), model(x))


def test_dag_after_bottleneck_with_residual_and_two_outputs():
    inputs = keras.Input(shape=(6,))
    z = keras.layers.Dense(4, name="features")(inputs)
    branch = keras.layers.Dense(4, activation="relu", name="branch")(z)
    merged = keras.layers.Add(name="residual")([z, branch])
    logits = keras.layers.Dense(3, name="logits")(merged)
    auxiliary = keras.layers.Dense(1, name="auxiliary")(z)
    model = keras.Model(inputs, [logits, auxiliary])
    encoder, head = split_model(model, "features")
    x = _batch(5, 6)
    for split_output, model_output in zip(head(encoder(x)), model(x)):
        np.testing.assert_array_equal(split_output, model_output)


def test_sequential_model():
    model = keras.Sequential(
        [
            keras.Input(shape=(4, 4, 1)),
            keras.layers.Conv2D(3, 3, name="conv"),
            keras.layers.Flatten(name="z"),
            keras.layers.Dense(2, name="logits"),
        ]
    )
    encoder, head = split_model(model, "z")
    x = _batch(3, 4, 4, 1)
    assert encoder(x).shape == (3, 12)
    np.testing.assert_array_equal(head(encoder(x)), model(x))


def test_unknown_layer_lists_close_names():
    with pytest.raises(ValueError, match=r"Closest names: \['features'\]"):
        split_model(_chain_model(), "featres")


def test_unknown_layer_without_close_match_lists_all_layers():
    with pytest.raises(ValueError, match="Layers of the model: .*'logits'"):
        split_model(_chain_model(), "zzz")


def test_rejects_graph_reading_tensors_from_before_bottleneck():
    inputs = keras.Input(shape=(6,))
    hidden = keras.layers.Dense(8, name="hidden")(inputs)
    z = keras.layers.Dense(4, name="features")(hidden)
    skip = keras.layers.Concatenate(name="skip")([z, hidden])
    model = keras.Model(inputs, keras.layers.Dense(2)(skip))
    message = "'skip' .* reads the output of 'hidden'"
    with pytest.raises(ValueError, match=message):
        split_model(model, "features")


def test_rejects_output_not_computed_from_bottleneck():
    inputs = keras.Input(shape=(6,))
    z = keras.layers.Dense(4, name="features")(inputs)
    logits = keras.layers.Dense(2, name="logits")(z)
    side = keras.layers.Dense(1, name="side")(inputs)
    model = keras.Model(inputs, [logits, side])
    with pytest.raises(ValueError, match="'side' does not depend"):
        split_model(model, "features")


def test_rejects_non_2d_bottleneck_and_suggests_pooling():
    inputs = keras.Input(shape=(8, 8, 1))
    x = keras.layers.Conv2D(2, 3, name="conv")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.Flatten()(x))
    )
    with pytest.raises(ValueError, match="2-D .*GlobalAveragePooling2D"):
        split_model(model, "conv")


def test_rejects_last_layer_as_bottleneck():
    with pytest.raises(ValueError, match="No layer follows"):
        split_model(_chain_model(), "logits")


def test_rejects_shared_bottleneck_layer():
    inputs = keras.Input(shape=(4,))
    shared = keras.layers.Dense(4, name="shared")
    x = shared(shared(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    with pytest.raises(ValueError, match="called 2 times"):
        split_model(model, "shared")


def test_rejects_subclassed_model():
    class Subclassed(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2, name="dense")

        def call(self, inputs):
            return self.dense(inputs)

    model = Subclassed()
    model(_batch(1, 3))
    with pytest.raises(ValueError, match="only functional models"):
        split_model(model, "dense")


def test_rejects_unbuilt_sequential():
    model = keras.Sequential([keras.layers.Dense(2, name="dense")])
    with pytest.raises(ValueError, match="only functional models"):
        split_model(model, "dense")


def test_rejects_non_model():
    with pytest.raises(ValueError, match="must be a functional keras.Model"):
        split_model(keras.layers.Dense(2), "dense")


def test_head_input_name_avoids_head_layer_names():
    inputs = keras.Input(shape=(3,))
    z = keras.layers.Dense(4, name="features")(inputs)
    model = keras.Model(inputs, keras.layers.Dense(2, name="z")(z))
    encoder, head = split_model(model, "features")
    x = _batch(2, 3)
    np.testing.assert_array_equal(head(encoder(x)), model(x))
