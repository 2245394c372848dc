"""What VIB and NIB share: h functions, the Gaussian code layer's place, validation, registry."""

import math

import keras
import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.layers.variational import GaussianCode
from invariant_reps.models.ib_lagrangian import attach_gaussian_code, code_layer_of, ib_penalty
from invariant_reps.models.nib import NIB
from invariant_reps.models.vib import VIB


@pytest.mark.parametrize(
    "hfunc, p, u, expected",
    [
        ("none", 1.0, 3.0, 3.0),
        ("pow", 1.0, 3.0, 9.0),  # the squared IB
        ("pow", 0.5, 4.0, 8.0),  # u^1.5
        ("exp", 1.0, 2.0, math.exp(2.0)),
        ("exp", 0.5, 2.0, math.e),
        ("pow", 0.0, 2.5, 2.5),
    ],
)
def test_h_functions(hfunc, p, u, expected):
    np.testing.assert_allclose(ib_penalty(u, hfunc, p), expected, rtol=1e-6)


def test_pow_clamps_a_rounding_negative_compression_at_zero():
    assert float(ib_penalty(-1e-7, "pow", 0.5)) == 0.0


@pytest.mark.parametrize("hfunc, p, message", [("square", 1.0, "hfunc"), ("pow", -1.0, "hfunc_param"),
                                               ("exp", float("inf"), "hfunc_param")])
def test_bad_h_raises(hfunc, p, message):
    with pytest.raises(ValueError, match=message):
        ib_penalty(1.0, hfunc, p)


def _ib_mlp():
    return ir.build_network("ib_mlp", (784,), 10)


def test_ib_mlp_gives_the_seed_vib_and_nib_encoders():
    vib = VIB(*_ib_mlp())
    code = vib.code_layer
    assert isinstance(code, GaussianCode) and code.scale == "per_example"
    assert code.parameters_dense.kernel.shape == (1024, 32)  # Linear(1024 -> 2 * 16): (mu, s)
    assert [tuple(w.shape) for w in vib.encoder.trainable_weights] == [
        (784, 1024), (1024,), (1024, 1024), (1024,), (1024, 32), (32,)]
    assert vib.encoder.output_shape == (None, 16) and vib.head.input_shape == (None, 16)
    nib = NIB(*_ib_mlp())
    assert nib.code_layer.parameters_dense.kernel.shape == (1024, 16)
    assert float(nib.code_layer.log_scale.numpy()) == 1.0
    # The replaced code layer keeps ib_mlp's initializers: Glorot-uniform with gain sqrt(2), zero biases.
    kernel = code.parameters_dense.kernel.numpy()
    limit = math.sqrt(3.0 * 2.0 / ((1024 + 32) / 2))
    assert np.abs(kernel).max() <= limit and np.abs(kernel).max() > 0.95 * limit
    assert not code.parameters_dense.bias.numpy().any()


def test_an_encoder_without_a_final_linear_dense_gets_the_code_on_top():
    net = ir.build_network("mlp", (6,), 3, hidden_units=(8, 4))  # relu bottleneck: kept, code added on top
    model = VIB(*net, seed=0)
    assert model.code_layer.parameters_dense.kernel.shape == (4, 8)
    assert model.encoder.get_layer("bottleneck") is net.encoder.get_layer("bottleneck")


def test_attaching_to_an_encoder_that_already_has_the_code_returns_it():
    model = NIB(*_ib_mlp())
    assert attach_gaussian_code(model.encoder, 16, "shared") is model.encoder
    with pytest.raises(ValueError, match="scale='per_example'"):
        attach_gaussian_code(model.encoder, 16, "per_example")


def test_a_subclassed_encoder_is_refused():
    class Encoder(keras.Model):
        def call(self, x):
            return x

    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="functional encoder"):
        VIB(Encoder(), head)


@pytest.mark.parametrize("cls", [VIB, NIB])
def test_negative_lambda_and_unknown_h_are_refused(cls):
    with pytest.raises(ValueError, match="lam"):
        cls(*_ib_mlp(), lam=-0.1)
    with pytest.raises(ValueError, match="hfunc"):
        cls(*_ib_mlp(), hfunc="square")
    spec = ir.get_method(cls.__name__.lower())
    with pytest.raises(ValueError, match="`lam` must be >= 0"):
        spec.resolve({"lam": -1.0})
    with pytest.raises(ValueError, match="`hfunc` must be one of"):
        spec.resolve({"hfunc": "square"})


def test_registry_declarations():
    vib, nib = ir.get_method("vib"), ir.get_method("nib")
    assert vib.resolve() == {"lam": 0.01, "hfunc": "none", "hfunc_param": 1.0, "sample_at_inference": True}
    assert nib.resolve() == {"lam": 0.01, "hfunc": "none", "hfunc_param": 1.0, "sample_at_inference": True,
                             "bound": "jensen", "initial_log_stddev": 1.0}
    for spec in (vib, nib):
        assert spec.sensitive[0] == "none" and "multiclass" in spec.tasks
        assert not spec.model_class.requires_sensitive
    assert code_layer_of(_ib_mlp().encoder) is None
