"""The registered datasets for decorrelation from a continuous nuisance: `hep`, `seed_toy`, `pivot_toy`.

- `hep`: the HEP-like B-decay sample of `data.hep` (spec A.1): binary task
  signal vs continuum, s = M_bc (GeV), event weights, a Delta E column. The
  training split is *streamed*: `HEPStream` generates it chunk by chunk on
  every epoch (a pure function of the seed), so `--hep_num_events` can be
  millions while training holds at most two chunks (the current and one
  prefetched). Validation and test are moderate and held in memory
  (`ArraySplit`s with weights and `columns={"delta_e": ...}`).
- `seed_toy` (spec A.6, the seed notebook): s = x_1, the first input.
- `pivot_toy` (spec A.5, Louppe et al. 2017 section 5.1): s = z, the
  nuisance that shifts x_2 of class 1.

Generation streams: split `k` (0 train, 1 validation, 2 test) of run seed `r`
uses generator seed `3 r + k`, so splits never share events and every
(seed, split) pair has its own stream.

Leakage: every dataset names `("validation", "test")`: the ridge-probe R^2 of
s from the bottleneck z. For `hep` it is partly a label effect (the signal
peaks in M_bc), so read it next to the background-only metrics.
"""

import numpy as np
import tensorflow as tf

from invariant_reps.data import hep, nuisance_toys, packing
from invariant_reps.data.experiment_data import ArraySplit, ExperimentData
from invariant_reps.data.pipeline import EpochBatches, steps_per_epoch
from invariant_reps.data.registry import register_dataset
from invariant_reps.hyperparameters import Hyperparameter

HEP_METRICS = (
    "accuracy", "roc_auc", "r50", "jsd50", "inv_jsd50", "jsd_bkg_eff", "inv_jsd_bkg_eff",
    "logit_nuisance_mi", "background_logit_nuisance_mi",
)
TOY_METRICS = ("accuracy", "roc_auc", "logit_nuisance_mi", "logit_nuisance_lnc")
_SPLITS = {"train": 0, "validation": 1, "test": 2}


