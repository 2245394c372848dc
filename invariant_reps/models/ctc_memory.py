"""CTC's memory-bank math: the losses, the bank update and the negative sampling.

Pure functions of tensors, shared by both variants of `invariant_reps.models.ctc.CTC`
(the state that holds the banks is in `ctc_seed.py` and `ctc_single_bank.py`).
Notation: `v` an L2-normalised query `[B, D]`, `M` a memory bank `[N, D]` with one
row per training example, `t` a temperature. Banks are read without gradient.

The seed (dt-tradeoff, `ctc/instance.py`, `ctc/memory.py`, `ctc/criterion.py`):

- Stage one, instance discrimination (Wu et al. 2018), a full N-way
  non-parametric softmax over every bank row, the positive being the
  example's own row:

      L_inst = mean_i [ -log softmax_j(v_i . M_j / t)[index_i] ]            (1)

- Stage two, the CRD loss (Tian et al. 2020): scores of the candidates
  `C_i = [index_i, K negatives]` against a bank, divided by a constant `Z`,

      P_ik = exp(v_i . M_{C_ik} / t) / Z                                      (2)

  and a binary NCE against the noise distribution `P_n = 1 / N`:

      L_nce = -(1/B) sum_i [ log(P_i0 / (P_i0 + K P_n + eps))
                             + sum_{k>=1} log(K P_n / (P_ik + K P_n + eps)) ]  (3)

  with eps = 1e-7. The negatives come from other classes only.

- Bank update after the loss has read the bank, for the batch's rows:

      M_i <- normalize(m * M_i + (1 - m) * v_i)                               (4)

The single-bank variant's InfoNCE (`memory_bank_nce`) is eq. (5) of its module.
"""

import math

import keras
import numpy as np
from keras import ops

#: eps of eq. (3) (the seed's `ctc/criterion.py`).
NCE_EPSILON = 1e-7
# Logit given to a sampled negative that is the example itself: excluded.
_MASKED_LOGIT = -1e9


def uniform_memory(dim, seed=None):
    """Initializer of a bank with `dim` columns: U(-sqrt(3/dim), sqrt(3/dim)), not normalised (the seed's).

    Rows then have unit norm on average: E||m||^2 = dim * (3/dim) / 3 = 1.

    Args:
        dim: the bank's width D.
        seed: int or None.

    Returns:
        A `keras.initializers.RandomUniform`.
    """
    bound = math.sqrt(3.0 / dim)
    return keras.initializers.RandomUniform(-bound, bound, seed=seed)


def momentum_update(rows, values, momentum):
    """New memory rows, eq. (4): `normalize(momentum * rows + (1 - momentum) * values)`.

    Args:
        rows: `[B, D]` current bank rows.
        values: `[B, D]` new projections (read without gradient).
        momentum: float or scalar tensor in [0, 1]; 1 keeps `rows` (normalised),
            0 overwrites them with `normalize(values)`.

    Returns:
        `[B, D]` unit rows.

    Example:
        >>> momentum_update([[1.0, 0.0]], [[0.0, 2.0]], 0.5)  # (0.5, 1) / sqrt(1.25)
    """
    mixed = momentum * ops.convert_to_tensor(rows, "float32") + (1.0 - momentum) * ops.stop_gradient(
        ops.convert_to_tensor(values, "float32"))
    return ops.normalize(mixed, axis=-1, order=2)


def instance_discrimination_loss(queries, memory, index, temperature):
    """Eq. (1): the N-way non-parametric softmax of each query over all bank rows.

    Args:
        queries: `[B, D]` normalised projections `v_i` (the gradient flows to them).
        memory: `[N, D]` bank (read without gradient).
        index: int `[B]`, each query's own row (its class among N).
        temperature: positive float `t`.

    Returns:
        Scalar, mean over the batch, in nats.

    Example:
        >>> instance_discrimination_loss([[1.0, 0.0]], np.eye(2), [0], 1.0)  # log(1 + e^-1)
    """
    queries = ops.convert_to_tensor(queries, "float32")
    memory = ops.stop_gradient(ops.convert_to_tensor(memory, "float32"))
    logits = ops.matmul(queries, ops.transpose(memory)) / temperature  # [B, N]
    # The own row's logit through a one-hot mask: the gradient of take_along_axis (a BroadcastTo) fails
    # under XLA inside a tf.cond.
    own = ops.sum(logits * ops.one_hot(ops.reshape(ops.cast(index, "int32"), (-1,)), ops.shape(memory)[0]), axis=1)
    return ops.mean(ops.logsumexp(logits, axis=1) - own)


def class_aware_negatives(labels, targets, num_negatives, seed):
    """For each example, `num_negatives` distinct bank rows of other classes, uniformly at random.

    The seed's `CIFAR100InstanceSample` (`mode='exact'`) draws them without
    replacement from the images of other classes. Here: every row gets an
    i.i.d. U(0, 1) key, rows of the example's class (and rows of unknown
    class, label -1) get key -1, and the `num_negatives` largest keys are
    taken, a uniformly random subset of the eligible rows.

    Args:
        labels: int `[N]`, the class of every bank row (-1: unknown, never drawn).
        targets: int `[B]`, the class of each example of the batch.
        num_negatives: K, at most the smallest number of eligible rows
            (`max_class_aware_negatives`); else ineligible rows fill the rest.
        seed: a `keras.random.SeedGenerator` (or int).

    Returns:
        int32 `[B, K]` row indices.

    Example:
        >>> class_aware_negatives([0, 0, 1, 1], [0], 2, 1)  # [[2, 3]] or [[3, 2]]
    """
    labels = ops.cast(ops.convert_to_tensor(labels), "int32")
    targets = ops.reshape(ops.cast(ops.convert_to_tensor(targets), "int32"), (-1,))
    keys = keras.random.uniform((ops.shape(targets)[0], ops.shape(labels)[0]), seed=seed)
    eligible = ops.logical_and(ops.not_equal(labels[None, :], targets[:, None]), labels[None, :] >= 0)
    _, rows = ops.top_k(ops.where(eligible, keys, -1.0), num_negatives, sorted=False)
    return ops.cast(rows, "int32")


