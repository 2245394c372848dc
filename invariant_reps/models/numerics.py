"""In-graph checks that a training step's inputs and objective are finite.

`fit` checks the data before tracing (`validation.check_fit_data`), but a
`tf.data` pipeline is checked on its first batch only: a NaN arriving in a
later batch would train on with a NaN loss and silently ruin the weights.
These checks stop training at the offending batch with an error that names
the tensor (`InvalidArgumentError` carrying the message below).
"""

import tensorflow as tf

from invariant_reps.data.packing import INPUTS_KEY

NON_FINITE_INPUT_MESSAGE = "NaN or inf in a training batch"
NON_FINITE_OBJECTIVE_MESSAGE = (
    "The training objective (the loss) became NaN or inf, with finite inputs: lower the learning rate or the "
    "method's weights"
)


def check_inputs_finite(x_packed):
    """`x_packed` with an in-graph check that its floating-point inputs and s are finite.

    Args:
        x_packed: the packed inputs of a batch (a dict such as
            `{"inputs": x, "sensitive": s}`, or a bare tensor).

    Returns:
        The same structure; floating-point tensors pass through
        `tf.debugging.check_numerics`, whose error names the key.

    Example:
        >>> check_inputs_finite({"inputs": tf.constant([[float("nan")]])})
        InvalidArgumentError: NaN or inf in a training batch (inputs) ...
    """

    def checked(name, structure):
        def check(value):
            if isinstance(value, tf.Tensor) and value.dtype.is_floating:
                return tf.debugging.check_numerics(value, f"{NON_FINITE_INPUT_MESSAGE} ({name})")
            return value

        return tf.nest.map_structure(check, structure)

    if isinstance(x_packed, dict):
        return {key: checked(key, value) for key, value in x_packed.items()}
    return checked(INPUTS_KEY, x_packed)


def check_objective_finite(objective):
    """`objective` with an in-graph check that it is finite (`NON_FINITE_OBJECTIVE_MESSAGE` otherwise).

    Args:
        objective: the scalar training objective of a step.

    Returns:
        The same value.
    """
    return tf.debugging.check_numerics(objective, NON_FINITE_OBJECTIVE_MESSAGE)
