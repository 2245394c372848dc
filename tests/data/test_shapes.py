"""The Shapes subset (dSprites scale 5, orientations 3 and 36) read block by block from a dSprites-like .npz."""

import numpy as np
import pytest

from invariant_reps.data import shapes

SMALL_FACTORS = (1, 3, 6, 40, 2, 2)  # dSprites' layout with 2 x 2 positions


def _fake_dsprites(path, factors=SMALL_FACTORS, size=3):
    """Images whose pixels encode their factor indices: [shape, scale, orientation, position, 1, 1, ...]."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in factors], indexing="ij"), -1).reshape(-1, len(factors))
    images = np.zeros((len(grid), size, size), np.uint8)
    images[:, 0, 0], images[:, 0, 1], images[:, 0, 2] = grid[:, 1], grid[:, 2], grid[:, 3]
    images[:, 1, 0] = grid[:, 4] * factors[5] + grid[:, 5]
    np.savez_compressed(path, imgs=images, latents_classes=grid)
    return images


def test_subset_keeps_scale_5_and_orientations_3_and_36_in_the_seed_order(tmp_path):
    path = tmp_path / shapes.DSPRITES_FILE
    _fake_dsprites(path)
    images, labels = shapes.load_shapes_subset(path, factor_sizes=SMALL_FACTORS)
    assert images.shape == (3 * 2 * 4, 3, 3, 1) and images.dtype == np.float32
    codes = images[..., 0]
    # Order: shape, then orientation (3 before 36), then the 4 positions.
    expected_shape = np.repeat([0, 1, 2], 8)
    expected_orientation = np.tile(np.repeat([3, 36], 4), 3)
    np.testing.assert_array_equal(codes[:, 0, 0], expected_shape)
    np.testing.assert_array_equal(codes[:, 0, 1], 5)
    np.testing.assert_array_equal(codes[:, 0, 2], expected_orientation)
    np.testing.assert_array_equal(codes[:, 1, 0], np.tile(np.arange(4), 6))
    np.testing.assert_array_equal(labels, expected_shape)


def test_a_file_of_another_layout_or_a_missing_file_is_a_clear_error(tmp_path):
    path = tmp_path / shapes.DSPRITES_FILE
    np.savez_compressed(path, imgs=np.zeros((10, 3, 3), np.uint8))
    with pytest.raises(ValueError, match="expected \\[2880, H, W\\]"):
        shapes.load_shapes_subset(path, factor_sizes=SMALL_FACTORS)
    with pytest.raises(FileNotFoundError, match="cannot be generated"):
        shapes.build_shapes_data(data_dir=str(tmp_path / "missing"))
