"""CTC: contrastive temporal coding (Cui et al., ECCV 2022, "dt-tradeoff").

The seed's finding: late in supervised training the representation
over-compresses its input (I(X;T) falls) and transfers worse. CTC adds
contrastive terms, which keep information about each individual example, to
the task loss, in two sequential stages (the seed's `train_ctc.py`); at any
time one term is active:

    CE + alpha * L_instance    epochs e < stage_two_epoch   (stage one, seed -a)
    CE + beta  * L_temporal    epochs e >= stage_two_epoch  (stage two, seed -b)

with coupled weight decay `weight_decay * weight_decay_coef` in stage one,
reset to `weight_decay` at the boundary (the seed's `train_ctc.py` l.134-137,
186-187; the seed's `--weight_decay_coef 2.0` gives 1e-3 then 5e-4). The seed's
learning rate restarts at 0.1x at the boundary (`adjust_learning_rate_decouple`):
the CLI's `--lr_schedule=two_stage_cosine --lr_restart_epoch=<stage_two_epoch>`.

Two variants (`variant=`):

- `"seed"` (default), the seed step for step (`ctc_seed.py`): stage one is a
  full N-way non-parametric softmax over every memory row through a fixed,
  never-trained projection; stage two contrasts the model with a frozen
  snapshot of itself taken at the boundary, through two memories and two
  trained heads, with the CRD NCE loss and negatives from other classes only;
  `update_memory_bank` refills both memories from the snapshot once, at the
  start of stage two.
- `"single_bank"` (`ctc_single_bank.py`): this package's earlier, cheaper
  simplification: InfoNCE against one bank per stage, no snapshot.

The math is in `ctc_memory.py`. The current epoch lives in the non-trainable
variable `epoch`, set at every epoch start by `CTCSchedule` (which `CTC.fit`
adds when it is missing); the same callback takes the snapshot at the boundary.
"""

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import INDEX_KEY, get_index, unpack_inputs
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models import validation
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.ctc_memory import memory_bank_nce, momentum_update  # noqa: F401  (public names)
from invariant_reps.models.ctc_seed import SeedContrast
from invariant_reps.models.ctc_single_bank import SingleBankContrast
from invariant_reps.models.registry import SENSITIVE_KINDS, register_method

VARIANTS = ("seed", "single_bank")


class CTCSchedule(keras.callbacks.Callback):
    """Tells a `CTC` model which epoch it is in, and starts stage two once.

    `on_epoch_begin` receives the absolute epoch (it honours `initial_epoch`
    of a resumed `fit`), writes it to `model.epoch`, then calls
    `model.begin_stage_two()` (the seed variant's snapshot and memory refresh,
    a no-op before the boundary, after it was done, and for `single_bank`).
    `CTC.fit` adds this callback when the caller did not.
    """

    def on_epoch_begin(self, epoch, logs=None):
        self.model.set_epoch(epoch)
        self.model.begin_stage_two()


