"""EnD: Entangling and Disentangling deep representations.

Tartaglione, Barbano and Grangetto, "EnD: Entangling and Disentangling deep
representations for bias correction", CVPR 2021. The regularizer acts on the
cosine Gram matrix of the L2-normalised bottleneck batch:

- R_perp ("disentangling", `orthogonal_term`) pushes samples that share a bias
  label towards zero net cosine, whatever their target;
- R_par ("entangling", `parallel_term`) pulls samples of the same target but
  different bias labels towards cosine 1.

The objective is `J = CE + alpha * R_perp + beta * R_par`, one optimizer, one
backward pass (official `src/EnD.py`, `abs_regu`). Every function is computed
in-graph from one-hot label matrices (no loop over classes) and in float32; a
term with no eligible pair is 0, not NaN.
"""

import numbers

import keras
from keras import ops

from invariant_reps.hyperparameters import Hyperparameter
from invariant_reps.models.base import InvariantModel
from invariant_reps.models.registry import register_method

ORTHOGONAL_VARIANTS = ("sum", "elementwise")
PARALLEL_PAIRS = ("lower_triangle", "symmetric")

# `pattern_norm`'s floor on the norm, z / max(||z||, 1e-12).
_NORM_EPSILON = 1e-12


def _check_choice(value, choices, arg_name):
    if value not in choices:
        raise ValueError(f"`{arg_name}` must be one of {choices}; received {value!r}.")


