"""CTC's `variant="seed"`: the state and terms of dt-tradeoff's `train_ctc.py`, step for step.

Verified against the seed (`train_ctc.py`, `helper/loops.py` `train_ctc` and
`update_memory_bank`, `ctc/instance.py`, `ctc/memory.py`, `ctc/criterion.py`,
`dataset/cifar100.py` `CIFAR100InstanceSample`); equations (1)-(4) are in
`ctc_memory`. With `f` the current encoder's representation and `g` a frozen
snapshot's:

- Stage one: `v = normalize(P f)` with P a Linear(d -> D) that is **never
  trained** (the seed's `LinearAverage.projector` is not in its optimizer), and
  the N-way instance softmax, eq. (1), over the instance memory; eq. (4) with
  `instance_momentum`. The memory starts U(+-sqrt(3/D)), not normalised.
- Boundary (the start of the first stage-two epoch, `CTC.begin_stage_two`): the
  snapshot S <- a copy of the encoder's weights (BatchNorm statistics
  included), frozen and run in inference mode from then on. With
  `--update_memory_bank` one pass over the training data (the seed: its train
  loader, before epoch `stage_two_epoch + 1`) sets, for every example i,
  `student_memory[i] = normalize(W_s g_i)` and
  `snapshot_memory[i] = normalize(W_t g_i)` (the seed's `memory_v1`,
  `memory_v2`; both from the *snapshot's* features, with the heads as they
  are, still untrained). Without it both keep their U(+-sqrt(3/D)) rows.
- Stage two: two trained heads (the seed's `embed` W_s and `embed_info_bank`
  W_t, Linear(d -> D) then L2 normalisation): `v_s = normalize(W_s f)`,
  `v_t = normalize(W_t g)` (g carries no gradient, W_t is trained). Each
  example's candidates are its own row and K rows of **other classes**,
  drawn without replacement. Scores eq. (2): v_s against `snapshot_memory`
  (the seed's `out_v1`), v_t against `student_memory` (`out_v2`); each `Z` is
  set once, on the first stage-two batch, to `mean(scores) * N` and then kept.
  `L_temp = L_nce(v_s) + L_nce(v_t)`, eq. (3). Then eq. (4) with
  `temporal_momentum`: `student_memory <- v_s`, `snapshot_memory <- v_t`.

The heads get no gradient in stage one; the seed's SGD then skips them, weight
decay included (`CTC` leaves them out of stage one's decay).
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.layers import FanInUniform, torch_default_kernel
from invariant_reps.models import ctc_memory


def _offset(seed, offset):
    return None if seed is None else seed + offset


def copy_architecture(encoder, name):
    """A new, independently initialised model with `encoder`'s architecture (from its config)."""
    config = keras.saving.serialize_keras_object(encoder)
    if isinstance(config.get("config"), dict) and "name" in config["config"]:
        config["config"] = dict(config["config"], name=name)
    return keras.saving.deserialize_keras_object(config)


