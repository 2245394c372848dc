"""VIB: the Deep Variational Information Bottleneck, as the DisenIB seed trains it.

Alemi, Fischer, Dillon and Murphy, "Deep Variational Information Bottleneck",
ICLR 2017; the seed is DisenIB's `methods/lagrangian_fc` (spec B.1). The
encoder gives a diagonal Gaussian `q(t | x) = N(mu(x), diag sigma(x)^2)` with
`sigma = exp(s)` (the encoder's 2d outputs are `(mu, s)`), the decoder
classifies one reparameterised sample `t = mu + sigma * eps`, and the
compression term is the KL to the prior `r(t) = N(0, I)` (Alemi Eq. 7, the
variational upper bound I(X;T) <= E_x KL(q(t|x) || r(t))):

    KL(N(mu, sigma^2) || N(0, 1)) = 1/2 (mu^2 + sigma^2 - 1 - 2 log sigma)   per dimension
    C = (1/N) sum_i sum_k KL_ik                         summed over dims, averaged over the batch
    L = CE + lambda * h(C)                              (h: `ib_lagrangian.ib_penalty`)

With `log sigma = s` the KL is computed from `s` directly (no `log(exp(s))`).
The seed's README settings: lambda = 0.01 (VIB), 0.001 with h = pow (squared
VIB).
"""

import keras
from keras import ops

from invariant_reps.models.ib_lagrangian import IB_HYPERPARAMETERS, IBLagrangian
from invariant_reps.models.registry import TASKS, register_method


def gaussian_kl_to_standard_normal(mean, log_stddev):
    """Per-example `KL(N(mu, diag sigma^2) || N(0, I))` in nats, summed over dimensions.

    `KL = 1/2 sum_k (mu_k^2 + sigma_k^2 - 1 - 2 log sigma_k)` with
    `sigma = exp(log_stddev)` (Kingma and Welling, ICLR 2014, App. B).

    Args:
        mean: `[N, d]` means.
        log_stddev: `[N, d]` (or broadcastable) log standard deviations.

    Returns:
        float32 `[N]`.

    Example:
        >>> gaussian_kl_to_standard_normal([[2.0, 0.0]], [[0.0, 0.0]])   # [2.0]
    """
    mean = ops.cast(mean, "float32")
    log_stddev = ops.cast(log_stddev, "float32")
    per_dim = 0.5 * (ops.square(mean) + ops.exp(2.0 * log_stddev) - 1.0 - 2.0 * log_stddev)
    return ops.sum(ops.broadcast_to(per_dim, ops.shape(mean)), axis=-1)


def vib_compression(mean, log_stddev):
    """VIB's `C`: the KL to `N(0, I)`, summed over dimensions, averaged over the batch (float32 scalar)."""
    return ops.mean(gaussian_kl_to_standard_normal(mean, log_stddev))


@register_method(
    "vib",
    hyperparameters=IB_HYPERPARAMETERS,
    sensitive=("none", "discrete", "continuous"),
    tasks=TASKS,
    summary="lambda * h(KL(q(t|x) || N(0, I))), sigma = exp(s) per example, one sample per example "
    "(Alemi et al., ICLR 2017; DisenIB's lagrangian_fc)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class VIB(IBLagrangian):
    """VIB: `L = CE + lambda * h(KL(N(mu, sigma^2) || N(0, I)))`, sigma = exp(s) per example.

    The encoder's output layer becomes a `GaussianCode(d, "per_example")`: a
    linear layer to `2d` values `(mu, s)` (with `build_network("ib_mlp")`:
    784 -> 1024 -> 1024 -> 32, the seed's VIB encoder), then one sample
    `t = mu + exp(s) * eps` per example. The sensitive variable is not used.

    Args:
        encoder: functional Keras model x -> features; a final linear Dense
            (the deterministic code layer) is replaced by the Gaussian one
            (see `ib_lagrangian.attach_gaussian_code`).
        head: Keras model t -> logits (the seed: one Linear(16 -> 10)).
        lam: lambda >= 0 (seed: 0.01; 0.001 for the squared variant).
        hfunc: "none", "pow" (squared VIB with p = 1) or "exp".
        hfunc_param: p >= 0.
        sample_at_inference: sample at inference too (default True, the
            seed's behaviour); False: the mean.
        seed: seed of the code's noise.
        weight_decay: coupled L2 weight decay.
        **kwargs: `keras.Model` arguments.

    Example:
        >>> net = build_network("ib_mlp", (784,), 10)
        >>> model = VIB(net.encoder, net.head, lam=0.01, seed=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
        >>> model.fit(x, y, batch_size=100, epochs=100)
        >>> mean, stddev = model.code_distribution(x_test)
    """

    code_scale = "per_example"

    def __init__(self, encoder, head, lam=0.01, hfunc="none", hfunc_param=1.0, sample_at_inference=True,
                 seed=None, weight_decay=0.0, **kwargs):
        super().__init__(encoder, head, lam=lam, hfunc=hfunc, hfunc_param=hfunc_param,
                         sample_at_inference=sample_at_inference, seed=seed, weight_decay=weight_decay, **kwargs)

    def compression(self, mean, log_stddev):
        return vib_compression(mean, log_stddev)