@register_method(
    "ctc",
    hyperparameters=(
        Hyperparameter("variant", str, "seed", "seed: frozen snapshot, two memories and heads, CRD NCE with "
                       "other-class negatives (dt-tradeoff as written); single_bank: one bank per stage, InfoNCE",
                       choices=VARIANTS),
        Hyperparameter("alpha", float, 0.5, "a: weight of instance discrimination (stage one; seed -a)", lower=0.0),
        Hyperparameter("beta", float, 1.0, "b: weight of the temporal term (stage two; seed -b)", lower=0.0),
        Hyperparameter("instance_temperature", float, 0.1, "instance-discrimination temperature (seed --instance_t)",
                       lower=1e-6),
        Hyperparameter("instance_momentum", float, 0.9, "instance memory momentum (seed --instance_m)",
                       lower=0.0, upper=1.0),
        Hyperparameter("temporal_temperature", float, 0.1, "temporal NCE temperature (seed --nce_t)", lower=1e-6),
        Hyperparameter("temporal_momentum", float, 0.9, "temporal memory momentum (seed --nce_m)",
                       lower=0.0, upper=1.0),
        Hyperparameter("projection_dim", int, 128, "width of the projections and memories (seed: 128)", lower=1),
        Hyperparameter("num_negatives", int, 16384, "seed nce_k: negatives per example from other classes, capped "
                       "at the smallest other-class count (seed); per batch, uniform (single_bank)", lower=1),
        Hyperparameter("update_memory_bank", bool, True, "seed --update_memory_bank: refill the temporal memories "
                       "from the snapshot at the boundary (single_bank: track z through stage one)"),
        Hyperparameter("stage_two_epoch", int, 0, "first 0-based epoch of stage two, where the snapshot is taken "
                       "(seed: 200 of 300); 0: no stage two", lower=0),
        Hyperparameter("weight_decay_coef", float, 1.0, "weight-decay multiplier in stage one (seed: 2.0)", lower=0.0),
    ),
    sensitive=SENSITIVE_KINDS,
    tasks=("multiclass",),
    summary="task loss + instance discrimination (stage one) + temporal NCE against a frozen snapshot "
    "of the model (stage two), Cui et al., ECCV 2022",
    needs_index=True,
    distributed=False,
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class CTC(InvariantModel):
    """Contrastive temporal coding: task loss + instance then temporal contrast.

    Both terms are reported every step (`instance_loss`, `temporal_loss`) and
    are 0 outside their stage and in evaluation (they are defined on the
    training set's memories). Training batches must carry each example's
    position in the training set under the packing key `"index"`:
    `({"inputs": x, "index": i}, y)`.

    Args:
        encoder: Keras model x -> z (the seed's pooled feature).
        head: Keras model z -> logits.
        num_examples: training-set size N; one memory row per example.
        alpha: weight of stage one's instance term (seed `-a`).
        beta: weight of stage two's temporal term (seed `-b`).
        instance_temperature: seed `--instance_t`.
        instance_momentum: seed `--instance_m`, in [0, 1].
        temporal_temperature: seed `--nce_t`.
        temporal_momentum: seed `--nce_m`, in [0, 1].
        projection_dim: width of every projection and memory (seed: 128).
        num_negatives: seed `nce_k`; `"seed"`: per example, from other
            classes, capped at the smallest number of other-class examples;
            `"single_bank"`: per batch, uniform (None: every other row).
        update_memory_bank: `"seed"`: refill both temporal memories from the
            snapshot at the boundary; `"single_bank"`: overwrite the temporal
            bank with the current projections during stage one.
        stage_two_epoch: first (0-based) epoch of stage two (seed: 200 of 300).
        weight_decay: coupled L2 weight decay of stage two (`InvariantModel`).
        weight_decay_coef: multiplier of `weight_decay` in stage one.
        variant: `"seed"` or `"single_bank"` (module docstring).
        seed: seed of the initialisations and of negative sampling.
        **kwargs: `keras.Model` arguments (`name`).

    Example:
        >>> net = invariant_reps.build_network("mlp", (784,), 5)
        >>> model = CTC(net.encoder, net.head, num_examples=len(x), alpha=0.5, stage_two_epoch=20)
        >>> model.compile(optimizer="sgd")
        >>> model.fit({"inputs": x, "index": np.arange(len(x))}, y, epochs=30)
    """

    requires_sensitive = False

    def __init__(self, encoder, head, num_examples, alpha=0.1, beta=1.0, instance_temperature=0.1,
                 instance_momentum=0.5, temporal_temperature=0.07, temporal_momentum=0.5, projection_dim=128,
                 num_negatives=16384, update_memory_bank=True, stage_two_epoch=200, weight_decay=0.0,
                 weight_decay_coef=1.0, variant="seed", seed=None, **kwargs):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        if variant not in VARIANTS:
            raise ValueError(f"`variant` must be one of {VARIANTS}; received {variant!r}.")
        self.num_examples = _positive_int(num_examples, "num_examples")
        self.projection_dim = _positive_int(projection_dim, "projection_dim")
        if num_negatives is None and variant == "seed":
            raise ValueError("`num_negatives` must be a positive int for variant 'seed' (the seed's nce_k).")
        self.num_negatives = None if num_negatives is None else _positive_int(num_negatives, "num_negatives")
        for name, value in (("instance_temperature", instance_temperature),
                            ("temporal_temperature", temporal_temperature)):
            if not float(value) > 0:
                raise ValueError(f"`{name}` must be > 0; received {value}.")
        for name, value in (("instance_momentum", instance_momentum), ("temporal_momentum", temporal_momentum)):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"`{name}` must be in [0, 1]; received {value}.")
        if int(stage_two_epoch) < 0:
            raise ValueError(f"`stage_two_epoch` must be >= 0; received {stage_two_epoch}.")
        if not float(weight_decay_coef) >= 0:
            raise ValueError(f"`weight_decay_coef` must be >= 0; received {weight_decay_coef}.")
        self.variant = variant
        self.alpha, self.beta = float(alpha), float(beta)
        self.instance_temperature = float(instance_temperature)
        self.instance_momentum = float(instance_momentum)
        self.temporal_temperature = float(temporal_temperature)
        self.temporal_momentum = float(temporal_momentum)
        self.update_memory_bank = bool(update_memory_bank)
        self.stage_two_epoch = int(stage_two_epoch)
        self.weight_decay_coef = float(weight_decay_coef)
        self.seed = seed
        self.add_loss_term("instance_loss", self.alpha)
        self.add_loss_term("temporal_loss", self.beta)
        shared = dict(
            num_examples=self.num_examples, projection_dim=self.projection_dim, num_negatives=self.num_negatives,
            instance_temperature=self.instance_temperature, instance_momentum=self.instance_momentum,
            temporal_temperature=self.temporal_temperature, temporal_momentum=self.temporal_momentum, seed=seed,
        )
        if variant == "seed":
            self.contrast = SeedContrast(encoder, name="seed_contrast", **shared)
        else:
            self.contrast = SingleBankContrast(update_memory_bank=self.update_memory_bank,
                                               name="single_bank_contrast", **shared)
        self.epoch = self.add_weight(shape=(), initializer="zeros", dtype="int32", trainable=False, name="epoch")
        self._training_epoch = None  # `fit`'s: a function returning one epoch of (x, index, y) batches.

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        params = dict(params)
        # 0 (the flag's default) means no stage two within the run.
        params["stage_two_epoch"] = params["stage_two_epoch"] or context.epochs
        return cls(encoder, head, num_examples=context.num_examples, seed=context.seed,
                   weight_decay=context.weight_decay, **params)

    # -------------------------------------------------------------- schedule
    def set_epoch(self, epoch):
        """Sets the current 0-based epoch, which selects the stage."""
        self.epoch.assign(int(epoch))

    def in_stage_two(self):
        """Boolean scalar tensor: whether the current epoch is in stage two."""
        return ops.greater_equal(self.epoch, self.stage_two_epoch)

    def begin_stage_two(self):
        """Seed variant, first stage-two epoch: snapshot the encoder and refresh the memories, once.

        The snapshot is taken when the epoch is in stage two and none was
        taken yet (`contrast.snapshot_taken`, saved with the model, so a run
        resumed after the boundary keeps its snapshot). With
        `update_memory_bank` the refresh reads one epoch of `fit`'s training
        data; the rows depend on the examples only, not on their order.

        Returns:
            Whether the snapshot was taken now.
        """
        if self.variant != "seed" or not bool(self.in_stage_two()) or int(self.contrast.snapshot_taken.numpy()):
            return False
        self.contrast.take_snapshot(self.encoder)
        if self.update_memory_bank:
            if self._training_epoch is None:
                raise ValueError("CTC's memory refresh (update_memory_bank=True) reads the training data: start "
                                 "stage two inside `CTC.fit`.")
            self.contrast.refresh((x, index) for x, index, _ in self._training_epoch())
        return True

    def weight_decay_multiplier(self):
        # Seed schedule: weight_decay * weight_decay_coef in stage one, weight_decay from stage two on.
        return ops.where(self.in_stage_two(), 1.0, self.weight_decay_coef)

    def _coupled_weight_decay(self, variables, weight_decay):
        # Seed variant: the heads W_s, W_t get no gradient in stage one, so the seed's SGD (which skips
        # parameters without a gradient) does not decay them either; they decay from stage two on.
        if self.variant != "seed":
            return super()._coupled_weight_decay(variables, weight_decay)
        heads = {id(v) for v in self.contrast.head_variables}
        body = [v for v in variables if id(v) not in heads]
        head = [v for v in variables if id(v) in heads]
        gate = ops.cast(self.in_stage_two(), "float32")
        return (super()._coupled_weight_decay(body, weight_decay)
                + gate * super()._coupled_weight_decay(head, weight_decay))

    # ------------------------------------------------------------------ terms
    def compute_loss_terms(self, batch, z, logits, training):
        if not training:
            # The memories index the training set; validation examples have none.
            zero = ops.zeros(())
            return {"instance_loss": zero, "temporal_loss": zero}
        if batch.index is None:
            raise _missing_index_error()
        index = ops.reshape(ops.cast(batch.index, "int32"), (-1,))
        if self.variant == "seed":
            instance, temporal = self.contrast.terms(batch.x, z, batch.y, index, self.in_stage_two())
        else:
            instance, temporal = self.contrast.terms(z, index, self.in_stage_two())
        return {"instance_loss": instance, "temporal_loss": temporal}

    # ------------------------------------------------------------ plumbing
    def build(self, input_shape=None):
        super().build(input_shape)
        if not self.contrast.built:
            z_shape = self.representation_shape(input_shape)
            if self.variant == "seed":
                encoder_inputs = getattr(self.encoder, "inputs", None)
                shape = tuple(encoder_inputs[0].shape) if encoder_inputs else self._input_shape_of(input_shape)
                self.contrast.build_state(shape, z_shape)
            else:
                self.contrast.build(z_shape)

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        self._check_indices(x)
        self.ensure_built(x)
        if self.variant == "seed":
            self._training_epoch = _one_epoch(x, y, kwargs.get("steps_per_epoch"), kwargs.get("batch_size"))
            if self.contrast.labels_complete():
                self.contrast.use_stored_labels()
            else:  # One pass over the data: the classes of the other-class negatives.
                seen = [(np.asarray(index).reshape(-1), np.asarray(t).reshape(-1))
                        for _, index, t in self._training_epoch()]
                self.contrast.set_labels(*(np.concatenate(parts) for parts in zip(*seen)))
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
        validation.check_class_ids(np.asarray(index), self.num_examples, "example indices", "training data")

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update({
            "num_examples": self.num_examples, "alpha": self.alpha, "beta": self.beta,
            "instance_temperature": self.instance_temperature, "instance_momentum": self.instance_momentum,
            "temporal_temperature": self.temporal_temperature, "temporal_momentum": self.temporal_momentum,
            "projection_dim": self.projection_dim, "num_negatives": self.num_negatives,
            "update_memory_bank": self.update_memory_bank, "stage_two_epoch": self.stage_two_epoch,
            "weight_decay_coef": self.weight_decay_coef, "variant": self.variant, "seed": self.seed,
        })
        return config


