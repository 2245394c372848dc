"""CTC's `variant="single_bank"`: one bank per stage, one model, InfoNCE (this package's simplification).

Both terms are InfoNCE over L2-normalised projections `v = P(z) / ||P(z)||` (a
trained Dense projection per term) against a bank `m` with one row per example:

    L_nce(i) = -log  exp(v_i . m_i / t)
                     ---------------------------------------------        (5)
                     exp(v_i . m_i / t) + sum_{j in K} exp(v_i . m_j / t)

with `K` the negatives: all other rows, or `num_negatives` rows drawn uniformly
per batch and shared by the batch. After the loss the batch's rows follow eq. (4)
of `ctc_memory`. Stage one uses the instance bank (momentum `instance_momentum`);
stage two the temporal bank, which holds the *earlier* representations: with
`update_memory_bank` it is overwritten with the current projections throughout
stage one (so stage two starts from the end-of-stage-one representations) and
follows eq. (4) with `temporal_momentum` in stage two.

It differs from the seed (`variant="seed"`, `ctc_seed.py`): no frozen snapshot
network, no second bank or head, no class-aware negatives, InfoNCE instead of the
CRD NCE, and trained projections in both stages.
"""

import keras
from keras import ops

from invariant_reps.models import ctc_memory


def _unit_rows(seed):
    def initializer(shape, dtype=None):
        rows = keras.random.normal(shape, dtype=dtype, seed=seed)
        return ops.normalize(rows, axis=-1, order=2)

    return initializer


@keras.saving.register_keras_serializable(package="invariant_reps")
class SingleBankContrast(keras.layers.Layer):
    """State and terms of the single-bank variant: two trained projections, two banks.

    Args:
        num_examples: N, rows per bank.
        projection_dim: D, width of both projections.
        num_negatives: negatives per batch (shared by the batch), or None for
            every other row.
        instance_temperature, instance_momentum: stage one's t and momentum.
        temporal_temperature, temporal_momentum: stage two's t and momentum.
        update_memory_bank: overwrite the temporal bank during stage one.
        seed: int or None (bank initialisation and negative sampling).
        **kwargs: `keras.layers.Layer` arguments.

    Example:
        >>> state = SingleBankContrast(num_examples=100, projection_dim=8)
        >>> state.build((None, 16))
        >>> instance, temporal = state.terms(z, index, in_stage_two=False)
    """

    def __init__(self, num_examples, projection_dim=128, num_negatives=4096, instance_temperature=0.1,
                 instance_momentum=0.5, temporal_temperature=0.07, temporal_momentum=0.5,
                 update_memory_bank=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.num_examples = int(num_examples)
        self.projection_dim = int(projection_dim)
        self.num_negatives = num_negatives
        self.instance_temperature = float(instance_temperature)
        self.instance_momentum = float(instance_momentum)
        self.temporal_temperature = float(temporal_temperature)
        self.temporal_momentum = float(temporal_momentum)
        self.update_memory_bank = bool(update_memory_bank)
        self.seed = seed
        self.instance_projection = keras.layers.Dense(self.projection_dim, name="instance_projection")
        self.temporal_projection = keras.layers.Dense(self.projection_dim, name="temporal_projection")
        shape = (self.num_examples, self.projection_dim)
        self.instance_bank = self.add_weight(
            shape=shape, initializer=_unit_rows(seed), trainable=False, name="instance_bank")
        self.temporal_bank = self.add_weight(
            shape=shape, initializer=_unit_rows(None if seed is None else seed + 1), trainable=False,
            name="temporal_bank")
        self._negative_sampler = keras.random.SeedGenerator(seed)

    def build(self, representation_shape):
        for projection in (self.instance_projection, self.temporal_projection):
            if not projection.built:
                projection.build((None, representation_shape[-1]))

    def terms(self, z, index, in_stage_two):
        """`(instance_loss, temporal_loss)` of a training batch, each 0 outside its stage; updates the banks.

        Args:
            z: `[B, d]` representation (gradients flow to it).
            index: int32 `[B]` rows of the batch's examples.
            in_stage_two: boolean scalar tensor.
        """
        negatives = self._negative_index()
        instance_queries = ops.normalize(self.instance_projection(z), axis=-1, order=2)
        instance_loss = ctc_memory.memory_bank_nce(
            instance_queries, self.instance_bank, index, negatives, self.instance_temperature)
        temporal_queries = ops.normalize(self.temporal_projection(z), axis=-1, order=2)
        temporal_loss = ctc_memory.memory_bank_nce(
            temporal_queries, self.temporal_bank, index, negatives, self.temporal_temperature)
        # Eq. (4), after the losses have read the banks. The instance bank moves in stage one only;
        # the temporal bank with temporal_momentum in stage two, overwritten (momentum 0) in stage
        # one when update_memory_bank is set, else left alone.
        self._update(self.instance_bank, index, instance_queries, self.instance_momentum,
                     when=ops.logical_not(in_stage_two))
        self._update(self.temporal_bank, index, temporal_queries,
                     ops.where(in_stage_two, self.temporal_momentum, 0.0),
                     when=ops.logical_or(in_stage_two, self.update_memory_bank))
        stage_two = ops.cast(in_stage_two, "float32")
        return (1.0 - stage_two) * instance_loss, stage_two * temporal_loss

    def _negative_index(self):
        if self.num_negatives is None or self.num_negatives >= self.num_examples:
            return ops.arange(self.num_examples, dtype="int32")
        return keras.random.randint(
            (self.num_negatives,), 0, self.num_examples, dtype="int32", seed=self._negative_sampler)

    def _update(self, bank, index, values, momentum, when):
        rows = ops.take(bank, index, axis=0)
        rows = ops.where(when, ctc_memory.momentum_update(rows, values, momentum), rows)
        ctc_memory.write_rows(bank, index, rows)

    def get_config(self):
        config = super().get_config()
        config.update({
            "num_examples": self.num_examples, "projection_dim": self.projection_dim,
            "num_negatives": self.num_negatives, "instance_temperature": self.instance_temperature,
            "instance_momentum": self.instance_momentum, "temporal_temperature": self.temporal_temperature,
            "temporal_momentum": self.temporal_momentum, "update_memory_bank": self.update_memory_bank,
            "seed": self.seed,
        })
        return config
