"""Disentangling pictures: the grid's layout by hand, PNG and TensorBoard output, auto-attachment in fit."""

import glob
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.callbacks import disentangling
from invariant_reps.models.disenib import DisenIB
from tests.models import method_harness as harness


def test_grid_layout_by_hand():
    # Two 1x1 "images" with values -1 and 1 in the [-1, 1] scale; reconstructions Rec(i, j) = (i, j) coded.
    images = np.array([[-1.0], [1.0]])
    reconstructions = np.array([[[-1.0], [0.0]], [[0.5], [1.0]]])
    grid = disentangling.disentangling_grid(images, reconstructions, (-1.0, 1.0), image_shape=(1, 1, 1), gap=1)
    expected = np.array([
        [0.0, 1.0, 0.0, 1.0],     # blank corner | gap | x_0 x_1 (label sources)
        [1.0, 1.0, 1.0, 1.0],     # gap row
        [0.0, 1.0, 0.0, 0.5],     # x_0 | gap | Rec(0, 0) Rec(0, 1)
        [1.0, 1.0, 0.75, 1.0],    # x_1 | gap | Rec(1, 0) Rec(1, 1)
    ])
    np.testing.assert_allclose(grid[..., 0], expected)


def test_flat_inputs_are_drawn_as_square_images_and_bad_shapes_are_rejected():
    assert disentangling.infer_image_shape((784,)) == (28, 28, 1)
    assert disentangling.infer_image_shape((6,)) == (1, 6, 1)
    with pytest.raises(ValueError, match="must be \\[n, n, ...\\] for n = 2"):
        disentangling.disentangling_grid(np.zeros((2, 4)), np.zeros((2, 3, 4)))


def _model():
    keras.utils.set_random_seed(0)
    encoder, head = harness.networks(16, 3, 0)
    model = DisenIB(encoder, head, num_samples=1, estimator_units=8, reconstructor_units=8, main_iterations=2,
                    estimator_iterations=1, picture_every_steps=2)
    model.compile(optimizer="adam")
    return model


def test_fit_with_tensorboard_writes_pngs_and_image_summaries(tmp_path):
    rng = np.random.default_rng(0)
    x, y = rng.uniform(-1, 1, size=(24, 16)).astype("float32"), rng.integers(0, 3, 24)
    board = keras.callbacks.TensorBoard(str(tmp_path / "tensorboard"), write_graph=False)
    _model().fit(x, y, batch_size=4, epochs=1, verbose=0, callbacks=[board])
    # 6 batches, a picture every 2 seed steps of 2 batches: iterations 4 and the end (6).
    pngs = sorted(os.path.basename(p) for p in glob.glob(str(tmp_path / "disentangling" / "*.png")))
    assert pngs == ["iteration_0000004.png", "iteration_0000006.png"]
    events = glob.glob(str(tmp_path / "tensorboard" / "disentangling" / "events.out.tfevents.*"))
    tags = {(v.tag, e.step) for path in events for e in tf.compat.v1.train.summary_iterator(path)
            for v in e.summary.value}
    assert tags == {("disentangling", 4), ("disentangling", 6)}


def test_example_images_prefer_one_example_per_label():
    x = np.arange(12, dtype="float32").reshape(6, 2)
    images, labels = disentangling.example_images({"inputs": x}, np.array([0, 0, 0, 1, 2, 2]), count=4)
    assert labels.tolist() == [0, 0, 1, 2] and images[2].tolist() == [6.0, 7.0]
