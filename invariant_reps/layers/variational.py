"""`VariationalBottleneck`: the diagonal-Gaussian stochastic encoder of VIB."""

import math
import numbers

import keras
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
