"""`EarlyStoppingOnMetric`: patience, modes, resume replay, restoring the best weights, errors."""

import keras
import numpy as np
import pytest

from invariant_reps.callbacks import EarlyStoppingOnMetric


class _Model:
    """What the callback touches: stop_training and the weights."""

    def __init__(self):
        self.stop_training, self.weights = False, [np.zeros(1)]

    def get_weights(self):
        return [w.copy() for w in self.weights]

    def set_weights(self, weights):
        self.weights = [w.copy() for w in weights]


def _drive(callback, values, key="val_accuracy", start=0):
    """Feeds per-epoch values; returns the number of epochs run before stopping."""
    model = _Model()
    callback.set_model(model)
    for epoch, value in enumerate(values, start=start):
        model.weights = [np.array([float(epoch)])]
        callback.on_epoch_end(epoch, {key: value})
        if model.stop_training:
            return epoch + 1, model
    return start + len(values), model


def test_stops_after_patience_epochs_without_improvement():
    callback = EarlyStoppingOnMetric("val_accuracy", patience=2)
    epochs, model = _drive(callback, [0.5, 0.7, 0.7, 0.6, 0.9])
    assert epochs == 4 and callback.stopped_epoch == 4 and callback.stopped
    assert (callback.best, callback.best_epoch) == (0.7, 2)
    assert model.weights[0][0] == 3.0  # the last epoch's weights are kept (the seed's behaviour)


def test_min_mode_min_delta_and_nan():
    callback = EarlyStoppingOnMetric("val_loss", patience=2, mode="min", min_delta=0.05)
    epochs, _ = _drive(callback, [1.0, 0.97, float("nan"), 0.5], key="val_loss")
    assert epochs == 3 and callback.best_epoch == 1  # 0.97 is not better by > 0.05; NaN never improves


def test_restore_best_sets_the_weights_of_the_best_epoch():
    callback = EarlyStoppingOnMetric("test_accuracy", patience=3, restore_best=True)
    _, model = _drive(callback, [0.1, 0.9, 0.5, 0.4, 0.3], key="test_accuracy")
    callback.on_train_end()
    assert callback.best_epoch == 2 and model.weights[0][0] == 1.0


def test_resumed_run_replays_its_history():
    history = {"val_accuracy": [0.5, 0.8, 0.7]}
    callback = EarlyStoppingOnMetric(patience=3, history=history)
    assert (callback.best_epoch, callback.wait, callback.stopped) == (2, 1, False)
    epochs, _ = _drive(callback, [0.75, 0.79, 0.9], start=3)
    assert epochs == 5 and callback.stopped_epoch == 5  # the same epoch as an uninterrupted run
    uninterrupted = EarlyStoppingOnMetric(patience=3)
    assert _drive(uninterrupted, [0.5, 0.8, 0.7, 0.75, 0.79, 0.9])[0] == 5
    assert EarlyStoppingOnMetric(patience=2, history={"val_accuracy": [0.9, 0.1, 0.1]}).stopped


def test_restore_best_after_a_resume_reads_the_checkpoint(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    best = [np.full((2, 1), 7.0, "float32"), np.zeros(1, "float32")]
    model.set_weights(best)
    model.save(tmp_path / "epoch_0001.keras")
    model.set_weights([np.zeros((2, 1), "float32"), np.zeros(1, "float32")])
    callback = EarlyStoppingOnMetric(patience=1, restore_best=True, history={"val_accuracy": [0.9]},
                                     checkpoint_dir=str(tmp_path))
    callback.set_model(model)
    callback.on_epoch_end(1, {"val_accuracy": 0.5})
    callback.on_train_end()
    np.testing.assert_array_equal(model.get_weights()[0], best[0])


def test_missing_monitor_and_bad_arguments_raise():
    callback = EarlyStoppingOnMetric("val_accuracy")
    callback.set_model(_Model())
    with pytest.raises(ValueError, match="test_accuracy"):
        callback.on_epoch_end(0, {"accuracy": 0.5})
    for kwargs, message in (({"patience": 0}, "patience"), ({"mode": "up"}, "mode"),
                            ({"min_delta": -1.0}, "min_delta"), ({"monitor": ""}, "monitor")):
        with pytest.raises(ValueError, match=message):
            EarlyStoppingOnMetric(**kwargs)


def test_stops_keras_fit():
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    stop = EarlyStoppingOnMetric("loss", patience=2, mode="min")
    history = model.fit(np.ones((4, 1)), np.ones((4, 1)), epochs=10, verbose=0, callbacks=[stop])
    assert len(history.history["loss"]) == 3 and stop.stopped_epoch == 3  # lr 0: the loss never improves
