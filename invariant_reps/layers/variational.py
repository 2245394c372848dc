"""Gaussian stochastic codes: `VariationalBottleneck` (Alemi's VIB) and `GaussianCode` (the IB Lagrangians).

- `VariationalBottleneck`: softplus standard deviation, samples in training,
  the mean at inference (Alemi et al., ICLR 2017).
- `GaussianCode`: the stochastic code of the DisenIB seed's VIB and NIB
  (spec B.1): `sigma = exp(s)` per example or one shared learned
  `exp(l)`, sampled at inference too by default, with noise that is the same
  on one device and under `MirroredStrategy`.
"""

import math
import numbers
import threading

import keras
import tensorflow as tf
import tensorflow_probability as tfp
from keras import ops

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="invariant_reps")
class VariationalBottleneck(keras.layers.Layer):
    """Maps features `h` to `q(t|h) = N(mu(h), diag sigma(h)^2)` and samples it.

    The stochastic encoder of the Deep Variational Information Bottleneck
    (Alemi et al., ICLR 2017, Sec. 3, Eq. 19): two `Dense` heads give the mean
    `mu(h)` and the standard deviation `sigma(h) = softplus(a(h)) + min_scale`
    of a diagonal Gaussian over `units` dimensions.

    - In training mode the layer returns one reparameterized sample
      `t = mu + sigma * eps`, `eps ~ N(0, I)` (`q.sample()` of a
      `tfp.distributions.Normal`, which is fully reparameterized), so the
      gradient flows to both heads. Samples are drawn with stateless seeds
      from the layer's `keras.random.SeedGenerator`, so a fixed `seed` (or
      `keras.utils.set_random_seed`) makes them reproducible.
    - In inference mode (the default outside `fit`) it returns the mean
      `mu(h)`, deterministically.

    The layer adds no loss itself. The VIB rate term
    `KL(q(t|h) || N(0, I))` (Alemi et al., Eq. 7, an upper bound on I(X;T))
    is exposed per example by `kl_divergence(h)`; a model reads it as a named
    loss term from the same features `h` it fed to the layer, e.g.
    `{"kl": ops.mean(layer.kl_divergence(h))}`, weighted by beta.

    The distribution is built in the layer's variable dtype (`float32` under
    a mixed-precision policy) so that the KL stays accurate; the output is
    cast to the compute dtype. The layer needs the TensorFlow backend
    (TensorFlow Probability's TF substrate).

    Args:
        units: positive int, the dimension of the representation `t`.
        min_scale: positive float, the floor added to the softplus standard
            deviation, which keeps `log sigma` in the KL finite. Defaults to
            `1e-4`.
        seed: optional int, the seed of the sampling noise.
        **kwargs: base `Layer` arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = VariationalBottleneck(2)
    >>> h = np.random.normal(size=(4, 8))
    >>> t = layer(h, training=True)     # a sample, shape (4, 2)
    >>> mu = layer(h)                    # the mean, shape (4, 2)
    >>> kl = layer.kl_divergence(h)      # nats per example, shape (4,)
    """

    def __init__(self, units, min_scale=1e-4, seed=None, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(units, bool)
            or not isinstance(units, numbers.Integral)
            or units < 1
        ):
            raise ValueError(
                f"`units` must be a positive int. Received: units={units!r}"
            )
        if (
            isinstance(min_scale, bool)
            or not isinstance(min_scale, numbers.Real)
            or not 0 < min_scale < math.inf
        ):
            raise ValueError(
                "`min_scale` must be a positive finite float. "
                f"Received: min_scale={min_scale!r}"
            )
        if seed is not None and (
            isinstance(seed, bool) or not isinstance(seed, numbers.Integral)
        ):
            raise ValueError(
                f"`seed` must be an int or None. Received: seed={seed!r}"
            )
        self.units = int(units)
        self.min_scale = float(min_scale)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.mean_dense = keras.layers.Dense(
            self.units, dtype=self.dtype_policy, name="mean"
        )
        self.scale_dense = keras.layers.Dense(
            self.units, dtype=self.dtype_policy, name="scale"
        )

    def build(self, input_shape):
        # A head called on its own (e.g. `layer.mean_dense(h)`) builds itself.
        for head in (self.mean_dense, self.scale_dense):
            if not head.built:
                head.build(input_shape)

    def distribution(self, inputs):
        """Returns the posterior `q(t|h)` for features `inputs`.

        Args:
            inputs: features `h` of shape `[batch, features]`.

        Returns:
            A `tfd.Independent(tfd.Normal(mu, sigma), 1)`: batch shape
            `[batch]`, event shape `[units]`.
        """
        if not self.built:
            self.build(tuple(inputs.shape))
        mean = ops.cast(self.mean_dense(inputs), self.dtype)
        scale = (
            ops.softplus(ops.cast(self.scale_dense(inputs), self.dtype))
            + self.min_scale
        )
        return tfd.Independent(
            tfd.Normal(loc=mean, scale=scale), reinterpreted_batch_ndims=1
        )

    def prior(self):
        """Returns the prior `N(0, I)` over `t` (event shape `[units]`)."""
        return tfd.Independent(
            tfd.Normal(
                loc=ops.zeros((self.units,), dtype=self.dtype),
                scale=ops.ones((self.units,), dtype=self.dtype),
            ),
            reinterpreted_batch_ndims=1,
        )

    def kl_divergence(self, inputs):
        """Returns the analytic `KL(q(t|h) || N(0, I))` per example, in nats.

        For a diagonal Gaussian this is
        `0.5 * sum_k (mu_k^2 + sigma_k^2 - 1 - 2 log sigma_k)`
        (Kingma & Welling, ICLR 2014, Appendix B).

        Args:
            inputs: features `h` of shape `[batch, features]`.

        Returns:
            A tensor of shape `[batch]`, in the layer's variable dtype.
        """
        return tfd.kl_divergence(self.distribution(inputs), self.prior())

    def call(self, inputs, training=False):
        if not training:
            return self.mean_dense(inputs)
        # Stateless sampling: tfp takes an int32 pair as the seed.
        seed = ops.cast(self.seed_generator.next(), "int32")
        sample = self.distribution(inputs).sample(seed=seed)
        return ops.cast(sample, self.compute_dtype)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "min_scale": self.min_scale,
                "seed": self.seed,
            }
        )
        return config


