"""Epoch checkpoints: naming, atomic writes, pruning, lookup of the newest."""

import os

import keras
import numpy as np
import pytest

from invariant_reps import Vanilla
from invariant_reps.callbacks import EpochCheckpoint, checkpoint_path, latest_checkpoint, list_checkpoints
from tests.models.toy import tiny_networks


def test_checkpoint_names_sort_by_epoch(tmp_path):
    for epoch in (10, 2, 1):
        open(checkpoint_path(str(tmp_path), epoch), "w").close()
    open(tmp_path / "epoch_0003.keras.partial.keras", "w").close()  # an interrupted save is ignored
    assert [e for e, _ in list_checkpoints(str(tmp_path))] == [1, 2, 10]
    assert latest_checkpoint(str(tmp_path)) == (10, str(tmp_path / "epoch_0010.keras"))
    assert latest_checkpoint(str(tmp_path / "missing")) is None


def test_saves_every_epoch_and_keeps_the_newest(tmp_path):
    model = Vanilla(*tiny_networks())
    model.compile()
    x, y = np.random.default_rng(0).normal(size=(16, 4)).astype("float32"), np.arange(16) % 2
    model.fit(x, y, epochs=3, verbose=0, callbacks=[EpochCheckpoint(str(tmp_path), keep=2)])
    assert sorted(os.listdir(tmp_path)) == ["epoch_0002.keras", "epoch_0003.keras"]
    restored = keras.saving.load_model(tmp_path / "epoch_0003.keras")
    np.testing.assert_array_equal(restored.predict(x, verbose=0), model.predict(x, verbose=0))


def test_keep_must_be_positive():
    with pytest.raises(ValueError, match="`keep` must be a positive integer"):
        EpochCheckpoint("/tmp/x", keep=0)


def test_diverged_epoch_is_not_saved(tmp_path):
    model = Vanilla(*tiny_networks())
    model.compile()
    model.fit(np.zeros((4, 4), "float32"), np.zeros(4), epochs=1, verbose=0)
    callback = EpochCheckpoint(str(tmp_path))
    callback.set_model(model)
    callback.on_epoch_end(0, {"loss": 0.5})
    callback.on_epoch_end(1, {"loss": float("nan")})
    assert latest_checkpoint(str(tmp_path))[0] == 1
