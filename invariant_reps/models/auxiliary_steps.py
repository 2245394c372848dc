"""The inner steps of an auxiliary network (critic, adversary, privacy head), as one in-graph loop.

`InvariantModel` trains each auxiliary network `steps` times per batch on the
stopped outputs of the batch's forward pass. Unrolled as a Python loop, the
traced step holds `steps` copies of the auxiliary's forward pass, gradient and
optimizer update, so tracing time grows with the step count (the seed's 16
critic steps: about ten times the trace of one). Here the first step is traced
once and the other `steps - 1` run in a `tf.while_loop` whose body is traced
once, whatever `steps` is.

Under a multi-replica strategy (MirroredStrategy, MultiWorkerMirroredStrategy)
an optimizer step synchronises the replicas (`merge_call`), which TensorFlow
does not allow inside a `tf.while_loop` body: there the steps are unrolled as
before. Both paths give the same values.
"""

import tensorflow as tf
from keras import ops


def graph_loops_allowed():
    """Whether optimizer steps may sit inside a `tf.while_loop` (no multi-replica strategy)."""
    return not tf.distribute.has_strategy()


def _as_float32(loss, metrics):
    return ops.cast(loss, "float32"), {key: ops.cast(value, "float32") for key, value in metrics.items()}


def run_steps(step, steps):
    """Calls `step()` `steps` times; returns the last `(loss, metrics)`.

    Args:
        step: a function taking one optimizer step and returning
            `(loss, {metric: value})` of that step.
        steps: Python int >= 1.

    Returns:
        `(loss, metrics)` of the last step, cast to float32.
    """
    loss, metrics = _as_float32(*step())
    if steps == 1:
        return loss, metrics
    if not graph_loops_allowed():
        for _ in range(steps - 1):
            loss, metrics = _as_float32(*step())
        return loss, metrics

    def body(index, loss, metrics):
        loss, metrics = _as_float32(*step())
        return index + 1, loss, metrics

    # parallel_iterations=1: each step reads the variables the previous one updated.
    _, loss, metrics = tf.while_loop(
        lambda index, *_: index < steps - 1, body, (tf.constant(0), loss, metrics), parallel_iterations=1
    )
    return loss, metrics
