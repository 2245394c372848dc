"""EnD's two regularizers, R_perp and R_par, as pure functions of a batch (the method is `end.EnD`).

Tartaglione, Barbano and Grangetto, "EnD: Entangling and Disentangling deep
representations for bias correction", CVPR 2021. The regularizer is defined on
the cosine Gram matrix G of the L2-normalised bottleneck batch (unit rows u_i):

- R_perp ("disentangling", `orthogonal_term`) pushes samples that share a bias
  label towards zero net cosine, whatever their target;
- R_par ("entangling", `parallel_term`) pulls samples of the same target but
  different bias labels towards cosine 1.

The objective is `J = CE + alpha * R_perp + beta * R_par`, one optimizer, one
backward pass (official `src/EnD.py`, `abs_regu`). A term with no eligible
pair is 0, not NaN; everything is in-graph (no loop over classes), float32.

Cost: both official terms are linear in sums of cosines over pair sets, so they
never form the B x B matrix. Over a group g of samples

    sum_{i > j in g} u_i . u_j = (||sum_g u||^2 - sum_g ||u||^2) / 2,

so R_perp ("sum") and R_par ("symmetric") cost O(B d) with per-class segment
sums; R_par ("lower_triangle", which also depends on batch order) costs
O(B k d) from chunks of k >= max(128, T C) samples (T target, C bias classes). Only
`variant="elementwise"` (abs of each cosine) builds G (`gram_lower`).
"""

import numbers

from keras import ops

ORTHOGONAL_VARIANTS = ("sum", "elementwise")
PARALLEL_PAIRS = ("lower_triangle", "symmetric")

# `pattern_norm`'s floor on the norm, z / max(||z||, 1e-12).
_NORM_EPSILON = 1e-12
# Smallest chunk of the "lower_triangle" R_par computation (see `_lower_triangle_dots`).
_MIN_CHUNK = 128


def _check_choice(value, choices, arg_name):
    if value not in choices:
        raise ValueError(f"`{arg_name}` must be one of {choices}; received {value!r}.")


def _check_num_classes(value, arg_name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"`{arg_name}` must be a positive int; received {value!r}.")


def _labels(labels):
    """Class ids of shape `[N]` or `[N, 1]` (int or float) as int32 `[N]`."""
    return ops.cast(ops.reshape(labels, (-1,)), "int32")


def _ones_column(labels):
    """Float32 `[N, 1]` of ones: with it, the dot-product sums below count pairs."""
    return ops.ones_like(ops.cast(ops.reshape(labels, (-1, 1)), "float32"))


def _safe_mean(total, count):
    """`total / count`, and 0 (with a zero gradient) when `count == 0`."""
    return ops.where(count > 0, total / ops.maximum(count, 1.0), 0.0)


def _unit_rows(z):
    """`z / max(||z||, 1e-12)` row-wise in float32 (`pattern_norm`)."""
    z = ops.cast(z, "float32")
    squared_norm = ops.sum(ops.square(z), axis=-1, keepdims=True)
    return z * ops.rsqrt(ops.maximum(squared_norm, _NORM_EPSILON**2))


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
    unit = _unit_rows(z)
    positions = ops.arange(ops.shape(unit)[0])
    lower = ops.cast(positions[:, None] > positions[None, :], "float32")
    # The clip is "just for safety" in the official code (|cos| <= 1 up to
    # rounding); its gradient is 0 outside [-1, 1], as in torch.
    return ops.clip(ops.matmul(unit, ops.transpose(unit)) * lower, -1.0, 1.0)


def _within_group_dots(vectors, groups, num_groups):
    """Per group g and column c, `sum_{i > j, i, j in g} v_ic v_jc` (`[G, d]`).

    `(sum_g v)^2` holds every ordered pair of g once and each `v_i^2` once,
    hence `((sum_g v)^2 - sum_g v^2) / 2`. Summed over columns: the sum of
    `v_i . v_j` over g's pairs; for a ones column: the count `n_g (n_g - 1) / 2`.
    """
    sums = ops.segment_sum(vectors, groups, num_segments=num_groups)
    squares = ops.segment_sum(ops.square(vectors), groups, num_segments=num_groups)
    return (ops.square(sums) - squares) / 2.0


