"""The registered `hep`, `seed_toy` and `pivot_toy` datasets: splits, streaming, resumability."""

import numpy as np
import pytest

import invariant_reps as ir
from invariant_reps.data import decorrelation_datasets as dd
from invariant_reps.data import hep

SMALL_HEP = {"num_events": 2500, "num_validation_events": 300, "num_test_events": 400, "chunk_size": 1000}


def _epochs(split, batch_size, **schedule):
    """`[indices of epoch e]` of a streamed split's batches."""
    batches = split.dataset(batch_size, include_index=True, **schedule)
    indices = [inputs["index"].numpy() for inputs, *_ in batches.dataset]
    steps = batches.steps_per_epoch
    return [np.concatenate(indices[i:i + steps]) for i in range(0, len(indices), steps)]


def test_hep_declares_and_builds_weighted_splits_with_delta_e():
    data = ir.get_dataset("hep").build(SMALL_HEP, seed=2)
    assert (data.task, data.sensitive_kind, data.num_classes, data.sensitive_name) == ("binary", "continuous", 1, "M_bc")
    assert data.input_shape == (16,) and data.leakage_splits == ("validation", "test")
    assert len(data.train) == 2500 and len(data.validation) == 300 and len(data.tests["test"]) == 400
    x, y, s, delta_e, w = hep.make_arrays(400, seed=dd.split_seed(2, "test"), chunk_size=1000)
    test = data.tests["test"]
    np.testing.assert_array_equal(test.x, x)
    np.testing.assert_array_equal(test.s, s.astype(np.float32))
    np.testing.assert_array_equal(test.columns["delta_e"], delta_e)
    np.testing.assert_allclose(test.sample_weight, w, rtol=1e-6)
    assert test.y.dtype == np.float32 and set(np.unique(test.y)) == {0.0, 1.0}
    # The three splits are different draws.
    assert not np.isin(data.validation.x[:, 0], test.x[:, 0]).any()


def test_split_seeds_never_collide():
    seeds = {dd.split_seed(seed, split) for seed in range(50) for split in ("train", "validation", "test")}
    assert len(seeds) == 150
    with pytest.raises(ValueError, match="`seed` must be an int >= 0"):
        dd.split_seed(-1, "train")


def test_the_training_stream_visits_every_event_once_per_epoch_in_a_seeded_order():
    stream = dd.HEPStream(2500, seed=0, config=hep.HEPConfig(), chunk_size=1000)
    epochs = _epochs(stream, 256, shuffle_seed=7, num_epochs=2)
    assert len(epochs) == 2
    for order in epochs:
        np.testing.assert_array_equal(np.sort(order), np.arange(2500))
    assert not np.array_equal(epochs[0], epochs[1])
    # Resuming at epoch 1 gives exactly epoch 1's batches; the order is a function of (shuffle_seed, epoch).
    np.testing.assert_array_equal(_epochs(stream, 256, shuffle_seed=7, start_epoch=1)[0], epochs[1])
    assert not np.array_equal(_epochs(stream, 256, shuffle_seed=8)[0], epochs[0])


def test_the_stream_yields_the_generators_events_with_their_weights():
    stream = dd.HEPStream(2500, seed=4, config=hep.HEPConfig(), chunk_size=1000)
    x, y, s, _, w = hep.make_arrays(2500, seed=4, chunk_size=1000)
    batches = stream.dataset(512, shuffle_seed=1, include_index=True)
    for inputs, labels, weights in batches.dataset.take(3):
        index = inputs["index"].numpy()
        np.testing.assert_array_equal(inputs["inputs"].numpy(), x[index])
        np.testing.assert_array_equal(inputs["sensitive"].numpy(), s[index].astype(np.float32))
        np.testing.assert_array_equal(labels.numpy(), y[index].astype(np.float32))
        np.testing.assert_allclose(weights.numpy(), w[index], rtol=1e-6)
    # Evaluation order (no shuffle seed) is the order of targets().
    y_t, s_t, w_t, columns = stream.targets()
    evaluated = np.concatenate([labels.numpy() for _, labels, _ in stream.dataset(512).dataset])
    np.testing.assert_array_equal(evaluated, y_t)
    assert len(columns["delta_e"]) == 2500 and np.allclose(w_t, w, rtol=1e-6)


def test_training_never_materialises_the_whole_split(monkeypatch):
    stream = dd.HEPStream(5000, seed=0, config=hep.HEPConfig(), chunk_size=1000)
    generated = []
    original = hep.generate_chunk

    def counting(index, seed=0, chunk_size=hep.DEFAULT_CHUNK_SIZE, config=None):
        generated.append(chunk_size)
        return original(index, seed, chunk_size, config)

    monkeypatch.setattr(hep, "generate_chunk", counting)
    monkeypatch.setattr(hep, "make_arrays", lambda *a, **k: pytest.fail("the training stream loaded every event"))
    batches = stream.dataset(1000, shuffle_seed=0)
    assert sum(1 for _ in batches.dataset) == 5
    assert generated == [1000] * 5  # one chunk at a time, each generated once per epoch


def test_unweighted_hep_trains_without_sample_weights():
    data = ir.get_dataset("hep").build({**SMALL_HEP, "weighted": False}, seed=0)
    element = next(iter(data.train.dataset(64).dataset))
    assert len(element) == 2
    assert data.tests["test"].sample_weight is None


def test_seed_toy_nuisance_is_the_first_input_and_splits_differ():
    data = ir.get_dataset("seed_toy").build(
        {"num_per_class": 200, "num_validation_per_class": 50, "num_test_per_class": 100}, seed=3
    )
    assert (len(data.train), len(data.validation), len(data.tests["test"])) == (400, 100, 200)
    for split in (data.train, data.validation, data.tests["test"]):
        np.testing.assert_array_equal(split.s, split.x[:, 0])
        assert split.y.dtype == np.float32 and split.y.mean() == 0.5
    assert not np.isin(data.train.s, data.tests["test"].s).any()
    assert data.sensitive_name == "x_1" and data.leakage_splits == ("validation", "test")


def test_pivot_toy_nuisance_shifts_only_the_signal():
    data = ir.get_dataset("pivot_toy").build(
        {"num_per_class": 5000, "num_validation_per_class": 0, "num_test_per_class": 10}, seed=0
    )
    x, y, s = data.train.arrays()
    signal, background = y == 1, y == 0
    assert np.corrcoef(x[signal, 1], s[signal])[0, 1] == pytest.approx(1 / np.sqrt(2), abs=0.03)
    assert abs(np.corrcoef(x[background, 1], s[background])[0, 1]) < 0.05
    assert data.validation is None and data.leakage_splits == ("test", "test")


def test_sizes_are_validated_by_the_declaration():
    with pytest.raises(ValueError, match="`num_events` must be >= 1"):
        ir.get_dataset("hep").build({"num_events": 0})
    with pytest.raises(ValueError, match="`num_test_per_class` must be >= 10"):
        ir.get_dataset("seed_toy").build({"num_test_per_class": 1})
