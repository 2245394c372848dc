"""`dense_bn`: the seed's Dense -> ELU -> BatchNorm(renorm) classifier."""

import keras
import numpy as np
import pytest

from invariant_reps.networks import build_network
from invariant_reps.networks.dense_bn import SEED_HIDDEN_UNITS, dense_bn, renorm_supported


def test_default_is_the_seeds_five_blocks_of_512_with_batch_renormalisation():
    assert renorm_supported()  # Keras 3.15 has it, so the seed's layer is reproduced
    encoder, head = build_network("dense_bn", (16,), 1)
    dense = [layer for layer in encoder.layers if isinstance(layer, keras.layers.Dense)]
    norms = [layer for layer in encoder.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert [layer.units for layer in dense] == list(SEED_HIDDEN_UNITS)
    assert all(layer.activation is keras.activations.elu for layer in dense)
    assert all(isinstance(layer.kernel_initializer, keras.initializers.GlorotUniform) for layer in dense)
    assert len(norms) == 5 and all(n.renorm and n.momentum == 0.99 and n.epsilon == 1e-3 for n in norms)
    assert all(n.renorm_momentum == 0.99 and not n.renorm_clipping for n in norms)
    # Dense -> BN alternate; z is the last BN's output; the head is one Dense to the logit.
    kinds = [type(layer).__name__ for layer in encoder.layers[2:]]
    assert kinds == ["Dense", "BatchNormalization"] * 5
    assert encoder.get_layer("bottleneck") is norms[-1] and encoder.output.shape == (None, 512)
    assert head.output.shape == (None, 1)
    # BN with renorm: gamma, beta, moving mean, variance and stddev, renorm mean and stddev per unit.
    assert encoder.count_params() == 16 * 512 + 512 + 4 * (512 * 512 + 512) + 5 * 7 * 512


def test_renorm_without_clipping_matches_inference_at_initialisation():
    # With moving statistics (0, 1) and unclipped r = sigma_B, d = mu_B, the renormalised training output is
    # (x - 0) / 1 = the inference output; plain BN would standardise the batch instead.
    encoder, _ = dense_bn((3,), 1, hidden_units=(4,))
    x = np.random.default_rng(0).normal(2.0, 3.0, size=(64, 3)).astype("float32")
    inference = encoder(x, training=False).numpy()  # first: a training call moves the statistics
    training = encoder(x, training=True).numpy()
    np.testing.assert_allclose(training, inference, rtol=1e-3)  # inference divides by sqrt(1 + eps)
    plain, _ = dense_bn((3,), 1, hidden_units=(4,), renorm=False)
    plain.set_weights(encoder.get_weights()[:2] + encoder.get_weights()[2:6])
    standardised = plain(x, training=True).numpy()
    np.testing.assert_allclose(standardised.std(axis=0), 1.0, atol=0.01)


def test_hidden_units_and_no_batch_norm():
    encoder, head = dense_bn((8,), 3, hidden_units=(16, 4), batch_norm=False, activation="relu")
    assert [type(layer).__name__ for layer in encoder.layers[2:]] == ["Dense", "Dense"]
    assert encoder.get_layer("bottleneck").units == 4
    assert head(encoder(np.zeros((2, 8), "float32"))).shape == (2, 3)


@pytest.mark.parametrize("hidden_units", [(), (0,), "512", (8, -1)])
def test_bad_hidden_units_are_refused(hidden_units):
    with pytest.raises(ValueError, match="`hidden_units` must be a non-empty sequence of positive ints"):
        dense_bn((4,), 1, hidden_units=hidden_units)