@keras.saving.register_keras_serializable(package="invariant_reps")
class SeedContrast(keras.layers.Layer):
    """The seed variant's state: snapshot, three memories, projection, two heads, normalizers, labels.

    Args:
        encoder: the model's encoder; the snapshot is a copy of its
            architecture (weights copied by `take_snapshot`). Not kept.
        num_examples: N, rows per memory.
        projection_dim: D (the seed's `instance_dim` = `contrast_feat_dim`).
        num_negatives: K requested (the seed's `nce_k`); `set_labels` caps it.
        instance_temperature, instance_momentum: stage one's t and momentum.
        temporal_temperature, temporal_momentum: stage two's t and momentum.
        seed: int or None (initialisations and negative sampling).
        **kwargs: `keras.layers.Layer` arguments.

    Example:
        >>> state = SeedContrast(encoder, num_examples=len(y), projection_dim=128)
        >>> state.build_state(encoder_input_shape, (None, 64))
        >>> state.set_labels(np.arange(len(y)), y)
    """

    def __init__(self, encoder, num_examples, projection_dim=128, num_negatives=16384, instance_temperature=0.1,
                 instance_momentum=0.5, temporal_temperature=0.07, temporal_momentum=0.5, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_examples = int(num_examples)
        self.projection_dim = int(projection_dim)
        self.num_negatives = int(num_negatives)
        self.instance_temperature = float(instance_temperature)
        self.instance_momentum = float(instance_momentum)
        self.temporal_temperature = float(temporal_temperature)
        self.temporal_momentum = float(temporal_momentum)
        self.seed = seed
        name = encoder.name if encoder.name.endswith("_snapshot") else f"{encoder.name}_snapshot"
        self.snapshot = copy_architecture(encoder, name)
        self.snapshot.trainable = False
        self._sampler = keras.random.SeedGenerator(seed)
        self.negatives_in_use = None  # K after the cap, set by `set_labels`.
        self._refresh_step = None

    # ------------------------------------------------------------------ state
    def build_state(self, input_shape, representation_shape):
        """Builds the snapshot on `input_shape` and every weight on the representation width."""
        if not self.snapshot.built:
            self.snapshot.build(input_shape)
        self.build(representation_shape)

    def build(self, representation_shape):
        width, dim, seed = int(representation_shape[-1]), self.projection_dim, self.seed

        def linear(name, offset, trainable):  # PyTorch's nn.Linear default init (the seed's).
            kernel = self.add_weight(shape=(width, dim), initializer=torch_default_kernel(_offset(seed, offset)),
                                     trainable=trainable, name=f"{name}_kernel")
            bias = self.add_weight(shape=(dim,), initializer=FanInUniform(width, _offset(seed, offset + 1)),
                                   trainable=trainable, name=f"{name}_bias")
            return kernel, bias

        self.instance_projection = linear("instance_projection", 0, trainable=False)  # P: never trained.
        self.student_head = linear("student_head", 2, trainable=True)  # W_s
        self.snapshot_head = linear("snapshot_head", 4, trainable=True)  # W_t

        def memory(name, offset):
            return self.add_weight(shape=(self.num_examples, dim), trainable=False, name=name,
                                   initializer=ctc_memory.uniform_memory(dim, _offset(seed, offset)))

        self.instance_memory = memory("instance_memory", 6)
        self.student_memory = memory("student_memory", 7)  # the seed's memory_v1 (rows <- v_s)
        self.snapshot_memory = memory("snapshot_memory", 8)  # the seed's memory_v2 (rows <- v_t)
        # Z of eq. (2) for (v_s, v_t) scores; -1: not set yet.
        self.normalizers = self.add_weight(shape=(2,), initializer=keras.initializers.Constant(-1.0),
                                           trainable=False, name="normalizers")
        self.labels = self.add_weight(shape=(self.num_examples,), initializer=keras.initializers.Constant(-1),
                                      dtype="int32", trainable=False, name="labels")
        self.snapshot_taken = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False,
                                              name="snapshot_taken")

    @property
    def head_variables(self):
        """W_s and W_t's variables (trained in stage two only)."""
        return [*self.student_head, *self.snapshot_head]

    def set_labels(self, index, labels):
        """Records the class of every example seen, and caps K at what the labels allow.

        Args:
            index: int array of rows.
            labels: int array of their classes, same length.

        Returns:
            The K in use: `min(num_negatives, max_class_aware_negatives(labels))`.
        """
        known = self.labels.numpy()
        known[np.asarray(index, np.int64).reshape(-1)] = np.asarray(labels).reshape(-1).astype(np.int32)
        self.labels.assign(known)
        return self.use_stored_labels()

    def use_stored_labels(self):
        """Sets `negatives_in_use` from the recorded labels; ValueError with fewer than two classes."""
        available = ctc_memory.max_class_aware_negatives(self.labels.numpy())
        if available < 1:
            raise ValueError(
                "CTC (variant 'seed') draws its stage-two negatives from other classes: the training data "
                "needs at least two classes, and every row's label (recorded by `fit`).")
        self.negatives_in_use = min(self.num_negatives, available)
        return self.negatives_in_use

    def labels_complete(self):
        return bool(np.all(self.labels.numpy() >= 0))

    # ------------------------------------------------------------- boundary
    def take_snapshot(self, encoder):
        """Copies every weight of `encoder` (BatchNorm statistics included) into the frozen snapshot."""
        if len(self.snapshot.weights) != len(encoder.weights):
            raise ValueError("The snapshot and the encoder have different weights; rebuild the model.")
        for target, source in zip(self.snapshot.weights, encoder.weights):
            if tuple(target.shape) != tuple(source.shape):
                raise ValueError(f"Snapshot weight {target.path} has shape {target.shape}, the encoder's "
                                 f"{source.path} {source.shape}.")
            target.assign(source)
        self.snapshot_taken.assign(1)

    def refresh(self, batches):
        """The seed's `update_memory_bank`: both temporal memories from the snapshot, for every row seen.

        Args:
            batches: iterable of `(x, index)` pairs (one epoch of training inputs).
        """
        if self._refresh_step is None:
            self._refresh_step = tf.function(self._refresh_batch, reduce_retracing=True)
        for x, index in batches:
            self._refresh_step(x, ops.reshape(ops.cast(index, "int32"), (-1,)))

    def _refresh_batch(self, x, index):
        features = self.snapshot(x, training=False)
        ctc_memory.write_rows(self.student_memory, index, _embed(features, self.student_head))
        ctc_memory.write_rows(self.snapshot_memory, index, _embed(features, self.snapshot_head))

    # ---------------------------------------------------------------- terms
    def terms(self, x, z, y, index, in_stage_two):
        """`(instance_loss, temporal_loss)` of a training batch; only the active stage's is computed.

        Args:
            x: the batch's inputs (for the snapshot).
            z: `[B, d]` current representation (gradients flow to it).
            y: `[B]` class ids.
            index: int32 `[B]` rows.
            in_stage_two: boolean scalar tensor.
        """
        if self.negatives_in_use is None:
            raise ValueError("CTC (variant 'seed') needs the training labels before its first step: train "
                             "with `CTC.fit`, which records them.")
        zero = ops.zeros(())
        return ops.cond(
            in_stage_two,
            lambda: (zero, self.temporal_loss(x, z, y, index)),
            lambda: (self.instance_loss(z, index), zero),
        )

    def instance_loss(self, z, index):
        """Eq. (1) with the fixed projection P, then eq. (4) on the instance memory."""
        queries = _embed(z, self.instance_projection)
        loss = ctc_memory.instance_discrimination_loss(queries, self.instance_memory, index,
                                                       self.instance_temperature)
        self._update(self.instance_memory, index, queries, self.instance_momentum)
        return loss

    def temporal_loss(self, x, z, y, index):
        """Eqs. (2)-(3) in both directions against the frozen snapshot, then eq. (4) on both memories."""
        features = ops.stop_gradient(self.snapshot(x, training=False))
        student = _embed(z, self.student_head)  # v_s
        snapshot = _embed(features, self.snapshot_head)  # v_t
        negatives = ctc_memory.class_aware_negatives(self.labels, y, self.negatives_in_use, self._sampler)
        candidates = ops.concatenate([index[:, None], negatives], axis=1)
        student_scores = ctc_memory.contrast_scores(student, self.snapshot_memory, candidates,
                                                    self.temporal_temperature)
        snapshot_scores = ctc_memory.contrast_scores(snapshot, self.student_memory, candidates,
                                                     self.temporal_temperature)
        first = ops.stack([ops.mean(student_scores), ops.mean(snapshot_scores)]) * float(self.num_examples)
        normalizers = ops.where(self.normalizers < 0, ops.stop_gradient(first), self.normalizers)
        self.normalizers.assign(normalizers)
        loss = (ctc_memory.crd_nce_loss(student_scores / normalizers[0], self.num_examples)
                + ctc_memory.crd_nce_loss(snapshot_scores / normalizers[1], self.num_examples))
        self._update(self.student_memory, index, student, self.temporal_momentum)
        self._update(self.snapshot_memory, index, snapshot, self.temporal_momentum)
        return loss

    def _update(self, memory, index, values, momentum):
        rows = ctc_memory.momentum_update(ops.take(memory, index, axis=0), values, momentum)
        ctc_memory.write_rows(memory, index, rows)

    def get_config(self):
        config = super().get_config()
        config.update({
            "encoder": keras.saving.serialize_keras_object(self.snapshot), "num_examples": self.num_examples,
            "projection_dim": self.projection_dim, "num_negatives": self.num_negatives,
            "instance_temperature": self.instance_temperature, "instance_momentum": self.instance_momentum,
            "temporal_temperature": self.temporal_temperature, "temporal_momentum": self.temporal_momentum,
            "seed": self.seed,
        })
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["encoder"] = keras.saving.deserialize_keras_object(config["encoder"])
        return cls(**config)


def _embed(features, linear):
    """`normalize(features @ kernel + bias)`: the seed's `Embed` and `LinearAverage.projector` + normalize."""
    kernel, bias = linear
    return ops.normalize(ops.matmul(features, kernel) + bias, axis=-1, order=2)
