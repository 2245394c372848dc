import keras
import numpy as np
import pytest

from invariant_reps.layers import L2Normalize
from invariant_reps.networks import build_network
from invariant_reps.networks import mlp


def _batch(*shape):
    return np.random.default_rng(0).normal(size=shape).astype("float32")


def test_default_bottleneck_is_last_hidden_layer():
    encoder, head = build_network("mlp", (5,), num_classes=3)
    z = encoder(_batch(4, 5))
    assert z.shape == (4, 64)
    assert head(z).shape == (4, 3)
    assert encoder.get_layer("bottleneck").output is encoder.output
    assert [layer.units for layer in encoder.layers[2:]] == [64, 64]


def test_bottleneck_dim_adds_a_layer_and_inputs_are_flattened():
    encoder, head = mlp((4, 3), 2, hidden_units=(16,), bottleneck_dim=6)
    z = encoder(_batch(2, 4, 3))
    assert z.shape == (2, 6)
    assert [layer.name for layer in encoder.layers] == [
        "x", "flatten", "dense_1", "bottleneck",
    ]
    assert head(z).shape == (2, 2)


def test_bottleneck_dim_alone_gives_single_layer_encoder():
    encoder, _ = mlp((5,), 2, hidden_units=(), bottleneck_dim=3)
    assert encoder.output.shape == (None, 3)


def test_normalized_bottleneck_has_unit_norm():
    encoder, _ = mlp((5,), 2, hidden_units=(8,), normalize_bottleneck=True)
    assert isinstance(encoder.get_layer("bottleneck"), L2Normalize)
    norms = np.linalg.norm(encoder(_batch(6, 5)), axis=-1)
    np.testing.assert_allclose(norms, np.ones(6), rtol=1e-5)


def test_activation_is_applied():
    encoder, _ = mlp((5,), 2, hidden_units=(8, 8), activation="relu")
    assert np.all(np.asarray(encoder(_batch(6, 5))) >= 0.0)
    assert encoder.get_layer("bottleneck").activation is keras.activations.relu


def test_no_bottleneck_layer_raises():
    with pytest.raises(ValueError, match="no layer to use as the bottleneck"):
        mlp((5,), 2, hidden_units=())


@pytest.mark.parametrize("hidden_units", [(8, 0), (8, -1), 8, ("8",)])
def test_rejects_bad_hidden_units(hidden_units):
    with pytest.raises(ValueError, match="hidden_units"):
        mlp((5,), 2, hidden_units=hidden_units)


def test_rejects_unknown_activation():
    with pytest.raises(ValueError, match="nonexistent"):
        mlp((5,), 2, activation="nonexistent")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "num_classes"),
        ({"input_shape": (5, 0)}, "input_shape"),
        ({"input_shape": ()}, "input_shape"),
        ({"bottleneck_dim": 0}, "bottleneck_dim"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    arguments = {"input_shape": (5,), "num_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        mlp(**arguments)
