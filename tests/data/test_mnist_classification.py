"""The `mnist` dataset: pixel scaling, shapes, the held-out validation split, sources."""

import pathlib

import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.data import sources
from invariant_reps.data.mnist_classification import build_mnist_data, normalize_pixels, validation_indices

MNIST_DIR = pathlib.Path(__file__).parents[2].parent / "shared" / "data" / "mnist"


def test_pixels_map_to_minus_one_one_as_normalize_half_half_or_to_zero_one():
    images = np.array([[[0, 51, 255]]], np.uint8)
    np.testing.assert_allclose(normalize_pixels(images), [[-1.0, -0.6, 1.0]], rtol=1e-6)
    np.testing.assert_allclose(normalize_pixels(images, "zero_one"), [[0.0, 0.2, 1.0]], rtol=1e-6)
    assert normalize_pixels(np.zeros((2, 28, 28), np.uint8), flatten=False).shape == (2, 28, 28, 1)
    with pytest.raises(ValueError, match="pixel_range"):
        normalize_pixels(images, "zero_255")


def test_digits_build_holds_out_ten_percent_of_train_for_validation():
    data = ir.get_dataset("mnist").build({}, source="digits", seed=3)
    images, labels = sources.load_mnist("digits", "train").images, sources.load_mnist("digits", "train").labels
    held_out = validation_indices(len(labels), 0.1, 3)
    assert len(held_out) == 144 and len(data.validation) == 144 and len(data.train) == len(labels) - 144
    x, y, s = data.train.arrays()
    keep = np.setdiff1d(np.arange(len(labels)), held_out)
    np.testing.assert_array_equal(x, normalize_pixels(images[keep]))
    np.testing.assert_array_equal(y, labels[keep])
    np.testing.assert_array_equal(data.validation.arrays()[1], labels[held_out])
    assert not s.any() and data.sensitive_kind == "none" and data.leakage_splits is None
    assert data.input_shape == (784,) and data.num_classes == 10 and list(data.tests) == ["test"]
    assert len(data.tests["test"]) == 360 and data.source == "digits"
    assert x.min() == -1.0 and x.max() == 1.0


def test_conv_layout_without_validation_and_subsampling():
    data = build_mnist_data(flatten=False, pixel_range="zero_one", source="digits", validation_fraction=0.0,
                            max_train_examples=100, max_test_examples=50)
    x = data.train.arrays()[0]
    assert data.validation is None and x.shape == (100, 28, 28, 1) and data.input_shape == (28, 28, 1)
    assert 0.0 == x.min() and x.max() == 1.0 and len(data.tests["test"]) == 50


@pytest.mark.parametrize("fraction", [-0.1, 1.0])
def test_bad_validation_fraction_raises(fraction):
    with pytest.raises(ValueError, match="validation_fraction"):
        build_mnist_data(source="digits", validation_fraction=fraction)


def test_registry_declaration():
    spec = ir.get_dataset("mnist")
    assert (spec.task, spec.sensitive, spec.metrics, list(spec.evaluation_sets)) == (
        "multiclass", "none", ("accuracy",), ["test"])
    assert {h.name: h.default for h in spec.hyperparameters} == {"flatten": True, "pixel_range": "minus_one_one"}
    assert set(spec.accepted_options()) == {"seed", "source", "data_dir", "max_train_examples",
                                            "max_test_examples", "validation_fraction", "test_size"}


@pytest.mark.skipif(not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(), reason=f"no real MNIST at {MNIST_DIR}")
def test_idx_source_with_only_the_test_split_is_divided():
    data = build_mnist_data(source="idx", data_dir=str(MNIST_DIR), test_size=0.2)
    assert (len(data.train), len(data.validation), len(data.tests["test"])) == (7200, 800, 2000)
    assert data.source == "idx"