def _lower_triangle_dots(vectors, target, bias, num_target_classes, num_bias_classes):
    """Per column c, `sum_{(i, j) in P} v_ic v_jc`, `P = {i > j, y_i = y_j, b_i < b_j}`.

    `P` depends on batch order, so it is not a function of group sums over the
    batch. Cut the batch into chunks of `k >= T C` consecutive samples: for i
    and j in different chunks `i > j` is the chunk order, so those pairs give
    `sum_i v_i * w_i` with `w_i` the sum of `v_j` over earlier chunks, target
    `y_i`, bias `> b_i` (per-(chunk, target, bias) sums times 0/1 triangles);
    pairs inside a chunk give `sum_i v_i * (M v)_i` with M the chunk's `k x k`
    pair mask. O(N k d) instead of O(N^2 d); zero rows pad to whole chunks.
    """
    num_cells = num_target_classes * num_bias_classes
    chunk = max(_MIN_CHUNK, num_cells)
    if vectors.shape[0] is not None:
        chunk = max(1, min(chunk, vectors.shape[0]))
    padding = (-ops.shape(vectors)[0]) % chunk
    vectors = ops.pad(vectors, [[0, padding], [0, 0]])
    target, bias = (ops.pad(v, [[0, padding]]) for v in (target, bias))
    size, dim = ops.shape(vectors)[0], ops.shape(vectors)[1]
    num_chunks = size // chunk
    # Pairs across chunks.
    cell = (ops.arange(size, dtype="int32") // chunk * num_target_classes + target)
    cell = cell * num_bias_classes + bias
    sums = ops.segment_sum(vectors, cell, num_segments=num_chunks * num_cells)
    chunks = ops.arange(num_chunks, dtype="int32")
    earlier = ops.cast(chunks[:, None] > chunks[None, :], "float32")
    partners = ops.matmul(earlier, ops.reshape(sums, (num_chunks, -1)))  # chunks c' < c
    biases = ops.arange(num_bias_classes, dtype="int32")
    higher = ops.cast(biases[:, None] < biases[None, :], "float32")[None]
    partners = ops.matmul(higher, ops.reshape(partners, (-1, num_bias_classes, dim)))  # b' > b
    partners = ops.take(ops.reshape(partners, (-1, dim)), cell, axis=0)
    across = ops.sum(vectors * partners, axis=0)
    # Pairs inside a chunk.
    target, bias = (ops.reshape(v, (num_chunks, chunk)) for v in (target, bias))
    position = ops.arange(chunk, dtype="int32")
    mask = ops.logical_and(
        ops.logical_and(position[:, None] > position[None, :], target[:, :, None] == target[:, None, :]),
        bias[:, :, None] < bias[:, None, :],
    )
    blocks = ops.reshape(vectors, (num_chunks, chunk, dim))
    within = ops.sum(blocks * ops.matmul(ops.cast(mask, "float32"), blocks), axis=(0, 1))
    return across + within


def _parallel_dots(vectors, target, bias, num_target_classes, num_bias_classes, pairs):
    """Per column c, `sum_{(i, j) in P_par} v_ic v_jc` for the pair set `pairs`."""
    _check_num_classes(num_target_classes, "num_target_classes")
    _check_num_classes(num_bias_classes, "num_bias_classes")
    _check_choice(pairs, PARALLEL_PAIRS, "pairs")
    target, bias = _labels(target), _labels(bias)
    if pairs == "lower_triangle":
        return _lower_triangle_dots(vectors, target, bias, num_target_classes, num_bias_classes)
    # {i > j, y_i = y_j, b_i != b_j}: same-target pairs minus same-(target, bias) pairs.
    same_target = _within_group_dots(vectors, target, num_target_classes)
    cells = target * num_bias_classes + bias
    same_cell = _within_group_dots(vectors, cells, num_target_classes * num_bias_classes)
    return ops.sum(same_target, axis=0) - ops.sum(same_cell, axis=0)


def orthogonal_pair_count(bias, num_bias_classes):
    """Number of pairs `i > j` with `b_i == b_j`: `sum_b M_b` of R_perp.

    Args:
        bias: int class ids `[N]` or `[N, 1]`.
        num_bias_classes: number of bias classes.

    Returns:
        int32 scalar.

    Example:
        >>> orthogonal_pair_count([0, 1, 0, 0], 2)  # 3
    """
    _check_num_classes(num_bias_classes, "num_bias_classes")
    pairs = _within_group_dots(_ones_column(bias), _labels(bias), num_bias_classes)
    return ops.cast(ops.round(ops.sum(pairs)), "int32")


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

    "sum" is computed in O(N d) from per-class sums of the unit rows,
    `S_b = (||sum_b u||^2 - sum_b ||u||^2) / 2`; "elementwise" as
    `diag(B^T |G| B)` with `B` the one-hot bias matrix (O(N^2 d)).

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
    if variant == "sum":
        class_sums = ops.sum(_within_group_dots(_unit_rows(z), _labels(bias), num_bias_classes), axis=1)
    else:
        bias_one_hot = ops.one_hot(_labels(bias), num_bias_classes, dtype="float32")
        # S_b = (B^T |G| B)_bb = sum_i B_ib (|G| B)_ib.
        class_sums = ops.sum(bias_one_hot * ops.matmul(ops.abs(gram_lower(z)), bias_one_hot), axis=0)
    pairs = ops.cast(orthogonal_pair_count(bias, num_bias_classes), "float32")
    return _safe_mean(ops.sum(ops.abs(class_sums)), pairs)


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

    Example:
        >>> parallel_pair_count([0, 0, 0, 1], [0, 1, 0, 0], 2, 2)  # 1: (2, 1)
    """
    count = _parallel_dots(
        _ones_column(target), target, bias, num_target_classes, num_bias_classes, pairs
    )
    return ops.cast(ops.round(count[0]), "int32")


def parallel_term(
    z, target, bias, num_target_classes, num_bias_classes, pairs="lower_triangle"
):
    """EnD's entangling term R_par (`abs_parallel`, Sec. 3.4).

        R_par = (1 / |P|) sum_{(i, j) in P} (1 - G_ij) / 2,

    0 when `P` is empty. Range [0, 1]; linear in the cosines, so computed as
    `(|P| - sum_P u_i . u_j) / (2 |P|)` without forming G (see the module
    docstring for the cost).

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
    # One pass over [u, 1]: the last column's pair sum is |P|.
    unit = _unit_rows(z)
    augmented = ops.concatenate([unit, _ones_column(target)], axis=1)
    sums = _parallel_dots(augmented, target, bias, num_target_classes, num_bias_classes, pairs)
    count, cosines = sums[-1], ops.sum(sums[:-1])
    return _safe_mean((count - cosines) / 2.0, count)
