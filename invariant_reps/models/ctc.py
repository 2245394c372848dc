"""CTC: contrastive temporal coding (Cui et al., ECCV 2022, "dt-tradeoff").

The seed's finding: late in supervised training the representation
over-compresses its input (I(X;T) falls) and transfers worse. CTC adds
InfoNCE terms, which keep information about each individual example, on top
of the task loss, in two stages (the seed's `train_ctc.py`):

- Stage one (0-based epochs `< stage_two_epoch`): instance discrimination
  against a memory bank (Wu et al., CVPR 2018): each example is its own
  class, its positive is its own bank entry, the other entries are
  negatives. Weight `alpha` (the seed's `-a`), temperature
  `instance_temperature` (`--instance_t`), bank momentum `instance_momentum`
  (`--instance_m`).
- Stage two (epochs `>= stage_two_epoch`): temporal contrast: the current
  representation of example `i` against its bank entry from earlier
  training (the positive) and other examples' entries (the negatives).
  Weight `beta` (the seed's `-b`), temperature `temporal_temperature`
  (`--nce_t`), bank momentum `temporal_momentum` (`--nce_m`).

Both terms are InfoNCE over L2-normalised projections `v = P(z) / ||P(z)||`
(a Dense projection per term, the seed's `instance_dim` /
`contrast_feat_dim`):

    L_nce(i) = -log  exp(v_i . m_i / t)
                     ---------------------------------------------       (1)
                     exp(v_i . m_i / t) + sum_{j in K} exp(v_i . m_j / t)

with `m` the bank rows and `K` the negatives (all other rows, or
`num_negatives` rows drawn uniformly per batch and shared by the batch).
After the loss, the batch's rows are moved towards the new projections:

    m_i <- normalize(momentum * m_i + (1 - momentum) * v_i)               (2)

Differences from the seed, on purpose and documented:
- The seed's stage two contrasts the model with a frozen copy of itself
  taken at `stage_two_epoch` (a second forward pass, two banks, the CRD NCE
  loss with 16,384 negatives). Here one bank holds the earlier
  representations: with `update_memory_bank=True` it is overwritten with the
  current projections throughout stage one (so stage two starts from the
  end-of-stage-one representations, what the seed's `--update_memory_bank`
  refresh pass computes) and follows (2) with `temporal_momentum` in stage
  two; a momentum close to 1 keeps the anchor near that snapshot.
- Weight decay: the seed's optimizer uses `weight_decay * weight_decay_coef`
  in stage one and resets to `weight_decay` when stage two starts
  (`train_ctc.py`); this model does the same. (The spec's summary reads as
  if the coefficient applied in stage two; the seed's code is followed.)

The current epoch lives in the non-trainable variable `epoch`, set at every
epoch start by `CTCSchedule`, which `CTC.fit` adds when it is missing.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import INDEX_KEY
from invariant_reps.data.packing import get_index
from invariant_reps.models import validation
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.registry import SENSITIVE_KINDS, register_method

# Logit given to a sampled negative that is the example itself: excluded.
_MASKED_LOGIT = -1e9


def memory_bank_nce(queries, bank, positive_index, negative_index, temperature):
    """InfoNCE of queries against a memory bank, eq. (1); mean over the batch.

    Args:
        queries: `[B, D]` L2-normalised projections `v_i`.
        bank: `[N, D]` L2-normalised memory rows `m`.
        positive_index: int `[B]`, the bank row of each query's positive.
        negative_index: int `[K]`, bank rows used as negatives by every
            query; a row equal to a query's own positive is left out of its
            sum.
        temperature: positive float `t`.

    Returns:
        Scalar: `mean_i L_nce(i)` in nats.

    Example:
        >>> bank = np.eye(2, dtype="float32")
        >>> memory_bank_nce(bank, bank, [0, 1], [0, 1], 1.0)  # log(1 + e^-1)
    """
    queries = ops.convert_to_tensor(queries, "float32")
    bank = ops.stop_gradient(ops.convert_to_tensor(bank, "float32"))
    positive_index = ops.cast(positive_index, "int32")
    negative_index = ops.cast(negative_index, "int32")
    positives = ops.take(bank, positive_index, axis=0)  # [B, D]
    negatives = ops.take(bank, negative_index, axis=0)  # [K, D]
    positive_logits = ops.sum(queries * positives, axis=-1) / temperature  # [B]
    negative_logits = ops.matmul(queries, ops.transpose(negatives)) / temperature
    is_self = ops.equal(positive_index[:, None], negative_index[None, :])  # [B, K]
    negative_logits = ops.where(is_self, _MASKED_LOGIT, negative_logits)
    logits = ops.concatenate([positive_logits[:, None], negative_logits], axis=1)
    # -log softmax of column 0: logsumexp(all logits) - positive logit.
    return ops.mean(ops.logsumexp(logits, axis=1) - positive_logits)


def momentum_update(rows, values, momentum):
    """New memory rows, eq. (2): `normalize(momentum * rows + (1 - momentum) * values)`.

    Args:
        rows: `[B, D]` current bank rows.
        values: `[B, D]` new projections.
        momentum: float or scalar tensor in [0, 1]; 1 keeps `rows` (unit
            rows stay as they are), 0 overwrites them with `values`.

    Returns:
        `[B, D]` unit rows.
    """
    mixed = momentum * rows + (1.0 - momentum) * ops.stop_gradient(values)
    return ops.normalize(mixed, axis=-1, order=2)


class CTCSchedule(keras.callbacks.Callback):
    """Tells a `CTC` model which epoch it is in (its two-stage schedule).

    `on_epoch_begin` receives the absolute epoch (it honours `initial_epoch`
    of a resumed `fit`) and writes it to `model.epoch`. `CTC.fit` adds this
    callback when the caller did not.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_epoch(epoch)


