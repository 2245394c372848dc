"""What VIB and NIB share: the IB Lagrangian `CE + lambda * h(C)` on a Gaussian code.

The information-bottleneck Lagrangians of the DisenIB seed's `lagrangian_fc`
(spec B.1) minimise

    L = CE(y, decoder(t)) + lambda * h(C),   t ~ q(t | x) = N(mu(x), sigma(x)^2 I),

where `C` is the method's compression term (an upper bound on I(X;T): the
KL to the prior for VIB, a pairwise-distance bound for NIB) and `h` is
monotone (the "convex IB Lagrangian", Rodriguez Galvez et al., Entropy 2020;
`h(u) = u^2` is the squared IB of Kolchinsky et al., ICLR 2019, which the seed
runs with lambda = 0.001):

    h(u) = u              hfunc="none"
    h(u) = u^(1 + p)      hfunc="pow"   (p = hfunc_param, default 1: u^2)
    h(u) = exp(p * u)     hfunc="exp"

lambda multiplies *after* h. `IBLagrangian` is the common `InvariantModel`:
it puts a `GaussianCode` layer at the end of the encoder (see
`attach_gaussian_code`), reports `compression` (C, nats, weight 0) and
`compression_penalty` (h(C), weight lambda) as loss terms, and exposes the
code's distribution for the I(X;T) evaluation (`code_distribution`).
"""

import math
import numbers

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from invariant_reps.data.packing import unpack_inputs
from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.layers.variational import GaussianCode
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.replicas import gather_replicas

HFUNCS = ("none", "pow", "exp")

#: The hyperparameters every IB Lagrangian declares (flags `--<method>_<name>`).
IB_HYPERPARAMETERS = (
    Hyperparameter("lam", float, 0.01, "lambda (the seed's --lambda_kl): weight of h(C)", lower=0.0),
    Hyperparameter("hfunc", str, "none", "h of CE + lambda*h(C): none (u), pow (u^(1+p)), exp (exp(p*u))",
                   choices=HFUNCS),
    Hyperparameter("hfunc_param", float, 1.0, "p of h: pow's exponent is 1+p (1: squared IB), exp's rate",
                   lower=0.0),
    Hyperparameter("sample_at_inference", bool, True,
                   "sample the code at inference too (the seed's encoder always samples); false: the mean"),
)


def check_hfunc(hfunc, hfunc_param):
    """Raises ValueError unless `hfunc` is known and `hfunc_param` is a finite number >= 0."""
    if hfunc not in HFUNCS:
        raise ValueError(f"`hfunc` must be one of {HFUNCS}; received {hfunc!r}.")
    if isinstance(hfunc_param, bool) or not isinstance(hfunc_param, numbers.Real) \
            or not math.isfinite(hfunc_param) or hfunc_param < 0:
        raise ValueError(f"`hfunc_param` must be a finite number >= 0; received {hfunc_param!r}.")


def ib_penalty(compression, hfunc="none", hfunc_param=1.0):
    """`h(C)` of the IB Lagrangian (seed: `criterions.py`; see the module docstring).

    `pow` clamps `C` at 0 first, so that rounding below 0 of a (mathematically
    non-negative) bound cannot give NaN for a fractional exponent.

    Args:
        compression: scalar `C` (nats).
        hfunc: "none", "pow" or "exp".
        hfunc_param: `p` (>= 0).

    Returns:
        float32 scalar `h(C)`.

    Example:
        >>> ib_penalty(3.0, "pow")          # 9.0
        >>> ib_penalty(2.0, "exp", 0.5)     # e = 2.718...
    """
    check_hfunc(hfunc, hfunc_param)
    u = ops.cast(compression, "float32")
    if hfunc == "none":
        return u
    if hfunc == "pow":
        return ops.power(ops.maximum(u, 0.0), 1.0 + float(hfunc_param))
    return ops.exp(float(hfunc_param) * u)


