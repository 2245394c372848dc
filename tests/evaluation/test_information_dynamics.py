"""Tests of invariant_reps/evaluation/information_dynamics.py on tiny checkpoints."""

import math
import os

import keras
import numpy as np
import pytest

from invariant_reps.evaluation import information_dynamics as dynamics
from invariant_reps.models import Vanilla
from invariant_reps.networks import build_network

NUM_FEATURES = 5


def _data(num_examples=200, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, num_examples)
    x = rng.normal(size=(num_examples, NUM_FEATURES)).astype("float32")
    x[:, 0] += 2.0 * y  # the label is readable from feature 0
    return x, y


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory with two checkpoints of a tiny mlp (epochs 1 and 2)."""
    folder = tmp_path_factory.mktemp("run")
    os.makedirs(folder / "checkpoints")
    keras.utils.set_random_seed(0)
    network = build_network("mlp", (NUM_FEATURES,), 3, hidden_units=(8, 4))
    model = Vanilla(network.encoder, network.head)
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    x, y = _data()
    for epoch in (1, 2):
        model.fit(x, y, epochs=1, verbose=0)
        model.save(str(folder / "checkpoints" / f"epoch_{epoch:04d}.keras"))
    (folder / "checkpoints" / "notes.txt").write_text("not a checkpoint")
    return str(folder)


def test_list_checkpoints_orders_epochs_and_skips_other_files(run_dir):
    checkpoints = dynamics.list_checkpoints(run_dir)
    assert [epoch for epoch, _ in checkpoints] == [1, 2]
    assert checkpoints == dynamics.list_checkpoints(os.path.join(run_dir, "checkpoints"))


def test_list_checkpoints_without_any_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="No checkpoints"):
        dynamics.list_checkpoints(str(tmp_path))


def test_information_dynamics_rows_and_plots(run_dir, tmp_path):
    x, y = _data(seed=1)
    points = dynamics.information_dynamics(
        dynamics.list_checkpoints(run_dir), x, y, max_steps=30, max_samples=150, learning_rate=1e-3
    )
    assert [point.epoch for point in points] == [1, 2]
    for point in points:
        assert math.isfinite(point.i_xt) and math.isfinite(point.i_ty)
        assert point.xt_estimate.method == "smile" and point.xt_estimate.num_samples == 150
        # 30 steps cannot reach a plateau, and the point says so.
        assert any("max_steps=30" in message for message in point.warnings)
    rows = [point.as_row() for point in points]
    plane, curves = str(tmp_path / "plane.png"), str(tmp_path / "curves.png")
    dynamics.plot_information_plane(rows, plane)
    dynamics.plot_over_epochs(
        {"a": [dict(row, source_acc=0.5, target_probe_acc=0.4) for row in rows]}, curves
    )
    for path in (plane, curves):
        with open(path, "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    dynamics.write_tensorboard(rows, str(tmp_path / "tb"))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))


def test_same_seed_uses_the_same_subset(run_dir):
    x, y = _data(seed=2)
    model = dynamics.load_checkpoint(dynamics.list_checkpoints(run_dir)[-1][1])
    first = dynamics.information_point(model, x, y, epoch=2, method="gaussian", max_samples=120)
    again = dynamics.information_point(model, x, y, epoch=2, method="gaussian", max_samples=120)
    other = dynamics.information_point(
        model, x, y, epoch=2, method="gaussian", max_samples=120, seed=5
    )
    assert (first.i_xt, first.i_ty) == (again.i_xt, again.i_ty)
    assert first.i_xt != other.i_xt


def test_representation_at_a_named_layer(run_dir):
    model = dynamics.load_checkpoint(dynamics.list_checkpoints(run_dir)[0][1])
    assert dynamics.representation_model(model) is model.encoder
    hidden = [layer.name for layer in model.encoder.layers if isinstance(layer, keras.layers.Dense)][0]
    first_layer = dynamics.representation_model(model, layer=hidden)
    assert first_layer.output.shape[-1] == 8
    with pytest.raises(ValueError, match="Unknown layer 'nope'.*bottleneck"):
        dynamics.representation_model(model, layer="nope")


def test_bad_labels_are_rejected(run_dir):
    model = dynamics.load_checkpoint(dynamics.list_checkpoints(run_dir)[0][1])
    x, y = _data()
    with pytest.raises(ValueError, match="integer labels"):
        dynamics.information_point(model, x, y.astype("float32"), epoch=1, method="gaussian")
    with pytest.raises(ValueError, match="differ in length"):
        dynamics.information_point(model, x, y[:-1], epoch=1, method="gaussian")
