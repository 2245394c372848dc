import gzip
import logging
import os
import struct
import time

import numpy as np
import pytest

from invariant_reps.data import sources

# TEST-NET-1 (RFC 5737): reserved for documentation, never routable.
_UNREACHABLE_HOST = ("192.0.2.1", 443)


def _write_idx(path, magic, array):
    header = struct.pack(">I", magic) + b"".join(
        struct.pack(">I", size) for size in array.shape
    )
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as file:
        file.write(header + array.astype(np.uint8).tobytes())


def _tiny_mnist(directory, prefix, suffix, num=3):
    images = np.arange(num * 4 * 5, dtype=np.uint8).reshape(num, 4, 5)
    labels = np.arange(num, dtype=np.uint8) % 10
    _write_idx(
        os.path.join(directory, f"{prefix}-images-idx3-ubyte{suffix}"),
        2051,
        images,
    )
    _write_idx(
        os.path.join(directory, f"{prefix}-labels-idx1-ubyte{suffix}"),
        2049,
        labels,
    )
    return images, labels


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize(
    "split, prefix", [("train", "train"), ("test", "t10k")]
)
def test_idx_round_trip(tmp_path, suffix, split, prefix):
    images, labels = _tiny_mnist(str(tmp_path), prefix, suffix)
    read_images, read_labels = sources.load_idx_mnist(str(tmp_path), split)
    assert read_images.dtype == np.uint8 and read_labels.dtype == np.int64
    np.testing.assert_array_equal(read_images, images)
    np.testing.assert_array_equal(read_labels, labels)


def test_load_mnist_idx_reports_source(tmp_path):
    _tiny_mnist(str(tmp_path), "t10k", ".gz")
    loaded = sources.load_mnist("idx", "test", data_dir=str(tmp_path))
    assert loaded.source == "idx"
    assert len(loaded) == 3


def test_idx_bad_magic_raises(tmp_path):
    _tiny_mnist(str(tmp_path), "t10k", "")
    _write_idx(
        str(tmp_path / "t10k-images-idx3-ubyte"), 2049, np.zeros((3, 4, 5))
    )
    with pytest.raises(ValueError, match="Bad magic number 2049.*2051"):
        sources.load_idx_mnist(str(tmp_path), "test")


def test_idx_truncated_file_raises(tmp_path):
    _tiny_mnist(str(tmp_path), "t10k", "")
    path = tmp_path / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(ValueError, match="holds 59 values.*needs 60"):
        sources.load_idx_mnist(str(tmp_path), "test")


def test_idx_count_mismatch_raises(tmp_path):
    _tiny_mnist(str(tmp_path), "t10k", "")
    _write_idx(
        str(tmp_path / "t10k-labels-idx1-ubyte"), 2049, np.zeros(2)
    )
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        sources.load_idx_mnist(str(tmp_path), "test")


def test_idx_missing_file_names_it(tmp_path):
    _tiny_mnist(str(tmp_path), "t10k", ".gz")
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        sources.load_idx_mnist(str(tmp_path), "train")


def test_idx_source_needs_data_dir():
    with pytest.raises(ValueError, match="needs `data_dir`"):
        sources.load_mnist("idx", "test")


def test_unknown_source_lists_valid_ones():
    with pytest.raises(ValueError, match="'auto', 'tfds', 'idx', 'digits'"):
        sources.load_mnist("kaggle", "train")


def test_unknown_split_raises():
    with pytest.raises(ValueError, match="Unknown split 'valid'"):
        sources.load_sklearn_digits("valid")


def test_sklearn_digits_look_like_mnist():
    train_images, train_labels = sources.load_sklearn_digits("train")
    test_images, test_labels = sources.load_sklearn_digits("test")
    assert train_images.shape == (1437, 28, 28)
    assert test_images.shape == (360, 28, 28)
    assert train_images.dtype == np.uint8 and train_labels.dtype == np.int64
    assert set(np.unique(train_labels)) == set(range(10))
    # Stratified: every digit is ~20% test (digits have 174..183 per class).
    test_counts = np.bincount(test_labels, minlength=10)
    assert test_counts.min() >= 34 and test_counts.max() <= 38
    # 4-pixel empty border, digit inside, faint pixels zeroed.
    border = np.ones((28, 28), bool)
    border[4:24, 4:24] = False
    assert not train_images[:, border].any()
    ink = train_images[train_images != 0]
    assert ink.min() >= 96
    assert 0.15 < np.mean(train_images != 0) < 0.25


def test_sklearn_digits_split_is_deterministic():
    first, _ = sources.load_sklearn_digits("test", seed=0)
    again, _ = sources.load_sklearn_digits("test", seed=0)
    other, _ = sources.load_sklearn_digits("test", seed=1)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_split_arrays_by_count_and_fraction():
    images = np.arange(100)
    labels = np.arange(100) % 10
    (x_tr, y_tr), (x_te, y_te) = sources.split_arrays(
        images, labels, test_size=20, seed=3
    )
    assert len(x_tr) == 80 and len(x_te) == 20
    np.testing.assert_array_equal(np.bincount(y_te), [2] * 10)
    assert sorted(np.concatenate([x_tr, x_te]).tolist()) == list(range(100))
    (_, _), (x_te_frac, _) = sources.split_arrays(
        images, labels, test_size=0.2, seed=3
    )
    np.testing.assert_array_equal(x_te_frac, x_te)


@pytest.mark.parametrize("test_size", [0, 100, 1.0, 0.0, "0.2", None])
def test_split_arrays_rejects_bad_test_size(test_size):
    with pytest.raises(ValueError, match="test_size"):
        sources.split_arrays(
            np.arange(100), np.arange(100) % 10, test_size=test_size
        )


def test_split_arrays_rejects_length_mismatch():
    with pytest.raises(ValueError, match="100 vs 99"):
        sources.split_arrays(np.arange(100), np.arange(99))


def test_auto_falls_back_to_digits_within_seconds(
    tmp_path, monkeypatch, caplog
):
    # An empty tfds data_dir and an unroutable host: the probe must give up
    # after its timeout rather than hang.
    monkeypatch.setattr(sources, "TFDS_MNIST_HOST", _UNREACHABLE_HOST)
    start = time.monotonic()
    with caplog.at_level(logging.WARNING):
        loaded = sources.load_mnist("auto", "test", data_dir=str(tmp_path))
    elapsed = time.monotonic() - start
    assert elapsed < sources.NETWORK_PROBE_TIMEOUT_S + 3.0
    assert loaded.source == "digits"
    assert loaded.images.shape == (360, 28, 28)
    assert "using the embedded scikit-learn digits" in caplog.text


def test_auto_offline_here_with_default_host(tmp_path):
    if sources.host_reachable(*sources.TFDS_MNIST_HOST):
        pytest.skip("tfds host reachable: offline fallback not exercised here")
    start = time.monotonic()
    loaded = sources.load_mnist("auto", "train", data_dir=str(tmp_path))
    assert time.monotonic() - start < 5.0
    assert loaded.source == "digits"


def test_host_probe_is_bounded():
    start = time.monotonic()
    assert not sources.host_reachable(*_UNREACHABLE_HOST, timeout=0.5)
    assert time.monotonic() - start < 1.5


def test_tfds_not_prepared_in_empty_dir(tmp_path):
    assert not sources.tfds_mnist_prepared(str(tmp_path))
