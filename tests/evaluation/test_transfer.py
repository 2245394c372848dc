"""Tests of invariant_reps/evaluation/transfer.py (the linear probe, the per-epoch curve)
and of invariant_reps/data/transfer_tasks.py (the source/target tasks)."""

import os

import keras
import numpy as np
import pytest

from invariant_reps.data.transfer_tasks import load_transfer_task
from invariant_reps.data.transfer_tasks import split_by_digit
from invariant_reps.evaluation.transfer import TransferPoint
from invariant_reps.evaluation.transfer import encode
from invariant_reps.evaluation.transfer import linear_probe
from invariant_reps.evaluation.transfer import source_accuracy
from invariant_reps.evaluation.transfer import transfer_curve
from invariant_reps.models import Vanilla
from invariant_reps.networks import build_network


def _identity(x):
    return x


def _blobs(num_per_class, num_classes=3, dim=4, spread=0.3, seed=0):
    """Gaussian blobs around far-apart centres: linearly separable classes."""
    rng = np.random.default_rng(seed)
    centres = 3.0 * np.eye(num_classes, dim)
    y = np.repeat(np.arange(num_classes), num_per_class)
    x = centres[y] + spread * rng.normal(size=(len(y), dim))
    return x.astype("float32"), y


def test_probe_on_separable_features_is_accurate():
    train, test = _blobs(100, seed=0), _blobs(50, seed=1)
    assert linear_probe(_identity, train, test) > 0.97


def test_probe_on_features_unrelated_to_labels_is_at_chance():
    rng = np.random.default_rng(0)
    train = (rng.normal(size=(600, 4)).astype("float32"), rng.integers(0, 3, 600))
    test = (rng.normal(size=(900, 4)).astype("float32"), rng.integers(0, 3, 900))
    # Chance is 1/3; the binomial std over 900 examples is 0.016.
    assert abs(linear_probe(_identity, train, test) - 1 / 3) < 0.06


def test_probe_is_deterministic():
    train, test = _blobs(30, spread=2.0, seed=0), _blobs(30, spread=2.0, seed=1)
    assert linear_probe(_identity, train, test) == linear_probe(_identity, train, test)


def test_encode_flattens_keras_and_callable_outputs():
    x = np.arange(24, dtype="float32").reshape(3, 2, 4)
    flatten = keras.Sequential([keras.Input((2, 4)), keras.layers.Flatten()])
    np.testing.assert_array_equal(encode(flatten, x), x.reshape(3, 8))
    np.testing.assert_array_equal(encode(_identity, x, batch_size=2), x.reshape(3, 8))


def test_source_accuracy_counts_argmax_hits():
    # A "model" whose logits are its inputs: rows 0 and 2 predict class 1.
    logits = np.array([[0.0, 1.0], [1.0, 0.0], [0.2, 0.9]], "float32")
    model = keras.Sequential([keras.Input((2,)), keras.layers.Identity()])
    assert source_accuracy(model, (logits, np.array([1, 1, 1]))) == pytest.approx(2 / 3)


def _trained_model(train, epochs):
    keras.utils.set_random_seed(0)
    network = build_network("mlp", (4,), 3, hidden_units=(8,))
    model = Vanilla(network.encoder, network.head)
    model.compile(optimizer=keras.optimizers.Adam(0.05))
    if epochs:
        model.fit(*train, epochs=epochs, verbose=0)
    return model


def test_transfer_curve_from_models_and_saved_checkpoints(tmp_path):
    source_train, source_test = _blobs(40, seed=0), _blobs(20, seed=1)
    target_train, target_test = _blobs(40, seed=2), _blobs(20, seed=3)
    untrained, trained = _trained_model(source_train, 0), _trained_model(source_train, 20)
    path = str(tmp_path / "epoch_0020.keras")
    trained.save(path)
    curve = transfer_curve(
        [(0, untrained), (20, path)], source_test, target_train, target_test
    )
    assert [point.epoch for point in curve] == [0, 20]
    assert all(isinstance(point, TransferPoint) for point in curve)
    assert curve[1].source_accuracy > 0.95 > curve[0].source_accuracy
    assert curve[1].target_probe_accuracy > 0.9
    assert set(curve[0].as_row()) == {"epoch", "source_acc", "target_probe_acc"}


def test_bad_probe_inputs_are_rejected():
    train, test = _blobs(10), _blobs(5)
    with pytest.raises(ValueError, match="integer class ids"):
        linear_probe(_identity, (train[0], train[1].astype("float32")), test)
    with pytest.raises(ValueError, match="at least two classes"):
        linear_probe(_identity, (train[0], np.zeros_like(train[1])), test)
    with pytest.raises(ValueError, match="regularization"):
        linear_probe(_identity, train, test, regularization=0.0)
    with pytest.raises(ValueError, match="NaN"):
        linear_probe(lambda x: x * np.nan, train, test)
    with pytest.raises(ValueError, match="no `encoder`"):
        transfer_curve([(1, keras.Sequential([keras.Input((4,))]))], test, train, test)


# ------------------------------------------------------- the transfer tasks
# (invariant_reps/data/transfer_tasks.py; tested here, next to the probe they feed.)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MNIST_DIR = os.path.join(REPO_ROOT, "..", "shared", "data", "mnist")


def test_split_by_digit_relabels_both_halves():
    images = np.arange(10)[:, None] * np.ones((10, 3))
    (source_x, source_y), (target_x, target_y) = split_by_digit(images, np.arange(10)[::-1])
    np.testing.assert_array_equal(source_y, [4, 3, 2, 1, 0])
    np.testing.assert_array_equal(target_y, [4, 3, 2, 1, 0])  # digits 9..5
    np.testing.assert_array_equal(source_x[:, 0], [5, 6, 7, 8, 9])  # order kept
    with pytest.raises(ValueError, match="0..9"):
        split_by_digit(images, np.arange(10) + 1)


def test_embedded_digits_task():
    task = load_transfer_task("digits_transfer", source="digits")
    assert task.input_shape == (28, 28, 1) and task.data_source == "digits"
    assert task.num_source_classes == task.num_target_classes == 5
    # All 1,797 embedded digits, each in exactly one of the four arrays.
    parts = (task.source_train, task.source_test, task.target_train, task.target_test)
    assert sum(len(y) for _, y in parts) == 1797
    for x, y in parts:
        assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0
        assert set(np.unique(y)) == {0, 1, 2, 3, 4}


@pytest.mark.skipif(not os.path.isdir(MNIST_DIR), reason="shared MNIST (../shared/data/mnist) is absent")
def test_idx_task_splits_the_t10k_files_8000_2000():
    task = load_transfer_task("digits_transfer", source="idx", data_dir=MNIST_DIR)
    assert len(task.source_train[1]) + len(task.target_train[1]) == 8000
    assert len(task.source_test[1]) + len(task.target_test[1]) == 2000


def test_unknown_task_or_source_is_rejected():
    with pytest.raises(ValueError, match="Unknown transfer task 'cinic10'"):
        load_transfer_task("cinic10")
    with pytest.raises(ValueError, match="Unknown MNIST source 'emnist'"):
        load_transfer_task("digits_transfer", source="emnist")
