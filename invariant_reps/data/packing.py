"""How a batch carries the sensitive variable `s` through `Model.fit`.

Keras 3 builds its compiled loss and metrics from the structure of `y`, so a
naive `(x, (y, s))` makes Keras look for two model outputs. Instead `s` rides
with the inputs, in a dict:

    ({"inputs": x, "sensitive": s}, y)

`InvariantModel.call` reads only `"inputs"`, so `predict(x)` and
`evaluate(x, y)` work with a bare `x` and need no `s`; the training step reads
`"sensitive"` for the regularizer. The same packing works for NumPy arrays
(`model.fit(pack_inputs(x, s), y)`) and for `tf.data` (`dataset.map(pack)`).
`s` may be discrete (int class ids) or continuous, of any shape.
"""

INPUTS_KEY = "inputs"
SENSITIVE_KEY = "sensitive"
#: Optional key: each example's position in the training set, for methods
#: with a per-example memory bank (CTC).
INDEX_KEY = "index"


def pack_inputs(x, s):
    """Packs inputs and the sensitive variable into the model's input dict.

    Args:
        x: model inputs (array, tensor, or any structure the encoder accepts).
        s: the sensitive / private / nuisance variable, one row per example.

    Returns:
        `{"inputs": x, "sensitive": s}`.

    Example:
        >>> model.fit(pack_inputs(images, colours), digits, epochs=2)
    """
    return {INPUTS_KEY: x, SENSITIVE_KEY: s}


def pack(x, y, s):
    """Packs one example or batch as `({"inputs": x, "sensitive": s}, y)`.

    Written to be mapped over a `tf.data.Dataset` of `(x, y, s)` elements:

        >>> dataset = dataset.map(pack)

    Args:
        x: model inputs.
        y: task targets.
        s: the sensitive / private / nuisance variable.

    Returns:
        The tuple `(pack_inputs(x, s), y)`, ready for `Model.fit`.
    """
    return pack_inputs(x, s), y


def get_index(inputs):
    """Returns the per-example dataset index carried in `inputs`, or None."""
    if isinstance(inputs, dict):
        return inputs.get(INDEX_KEY)
    return None


def unpack_inputs(inputs):
    """Splits the model input into `(x, s)`; `s` is None when absent.

    A bare tensor or array (as `predict(x)` passes) is returned as `(x, None)`.
    """
    if isinstance(inputs, dict) and INPUTS_KEY in inputs:
        return inputs[INPUTS_KEY], inputs.get(SENSITIVE_KEY)
    return inputs, None