#: How `GaussianCode` parameterises sigma: per example from the features, or one shared learned scalar.
CODE_SCALES = ("per_example", "shared")


def _seed_kernel_initializer():
    """Glorot-uniform with gain sqrt(2), as PyTorch's `xavier_uniform_(gain=calculate_gain('relu'))`."""
    return keras.initializers.VarianceScaling(2.0, mode="fan_avg", distribution="uniform")


def replica_consistent_normal(shape, seed_generator, dtype="float32"):
    """Standard normal noise for the local batch, cut from one draw for the *global* batch.

    One device draws `N(0, I)` of shape `shape`. Under a multi-replica
    strategy every replica draws the same noise for the whole global batch
    (same seed: the generator's state is mirrored) and keeps the rows of its
    own examples, so example `i` of the global batch gets the same noise as on
    one device and training is identical (the replicas' batch sizes are
    gathered, so uneven last batches work too).

    Args:
        shape: the local noise shape, batch axis first (a tensor or tuple).
        seed_generator: a `keras.random.SeedGenerator`; advanced once.
        dtype: the noise dtype.

    Returns:
        A tensor of `shape`.
    """
    shape = tf.convert_to_tensor(shape, dtype="int32")
    local = shape[0]
    offset, total = 0, local
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        sizes = context.all_gather(tf.reshape(local, [1]), axis=0)
        before = tf.range(context.num_replicas_in_sync) < context.replica_id_in_sync_group
        offset, total = tf.reduce_sum(tf.where(before, sizes, 0)), tf.reduce_sum(sizes)
    noise = keras.random.normal(tf.concat([[total], shape[1:]], axis=0), dtype=dtype, seed=seed_generator)
    return noise[offset : offset + local]