def _check_num_classes(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{arg_name}` must be a positive int; received {value!r}.")


def _labels(labels):
    """Class ids of shape `[N]` or `[N, 1]` (int or float) as int32 `[N]`."""
    return ops.cast(ops.reshape(labels, (-1,)), "int32")


def _one_hot(labels, num_classes):
    return ops.one_hot(_labels(labels), num_classes, dtype="float32")


def _strictly_lower(size):
    """Float `[N, N]` mask of the pairs i > j (PyTorch's `tril(..., -1)`)."""
    positions = ops.arange(size)
    return ops.cast(positions[:, None] > positions[None, :], "float32")


def _safe_mean(total, count):
    """`total / count`, and 0 (with a zero gradient) when `count == 0`."""
    return ops.where(count > 0, total / ops.maximum(count, 1.0), 0.0)


def gram_lower(z):
    """Cosine Gram matrix of a batch, strictly lower triangle (EnD Sec. 3.2).

    `G = clip(tril_{-1}(Z Z^T), -1, 1)` with `Z` the batch normalised row-wise,
    `z / max(||z||, 1e-12)`: `G[i, j] = cos(z_i, z_j)` for `i > j` and 0
    elsewhere. Normalising here is idempotent on an already normalised `z`
    (EnD's `pattern_norm` output), in value and in the gradient reaching the
    encoder, and makes the function measure cosines for any `z`.

    Args:
        z: float tensor `[N, d]`.

    Returns:
        float32 tensor `[N, N]`.

    Example:
        >>> gram_lower(np.array([[1.0, 0.0], [3.0, 4.0]]))
        # [[0.0, 0.0], [0.6, 0.0]]
    """
    z = ops.cast(z, "float32")
    inverse_norm = ops.rsqrt(
        ops.maximum(ops.sum(ops.square(z), axis=-1, keepdims=True), _NORM_EPSILON**2)
    )
    unit = z * inverse_norm
    cosines = ops.matmul(unit, ops.transpose(unit))
    lower = _strictly_lower(ops.shape(z)[0])
    # The clip is "just for safety" in the official code; its gradient is 0
    # outside [-1, 1], as in torch.
    return ops.clip(cosines * lower, -1.0, 1.0)


def orthogonal_pair_count(bias, num_bias_classes):
    """Number of pairs `i > j` with `b_i == b_j`: `sum_b M_b` of R_perp.

    Args:
        bias: int class ids `[N]` or `[N, 1]`.
        num_bias_classes: number of bias classes.

    Returns:
        int32 scalar.
    """
    _check_num_classes(num_bias_classes, "num_bias_classes")
    class_sizes = ops.sum(_one_hot(bias, num_bias_classes), axis=0)
    return ops.cast(ops.sum(class_sizes * (class_sizes - 1.0) / 2.0), "int32")


def orthogonal_term(z, bias, num_bias_classes, variant="sum"):
    """EnD's disentangling term R_perp (`abs_orthogonal_blind`, Sec. 3.3).

    With `S_b` the signed sum of cosines over the pairs `i > j` with
    `b_i == b_j == b` and `M_b` their number,

        R_perp = sum_b |S_b| / sum_b M_b,

    0 when there is no such pair. Targets are ignored ("blind"). The official
    code takes the absolute value of each bias class's *sum*, so positive and
    negative cosines of one class cancel (`variant="sum"`, the default);
    `variant="elementwise"` sums `|G_ij|` instead (the EIDOSearch library
    version), pushing every same-bias pair to cosine 0. Range [0, 1].

    Vectorised as `S = diag(B^T G B)` with `B` the one-hot bias matrix.

    Args:
        z: bottleneck batch `[N, d]`; cosines are taken (see `gram_lower`).
        bias: int bias class ids `[N]` or `[N, 1]`.
        num_bias_classes: number of bias classes.
        variant: `"sum"` (official abs of the per-class sum) or
            `"elementwise"`.

    Returns:
        float32 scalar.

    Example:
        >>> z = np.ones((4, 3))
        >>> orthogonal_term(z, [0, 0, 1, 1], num_bias_classes=2)  # 1.0
    """
    _check_num_classes(num_bias_classes, "num_bias_classes")
    _check_choice(variant, ORTHOGONAL_VARIANTS, "variant")
    gram = gram_lower(z)
    if variant == "elementwise":
        gram = ops.abs(gram)
    bias_one_hot = _one_hot(bias, num_bias_classes)
    # S_b = (B^T G B)_bb = sum_i B_ib (G B)_ib.
    class_sums = ops.sum(bias_one_hot * ops.matmul(gram, bias_one_hot), axis=0)
    pairs = ops.cast(orthogonal_pair_count(bias, num_bias_classes), "float32")
    return _safe_mean(ops.sum(ops.abs(class_sums)), pairs)


def _parallel_pair_mask(target, bias, num_target_classes, num_bias_classes, pairs):
    """Float `[N, N]` mask of the pair set of R_par (Sec. 3.4)."""
    _check_num_classes(num_target_classes, "num_target_classes")
    _check_num_classes(num_bias_classes, "num_bias_classes")
    _check_choice(pairs, PARALLEL_PAIRS, "pairs")
    target_one_hot = _one_hot(target, num_target_classes)
    bias_one_hot = _one_hot(bias, num_bias_classes)
    same_target = ops.matmul(target_one_hot, ops.transpose(target_one_hot))
    same_bias = ops.matmul(bias_one_hot, ops.transpose(bias_one_hot))
    if pairs == "lower_triangle":
        # The official loop over sorted bias classes b < b' keeps (i, j) iff
        # b_i = b and b_j = b'.
        bias_ids = _labels(bias)
        bias_order = ops.cast(bias_ids[:, None] < bias_ids[None, :], "float32")
    else:
        bias_order = 1.0 - same_bias
    lower = _strictly_lower(ops.shape(same_target)[0])
    return lower * same_target * bias_order


def parallel_pair_count(
    target, bias, num_target_classes, num_bias_classes, pairs="lower_triangle"
):
    """Size of the pair set `P_par` of R_par (see `parallel_term`).

    Args:
        target: int target class ids `[N]` or `[N, 1]`.
        bias: int bias class ids `[N]` or `[N, 1]`.
        num_target_classes: number of target classes.
        num_bias_classes: number of bias classes.
        pairs: `"lower_triangle"` or `"symmetric"`.

    Returns:
        int32 scalar.
    """
    mask = _parallel_pair_mask(target, bias, num_target_classes, num_bias_classes, pairs)
    return ops.cast(ops.sum(mask), "int32")


def parallel_term(
    z, target, bias, num_target_classes, num_bias_classes, pairs="lower_triangle"
):
    """EnD's entangling term R_par (`abs_parallel`, Sec. 3.4).

        R_par = (1 / |P|) sum_{(i, j) in P} (1 - G_ij) / 2,

    0 when `P` is empty. Range [0, 1]; linear in the cosines.

    `pairs="lower_triangle"` is the official code's pair set
    `{i > j, y_i = y_j, b_i < b_j}`: its loop over sorted bias classes and
    `tril(-1)` keep only the cross-bias pairs whose smaller bias id sits at
    the larger batch index, a random half of them.
    `pairs="symmetric"` uses `{i > j, y_i = y_j, b_i != b_j}`: same
    expectation, lower variance, and invariant to relabelling the bias ids.

    Args:
        z: bottleneck batch `[N, d]`; cosines are taken (see `gram_lower`).
        target: int target class ids `[N]` or `[N, 1]`.
        bias: int bias class ids `[N]` or `[N, 1]`.
        num_target_classes: number of target classes.
        num_bias_classes: number of bias classes.
        pairs: `"lower_triangle"` (official) or `"symmetric"`.

    Returns:
        float32 scalar.

    Example:
        >>> z = np.eye(4)  # mutually orthogonal: every cosine is 0
        >>> parallel_term(z, [0, 0, 1, 1], [1, 0, 1, 0], 2, 2)  # 0.5
    """
    mask = _parallel_pair_mask(target, bias, num_target_classes, num_bias_classes, pairs)
    misalignment = (1.0 - gram_lower(z)) / 2.0
    return _safe_mean(ops.sum(mask * misalignment), ops.sum(mask))


@register_method(
    "end",
    hyperparameters=(
        Hyperparameter("alpha", float, 0.1, "alpha: weight of the disentangling term R_perp", lower=0.0),
        Hyperparameter("beta", float, 0.1, "beta: weight of the entangling term R_par", lower=0.0),
        Hyperparameter(
            "orthogonal_variant", str, "sum", "R_perp: abs of each bias class's sum (official) or elementwise",
            choices=ORTHOGONAL_VARIANTS,
        ),
        Hyperparameter(
            "parallel_pairs", str, "lower_triangle", "R_par pair set: official lower triangle or symmetric",
            choices=PARALLEL_PAIRS,
        ),
    ),
    sensitive=("discrete",),
    tasks=("multiclass",),
    summary="alpha * R_perp (same-bias pairs decorrelated) + beta * R_par (same-target pairs aligned), "
    "Tartaglione et al., CVPR 2021",
    network_defaults={"normalize_bottleneck": True},
)
@keras.saving.register_keras_serializable(package="invariant_reps")
class EnD(InvariantModel):
    """EnD: `J = CE + alpha * R_perp + beta * R_par` (CVPR 2021, Sec. 3.5).

    The loss terms are reported as `"orthogonal"` (R_perp) and `"parallel"`
    (R_par), unweighted, in the training and evaluation logs. A term whose
    weight is 0 is still reported but leaves the objective.

    Normalisation: EnD L2-normalises the bottleneck in the forward path, so
    the task head also sees unit-norm features. Reproduce that with an encoder
    that ends in `L2Normalize` (`build_network(..., normalize_bottleneck=True)`).
    The terms themselves always work on cosines (`gram_lower` normalises `z`,
    a no-op on normalised `z`), so an unnormalised encoder is accepted, but
    then the head sees raw features unlike the paper's network.

    Args:
        encoder: Keras model x -> z.
        head: Keras model z -> task logits; task targets must be integer
            class ids (sparse labels), as R_par groups samples by target.
        num_sensitive_classes: int >= 2, number of bias classes; the
            sensitive variable must be class ids in `[0, num_sensitive_classes)`.
        alpha: weight of R_perp (>= 0).
        beta: weight of R_par (>= 0). Defaults 0.1 / 0.1 are the author's
            example in issue #1 of the official repository; the paper tunes
            both per bias level (larger beta than alpha works best).
        orthogonal_variant: `"sum"` (official) or `"elementwise"`.
        parallel_pairs: `"lower_triangle"` (official) or `"symmetric"`.
        weight_decay: coupled L2 weight decay (see `InvariantModel`); the
            paper's Biased-MNIST protocol uses 1e-4 with Adam.
        **kwargs: passed to `keras.Model`.

    Example:
        >>> net = build_network("simple_conv", (28, 28, 3), 10,
        ...                     normalize_bottleneck=True)
        >>> model = EnD(net.encoder, net.head, num_sensitive_classes=10,
        ...             alpha=1.0, beta=1.0, weight_decay=1e-4)
        >>> model.compile(optimizer=keras.optimizers.Adam(1e-3))
        >>> model.fit(pack_inputs(images, colours), digits, batch_size=256)
    """

    def __init__(
        self,
        encoder,
        head,
        num_sensitive_classes,
        alpha=0.1,
        beta=0.1,
        orthogonal_variant="sum",
        parallel_pairs="lower_triangle",
        weight_decay=0.0,
        **kwargs,
    ):
        kwargs.pop("task_weight", None)
        super().__init__(encoder, head, weight_decay=weight_decay, **kwargs)
        if (
            isinstance(num_sensitive_classes, bool)
            or not isinstance(num_sensitive_classes, numbers.Integral)
            or num_sensitive_classes < 2
        ):
            raise ValueError(
                "`num_sensitive_classes` must be an int >= 2; received "
                f"{num_sensitive_classes!r}."
            )
        for arg_name, value in (("alpha", alpha), ("beta", beta)):
            if not float(value) >= 0:
                raise ValueError(f"`{arg_name}` must be >= 0; received {value!r}.")
        _check_choice(orthogonal_variant, ORTHOGONAL_VARIANTS, "orthogonal_variant")
        _check_choice(parallel_pairs, PARALLEL_PAIRS, "parallel_pairs")
        self.num_sensitive_classes = int(num_sensitive_classes)
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.orthogonal_variant = orthogonal_variant
        self.parallel_pairs = parallel_pairs
        self.add_loss_term("orthogonal", self.alpha)
        self.add_loss_term("parallel", self.beta)

    def compute_loss_terms(self, batch, z, logits, training):
        num_target_classes = logits.shape[-1]
        return {
            "orthogonal": orthogonal_term(
                z, batch.s, self.num_sensitive_classes, self.orthogonal_variant
            ),
            "parallel": parallel_term(
                z,
                batch.y,
                batch.s,
                num_target_classes,
                self.num_sensitive_classes,
                self.parallel_pairs,
            ),
        }

    def get_config(self):
        config = super().get_config()
        config.pop("task_weight")
        config.update(
            {
                "num_sensitive_classes": self.num_sensitive_classes,
                "alpha": self.alpha,
                "beta": self.beta,
                "orthogonal_variant": self.orthogonal_variant,
                "parallel_pairs": self.parallel_pairs,
            }
        )
        return config
