"""DisCo: decorrelating a classifier from a nuisance with distance correlation.

Kasieczka & Shih, "Robust jet classifiers through distance correlation",
PRL 125 (2020) 122001, arXiv:2001.05310 (spec/invreps_disenib.md A.8). The
classifier minimises

    L = L_task + lambda * dCorr^2_w(r, s)^power                      (DisCo eq. 2)

on every batch, where `r` is what must not depend on the nuisance `s` (the
classifier's output) and dCorr^2_w is Szekely's squared distance correlation
with event weights `w` (`distance_correlation`, where the double-centring
equations are written out). Its population value is 0 iff r and s are
independent, so unlike Pearson's correlation it removes non-linear
dependence too. The DisCo paper decorrelates the *background* only (the
signal may keep its mass peak): `background_only=True` gives the signal events
weight 0, which is exactly dCorr^2 of the background sub-batch (zero-weight
events drop out of every weighted sum).

What is decorrelated (`representation`):
    - "logit": the binary classifier's logit (the seed's penalties act on it,
      spec A.3); "probability": its sigmoid, the DisCo paper's output;
    - "bottleneck": the encoder output z (a vector: Euclidean distances);
    - "auto" (default): the logit for a one-logit (binary) head, z otherwise.
A discrete `s` (class ids; `num_sensitive_classes` given) is one-hot encoded,
so its distance is `sqrt(2) [s_i != s_j]` and the class numbering is
irrelevant; a continuous `s` is used as is (dCorr is scale invariant, so raw
GeV are fine).

Event weights. Keras hands the batch's sample weights to the compiled task loss
only, and `compute_loss_terms` sees `Batch(x, y, s, index)`. `DisCo` therefore
overrides `train_step` / `test_step` minimally: they read the weights with
`keras.utils.unpack_x_y_sample_weight`, keep them for the duration of that
step (per thread: `MirroredStrategy` traces its replicas concurrently), and
delegate to the base; `compute_loss_terms` gathers them over replicas like
the rest of the batch. Without sample weights all events weigh 1.

Memory. `block_size=0` uses the direct form, about a dozen N x N float32
buffers kept for the backward pass, times d for a d-dimensional `r` (the
pairwise differences are `[N, N, d]`): ~50 MB for N = 1024 and a logit,
the O(N^2) of DisCo's reference code. `block_size=k > 0` bounds the forward
AND backward memory to O(N * k * d) floats (three passes over the pairs
instead of one): use it for large batches or a wide bottleneck.
"""

import threading
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import unpack_inputs
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models import critic_data
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.distance_correlation import distance_correlation
from invariant_reps.models.registry import register_method
from invariant_reps.models.replicas import gather_replicas

REPRESENTATIONS = ("auto", "logit", "probability", "bottleneck")
TERM = "disco"


def disco_term(r, s, weights=None, labels=None, *, background_only=False, power=1.0, block_size=0):
    """`dCorr^2_w(r, s)^power`, optionally on the background (label 0) only.

    Args:
        r: `[N]` or `[N, d]` values to decorrelate (scores, a bottleneck).
        s: `[N]` or `[N, d']` nuisance values.
        weights: optional `[N]` non-negative event weights (None: all 1).
        labels: `[N]` task labels, required with `background_only`.
        background_only: give signal events (label != 0) weight 0.
        power: exponent >= 1 of dCorr^2 (DisCo's `power`).
        block_size: 0 for the direct O(N^2 d) form; k > 0 for O(N k d) memory.

    Returns:
        float32 scalar; 0 (with a zero gradient) when fewer than two events
        have positive weight or `r` or `s` is constant over them.

    Example:
        >>> disco_term(logits[:, 0], mass, labels=y, background_only=True)
    """
    r = tf.cast(tf.convert_to_tensor(r), tf.float32)
    n = tf.shape(r)[0]
    w = tf.ones([n], tf.float32) if weights is None else tf.reshape(tf.cast(weights, tf.float32), [-1])
    if background_only:
        if labels is None:
            raise ValueError("`background_only=True` needs the task `labels` (0 = background).")
        w = w * tf.cast(tf.equal(tf.reshape(tf.cast(labels, tf.float32), [-1]), 0.0), tf.float32)
    w = tf.stop_gradient(w)
    usable = tf.reduce_sum(w) > 0
    # All-zero weights (e.g. a batch without background) would divide by 0 in
    # the normalisation: compute on unit weights and discard the value.
    safe_w = tf.where(usable, w, tf.ones_like(w))
    value = distance_correlation(r, s, safe_w, power=power, block_size=block_size or None)
    return tf.where(usable, value, 0.0)


