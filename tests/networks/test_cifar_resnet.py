import keras
import numpy as np
import pytest

from invariant_reps.layers import L2Normalize
from invariant_reps.networks import build_network
from invariant_reps.networks import cifar_resnet


def test_resnet20_parameter_count():
    encoder, head = cifar_resnet((32, 32, 3), 10, depth=20)
    # Trainable weights: convs + BN (gamma, beta) + projection shortcuts.
    stem = 3 * 3 * 3 * 16 + 2 * 16
    stage1 = 3 * (2 * (9 * 16 * 16 + 2 * 16))
    stage2 = (
        (9 * 16 * 32 + 9 * 32 * 32 + 4 * 32)  # First block.
        + (16 * 32 + 2 * 32)  # 1x1 projection shortcut.
        + 2 * (2 * (9 * 32 * 32 + 2 * 32))
    )
    stage3 = (
        (9 * 32 * 64 + 9 * 64 * 64 + 4 * 64)
        + (32 * 64 + 2 * 64)
        + 2 * (2 * (9 * 64 * 64 + 2 * 64))
    )
    expected = stem + stage1 + stage2 + stage3 + 64 * 10 + 10
    trainable = sum(
        int(np.prod(w.shape))
        for w in encoder.trainable_weights + head.trainable_weights
    )
    assert trainable == expected == 272474  # ~0.27M, He et al. Table 6.
    assert encoder.output.shape == (None, 64)


def test_depth_sets_blocks_per_stage():
    encoder, _ = cifar_resnet((8, 8, 3), 2, depth=14, width=0.25)
    adds = [
        layer
        for layer in encoder.layers
        if isinstance(layer, keras.layers.Add)
    ]
    assert len(adds) == 3 * 2
    assert encoder.get_layer("stage3_block1_1_conv").strides == (2, 2)
    assert encoder.get_layer("stage2_block2_1_conv").strides == (1, 1)


def test_forward_shapes_and_downsampling():
    encoder, head = build_network(
        "cifar_resnet", (8, 8, 3), 5, depth=8, width=0.25
    )
    assert encoder.get_layer("stage3_block1_out").output.shape == (
        None, 2, 2, 16,
    )
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 3)).astype("float32")
    z = encoder(x)
    assert z.shape == (2, 16)
    assert head(z).shape == (2, 5)


def test_normalized_bottleneck_has_unit_norm():
    encoder, _ = cifar_resnet(
        (8, 8, 3), 2, depth=8, width=0.25, normalize_bottleneck=True
    )
    assert isinstance(encoder.get_layer("bottleneck"), L2Normalize)
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 3)).astype("float32")
    np.testing.assert_allclose(
        np.linalg.norm(encoder(x), axis=-1), np.ones(3), rtol=1e-5
    )


@pytest.mark.parametrize("depth", [21, 2, 0, 19.0, "20"])
def test_rejects_bad_depth(depth):
    with pytest.raises(ValueError, match="depth"):
        cifar_resnet((32, 32, 3), 10, depth=depth)


def test_rejects_bad_width():
    with pytest.raises(ValueError, match="width"):
        cifar_resnet((32, 32, 3), 10, width=0.0)