def max_class_aware_negatives(labels):
    """The largest K that every class can draw without replacement: min over classes of the other classes' rows.

    Args:
        labels: int array `[N]` (-1: unknown, not counted).

    Returns:
        int, 0 with fewer than two known classes.

    Example:
        >>> max_class_aware_negatives([0, 0, 0, 1, 2])  # class 0 has 2 other rows
        2
    """
    labels = np.asarray(labels).reshape(-1)
    known = labels[labels >= 0]
    _, counts = np.unique(known, return_counts=True)
    return int(len(known) - counts.max()) if len(counts) > 1 else 0


def contrast_scores(queries, memory, candidates, temperature):
    """Numerators of eq. (2): `exp(v_i . M_{C_ik} / t)` for every candidate row.

    Args:
        queries: `[B, D]` normalised embeddings.
        memory: `[N, D]` bank (read without gradient).
        candidates: int `[B, K + 1]`, column 0 the positive row.
        temperature: positive float `t`.

    Returns:
        `[B, K + 1]` positive scores.
    """
    memory = ops.stop_gradient(ops.convert_to_tensor(memory, "float32"))
    rows = ops.take(memory, ops.cast(candidates, "int32"), axis=0)  # [B, K + 1, D]
    queries = ops.convert_to_tensor(queries, "float32")
    return ops.exp(ops.sum(rows * queries[:, None, :], axis=-1) / temperature)


def crd_nce_loss(probabilities, num_examples):
    """Eq. (3): the CRD binary NCE of `P = scores / Z` (column 0 the positive).

    Args:
        probabilities: `[B, K + 1]` normalised scores `P_ik`.
        num_examples: N, so that the noise distribution is `P_n = 1 / N`.

    Returns:
        Scalar: the sum over the batch divided by B (the seed's `ContrastLoss`).

    Example:
        >>> crd_nce_loss([[0.5, 0.1]], 10)  # -log(0.5/0.6) - log(0.1/0.2), eps aside
    """
    probabilities = ops.convert_to_tensor(probabilities, "float32")
    noise = (probabilities.shape[1] - 1) / float(num_examples)  # K * P_n
    positive = ops.log(probabilities[:, 0] / (probabilities[:, 0] + noise + NCE_EPSILON))
    negative = ops.log(noise / (probabilities[:, 1:] + noise + NCE_EPSILON))
    batch = ops.cast(ops.shape(probabilities)[0], "float32")
    return -(ops.sum(positive) + ops.sum(negative)) / batch


def memory_bank_nce(queries, bank, positive_index, negative_index, temperature):
    """The single-bank variant's InfoNCE (eq. (5) of `ctc_single_bank`); mean over the batch.

    Args:
        queries: `[B, D]` L2-normalised projections `v_i`.
        bank: `[N, D]` L2-normalised memory rows `m`.
        positive_index: int `[B]`, the bank row of each query's positive.
        negative_index: int `[K]`, bank rows used as negatives by every
            query; a row equal to a query's own positive is left out of its
            sum.
        temperature: positive float `t`.

    Returns:
        Scalar: `mean_i -log(e^{v_i.m_i/t} / (e^{v_i.m_i/t} + sum_k e^{v_i.m_k/t}))` in nats.

    Example:
        >>> bank = np.eye(2, dtype="float32")
        >>> memory_bank_nce(bank, bank, [0, 1], [0, 1], 1.0)  # log(1 + e^-1)
    """
    queries = ops.convert_to_tensor(queries, "float32")
    bank = ops.stop_gradient(ops.convert_to_tensor(bank, "float32"))
    positive_index = ops.cast(positive_index, "int32")
    negative_index = ops.cast(negative_index, "int32")
    positives = ops.take(bank, positive_index, axis=0)  # [B, D]
    negatives = ops.take(bank, negative_index, axis=0)  # [K, D]
    positive_logits = ops.sum(queries * positives, axis=-1) / temperature  # [B]
    negative_logits = ops.matmul(queries, ops.transpose(negatives)) / temperature
    is_self = ops.equal(positive_index[:, None], negative_index[None, :])  # [B, K]
    negative_logits = ops.where(is_self, _MASKED_LOGIT, negative_logits)
    logits = ops.concatenate([positive_logits[:, None], negative_logits], axis=1)
    return ops.mean(ops.logsumexp(logits, axis=1) - positive_logits)


def write_rows(bank, index, rows):
    """Writes `rows` into `bank` at `index` (a sparse update: the bank can be large).

    Args:
        bank: a `keras.Variable` `[N, D]`.
        index: int `[B]`.
        rows: `[B, D]`.
    """
    bank.value.scatter_nd_update(ops.reshape(ops.cast(index, "int32"), (-1, 1)), ops.cast(rows, bank.dtype))
