"""Loss scaling and batch gathering under `tf.distribute`, the way Keras scales its compiled loss.

Under a strategy with R replicas in sync, each replica computes its loss on
its share of the global batch and the optimizer *sums* the replicas'
gradients. A per-replica mean loss must therefore be divided by R before
taking gradients (`scale_for_replicas`), while metrics must see the unscaled
per-replica value (`unscale_for_replicas` undoes the scaling of a loss that
Keras already scaled). With one replica both are the identity.
"""

import keras
import tensorflow as tf
from keras import ops


def _num_replicas():
    return tf.distribute.get_strategy().num_replicas_in_sync


def scale_for_replicas(value):
    """Divides `value` by the number of replicas in sync (no-op on one)."""
    replicas = _num_replicas()
    if replicas > 1:
        value = value / ops.cast(replicas, value.dtype)
    return value


def unscale_for_replicas(value):
    """Inverse of `scale_for_replicas`."""
    replicas = _num_replicas()
    if replicas > 1:
        value = value * ops.cast(replicas, value.dtype)
    return value


def batch_size(x):
    """Number of examples in the (nested) batch `x`, as float32."""
    first = keras.tree.flatten(x)[0]
    return ops.cast(ops.shape(first)[0], "float32")


def gather_replicas(value):
    """Concatenates `value` over the replicas in sync along axis 0 (identity on one replica).

    In a replica context of a multi-replica strategy each replica writes its
    rows at its offset in a zero tensor of the global batch size, and an
    all-reduce (sum) of those tensors is the concatenation. This works for
    MirroredStrategy and MultiWorkerMirroredStrategy alike (the latter's
    `all_gather` fails inside `tf.function`), and for replicas holding unequal
    numbers of rows (the last batch of an epoch). The all-reduce's gradient is
    the all-reduce of the upstream gradients, so each replica receives the sum
    of the replicas' gradients for its own rows: a term computed on the gathered
    batch and scaled by `1 / num_replicas` (`scale_for_replicas`), with the
    optimizer summing the replicas' gradients, gets exactly its single-device
    gradient. Integer values travel as float64 (exact below 2**53).

    Args:
        value: a tensor with a batch axis, or None (returned as is).
    """
    context = tf.distribute.get_replica_context()
    if value is None or context is None or context.num_replicas_in_sync == 1:
        return value
    value = tf.convert_to_tensor(value)
    num_replicas = context.num_replicas_in_sync
    replica = tf.cast(context.replica_id_in_sync_group, tf.int32)
    size = tf.shape(value)[0]
    sizes = context.all_reduce("SUM", tf.one_hot(replica, num_replicas, dtype=tf.float64) * tf.cast(size, tf.float64))
    sizes = tf.cast(sizes, tf.int32)
    offset = tf.reduce_sum(sizes[:replica])
    carrier = value.dtype if value.dtype.is_floating else tf.float64
    placed = tf.scatter_nd(
        (offset + tf.range(size))[:, None],
        tf.cast(value, carrier),
        tf.concat([[tf.reduce_sum(sizes)], tf.shape(value)[1:]], axis=0),
    )
    gathered = tf.cast(context.all_reduce("SUM", placed), value.dtype)
    # Keep the static feature axes (callers read e.g. the logits' width).
    gathered.set_shape([None, *value.shape[1:]])
    return gathered