@keras.saving.register_keras_serializable(package="invariant_reps")
class GaussianCode(keras.layers.Layer):
    """The stochastic code `t = mu(h) + sigma * eps` of VIB and NIB (DisenIB seed, spec B.1).

    A linear layer maps features `h` to the code's statistics:

    - `scale="per_example"` (VIB): one `Dense(2 * units)` gives `(mu, s)`,
      the first and second halves, and `sigma = exp(s)` per example and
      dimension (the seed's softplus option is off);
    - `scale="shared"` (NIB): one `Dense(units)` gives `mu`, and
      `sigma = exp(l)` with `l` one trainable scalar shared by every
      dimension and example, initialised to `initial_log_scale` (1.0:
      sigma = e).

    The output is one reparameterised sample `t = mu + sigma * eps`,
    `eps ~ N(0, I)`, in training and, as the seed's encoders do, also at
    inference; `sample_at_inference=False` returns `mu` at inference
    instead. Noise comes from the layer's seeded `SeedGenerator` (saved with
    `InvariantModel`s, so resuming redraws nothing) and is the same under
    `MirroredStrategy` as on one device (`replica_consistent_normal`).

    The statistics of the most recent call *in the calling thread* (each
    `MirroredStrategy` replica traces in its own thread) are kept for the
    loss of the same training step: `last_statistics()` returns them, so a
    model computes its compression term from the forward pass it already
    made instead of running the encoder twice.

    Args:
        units: positive int, the code dimension `d`.
        scale: "per_example" or "shared" (see above).
        initial_log_scale: initial `l` of the shared scale (finite).
        sample_at_inference: whether inference mode samples too (default
            True, the seed's behaviour) or returns the mean.
        seed: optional int, seed of the noise.
        kernel_initializer: of the linear layer; defaults to the seed's
            Glorot-uniform with gain sqrt(2) (`VarianceScaling(2, "fan_avg",
            "uniform")`).
        bias_initializer: of the linear layer; zeros by default.
        **kwargs: base `Layer` arguments.

    Example:
        >>> code = GaussianCode(16, scale="per_example", seed=0)
        >>> t = code(h)                       # a sample [B, 16], also at inference
        >>> mean, stddev = code.statistics(h)
    """

    def __init__(self, units, scale="per_example", initial_log_scale=1.0, sample_at_inference=True, seed=None,
                 kernel_initializer=None, bias_initializer="zeros", **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral) or units < 1:
            raise ValueError(f"`units` must be a positive int. Received: units={units!r}")
        if scale not in CODE_SCALES:
            raise ValueError(f"`scale` must be one of {CODE_SCALES}. Received: scale={scale!r}")
        if isinstance(initial_log_scale, bool) or not isinstance(initial_log_scale, numbers.Real) \
                or not math.isfinite(initial_log_scale):
            raise ValueError(f"`initial_log_scale` must be a finite float. Received: {initial_log_scale!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"`seed` must be an int or None. Received: seed={seed!r}")
        self.units = int(units)
        self.scale = scale
        self.initial_log_scale = float(initial_log_scale)
        self.sample_at_inference = bool(sample_at_inference)
        self.seed = seed
        self.kernel_initializer = keras.initializers.get(kernel_initializer or _seed_kernel_initializer())
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.seed_generator = keras.random.SeedGenerator(seed)
        width = 2 * self.units if scale == "per_example" else self.units
        self.parameters_dense = keras.layers.Dense(
            width, kernel_initializer=self.kernel_initializer, bias_initializer=self.bias_initializer,
            dtype=self.dtype_policy, name="parameters",
        )
        self._last = threading.local()

    def build(self, input_shape):
        if not self.parameters_dense.built:
            self.parameters_dense.build(input_shape)
        if self.scale == "shared":
            self.log_scale = self.add_weight(
                shape=(), initializer=keras.initializers.Constant(self.initial_log_scale), name="log_scale"
            )

    def log_statistics(self, inputs):
        """`(mu [B, d], log sigma)`: log sigma is `[B, d]` per example, or the shared scalar `[]`."""
        if not self.built:
            self.build(tuple(inputs.shape))
        parameters = self.parameters_dense(inputs)
        if self.scale == "per_example":
            return parameters[..., : self.units], parameters[..., self.units :]
        return parameters, ops.cast(self.log_scale, parameters.dtype)

    def statistics(self, inputs):
        """`(mu, sigma)` of `q(t | h)`, both `[B, d]`."""
        mean, log_scale = self.log_statistics(inputs)
        return mean, ops.broadcast_to(ops.exp(log_scale), ops.shape(mean))

    def distribution(self, inputs):
        """`q(t | h)` as `tfd.Independent(tfd.Normal(mu, sigma), 1)` (batch `[B]`, event `[d]`)."""
        mean, stddev = self.statistics(inputs)
        return tfd.Independent(tfd.Normal(loc=mean, scale=stddev), reinterpreted_batch_ndims=1)

    def last_statistics(self):
        """`log_statistics` of this layer's most recent call in the calling thread (see the class doc)."""
        statistics = getattr(self._last, "statistics", None)
        if statistics is None:
            raise ValueError(
                f"GaussianCode {self.name!r} has not been called in this thread: run the encoder on the batch "
                "before reading the statistics of its code."
            )
        return statistics

    def call(self, inputs, training=None):
        mean, log_scale = self.log_statistics(inputs)
        self._last.statistics = (mean, log_scale)
        if not (training or self.sample_at_inference):
            return mean
        noise = replica_consistent_normal(tf.shape(mean), self.seed_generator, dtype=mean.dtype)
        return mean + ops.exp(log_scale) * noise

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            scale=self.scale,
            initial_log_scale=self.initial_log_scale,
            sample_at_inference=self.sample_at_inference,
            seed=self.seed,
            kernel_initializer=keras.initializers.serialize(self.kernel_initializer),
            bias_initializer=keras.initializers.serialize(self.bias_initializer),
        )
        return config