def split_seed(seed, split):
    """The generator seed of one split: `3 seed + k` (k = 0 train, 1 validation, 2 test).

    Args:
        seed: the run's seed, an int >= 0.
        split: "train", "validation" or "test".

    Returns:
        int, distinct for every (seed, split) pair.

    Example:
        >>> split_seed(1, "test")  # 5
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0; received {seed!r}.")
    return 3 * int(seed) + _SPLITS[split]


class HEPStream:
    """A training split of the HEP-like sample, generated chunk by chunk on every pass.

    Epoch `e` visits the chunks in an order drawn from `(shuffle_seed, e)`
    and each chunk's events in an order drawn from `(shuffle_seed, e,
    chunk)`; without a `shuffle_seed` (evaluation), everything is in its
    natural order. Batches never straddle two epochs, so a resumed run sees
    the batches an uninterrupted one sees.

    Memory: one chunk (`chunk_size` events) being batched plus one being
    generated, whatever `num_events` is. `targets()` holds O(num_events)
    scalars (labels, M_bc, weights, Delta E), never the features.

    Args:
        num_events: events in the split.
        seed: the generator seed (`hep.generate_chunk`).
        config: a `hep.HEPConfig`.
        chunk_size: events generated at a time.
        weighted: yield the event weights as Keras sample weights.

    Example:
        >>> train = HEPStream(5_000_000, seed=0, config=hep.HEPConfig())
        >>> batches = train.dataset(1024, shuffle_seed=0, num_epochs=3)
        >>> model.fit(batches.dataset, epochs=3, steps_per_epoch=batches.steps_per_epoch)
    """

    def __init__(self, num_events, seed, config, chunk_size=hep.DEFAULT_CHUNK_SIZE, weighted=True):
        for name, value, minimum in (("num_events", num_events, 1), ("seed", seed, 0), ("chunk_size", chunk_size, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}; received {value!r}.")
        self.num_events, self.seed, self.config = int(num_events), int(seed), config
        self.chunk_size, self.weighted = int(chunk_size), bool(weighted)
        self.num_chunks = -(-self.num_events // self.chunk_size)

    def __len__(self):
        return self.num_events

    def _chunk(self, index):
        sample = hep.generate_chunk(int(index), self.seed, self.chunk_size, self.config)
        keep = min(self.chunk_size, self.num_events - int(index) * self.chunk_size)
        return hep.HEPSample(*(array[:keep] for array in sample))

    def dataset(self, batch_size, shuffle_seed=None, start_epoch=0, num_epochs=1, include_index=False):
        """`EpochBatches` of `({"inputs", "sensitive"[, "index"]}, y[, weights])`, epoch by epoch."""
        for name, value, minimum in (("batch_size", batch_size, 1), ("start_epoch", start_epoch, 0),
                                     ("num_epochs", num_epochs, 1)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
                raise ValueError(f"`{name}` must be an int >= {minimum}; received {value!r}.")
        steps = steps_per_epoch(self.num_events, batch_size)
        width = self.config.num_features

        def chunk_order(epoch):
            if shuffle_seed is None:
                return np.arange(self.num_chunks, dtype=np.int64)
            return np.random.default_rng([shuffle_seed, int(epoch)]).permutation(self.num_chunks).astype(np.int64)

        def load(epoch, index):
            x, y, s, _, w = self._chunk(index)
            position = np.arange(len(y), dtype=np.int64)
            if shuffle_seed is not None:
                position = np.random.default_rng([shuffle_seed, int(epoch), int(index)]).permutation(len(y))
            ids = int(index) * self.chunk_size + position
            return (x[position], y[position].astype(np.float32), s[position].astype(np.float32),
                    w[position].astype(np.float32), ids.astype(np.int64))

        def load_tf(epoch, index):
            x, y, s, w, ids = tf.numpy_function(
                load, [epoch, index], (tf.float32, tf.float32, tf.float32, tf.float32, tf.int64), stateful=False
            )
            x.set_shape([None, width])
            for tensor in (y, s, w, ids):
                tensor.set_shape([None])
            return x, y, s, w, ids

        def epoch_batches(epoch):
            order = tf.numpy_function(chunk_order, [epoch], tf.int64, stateful=False)
            order.set_shape([self.num_chunks])
            chunks = tf.data.Dataset.from_tensor_slices(order).map(lambda index: load_tf(epoch, index))
            return chunks.prefetch(1).rebatch(batch_size)

        def to_batch(x, y, s, w, ids):
            inputs, targets = packing.pack(x, y, s)
            if include_index:
                inputs[packing.INDEX_KEY] = ids
            return (inputs, targets, w) if self.weighted else (inputs, targets)

        dataset = (
            tf.data.Dataset.range(start_epoch, start_epoch + num_epochs)
            .flat_map(epoch_batches)
            .apply(tf.data.experimental.assert_cardinality(num_epochs * steps))
            .map(to_batch)
            .prefetch(tf.data.AUTOTUNE)
        )
        return EpochBatches(dataset, steps)

    def targets(self):
        """`(y, s, sample_weight, {"delta_e": ...})` in the natural order, without the features."""
        parts = [(c.y.astype(np.float32), c.s.astype(np.float32), c.weights.astype(np.float32), c.delta_e)
                 for c in (self._chunk(i) for i in range(self.num_chunks))]
        y, s, w, delta_e = (np.concatenate(column) for column in zip(*parts))
        return y, s, (w if self.weighted else None), {"delta_e": delta_e}

    def arrays(self):
        """`(x, y, s)` of every event in memory: O(num_events x num_features); for moderate sizes only."""
        x, y, s, _, _ = hep.make_arrays(self.num_events, self.seed, self.chunk_size, self.config)
        return x, y.astype(np.float32), s.astype(np.float32)


def hep_split(num_events, seed, config, chunk_size=hep.DEFAULT_CHUNK_SIZE, weighted=True):
    """An in-memory `ArraySplit` of the HEP-like sample, with weights and the Delta E column.

    Args:
        num_events: events in the split.
        seed: the generator seed.
        config: a `hep.HEPConfig`.
        chunk_size: generation chunk (the events are those of `hep.make_arrays`).
        weighted: attach the event weights as the split's sample weights.

    Returns:
        `ArraySplit(x, y float32, s = M_bc float32, sample_weight, columns={"delta_e": ...})`.

    Example:
        >>> test = hep_split(100_000, split_seed(0, "test"), hep.HEPConfig())
    """
    x, y, s, delta_e, w = hep.make_arrays(num_events, seed, chunk_size, config)
    return ArraySplit(
        x, y.astype(np.float32), s.astype(np.float32), sample_weight=w.astype(np.float32) if weighted else None,
        columns={"delta_e": delta_e},
    )


@register_dataset(
    "hep",
    task="binary",
    sensitive="continuous",
    summary="HEP-like B-decay sample (signal vs continuum); s = M_bc, which a classifier sculpts; the training "
    "split is generated chunk by chunk (any size)",
    evaluation_sets={"test": "test"},
    metrics=HEP_METRICS,
    hyperparameters=(
        Hyperparameter("num_events", int, 100_000, "training events (streamed: millions fit)", lower=1),
        Hyperparameter("num_validation_events", int, 50_000, "validation events (in memory)", lower=0),
        Hyperparameter("num_test_events", int, 100_000, "test events (in memory)", lower=100),
        Hyperparameter("num_features", int, 16, "classifier inputs (k/4 mass-correlated, k/2 discriminating)",
                       lower=6, upper=1024),
        Hyperparameter("signal_fraction", float, 0.5, "probability that an event is signal", lower=0.01, upper=0.99),
        Hyperparameter("mass_feature_noise", float, 0.5, "noise on the mass-correlated features (larger: less "
                       "sculpting)", lower=1e-3),
        Hyperparameter("weighted", bool, True, "train with the event weights as sample weights (loss and DisCo)"),
        Hyperparameter("chunk_size", int, hep.DEFAULT_CHUNK_SIZE, "events generated at a time", lower=1),
    ),
)
def build_hep_data(
    num_events, num_validation_events, num_test_events, num_features, signal_fraction, mass_feature_noise,
    weighted, chunk_size, *, seed=0,
):
    """Builds the `hep` experiment (see the module docstring)."""
    config = hep.HEPConfig(
        num_features=num_features, signal_fraction=signal_fraction, mass_feature_noise=mass_feature_noise
    )
    train = HEPStream(num_events, split_seed(seed, "train"), config, chunk_size, weighted)
    validation = (
        hep_split(num_validation_events, split_seed(seed, "validation"), config, chunk_size, weighted)
        if num_validation_events else None
    )
    test = hep_split(num_test_events, split_seed(seed, "test"), config, chunk_size, weighted)
    return ExperimentData(
        train=train, validation=validation, tests={"test": test}, input_shape=(num_features,), num_classes=1,
        source="generated", task="binary", sensitive_kind="continuous",
        leakage_splits=("validation" if validation is not None else "test", "test"), sensitive_name="M_bc",
    )


def _toy_split(make, num_per_class, seed, split):
    x, y, s = make(num_per_class, np.random.default_rng(split_seed(seed, split)))
    return ArraySplit(x, y.astype(np.float32), s.astype(np.float32))


def _toy_data(make, num_per_class, num_validation_per_class, num_test_per_class, seed, sensitive_name):
    validation = (
        _toy_split(make, num_validation_per_class, seed, "validation") if num_validation_per_class else None
    )
    return ExperimentData(
        train=_toy_split(make, num_per_class, seed, "train"), validation=validation,
        tests={"test": _toy_split(make, num_test_per_class, seed, "test")}, input_shape=(2,), num_classes=1,
        source="generated", task="binary", sensitive_kind="continuous",
        leakage_splits=("validation" if validation is not None else "test", "test"), sensitive_name=sensitive_name,
    )


def _toy_hyperparameters(train_default):
    return (
        Hyperparameter("num_per_class", int, train_default, "training events of each class", lower=1),
        Hyperparameter("num_validation_per_class", int, 5_000, "validation events of each class", lower=0),
        Hyperparameter("num_test_per_class", int, 10_000, "test events of each class", lower=10),
    )


@register_dataset(
    "seed_toy",
    task="binary",
    sensitive="continuous",
    summary="the invariant_reps seed notebook's 2-D toy: class 0 ~ N((z, 0), [[1, .5], [.5, 1]]), class 1 ~ "
    "N((0, 1.5), I); s = x_1, the first input",
    evaluation_sets={"test": "test"},
    metrics=TOY_METRICS,
    hyperparameters=_toy_hyperparameters(25_600),
)
def build_seed_toy_data(num_per_class, num_validation_per_class, num_test_per_class, *, seed=0):
    """Builds the `seed_toy` experiment: fixed generated splits of `nuisance_toys.make_seed_toy`."""
    return _toy_data(nuisance_toys.make_seed_toy, num_per_class, num_validation_per_class, num_test_per_class,
                     seed, "x_1")


@register_dataset(
    "pivot_toy",
    task="binary",
    sensitive="continuous",
    summary="Louppe et al.'s pivot toy: class 0 ~ N(0, [[1, -.5], [-.5, 1]]), class 1 ~ N((1, 1 + z), I); s = z",
    evaluation_sets={"test": "test"},
    metrics=TOY_METRICS,
    hyperparameters=_toy_hyperparameters(25_000),
)
def build_pivot_toy_data(num_per_class, num_validation_per_class, num_test_per_class, *, seed=0):
    """Builds the `pivot_toy` experiment: fixed generated splits of `nuisance_toys.make_pivot_toy`."""
    return _toy_data(nuisance_toys.make_pivot_toy, num_per_class, num_validation_per_class, num_test_per_class,
                     seed, "pivot")

