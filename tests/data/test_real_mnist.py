"""Checks on the real MNIST test split, read from `../shared/data/mnist`."""

import pathlib

import numpy as np
import pytest

from invariant_reps.data import biased_mnist
from invariant_reps.data import sources

REPO_ROOT = pathlib.Path(__file__).parents[2]
MNIST_DIR = REPO_ROOT.parent / "shared" / "data" / "mnist"
# Class sizes of the official MNIST test split (t10k).
T10K_CLASS_SIZES = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

pytestmark = pytest.mark.skipif(
    not (MNIST_DIR / "t10k-images-idx3-ubyte.gz").is_file(),
    reason=f"real MNIST not found at {MNIST_DIR} (only on the dev machines)",
)


@pytest.fixture(scope="module")
def t10k():
    return sources.load_mnist("idx", "test", data_dir=str(MNIST_DIR))


def test_t10k_counts_and_labels(t10k):
    assert t10k.source == "idx"
    assert t10k.images.shape == (10_000, 28, 28)
    assert t10k.images.dtype == np.uint8
    assert set(np.unique(t10k.labels)) == set(range(10))
    counts = np.bincount(t10k.labels, minlength=10)
    assert counts.sum() == 10_000
    assert counts.tolist() == T10K_CLASS_SIZES
    assert t10k.images[:, 0, 0].max() == 0  # MNIST corners are background.


def test_t10k_split_into_8000_and_2000(t10k):
    (x_tr, y_tr), (x_te, y_te) = sources.split_arrays(
        t10k.images, t10k.labels, test_size=2000, seed=0
    )
    assert len(x_tr) == 8000 and len(x_te) == 2000
    np.testing.assert_allclose(
        np.bincount(y_te) / 2000, np.array(T10K_CLASS_SIZES) / 10_000, atol=1e-3
    )


def test_t10k_unbiased_colouring(t10k):
    unbiased = biased_mnist.build_biased_mnist(
        t10k.images, t10k.labels, 0.1, seed=1
    )
    for digit in range(10):
        colours = unbiased.colours[unbiased.digits == digit]
        np.testing.assert_allclose(
            np.bincount(colours, minlength=10) / len(colours), 0.1, atol=0.01
        )


def test_only_test_split_is_shared():
    with pytest.raises(FileNotFoundError, match="split_arrays"):
        sources.load_idx_mnist(str(MNIST_DIR), "train")
