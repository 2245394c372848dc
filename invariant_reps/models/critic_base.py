"""What the MI-critic and adversary methods share: r, s, the background mask, the critic stream.

`DecorrelationModel` is the base of `MIPenalty`, `KLUpdate` (mi_penalty.py) and
`Adversarial` (adversarial.py). Each trains one auxiliary network (a critic
T(r, s) or an adversary r -> s) on the classifier's *penalised tensor* r and
the nuisance s, and penalises the classifier through it:

- r (`penalized`): the logits (default for a one-logit binary head, as the
  seed: spec A.3 and correction C.4), the bottleneck z (default for a
  multiclass head, e.g. Biased-MNIST with s = colour), or the output of any
  named layer of the head or the encoder. A named layer is recomputed by a
  functional sub-model sharing the weights: an extra partial forward pass, in
  which a BatchNorm in training mode updates its moving statistics a second
  time and a Dropout draws another mask (prefer "logits"/"bottleneck" there).
- s: class ids are one-hot encoded (`num_sensitive_classes`); a continuous s
  is standardised (`standardize_sensitive`): "dataset" (default) with the
  training set's mean and standard deviation, read once when `fit` starts
  (or given as `sensitive_mean`/`sensitive_std`) and saved in the config: a
  fixed affine map, so the critic sees the same function of s at every step,
  in every replica and after a resume; "batch" with the (global) batch's own
  mean and standard deviation; "none": raw values, as the seed (M_bc in GeV
  is then nearly constant at the critic's input scale and learning is slow).
- `background_only`: the auxiliary network and the penalty see background events
  only (label 0), as the seed's `-bkg_only`.
- `critic_stream`: "same" (default) trains the auxiliary network on the
  stopped outputs of the classifier's own forward pass (the base's
  convention); "held_out" on a second sub-batch packed with every training
  batch (`critic_data.attach_held_out`), forwarded by the *updated*
  classifier in inference mode (so, unlike the seed, no BatchNorm statistics
  move on it), as the seed's test-stream critic batches. All `steps` of one
  classifier step use that one sub-batch (the seed draws a fresh test batch
  per critic step). The command line has no held-out stream.

Everything the auxiliary network sees is gathered over replicas, so its
steps, like the penalty, equal their single-device values.
"""

import numbers
import threading
import warnings

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import INPUTS_KEY, SENSITIVE_KEY, unpack_inputs
from invariant_reps.models import critic_data, validation
from invariant_reps.models.base import Batch, InvariantModel
from invariant_reps.models.replicas import gather_replicas

PENALIZED_DEFAULTS = ("auto", "logits", "bottleneck")
STREAMS = ("same", "held_out")
STANDARDIZATIONS = ("dataset", "batch", "none")
_STD_FLOOR = 1e-12