def _one_epoch(x, y, steps_per_epoch, batch_size):
    """A function returning an iterator over one epoch of `fit`'s data as `(inputs, index, y)` batches.

    Args:
        x: a `tf.data.Dataset` of packed batches, or a packed dict of arrays.
        y: the targets when `x` is a dict.
        steps_per_epoch: `fit`'s; batches of the dataset per epoch (None: all).
        batch_size: `fit`'s, for arrays (None: 32, Keras's default).
    """
    if isinstance(x, tf.data.Dataset):
        if steps_per_epoch is None and x.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise ValueError("CTC (variant 'seed') reads one epoch of the training data: pass `steps_per_epoch` "
                             "with an infinite dataset.")

        def dataset_epoch():
            for element in x.take(steps_per_epoch) if steps_per_epoch else x:
                packed, targets, _ = keras.utils.unpack_x_y_sample_weight(element)
                yield unpack_inputs(packed)[0], get_index(packed), targets

        return dataset_epoch
    if isinstance(x, dict) and y is not None:
        inputs, index, size = unpack_inputs(x)[0], np.asarray(get_index(x)), batch_size or 32

        def array_epoch():
            for start in range(0, len(index), size):
                rows = slice(start, start + size)
                yield keras.tree.map_structure(lambda a: a[rows], inputs), index[rows], np.asarray(y)[rows]

        return array_epoch
    raise ValueError("CTC (variant 'seed') reads the training data at the stage boundary (labels, memory "
                     "refresh): pass a tf.data.Dataset or a dict of arrays with y, not a generator.")


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