@register_method(
    "disco",
    hyperparameters=(
        Hyperparameter("lam", float, 10.0, "lambda: weight of dCorr^2(r, s)^power", lower=0.0),
        Hyperparameter("power", float, 1.0, "exponent of dCorr^2 (DisCo's `power`; >= 1 keeps 0 differentiable)",
                       lower=1.0),
        Hyperparameter("background_only", bool, False,
                       "decorrelate on background events (label 0) only, as the DisCo paper"),
        Hyperparameter("representation", str, "auto",
                       "r: auto (logit for binary, z for multiclass), logit, probability (sigmoid), bottleneck",
                       choices=REPRESENTATIONS),
        Hyperparameter("block_size", int, 0, "rows per block of the pair loops (memory O(N k d)); 0: direct O(N^2 d)",
                       lower=0),
    ),
    sensitive=("continuous", "discrete"),
    tasks=("binary", "multiclass"),
    summary="lambda * dCorr^2(r, s)^power on the batch, event-weighted, optionally background only "
    "(DisCo, Kasieczka & Shih, PRL 2020)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class DisCo(InvariantModel):
    """`L = L_task + lam * dCorr^2_w(r, s)^power` (see the module docstring).

    The term is logged, unweighted, as `"disco"` (and `"val_disco"`).

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits (one logit for a binary task).
        lam: lambda >= 0.
        power: exponent >= 1 applied to dCorr^2.
        background_only: decorrelate on the label-0 events only.
        representation: one of `REPRESENTATIONS`.
        block_size: 0 (direct) or rows per block (bounded memory).
        num_sensitive_classes: None for a continuous `s`; an int >= 2 for
            class ids, which are one-hot encoded.
        weight_decay: coupled L2 weight decay (see `InvariantModel`).
        **kwargs: passed to `keras.Model`.

    Example:
        >>> net = build_network("dense_bn", (16,), 1, hidden_units=(64, 64))
        >>> model = DisCo(net.encoder, net.head, lam=50.0, background_only=True)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(make_hep_dataset(200_000, 1024, with_weights=True), epochs=3)
    """

    def __init__(
        self,
        encoder,
        head,
        lam=10.0,
        power=1.0,
        background_only=False,
        representation="auto",
        block_size=0,
        num_sensitive_classes=None,
        weight_decay=0.0,
        **kwargs,
    ):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        if not float(lam) >= 0:
            raise ValueError(f"`lam` must be >= 0; received {lam!r}.")
        if isinstance(power, bool) or not float(power) >= 1.0:
            raise ValueError(f"`power` must be a number >= 1; received {power!r}.")
        if representation not in REPRESENTATIONS:
            raise ValueError(f"`representation` must be one of {REPRESENTATIONS}; received {representation!r}.")
        if isinstance(block_size, bool) or int(block_size) != block_size or block_size < 0:
            raise ValueError(f"`block_size` must be an int >= 0; received {block_size!r}.")
        if num_sensitive_classes is not None and (
            isinstance(num_sensitive_classes, bool) or int(num_sensitive_classes) < 2
        ):
            raise ValueError(
                f"`num_sensitive_classes` must be None (continuous s) or an int >= 2; received "
                f"{num_sensitive_classes!r}."
            )
        self.lam = float(lam)
        self.power = float(power)
        self.background_only = bool(background_only)
        self.representation = representation
        self.block_size = int(block_size)
        self.num_sensitive_classes = None if num_sensitive_classes is None else int(num_sensitive_classes)
        # The current step's sample weights, per thread (MirroredStrategy traces
        # replicas in concurrent threads); not tracked by Keras.
        object.__setattr__(self, "_step_state", threading.local())
        self.add_loss_term(TERM, self.lam)

    def fit(self, x=None, y=None, **kwargs):
        """`keras.Model.fit`, warning first when s is constant in the first batch (dCorr^2 is then 0)."""
        first = critic_data.first_inputs(x)
        s = None if first is None else unpack_inputs(first)[1]
        if s is not None and len(s) > 1:
            s = np.asarray(s).reshape(len(s), -1)
            if np.all(s == s[0]):
                warnings.warn(
                    f"DisCo: the sensitive variable is constant in the first training batch ({s[0].tolist()}): "
                    "dCorr^2 with a constant is 0, so the term removes nothing. Check the data's sensitive column.",
                    stacklevel=2,
                )
        return super().fit(x, y, **kwargs)

    # --------------------------------------------------------------- weights
    def train_step(self, data):
        return self._with_sample_weight(data, super().train_step)

    def test_step(self, data):
        return self._with_sample_weight(data, super().test_step)

    def _with_sample_weight(self, data, step):
        _, _, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        self._step_state.sample_weight = sample_weight
        try:
            return step(data)
        finally:
            self._step_state.sample_weight = None

    def _current_weights(self):
        """The step's sample weights, gathered like the batch (None outside a step or without weights)."""
        weights = getattr(self._step_state, "sample_weight", None)
        if weights is None:
            return None
        return gather_replicas(weights) if self.global_batch_terms else weights

    # ------------------------------------------------------------------ term
    def decorrelated(self, z, logits):
        """The `r` of the term: logit, probability or bottleneck (see `representation`)."""
        choice = self.representation
        if choice == "auto":
            choice = "logit" if logits.shape[-1] == 1 else "bottleneck"
        if choice in ("logit", "probability") and logits.shape[-1] != 1:
            raise ValueError(
                f"representation={self.representation!r} needs a binary task's single logit; the head outputs "
                f"{logits.shape[-1]} logits. Use 'bottleneck'."
            )
        if choice == "logit":
            return logits
        if choice == "probability":
            return ops.sigmoid(logits)
        return _as_rows(z)

    def nuisance(self, s):
        """`s` as distance_correlation reads it: one-hot class ids, or the continuous values."""
        if self.num_sensitive_classes is not None:
            return ops.one_hot(ops.cast(ops.reshape(s, (-1,)), "int32"), self.num_sensitive_classes)
        return _as_rows(ops.cast(s, "float32"))

    def compute_loss_terms(self, batch, z, logits, training):
        value = disco_term(
            self.decorrelated(z, logits),
            self.nuisance(batch.s),
            self._current_weights(),
            batch.y,
            background_only=self.background_only,
            power=self.power,
            block_size=self.block_size,
        )
        return {TERM: value}

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            {
                "lam": self.lam,
                "power": self.power,
                "background_only": self.background_only,
                "representation": self.representation,
                "block_size": self.block_size,
                "num_sensitive_classes": self.num_sensitive_classes,
            }
        )
        return config


def _as_rows(value):
    """`[N]` -> `[N, 1]`; `[N, ...]` -> `[N, prod(...)]`, keeping the static width."""
    if len(value.shape) == 1:
        return value[:, None]
    width = 1
    for size in value.shape[1:]:
        if size is None:
            raise ValueError(f"The decorrelated tensors need static feature dimensions; received {value.shape}.")
        width *= int(size)
    return ops.reshape(value, (-1, width))
