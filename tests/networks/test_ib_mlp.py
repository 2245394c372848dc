"""`ib_mlp`: the DisenIB seed's fully connected encoder and decoder."""

import math

import numpy as np
import pytest

import invariant_reps as ir


def test_architecture_and_initialisation_of_the_seed():
    net = ir.build_network("ib_mlp", (784,), 10)
    dense = [layer for layer in net.encoder.layers if layer.weights]
    assert [(layer.name, layer.kernel.shape, layer.get_config()["activation"]) for layer in dense] == [
        ("dense_1", (784, 1024), "relu"), ("dense_2", (1024, 1024), "relu"), ("code", (1024, 16), "linear")]
    assert net.encoder.output_shape == (None, 16)
    assert net.head.input_shape == (None, 16) and net.head.output_shape == (None, 10)
    for layer in dense + [net.head.layers[-1]]:
        fan_in, fan_out = layer.kernel.shape
        limit = math.sqrt(3.0 * 2.0 / ((fan_in + fan_out) / 2.0))  # Glorot-uniform, gain sqrt(2)
        kernel = layer.kernel.numpy()
        assert limit * 0.8 < np.abs(kernel).max() <= limit, layer.name
        if kernel.size >= 10_000:  # uniform on [-limit, limit]
            assert np.std(kernel) == pytest.approx(limit / math.sqrt(3.0), rel=0.02), layer.name
        assert not layer.bias.numpy().any()


def test_images_are_flattened_and_width_scales_the_hidden_layers():
    net = ir.build_network("ib_mlp", (28, 28, 1), 3, width=0.25, code_dim=4)
    assert net.encoder.get_layer("dense_1").kernel.shape == (784, 256)
    assert net.encoder(np.zeros((2, 28, 28, 1), "float32")).shape == (2, 4)
    assert net.head.output_shape == (None, 3)


@pytest.mark.parametrize("kwargs, message", [({"width": 0.0}, "width"), ({"code_dim": 0}, "code_dim")])
def test_bad_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ir.build_network("ib_mlp", (784,), 10, **kwargs)