def _output_layer(model):
    """The layer whose output is the single output of a functional `model`, or None."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1 or not getattr(model, "layers", None):
        return None
    layer = model.layers[-1]
    try:
        return layer if layer.output is outputs[0] else None
    except (AttributeError, ValueError):  # a layer used more than once has no single `.output`
        return None


def code_layer_of(encoder):
    """The `GaussianCode` producing `encoder`'s output, or None."""
    layer = _output_layer(encoder)
    return layer if isinstance(layer, GaussianCode) else None


def attach_gaussian_code(encoder, code_dim, scale, **code_options):
    """`encoder` with a `GaussianCode` of width `code_dim` as its output layer.

    The IB methods own the linear layer that produces the code's statistics
    (the seed's last `Linear(1024 -> 2*16)` for VIB, `Linear(1024 -> 16)` for
    NIB). So:

    - an encoder whose output layer is already a `GaussianCode` (a restored
      model) is returned as is (its `scale` must match);
    - an encoder that ends in a *linear* `Dense` (the deterministic code layer
      of `ib_mlp`, DisenIB's E_t) has that layer replaced by the
      `GaussianCode`, on the same features and with the same initializers:
      `ib_mlp` then gives exactly the seed's networks;
    - any other functional encoder gets the `GaussianCode` on top of its
      output (a new linear layer on the encoder's `z`).

    Args:
        encoder: a functional Keras model `x -> z` (2-D features).
        code_dim: the code width `d` (the head's input width).
        scale: "per_example" (VIB) or "shared" (NIB).
        **code_options: further `GaussianCode` arguments (seed,
            sample_at_inference, initial_log_scale).

    Returns:
        A functional model `x -> t` sharing `encoder`'s layers.
    """
    existing = code_layer_of(encoder)
    if existing is not None:
        if existing.scale != scale or existing.units != code_dim:
            raise ValueError(
                f"The encoder already ends in a GaussianCode with scale={existing.scale!r} and {existing.units} "
                f"units; this method needs scale={scale!r} and {code_dim} units."
            )
        return encoder
    if not getattr(encoder, "inputs", None) or not getattr(encoder, "outputs", None):
        raise ValueError(
            "VIB and NIB need a functional encoder (a keras.Model built on keras.Input, as every registered "
            f"network is) to attach their Gaussian code layer to; received {type(encoder).__name__}."
        )
    last = _output_layer(encoder)
    features, initializers = encoder.outputs[0], {}
    if isinstance(last, keras.layers.Dense) and last.get_config()["activation"] == "linear":
        features = last.input
        initializers = {"kernel_initializer": last.kernel_initializer, "bias_initializer": last.bias_initializer}
    if len(features.shape) != 2:
        raise ValueError(f"The encoder's features must be 2-D [batch, features]; got shape {features.shape}.")
    code = GaussianCode(code_dim, scale=scale, **initializers, **code_options)
    return keras.Model(_model_inputs(encoder), code(features), name=encoder.name)


