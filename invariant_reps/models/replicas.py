"""Loss scaling under `tf.distribute`, the way Keras scales its compiled loss.

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
