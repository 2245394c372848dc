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

    In a replica context of a multi-replica strategy this is
    `ReplicaContext.all_gather`, whose gradient sums the replicas' upstream
    gradients and hands each replica its own slice. A term computed on the
    gathered batch is then the single-device term, and scaling it by
    `1 / num_replicas` (`scale_for_replicas`) before the optimizer sums the
    replicas' gradients gives exactly its single-device gradient.

    Args:
        value: a tensor with a batch axis, or None (returned as is).
    """
    context = tf.distribute.get_replica_context()
    if value is None or context is None or context.num_replicas_in_sync == 1:
        return value
    gathered = context.all_gather(value, axis=0)
    # all_gather drops the static shape; keep the feature axes (callers read e.g. the logits' width).
    gathered.set_shape([None, *value.shape[1:]])
    return gathered
