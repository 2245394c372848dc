"""Tests of invariant_reps/evaluation/information_dynamics.py on tiny checkpoints."""

import math
import os

import keras
import numpy as np
import pytest

from invariant_reps.estimators import estimate_mi
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


def _fixed_encoder(kernel, bias):
    """A linear encoder `T = x @ kernel + bias` with fixed weights."""
    layer = keras.layers.Dense(
        kernel.shape[1], kernel_initializer=keras.initializers.Constant(kernel),
        bias_initializer=keras.initializers.Constant(bias),
    )
    return keras.Sequential([keras.Input((kernel.shape[0],)), layer])


def _label_coded_data(num_examples=240, seed=0):
    """x = [one-hot(y), 2 noise features], y uniform over 3 classes; returns x, y and H(Y) of the sample."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, num_examples)
    x = np.concatenate([np.eye(3)[y], rng.normal(size=(num_examples, 2))], axis=1).astype("float32")
    frequencies = np.bincount(y) / num_examples
    return x, y, float(-np.sum(frequencies * np.log(frequencies)))


HELD_OUT_FAST = dict(max_steps=300, learning_rate=3e-3)
DT_FAST = dynamics.dt_tradeoff_mine.DtTradeoffSettings(
    xt_steps=200, ty_steps=200, xt_learning_rate=3e-3, ty_learning_rate=3e-3, batch_size=128, hidden_units=32,
    readout_window=50,
)


def test_label_copy_representation_holds_h_y_under_both_protocols():
    """T = one-hot(y), read off x: T is discrete and a function of X, so I(X;T) = I(T;Y) = H(Y) exactly."""
    x, y, entropy = _label_coded_data()
    kernel = np.zeros((5, 3), "float32")
    kernel[:3] = np.eye(3)
    encoder = _fixed_encoder(kernel, np.zeros(3, "float32"))
    held_out = dynamics.information_point(encoder, x, y, epoch=1, **HELD_OUT_FAST)
    seed = dynamics.information_point(encoder, x, y, epoch=1, protocol="dt_tradeoff", dt_settings=DT_FAST)
    assert entropy == pytest.approx(math.log(3), abs=0.01)
    # SMILE (clip 5) tops out near log 3 - log(1 + 2 e^-5) = H - 0.013; MINE reaches H.
    for value in (held_out.i_xt, held_out.i_ty):
        assert entropy - 0.1 < value < entropy + 0.05  # held-out batches of 48 pairs: sampling noise
    for value in (seed.i_xt, seed.i_ty):
        assert value == pytest.approx(entropy, abs=0.05)
    assert held_out.as_row() == {"epoch": 1, "I_XT": held_out.i_xt, "I_TY": held_out.i_ty}
    assert seed.as_row() == {"epoch": 1, "I_XT_dt_tradeoff": seed.i_xt, "I_TY_dt_tradeoff": seed.i_ty}
    # The seed protocol uses every example and its full per-iteration curve.
    assert seed.xt_estimate.values.size == 200 and seed.ty_estimate.batch_size == 128


def test_constant_representation_holds_no_information_under_both_protocols():
    x, y, _ = _label_coded_data()
    encoder = _fixed_encoder(np.zeros((5, 2), "float32"), np.ones(2, "float32"))
    for point in (
        dynamics.information_point(encoder, x, y, epoch=1, **HELD_OUT_FAST),
        dynamics.information_point(encoder, x, y, epoch=1, protocol="dt_tradeoff", dt_settings=DT_FAST),
    ):
        assert abs(point.i_xt) < 0.02 and abs(point.i_ty) < 0.02


def test_information_dynamics_rows_over_checkpoints(run_dir):
    x, y = _data(seed=1)
    checkpoints = dynamics.list_checkpoints(run_dir)
    points = dynamics.information_dynamics(checkpoints, x, y, method="gaussian", max_samples=150)
    assert [point.epoch for point in points] == [1, 2]
    # Each point is the estimator's value on the seeded subset's representation at that checkpoint.
    keep = np.sort(np.random.default_rng(0).choice(len(x), 150, replace=False))
    for point, (_, path) in zip(points, checkpoints):
        t = dynamics.load_checkpoint(path).encoder.predict(x[keep], verbose=0)
        one_hot = np.eye(3)[y[keep]]
        assert point.i_xt == pytest.approx(estimate_mi(x[keep], t, method="gaussian", seed=0).mi_nats, rel=1e-5)
        assert point.i_ty == pytest.approx(estimate_mi(t, one_hot, method="gaussian", seed=0).mi_nats, rel=1e-5)
    # A neural estimate that ran out of steps says so.
    short = dynamics.information_point(
        dynamics.load_checkpoint(checkpoints[0][1]), x, y, epoch=1, max_steps=30, max_samples=150
    )
    assert short.xt_estimate.method == "smile" and short.xt_estimate.num_samples == 150
    assert short.xt_estimate.preprocessing == "copula"
    assert any("max_steps=30" in message for message in short.warnings)


def test_plots_show_both_protocols_side_by_side(tmp_path):
    rows = [
        {"epoch": epoch, "I_XT": 1.0 + epoch, "I_TY": 0.5, "I_XT_dt_tradeoff": 2.0 + epoch, "I_TY_dt_tradeoff": 0.6}
        for epoch in (1, 2, 3)
    ]
    plane, curves = str(tmp_path / "plane.png"), str(tmp_path / "curves.png")
    figure = dynamics.plot_information_plane(rows, plane)
    assert [text.get_text() for text in figure.axes[0].get_legend().get_texts()] == ["held_out", "dt_tradeoff"]
    offsets = [collection.get_offsets() for collection in figure.axes[0].collections]
    np.testing.assert_allclose(offsets[0], [[2, 0.5], [3, 0.5], [4, 0.5]])
    np.testing.assert_allclose(offsets[1], [[3, 0.6], [4, 0.6], [5, 0.6]])
    figure = dynamics.plot_over_epochs(
        {"a": [dict(row, source_acc=0.5, target_probe_acc=0.4) for row in rows]}, curves
    )
    assert [line.get_label() for line in figure.axes[0].get_lines()] == [
        "a I_XT", "a I_TY", "a I_XT_dt_tradeoff", "a I_TY_dt_tradeoff"
    ]
    assert [line.get_label() for line in figure.axes[1].get_lines()] == ["a source_acc", "a target_probe_acc"]
    for path in (plane, curves):
        with open(path, "rb") as file:
            assert file.read(8) == b"\x89PNG\r\n\x1a\n"
    dynamics.write_tensorboard(rows, str(tmp_path / "tb"))
    assert any(name.startswith("events.out.tfevents") for name in os.listdir(tmp_path / "tb"))
    with pytest.raises(ValueError, match="nothing to place on the information plane"):
        dynamics.plot_information_plane([{"epoch": 1, "source_acc": 0.5}], plane)


def test_protocol_options_are_checked(run_dir):
    model = dynamics.load_checkpoint(dynamics.list_checkpoints(run_dir)[0][1])
    x, y = _data()
    with pytest.raises(ValueError, match=r"Unknown protocol 'seed'.*'held_out', 'dt_tradeoff'"):
        dynamics.information_point(model, x, y, epoch=1, protocol="seed")
    with pytest.raises(ValueError, match=r"\['learning_rate'\] do not apply to the dt_tradeoff protocol"):
        dynamics.information_point(model, x, y, epoch=1, protocol="dt_tradeoff", learning_rate=1e-3)
    with pytest.raises(ValueError, match="`dt_settings` applies to protocol='dt_tradeoff' only"):
        dynamics.information_point(model, x, y, epoch=1, dt_settings=DT_FAST)


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