def _unit_rows(seed):
    def initializer(shape, dtype=None):
        rows = keras.random.normal(shape, dtype=dtype, seed=seed)
        return ops.normalize(rows, axis=-1, order=2)

    return initializer


@register_method(
    "ctc",
    hyperparameters=(
        Hyperparameter("alpha", float, 0.5, "a: weight of instance discrimination (stage one; seed -a)", lower=0.0),
        Hyperparameter("beta", float, 1.0, "b: weight of the temporal InfoNCE (stage two; seed -b)", lower=0.0),
        Hyperparameter("instance_temperature", float, 0.1, "instance-discrimination temperature (seed --instance_t)",
                       lower=1e-6),
        Hyperparameter("instance_momentum", float, 0.9, "instance memory-bank momentum (seed --instance_m)",
                       lower=0.0, upper=1.0),
        Hyperparameter("temporal_temperature", float, 0.1, "temporal InfoNCE temperature (seed --nce_t)", lower=1e-6),
        Hyperparameter("temporal_momentum", float, 0.9, "temporal memory-bank momentum (seed --nce_m)",
                       lower=0.0, upper=1.0),
        Hyperparameter("projection_dim", int, 128, "width of the memory-bank projections (seed: 128)", lower=1),
        Hyperparameter("num_negatives", int, 16384, "negatives drawn from each bank per batch (seed nce_k)", lower=1),
        Hyperparameter("update_memory_bank", bool, True, "refresh the temporal bank through stage one (seed flag)"),
        Hyperparameter("stage_two_epoch", int, 0, "first 0-based epoch of stage two (seed: 200 of 300); "
                       "0: no stage two", lower=0),
        Hyperparameter("weight_decay_coef", float, 1.0, "weight-decay multiplier in stage one (seed: 2.0)", lower=0.0),
    ),
    sensitive=SENSITIVE_KINDS,
    tasks=("multiclass",),
    summary="task loss + instance discrimination (stage one) + temporal InfoNCE against a memory bank "
    "(stage two), Cui et al., ECCV 2022",
    needs_index=True,
    distributed=False,
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class CTC(InvariantModel):
    """Contrastive temporal coding: task loss + instance and temporal InfoNCE.

    Objective per batch (epoch `e`, 0-based):

        CE + alpha * L_instance    if e <  stage_two_epoch   (stage one)
        CE + beta  * L_temporal    if e >= stage_two_epoch   (stage two)

    plus coupled weight decay `weight_decay * weight_decay_coef` in stage
    one and `weight_decay` in stage two. Both terms are reported every step
    (`instance_loss`, `temporal_loss`) and are 0 outside their stage and in
    evaluation (they are defined on the training set's memory banks).

    Training batches must carry each example's position in the training set
    under the packing key `"index"`: `({"inputs": x, "index": i}, y)`.

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits.
        num_examples: training-set size; the banks have one row per example.
        alpha: weight of instance discrimination (seed `-a`; 0.5 in the
            transferability setting, 0.1 in the discriminability one).
        beta: weight of the temporal term (seed `-b`; 1.0 in both).
        instance_temperature: seed `--instance_t`.
        instance_momentum: seed `--instance_m`, in [0, 1].
        temporal_temperature: seed `--nce_t`.
        temporal_momentum: seed `--nce_m`, in [0, 1].
        projection_dim: width of both projections (seed: 128).
        num_negatives: negatives per batch drawn from each bank, or None for
            every other row (exact, as the seed's instance term).
        update_memory_bank: fill the temporal bank with the current
            projections during stage one (the seed's `--update_memory_bank`);
            if False it starts stage two from its random initial rows.
        stage_two_epoch: first (0-based) epoch of stage two, i.e. the number
            of stage-one epochs (seed: 200 of 300).
        weight_decay: coupled L2 weight decay of stage two (see
            `InvariantModel`).
        weight_decay_coef: multiplier of `weight_decay` in stage one.
        seed: seed of the bank initialisation and of negative sampling.
        **kwargs: `keras.Model` arguments (`name`).

    Example:
        >>> net = invariant_reps.build_network("mlp", (784,), 5)
        >>> model = CTC(net.encoder, net.head, num_examples=len(x),
        ...             alpha=0.5, stage_two_epoch=20)
        >>> model.compile(optimizer="sgd")
        >>> model.fit({"inputs": x, "index": np.arange(len(x))}, y, epochs=30)
    """

    requires_sensitive = False

    def __init__(
        self,
        encoder,
        head,
        num_examples,
        alpha=0.1,
        beta=1.0,
        instance_temperature=0.1,
        instance_momentum=0.5,
        temporal_temperature=0.07,
        temporal_momentum=0.5,
        projection_dim=128,
        num_negatives=4096,
        update_memory_bank=True,
        stage_two_epoch=200,
        weight_decay=0.0,
        weight_decay_coef=1.0,
        seed=None,
        **kwargs,
    ):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        self.num_examples = _positive_int(num_examples, "num_examples")
        self.projection_dim = _positive_int(projection_dim, "projection_dim")
        if num_negatives is not None:
            num_negatives = _positive_int(num_negatives, "num_negatives")
        self.num_negatives = num_negatives
        for name, value in (
            ("instance_temperature", instance_temperature),
            ("temporal_temperature", temporal_temperature),
        ):
            if not float(value) > 0:
                raise ValueError(f"`{name}` must be > 0; received {value}.")
        for name, value in (
            ("instance_momentum", instance_momentum),
            ("temporal_momentum", temporal_momentum),
        ):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; received {value}.")
        stage_two_epoch = int(stage_two_epoch)
        if stage_two_epoch < 0:
            raise ValueError(f"`stage_two_epoch` must be >= 0; received {stage_two_epoch}.")
        if not float(weight_decay_coef) >= 0:
            raise ValueError(f"`weight_decay_coef` must be >= 0; received {weight_decay_coef}.")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.instance_temperature = float(instance_temperature)
        self.instance_momentum = float(instance_momentum)
        self.temporal_temperature = float(temporal_temperature)
        self.temporal_momentum = float(temporal_momentum)
        self.update_memory_bank = bool(update_memory_bank)
        self.stage_two_epoch = stage_two_epoch
        self.weight_decay_coef = float(weight_decay_coef)
        self.seed = seed
        self.add_loss_term("instance_loss", self.alpha)
        self.add_loss_term("temporal_loss", self.beta)

        self.instance_projection = keras.layers.Dense(projection_dim, name="instance_projection")
        self.temporal_projection = keras.layers.Dense(projection_dim, name="temporal_projection")
        bank_shape = (self.num_examples, self.projection_dim)
        self.instance_bank = self.add_weight(
            shape=bank_shape, initializer=_unit_rows(seed), trainable=False, name="instance_bank"
        )
        self.temporal_bank = self.add_weight(
            shape=bank_shape,
            initializer=_unit_rows(None if seed is None else seed + 1),
            trainable=False,
            name="temporal_bank",
        )
        self.epoch = self.add_weight(
            shape=(), initializer="zeros", dtype="int32", trainable=False, name="epoch"
        )
        self._negative_sampler = keras.random.SeedGenerator(seed)

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        params = dict(params)
        # 0 (the flag's default) means no stage two within the run.
        params["stage_two_epoch"] = params["stage_two_epoch"] or context.epochs
        return cls(
            encoder, head, num_examples=context.num_examples, seed=context.seed,
            weight_decay=context.weight_decay, **params,
        )

    # -------------------------------------------------------------- schedule
    def set_epoch(self, epoch):
        """Sets the current 0-based epoch, which selects the stage."""
        self.epoch.assign(int(epoch))

    def in_stage_two(self):
        """Boolean scalar tensor: whether the current epoch is in stage two."""
        return ops.greater_equal(self.epoch, self.stage_two_epoch)

    def weight_decay_multiplier(self):
        # Seed schedule: weight_decay * weight_decay_coef in stage one,
        # weight_decay from stage two on.
        return ops.where(self.in_stage_two(), 1.0, self.weight_decay_coef)

    # ------------------------------------------------------------------ terms
    def compute_loss_terms(self, batch, z, logits, training):
        if not training:
            # The banks index the training set; validation examples have none.
            zero = ops.zeros(())
            return {"instance_loss": zero, "temporal_loss": zero}
        if batch.index is None:
            raise _missing_index_error()
        index = ops.reshape(ops.cast(batch.index, "int32"), (-1,))
        stage_two = ops.cast(self.in_stage_two(), "float32")
        negatives = self._negative_index()

        # Stage one: instance discrimination, eq. (1) on the instance bank.
        instance_queries = ops.normalize(self.instance_projection(z), axis=-1, order=2)
        instance_loss = memory_bank_nce(
            instance_queries, self.instance_bank, index, negatives, self.instance_temperature
        )
        # Stage two: temporal contrast, eq. (1) on the temporal bank.
        temporal_queries = ops.normalize(self.temporal_projection(z), axis=-1, order=2)
        temporal_loss = memory_bank_nce(
            temporal_queries, self.temporal_bank, index, negatives, self.temporal_temperature
        )

        # Eq. (2), after the losses have read the banks. The instance bank
        # moves in stage one only. The temporal bank moves with
        # temporal_momentum in stage two; in stage one it is overwritten
        # (momentum 0) when update_memory_bank is set, else left alone.
        in_stage_two = self.in_stage_two()
        self._update_bank(
            self.instance_bank, index, instance_queries, self.instance_momentum,
            when=ops.logical_not(in_stage_two),
        )
        self._update_bank(
            self.temporal_bank, index, temporal_queries,
            ops.where(in_stage_two, self.temporal_momentum, 0.0),
            when=ops.logical_or(in_stage_two, self.update_memory_bank),
        )
        return {
            "instance_loss": (1.0 - stage_two) * instance_loss,
            "temporal_loss": stage_two * temporal_loss,
        }

    def _negative_index(self):
        if self.num_negatives is None or self.num_negatives >= self.num_examples:
            return ops.arange(self.num_examples, dtype="int32")
        return keras.random.randint(
            (self.num_negatives,), 0, self.num_examples, dtype="int32",
            seed=self._negative_sampler,
        )

    def _update_bank(self, bank, index, values, momentum, when):
        rows = ops.take(bank, index, axis=0)
        rows = ops.where(when, momentum_update(rows, values, momentum), rows)
        # A sparse write of the batch's rows (the bank can be large).
        bank.value.scatter_nd_update(index[:, None], rows)

    # ------------------------------------------------------------ plumbing
    def build(self, input_shape=None):
        super().build(input_shape)
        representation_dim = self.representation_shape(input_shape)[-1]
        for projection in (self.instance_projection, self.temporal_projection):
            if not projection.built:
                projection.build((None, representation_dim))

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        self._check_indices(x)
        self.ensure_built(x)
        callbacks = list(callbacks or [])
        if not any(isinstance(callback, CTCSchedule) for callback in callbacks):
            callbacks.append(CTCSchedule())
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    def _check_indices(self, x):
        """Fails before tracing when the training data carries no valid index."""
        if isinstance(x, tf.data.Dataset):
            for element in x.take(1):
                x = keras.utils.unpack_x_y_sample_weight(element)[0]
        elif not isinstance(x, (dict, np.ndarray, tf.Tensor)):
            return  # generators, PyDataset: checked when the step is traced.
        index = get_index(x)
        if index is None:
            raise _missing_index_error()
        validation.check_class_ids(
            np.asarray(index), self.num_examples, "example indices", "training data"
        )

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            {
                "num_examples": self.num_examples,
                "alpha": self.alpha,
                "beta": self.beta,
                "instance_temperature": self.instance_temperature,
                "instance_momentum": self.instance_momentum,
                "temporal_temperature": self.temporal_temperature,
                "temporal_momentum": self.temporal_momentum,
                "projection_dim": self.projection_dim,
                "num_negatives": self.num_negatives,
                "update_memory_bank": self.update_memory_bank,
                "stage_two_epoch": self.stage_two_epoch,
                "weight_decay_coef": self.weight_decay_coef,
                "seed": self.seed,
            }
        )
        return config


def _missing_index_error():
    return ValueError(
        "CTC needs each training example's dataset index for its memory banks: "
        f"pass inputs as {{'inputs': x, {INDEX_KEY!r}: i}} with i the example's row "
        "in the training set (0..num_examples-1), e.g. "
        "make_array_dataset(..., include_index=True)."
    )


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be a positive int; received {value!r}.")
    return int(value)