class DecorrelationModel(InvariantModel):
    """Base class: an auxiliary network on (r, s) and the plumbing around it (see the module doc).

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> logits.
        num_sensitive_classes: K for a discrete s (class ids in [0, K)),
            None for a continuous s.
        sensitive_dim: width of a continuous s (1 for `[N]` or `[N, 1]`).
        penalized: "auto", "logits", "bottleneck" or a layer name.
        critic_stream: "same" or "held_out".
        background_only: restrict the auxiliary network and the penalty to
            label 0 (the seed's `-bkg_only`; the old keyword `bkg_only` is
            still accepted, with a DeprecationWarning).
        standardize_sensitive: "dataset", "batch" or "none".
        sensitive_mean, sensitive_std: training-set statistics of a
            continuous s (lists of `sensitive_dim` floats); None: read by `fit`.
        seed: int seed of the initialisers and the in-batch shuffles.
        weight_decay: coupled L2 weight decay of encoder + head.
        **kwargs: `keras.Model` arguments.

    Example (a subclass; the base declares no term):
        >>> model = MIPenalty(net.encoder, net.head, background_only=True, standardize_sensitive="dataset")
        >>> model.fit(pack_inputs(x, mass), y)      # reads mass's mean and std first
        >>> model.sensitive_mean, model.sensitive_std
    """

    #: Name of the auxiliary network (set by the subclass).
    auxiliary_name = None

    def __init__(self, encoder, head, num_sensitive_classes=None, sensitive_dim=1, penalized="auto",
                 critic_stream="same", background_only=False, standardize_sensitive="dataset", sensitive_mean=None,
                 sensitive_std=None, seed=None, weight_decay=0.0, **kwargs):
        kwargs.pop("task_weight", None)
        if "bkg_only" in kwargs:
            warnings.warn("`bkg_only` is now `background_only` (the name DisCo uses); pass background_only=.",
                          DeprecationWarning, stacklevel=2)
            background_only = kwargs.pop("bkg_only")
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        if num_sensitive_classes is not None:
            num_sensitive_classes = _integer(num_sensitive_classes, "num_sensitive_classes", 2)
        self.num_sensitive_classes = num_sensitive_classes
        self.sensitive_dim = _integer(sensitive_dim, "sensitive_dim", 1)
        _choice(critic_stream, STREAMS, "critic_stream")
        _choice(standardize_sensitive, STANDARDIZATIONS, "standardize_sensitive")
        if seed is not None:
            seed = _integer(seed, "seed", 0)
        self.critic_stream, self.standardize_sensitive, self.seed = critic_stream, standardize_sensitive, seed
        self.background_only = bool(background_only)
        if self.background_only and self._task_width() not in (None, 1):
            raise ValueError(
                "`background_only` keeps the background (label 0) of a binary task; the head has "
                f"{self._task_width()} outputs."
            )
        self.penalized_option = penalized
        self.penalized, tap = self._resolve_penalized(penalized)
        object.__setattr__(self, "_tap", tap)  # shares the encoder's/head's weights; not tracked twice
        # MirroredStrategy traces each replica's step in its own thread: one pending sub-batch per thread.
        object.__setattr__(self, "_held_out_slot", threading.local())
        self.sensitive_mean = _statistic(sensitive_mean, self.sensitive_dim, "sensitive_mean")
        self.sensitive_std = _statistic(sensitive_std, self.sensitive_dim, "sensitive_std", positive=True)
        if (self.sensitive_mean is None) != (self.sensitive_std is None):
            raise ValueError("Pass both `sensitive_mean` and `sensitive_std`, or neither.")
        shape = (self.sensitive_dim,)
        self.sensitive_location = self.add_weight(
            shape=shape, initializer=keras.initializers.Constant(self.sensitive_mean or 0.0), trainable=False,
            name="sensitive_location",
        )
        self.sensitive_scale = self.add_weight(
            shape=shape, initializer=keras.initializers.Constant(self.sensitive_std or 1.0), trainable=False,
            name="sensitive_scale",
        )

    @classmethod
    def from_experiment(cls, encoder, head, params, context):
        discrete = context.sensitive_kind == "discrete"
        if discrete and not context.num_sensitive_classes:
            raise ValueError(f"{cls.__name__}: a discrete sensitive variable needs `num_sensitive_classes`.")
        return cls(
            encoder, head, num_sensitive_classes=context.num_sensitive_classes if discrete else None,
            seed=context.seed, weight_decay=context.weight_decay, **params,
        )

    # ------------------------------------------------------------ r and s
    def _resolve_penalized(self, penalized):
        if not isinstance(penalized, str) or not penalized:
            raise ValueError(
                f"`penalized` must be one of {PENALIZED_DEFAULTS} or a layer name; received {penalized!r}."
            )
        if penalized == "auto":
            return ("logits" if self._task_width() in (None, 1) else "bottleneck"), None
        if penalized in ("logits", "bottleneck"):
            return penalized, None
        for where, network in (("head", self.head), ("encoder", self.encoder)):
            if getattr(network, "inputs", None) and penalized in {layer.name for layer in network.layers}:
                tap = keras.Model(network.inputs, network.get_layer(penalized).output, name=f"tap_{penalized}")
                return penalized, (where, tap)
        names = [layer.name for net in (self.encoder, self.head) for layer in getattr(net, "layers", [])]
        raise ValueError(
            f"`penalized` must be one of {PENALIZED_DEFAULTS} or the name of a layer of the functional encoder "
            f"or head; received {penalized!r}. Layers: {names}."
        )

    def penalized_tensor(self, x, z, logits, training):
        """r: the tensor whose information about s is penalised (global batch when z/logits are)."""
        if self.penalized == "logits":
            return logits
        if self.penalized == "bottleneck":
            return z
        where, tap = self._tap
        if where == "head":
            return tap(z, training=training)
        return gather_replicas(tap(x, training=training))  # x is each replica's own share

    def _penalized_width(self, z_shape):
        if self.penalized == "bottleneck":
            return z_shape[-1]
        if self.penalized == "logits":
            return self._task_width() or self.head.compute_output_shape(z_shape)[-1]
        return self._tap[1].outputs[0].shape[-1]

    def _sensitive_width(self):
        return self.num_sensitive_classes or self.sensitive_dim

    def sensitive_features(self, s):
        """s as the auxiliary network reads it: one-hot classes, or the standardised float `[N, d]`."""
        if self.num_sensitive_classes:
            return ops.one_hot(ops.cast(ops.reshape(s, (-1,)), "int32"), self.num_sensitive_classes)
        s = ops.reshape(ops.cast(s, "float32"), (-1, self.sensitive_dim))
        if self.standardize_sensitive == "dataset":
            return (s - self.sensitive_location) / self.sensitive_scale
        if self.standardize_sensitive == "batch":
            mean = ops.mean(s, axis=0)
            return (s - mean) / ops.maximum(ops.std(s, axis=0), _STD_FLOOR)
        return s

    def selection(self, y):
        """Boolean `[N]` of the events the auxiliary network and the penalty use, or None for all."""
        if not self.background_only:
            return None
        return ops.equal(ops.reshape(ops.cast(y, "float32"), (-1,)), 0.0)

    def auxiliary_inputs(self, batch, z, logits, training):
        """`(r, s, y)` of the global batch for the auxiliary network, r's gradient stopped, s as given."""
        z, logits = gather_replicas(z), gather_replicas(logits)
        r = ops.stop_gradient(ops.cast(self.penalized_tensor(batch.x, z, logits, training), "float32"))
        return r, gather_replicas(batch.s), gather_replicas(batch.y)

    # --------------------------------------------------------- statistics
    def statistics_needed(self):
        """Whether `fit` must read the training values of s (subclasses add theirs)."""
        return (
            not self.num_sensitive_classes and self.standardize_sensitive == "dataset" and self.sensitive_mean is None
        )

    def set_sensitive_statistics(self, values):
        """Sets the training-set statistics of a continuous s from its values `[N]` or `[N, d]`.

        Args:
            values: array of every training value of s.

        Example:
            >>> model.set_sensitive_statistics(train_mass)  # instead of letting fit read them
        """
        values = np.asarray(values, dtype=np.float64).reshape(len(values), -1)
        if values.shape[1] != self.sensitive_dim:
            raise ValueError(f"s has {values.shape[1]} columns; `sensitive_dim` is {self.sensitive_dim}.")
        self.sensitive_mean, self.sensitive_std = critic_data.mean_and_std(values, type(self).__name__)
        self.sensitive_location.assign(np.asarray(self.sensitive_mean, np.float32))
        self.sensitive_scale.assign(np.asarray(self.sensitive_std, np.float32))

    # ------------------------------------------------------------ training
    def extra_callbacks(self, callbacks):
        """Callbacks `fit` must add to the caller's (a subclass's schedule)."""
        return []

    def fit(self, x=None, y=None, callbacks=None, **kwargs):
        validation.check_fit_data(self, x, y, name="training data")
        first = critic_data.first_inputs(x)
        if first is not None:
            self._check_first_batch(first)
        if self.statistics_needed():
            values = critic_data.sensitive_values(x, kwargs.get("steps_per_epoch"), type(self).__name__)
            if values is not None:
                self.set_sensitive_statistics(values)
        callbacks = list(callbacks or [])
        callbacks += self.extra_callbacks(callbacks)
        return super().fit(x, y, callbacks=callbacks, **kwargs)

    def _check_first_batch(self, first):
        _, held_out = critic_data.split_held_out(first)
        if self.critic_stream == "held_out" and held_out is None:
            raise ValueError(
                f"{type(self).__name__} has critic_stream='held_out' but the training batches carry no "
                f"{critic_data.HELD_OUT_KEY!r} sub-batch: build them with "
                "invariant_reps.models.critic_data.attach_held_out(train, held_out) (tf.data only; the command "
                "line has no held-out stream), or use critic_stream='same'."
            )
        s = unpack_inputs(first)[1]
        if s is None or self.num_sensitive_classes:
            return
        s = np.asarray(s, dtype=np.float64).reshape(len(s), -1)
        if s.shape[1] != self.sensitive_dim:
            raise ValueError(
                f"training data: the sensitive values have {s.shape[1]} column(s); "
                f"`sensitive_dim` is {self.sensitive_dim}."
            )
        if len(s) > 1 and np.all(s == s[0]) and not self.statistics_needed():  # else the full scan decides
            warnings.warn(
                f"{type(self).__name__}: the sensitive variable is constant in the first training batch "
                f"({s[0].tolist()}); a constant s carries no information to remove. Check the data.",
                stacklevel=3,
            )

    def train_step(self, data):
        x_packed, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        x_packed, held_out = critic_data.split_held_out(x_packed)
        if self.critic_stream == "held_out":
            if held_out is None:
                raise ValueError(
                    f"critic_stream='held_out': a training batch has no {critic_data.HELD_OUT_KEY!r} sub-batch."
                )
        self._held_out_slot.batch = held_out if self.critic_stream == "held_out" else None
        try:
            return super().train_step(keras.utils.pack_x_y_sample_weight(x_packed, y, sample_weight))
        finally:
            self._held_out_slot.batch = None

    def _auxiliary_update(self, name, batch, z, logits):
        # Base hook override: with a held-out stream the auxiliary network trains on the held-out
        # sub-batch, forwarded by the classifier *after* its update and in inference mode.
        held = getattr(self._held_out_slot, "batch", None)
        if held is not None:
            x = tf.nest.map_structure(
                lambda t: tf.debugging.check_numerics(t, "NaN or inf in the held-out critic batch")
                if t.dtype.is_floating else t, held[INPUTS_KEY],
            )
            z = ops.stop_gradient(self.encoder(x, training=False))
            logits = ops.stop_gradient(self.head(z, training=False))
            batch = Batch(x, held[critic_data.LABELS_KEY], held[SENSITIVE_KEY], None)
        super()._auxiliary_update(name, batch, z, logits)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if "bkg_only" in config:  # a model saved before `bkg_only` became `background_only`
            config["background_only"] = config.pop("bkg_only")
        return super().from_config(config)

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            num_sensitive_classes=self.num_sensitive_classes, sensitive_dim=self.sensitive_dim,
            penalized=self.penalized_option, critic_stream=self.critic_stream,
            background_only=self.background_only,
            standardize_sensitive=self.standardize_sensitive,
            sensitive_mean=None if self.sensitive_mean is None else list(self.sensitive_mean),
            sensitive_std=None if self.sensitive_std is None else list(self.sensitive_std), seed=self.seed,
        )
        return config


def _integer(value, name, lower):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < lower:
        raise ValueError(f"`{name}` must be an int >= {lower}; received {value!r}.")
    return int(value)


def _choice(value, choices, name):
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}; received {value!r}.")


def _statistic(value, size, name, positive=False):
    if value is None:
        return None
    array = np.asarray(value, dtype=np.float64).reshape(-1)
    if array.shape != (size,) or not np.all(np.isfinite(array)) or (positive and np.any(array <= 0)):
        raise ValueError(
            f"`{name}` must be {size} finite{' positive' if positive else ''} float(s); received {value!r}."
        )
    return array.tolist()


def positive_float(value, name):
    """`float(value)`, raising a ValueError naming `name` unless it is finite and > 0."""
    value = float(value)
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"`{name}` must be a finite number > 0; received {value!r}.")
    return value


def non_negative_float(value, name):
    """`float(value)`, raising a ValueError naming `name` unless it is finite and >= 0."""
    value = float(value)
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"`{name}` must be a finite number >= 0; received {value!r}.")
    return value


def integer(value, name, lower):
    """`int(value)`, raising a ValueError naming `name` unless it is an int >= lower."""
    return _integer(value, name, lower)
