"""`Network`: the (encoder, head) pair every model in the library trains."""

from typing import NamedTuple

import keras


class Network(NamedTuple):
    """An encoder `x -> z` and a task head `z -> logits`.

    `z` is the bottleneck representation, a 2-D `[batch, dim]` tensor, on
    which every method's regularizer acts. Both parts are Keras models, so
    `head(encoder(x))` is the full classifier.

    Attributes:
        encoder: `keras.Model` mapping inputs `x` to the bottleneck `z`.
        head: `keras.Model` mapping `z` to task logits.

    Example:

    >>> network = build_network("mlp", input_shape=(8,), num_classes=3)
    >>> z = network.encoder(x)
    >>> logits = network.head(z)
    """

    encoder: keras.Model
    head: keras.Model
