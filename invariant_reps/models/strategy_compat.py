"""Keras 3 workarounds for `tf.distribute` strategies with a packed (dict) batch.

`StrategyCompatMixin` adapts two places where Keras 3's TensorFlow trainer
assumes what MultiWorkerMirroredStrategy does not provide:

- the symbolic build from the first distributed batch, which Keras obtains
  with `strategy.reduce("MEAN", batch)` (impossible for a dict of inputs and
  sensitive values across workers): only the batch's structure and shapes
  matter, so one replica's local values are used;
- the cross-replica reduction of the logs, `strategy.reduce("MEAN", value,
  axis=0)`, which fails on scalars (tensorflow/tensorflow#72388): each logged
  value is made a length-1 vector, which reduces to the same scalar.

With one device, or MirroredStrategy, both are the identity.
"""

import tensorflow as tf
from keras import ops


class StrategyCompatMixin:
    """Mixed into a `keras.Model` subclass before `keras.Model`; `train_step`/`test_step` return `_for_reduction(logs)`.

    Example:
        >>> class Model(StrategyCompatMixin, keras.Model):
        ...     def train_step(self, data):
        ...         ...
        ...         return self._for_reduction(self.compute_metrics(x, y, y_pred))
    """

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None and self._distribute_strategy is not None:
            for _, _, it in iterator:
                local = self.distribute_strategy.experimental_local_results
                data_batch = tf.nest.map_structure(
                    lambda v: local(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v, next(it)
                )
                break
        return super()._maybe_symbolic_build(iterator=None, data_batch=data_batch)

    def _for_reduction(self, logs):
        """`logs` shaped for Keras's cross-replica reduction (length-1 vectors under MultiWorkerMirroredStrategy).

        Args:
            logs: `{name: scalar}` as `compute_metrics` returns them.

        Returns:
            The same values, reshaped to `(1,)` under MultiWorkerMirroredStrategy.
        """
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return {key: ops.reshape(value, (1,)) for key, value in logs.items()}
        return logs
