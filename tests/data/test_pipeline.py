import numpy as np
import pytest

from invariant_reps.data import biased_mnist
from invariant_reps.data import pipeline
from invariant_reps.data.packing import INDEX_KEY
from invariant_reps.data.packing import INPUTS_KEY
from invariant_reps.data.packing import SENSITIVE_KEY

NUM_EXAMPLES = 50
BATCH_SIZE = 16  # 50 = 3 * 16 + 2: 4 batches per epoch, the last of 2.


def _arrays():
    x = np.arange(NUM_EXAMPLES, dtype=np.float32)[:, None] * [1.0, -1.0]
    y = np.arange(NUM_EXAMPLES, dtype=np.int64)
    s = np.arange(NUM_EXAMPLES, dtype=np.int64) % 3
    return x, y, s


def _targets(dataset):
    return [targets.numpy().tolist() for _, targets in dataset]


def test_resumed_run_sees_the_same_batches():
    full = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=7, start_epoch=0, num_epochs=3
    )
    resumed = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=7, start_epoch=2, num_epochs=1
    )
    assert full.steps_per_epoch == resumed.steps_per_epoch == 4
    full_batches = _targets(full.dataset)
    assert len(full_batches) == 12
    assert full_batches[8:] == _targets(resumed.dataset)


def test_each_epoch_is_a_fresh_permutation():
    batches = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=0, num_epochs=2
    )
    targets = _targets(batches.dataset)
    assert [len(batch) for batch in targets] == [16, 16, 16, 2] * 2
    epochs = [sum(targets[:4], []), sum(targets[4:], [])]
    for order in epochs:
        assert sorted(order) == list(range(NUM_EXAMPLES))
        assert order != list(range(NUM_EXAMPLES))
    assert epochs[0] != epochs[1]
    np.testing.assert_array_equal(
        epochs[1], pipeline.epoch_order(NUM_EXAMPLES, 0, 1)
    )


def test_packed_rows_stay_aligned():
    batches = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=1
    )
    for inputs, targets in batches.dataset:
        np.testing.assert_array_equal(inputs[INPUTS_KEY][:, 0], targets)
        np.testing.assert_array_equal(inputs[SENSITIVE_KEY], targets % 3)


def test_include_index_packs_row_numbers():
    batches = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=2, include_index=True
    )
    for inputs, targets in batches.dataset:
        assert inputs[INDEX_KEY].dtype.name == "int64"
        np.testing.assert_array_equal(inputs[INDEX_KEY], targets)


def test_without_seed_order_is_fixed():
    batches = pipeline.make_array_dataset(*_arrays(), BATCH_SIZE)
    assert sum(_targets(batches.dataset), []) == list(range(NUM_EXAMPLES))


def test_drop_remainder_and_cardinality():
    batches = pipeline.make_array_dataset(
        *_arrays(), BATCH_SIZE, shuffle_seed=0, num_epochs=3,
        drop_remainder=True,
    )
    assert batches.steps_per_epoch == 3
    assert int(batches.dataset.cardinality()) == 9
    assert all(len(batch) == 16 for batch in _targets(batches.dataset))


def test_seed_and_epoch_pairs_give_distinct_orders():
    assert not np.array_equal(
        pipeline.epoch_order(100, 0, 1), pipeline.epoch_order(100, 1, 0)
    )


def test_biased_mnist_batches_are_coloured_and_normalized():
    rng = np.random.RandomState(0)
    labels = np.repeat(np.arange(10), 4)
    images = rng.randint(0, 256, (40, 28, 28)).astype(np.uint8)
    images[images < 128] = 0
    split = biased_mnist.build_biased_mnist(images, labels, 0.5, seed=0)
    dataset, steps = pipeline.make_dataset(split, 8, shuffle_seed=3)
    assert steps == 5
    order = pipeline.epoch_order(40, 3, 0)
    inputs, digits = next(iter(dataset))
    x, colours = inputs[INPUTS_KEY], inputs[SENSITIVE_KEY]
    assert x.shape == (8, 28, 28, 3) and x.dtype.name == "float32"
    assert colours.dtype.name == "int64" and digits.dtype.name == "int64"
    first = order[:8]
    expected = biased_mnist.normalize_images(
        biased_mnist.colourize(split.images[first], split.colours[first])
    )
    np.testing.assert_allclose(x.numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(colours, split.colours[first])
    np.testing.assert_array_equal(digits, split.digits[first])
    assert x.numpy().min() >= -1.0 and x.numpy().max() <= 1.0


def test_make_dataset_accepts_array_triple():
    images = np.zeros((5, 28, 28), np.uint8)
    dataset, steps = pipeline.make_dataset(
        (images, np.arange(5), np.arange(5)), 4
    )
    assert steps == 2
    inputs, _ = next(iter(dataset))
    background = biased_mnist.COLOUR_MAP[:4] / 127.5 - 1.0
    np.testing.assert_allclose(
        inputs[INPUTS_KEY][:, 0, 0].numpy(), background, atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 8, "shuffle_seed": -1}, "shuffle_seed"),
        ({"batch_size": 8, "start_epoch": -1}, "start_epoch"),
        ({"batch_size": 8, "num_epochs": 0}, "num_epochs"),
        ({"batch_size": 64, "drop_remainder": True}, "leaves no batch"),
    ],
)
def test_bad_schedule_raises(kwargs, message):
    with pytest.raises(ValueError, match=message):
        pipeline.make_array_dataset(*_arrays(), **kwargs)


def test_length_mismatch_raises():
    x, y, s = _arrays()
    with pytest.raises(ValueError, match="`s` must have 50 rows"):
        pipeline.make_array_dataset(x, y, s[:-1], 8)


def test_make_dataset_rejects_other_inputs():
    with pytest.raises(ValueError, match="BiasedMNIST or a tuple"):
        pipeline.make_dataset(np.zeros((5, 28, 28)), 4)
