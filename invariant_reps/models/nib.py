"""NIB: the Nonlinear Information Bottleneck, as the DisenIB seed trains it.

Kolchinsky, Tracey and Wolpert, "Nonlinear Information Bottleneck", Entropy
2019; the seed is DisenIB's `methods/lagrangian_fc` (`NIBEncoder`,
`GaussKLDivLoss`; spec B.1 and §C.9). The code is `t = mu(x) + sigma * eps`
with one learned noise scale `sigma = exp(l)` shared by every dimension and
example (`l` initialised to 1). With equal covariances the pairwise KL between
two examples' Gaussians is

    KL_ij = KL(N(mu_i, sigma^2 I) || N(mu_j, sigma^2 I)) = ||mu_i - mu_j||^2 / (2 sigma^2).

Compression terms over a batch of N codes (both upper-bound I(X;T)):

- `bound="jensen"` (the seed's, verified): the mean over all ordered pairs,
  i = j included,

      C = (1/N^2) sum_ij KL_ij = (1/sigma^2) (1/N) sum_i ||mu_i - mu_bar||^2,

  computed in the centred form on the right (O(N d), exact in real
  arithmetic). It is the Jensen upper bound of the next one.
- `bound="kde"`: Kolchinsky and Tracey's pairwise-distance bound (Entropy
  2017, Eq. 10 with the KL; NIB paper Eq. 10):

      C = -(1/N) sum_i log (1/N) sum_j exp(-KL_ij) = log N - mean_i logsumexp_j(-KL_ij),

  tighter (`0 <= C_kde <= min(C_jensen, log N)`).

L = CE + lambda * h(C). The CE term pushes sigma down (less noise on the
decoder's input), C pushes it up (C falls as 1/sigma^2). The seed's README:
lambda = 0.01 (NIB), 0.001 with h = pow (squared NIB).
"""

import math

import keras
from keras import ops

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models.ib_lagrangian import IB_HYPERPARAMETERS, IBLagrangian
from invariant_reps.models.pairwise import pairwise_squared_distances
from invariant_reps.models.registry import TASKS, register_method

BOUNDS = ("jensen", "kde")


def pairwise_kl(mean, log_stddev):
    """`[N, N]` matrix `KL_ij = ||mu_i - mu_j||^2 / (2 sigma^2)`, sigma = exp(log_stddev) a scalar (float32)."""
    squared = pairwise_squared_distances(mean)  # O(N^2) memory, not the [N, N, d] differences
    return squared / (2.0 * ops.exp(2.0 * ops.cast(log_stddev, "float32")))


def nib_compression(mean, log_stddev, bound="jensen"):
    """NIB's compression term `C` of a batch of means with a shared scale (see the module docstring).

    Args:
        mean: `[N, d]` code means.
        log_stddev: scalar `l`, sigma = exp(l).
        bound: "jensen" (the seed's mean pairwise KL) or "kde"
            (Kolchinsky's log-sum-exp bound).

    Returns:
        float32 scalar, nats.

    Example:
        >>> nib_compression([[0.0], [2.0]], 0.0)          # mean KL_ij = (0 + 2 + 2 + 0) / 4 = 1.0
        >>> nib_compression([[0.0], [2.0]], 0.0, "kde")   # log 2 - log(1 + e^-2) = 0.566
    """
    if bound not in BOUNDS:
        raise ValueError(f"`bound` must be one of {BOUNDS}; received {bound!r}.")
    mean = ops.cast(mean, "float32")
    log_stddev = ops.cast(log_stddev, "float32")
    if bound == "jensen":
        centred = mean - ops.mean(mean, axis=0, keepdims=True)
        return ops.mean(ops.sum(ops.square(centred), axis=-1)) / ops.exp(2.0 * log_stddev)
    count = ops.cast(ops.shape(mean)[0], "float32")
    return ops.log(count) - ops.mean(ops.logsumexp(-pairwise_kl(mean, log_stddev), axis=1))


@register_method(
    "nib",
    hyperparameters=IB_HYPERPARAMETERS + (
        Hyperparameter("bound", str, "jensen", "C: jensen (the seed's mean pairwise KL) or kde (Kolchinsky's "
                       "pairwise log-sum-exp bound)", choices=BOUNDS),
        Hyperparameter("initial_log_stddev", float, 1.0, "l at initialisation: the shared noise sigma = exp(l)"),
    ),
    sensitive=("none", "discrete", "continuous"),
    tasks=TASKS,
    summary="lambda * h(pairwise-KL bound on I(X;T)) with one learned noise scale sigma = exp(l) "
    "(Kolchinsky et al., Entropy 2019; DisenIB's lagrangian_fc)",
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class NIB(IBLagrangian):
    """NIB: `L = CE + lambda * h(C)`, C a pairwise bound on the batch's means, sigma = exp(l) shared.

    The encoder's output layer becomes a `GaussianCode(d, "shared")`: a
    linear layer to the means (with `build_network("ib_mlp")`:
    784 -> 1024 -> 1024 -> 16, the seed's NIB encoder) and the trainable
    scalar `l`. `C` needs the whole batch: under `MirroredStrategy` it sees
    the gathered means (the global batch). Besides `compression` and
    `compression_penalty`, `code_stddev` (sigma) is reported (weight 0).

    Args:
        encoder: functional Keras model x -> features (see
            `ib_lagrangian.attach_gaussian_code`).
        head: Keras model t -> logits.
        lam: lambda >= 0 (seed: 0.01; 0.001 for the squared variant).
        hfunc: "none", "pow" or "exp"; hfunc_param: its p >= 0.
        bound: "jensen" (the seed's) or "kde".
        initial_log_stddev: initial l (seed: 1.0, sigma = e).
        sample_at_inference: sample at inference too (default True, the
            seed's behaviour); False: the mean.
        seed: seed of the code's noise.
        weight_decay: coupled L2 weight decay.
        **kwargs: `keras.Model` arguments.

    Example:
        >>> net = build_network("ib_mlp", (784,), 10)
        >>> model = NIB(net.encoder, net.head, lam=0.01, seed=0)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-4, beta_1=0.5))
        >>> model.fit(x, y, batch_size=100, epochs=100)
    """

    code_scale = "shared"

    def __init__(self, encoder, head, lam=0.01, hfunc="none", hfunc_param=1.0, bound="jensen",
                 initial_log_stddev=1.0, sample_at_inference=True, seed=None, weight_decay=0.0, **kwargs):
        if bound not in BOUNDS:
            raise ValueError(f"`bound` must be one of {BOUNDS}; received {bound!r}.")
        if not math.isfinite(float(initial_log_stddev)):
            raise ValueError(f"`initial_log_stddev` must be finite; received {initial_log_stddev!r}.")
        super().__init__(encoder, head, lam=lam, hfunc=hfunc, hfunc_param=hfunc_param,
                         sample_at_inference=sample_at_inference, seed=seed, weight_decay=weight_decay,
                         code_options={"initial_log_scale": float(initial_log_stddev)}, **kwargs)
        self.bound = bound
        self.initial_log_stddev = float(initial_log_stddev)
        self.add_loss_term("code_stddev", 0.0)

    def compression(self, mean, log_stddev):
        return nib_compression(mean, log_stddev, self.bound)

    def extra_terms(self, mean, log_stddev):
        return {"code_stddev": ops.exp(ops.cast(log_stddev, "float32"))}

    def get_config(self):
        config = super().get_config()
        config.update(bound=self.bound, initial_log_stddev=self.initial_log_stddev)
        return config