def _model_inputs(model):
    """A functional model's inputs as it was built: one tensor, or the list of several."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _code_dim(encoder, head):
    inputs = getattr(head, "inputs", None)
    if inputs:
        return int(inputs[0].shape[-1])
    return int(encoder.outputs[0].shape[-1])


class IBLagrangian(InvariantModel):
    """Base of the IB Lagrangians: `CE + lambda * h(C)` with `C` from a `GaussianCode`.

    `model.encoder` maps `x` to the code `t` (one sample; see
    `sample_at_inference`), `model.head` maps `t` to logits, and
    `code_distribution(x)` gives `(mu, sigma)` per example. Subclasses set
    `code_scale` and implement `compression(mean, log_stddev)`. `C` sees the
    global batch under `MirroredStrategy` (the code's statistics are gathered
    like `z`).

    Loss terms (unweighted in the logs): `compression` = C in nats (weight 0,
    reported only) and `compression_penalty` = h(C) (weight lambda).

    Args:
        encoder: functional Keras model x -> features (see
            `attach_gaussian_code`).
        head: Keras model t -> logits (the decoder).
        lam: lambda >= 0, the weight of h(C) (the seed's `--lambda_kl`).
        hfunc: "none", "pow" or "exp".
        hfunc_param: p >= 0 of "pow"/"exp" (default 1: squared IB).
        sample_at_inference: sample t at inference too (default True, as the
            seed's encoders always sample: accuracy, FGSM and OOD then see one
            random code per pass); False returns the mean at inference.
        seed: seed of the code's noise.
        weight_decay: coupled L2 weight decay (see `InvariantModel`).
        code_options: extra `GaussianCode` arguments from the subclass.
        **kwargs: `keras.Model` arguments.
    """

    requires_sensitive = False
    code_scale = None

    def __init__(self, encoder, head, lam=0.01, hfunc="none", hfunc_param=1.0, sample_at_inference=True,
                 seed=None, weight_decay=0.0, code_options=None, **kwargs):
        kwargs.pop("task_weight", None)
        if isinstance(lam, bool) or not isinstance(lam, numbers.Real) or not math.isfinite(lam) or lam < 0:
            raise ValueError(f"`lam` (lambda) must be a finite number >= 0; received {lam!r}.")
        check_hfunc(hfunc, hfunc_param)
        encoder = attach_gaussian_code(
            encoder, _code_dim(encoder, head), self.code_scale, seed=seed,
            sample_at_inference=sample_at_inference, **(code_options or {}),
        )
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        self.code_layer.sample_at_inference = bool(sample_at_inference)
        self.lam, self.hfunc, self.hfunc_param = float(lam), hfunc, float(hfunc_param)
        self.seed = seed
        self.add_loss_term("compression", 0.0)
        self.add_loss_term("compression_penalty", self.lam)

    @property
    def code_layer(self):
        """The encoder's `GaussianCode` output layer."""
        return code_layer_of(self.encoder)

    @property
    def sample_at_inference(self):
        return self.code_layer.sample_at_inference

    def compression(self, mean, log_stddev):
        """The compression term `C` of a (global) batch; see the subclasses."""
        raise NotImplementedError

    def extra_terms(self, mean, log_stddev):
        """Further reported terms (declared by the subclass with weight 0)."""
        return {}

    def compute_loss_terms(self, batch, z, logits, training):
        # The statistics of the forward pass that produced `z` (same step, same thread).
        mean, log_stddev = self.code_layer.last_statistics()
        if self.global_batch_terms:
            mean = gather_replicas(mean)
            if len(log_stddev.shape) > 0:
                log_stddev = gather_replicas(log_stddev)
        name = type(self).__name__
        compression = tf.debugging.check_numerics(
            ops.cast(self.compression(mean, log_stddev), "float32"),
            f"{name}: the compression term C became NaN or inf (the code's mean or log-stddev is not finite: lower "
            "the learning rate or lambda)",
        )
        penalty = tf.debugging.check_numerics(
            ib_penalty(compression, self.hfunc, self.hfunc_param),
            f"{name}: the compression penalty h(C) ({self.hfunc}, p={self.hfunc_param:g}) overflowed",
        )
        return {"compression": compression, "compression_penalty": penalty, **self.extra_terms(mean, log_stddev)}

    def code_distribution(self, x, batch_size=256):
        """`(mu, sigma)` of `q(t | x)` per example, as NumPy `[N, d]` arrays (inference mode).

        Args:
            x: inputs `[N, ...]` (or packed inputs).
            batch_size: examples per forward pass.

        Returns:
            `(mean, stddev)`, float32 arrays `[N, d]`.

        Example:
            >>> mean, stddev = model.code_distribution(x_test)
            >>> invariant_reps.evaluation.mutual_information_xt(model.encoder.predict(x_test), mean, stddev)
        """
        x = unpack_inputs(x)[0] if isinstance(x, dict) else x
        features = keras.Model(_model_inputs(self.encoder), self.code_layer.input)
        means, stddevs = [], []
        for start in range(0, len(x), batch_size):
            mean, stddev = self.code_layer.statistics(features(x[start : start + batch_size], training=False))
            means.append(np.asarray(mean))
            stddevs.append(np.asarray(stddev))
        return np.concatenate(means), np.concatenate(stddevs)

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            lam=self.lam, hfunc=self.hfunc, hfunc_param=self.hfunc_param,
            sample_at_inference=self.sample_at_inference, seed=self.seed,
        )
        return config
