"""Name -> builder registry for the networks the CLI and benchmarks can build.

A builder has the signature

    builder(input_shape, num_classes, **kwargs) -> Network

where `input_shape` excludes the batch axis. Register one with the
`register_network` decorator:

    @register_network("tiny_mlp")
    def tiny_mlp(input_shape, num_classes, units=16):
        ...
        return Network(encoder, head)

A builder may instead return one full functional model `x -> logits`; name the
bottleneck layer when registering and the registry splits the model with
`split_model`:

    @register_network("my_cnn", bottleneck_layer="features")
    def my_cnn(input_shape, num_classes):
        inputs = keras.Input(shape=input_shape)
        ...
        z = keras.layers.GlobalAveragePooling2D(name="features")(x)
        return keras.Model(inputs, keras.layers.Dense(num_classes)(z))

    encoder, head = build_network("my_cnn", (32, 32, 3), 10)
"""

import difflib
import functools

import keras

from invariant_reps.networks.adapter import split_model
from invariant_reps.networks.network import Network

_NETWORK_BUILDERS = {}


def register_network(name, *, bottleneck_layer=None, overwrite=False):
    """Decorator registering a network builder under `name`.

    Args:
        name: non-empty string without whitespace, the lookup key.
        bottleneck_layer: optional layer name. When given, the builder returns
            a single functional `keras.Model` (x -> logits) and the registry
            cuts it at this layer with `split_model`.
        overwrite: if True, replaces a builder already registered as `name`.

    Returns:
        A decorator that registers the builder and returns it unchanged.

    Example:

    >>> @register_network("wide_mlp")
    ... def wide_mlp(input_shape, num_classes):
    ...     return build_network("mlp", input_shape, num_classes,
    ...                          hidden_units=(512, 512))
    """
    _validate_name(name)
    if bottleneck_layer is not None and (
        not isinstance(bottleneck_layer, str) or not bottleneck_layer
    ):
        raise ValueError(
            "`bottleneck_layer` must be a non-empty layer name or None. "
            f"Received: bottleneck_layer={bottleneck_layer!r}"
        )

    def decorator(builder):
        if not callable(builder):
            raise ValueError(
                f"A network builder must be callable. Received: {builder!r} "
                f"for network '{name}'"
            )
        if name in _NETWORK_BUILDERS and not overwrite:
            raise ValueError(
                f"A network named '{name}' is already registered. Pass "
                "`overwrite=True` to replace it."
            )
        _NETWORK_BUILDERS[name] = (
            builder
            if bottleneck_layer is None
            else _splitting(builder, bottleneck_layer)
        )
        return builder

    return decorator


def get_network(name):
    """Returns the builder registered as `name`.

    Args:
        name: a registered network name.

    Returns:
        The builder, `builder(input_shape, num_classes, **kwargs) -> Network`.

    Raises:
        ValueError: if no network is registered as `name`; the message lists
            the known names.
    """
    _validate_name(name)
    if name not in _NETWORK_BUILDERS:
        known = available_networks()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean '{close[0]}'?" if close else ""
        raise ValueError(
            f"Unknown network '{name}'.{hint} Known networks: "
            f"{', '.join(known) or '(none)'}."
        )
    return _NETWORK_BUILDERS[name]


def build_network(name, input_shape, num_classes, **kwargs):
    """Builds the registered network `name`.

    Args:
        name: a registered network name (see `available_networks()`).
        input_shape: shape of one example, without the batch axis.
        num_classes: number of task logits the head outputs.
        **kwargs: builder-specific options (e.g. `width` for `simple_conv`).

    Returns:
        A `Network(encoder, head)`.

    Example:

    >>> encoder, head = build_network(
    ...     "simple_conv", (28, 28, 3), 10, normalize_bottleneck=True)
    """
    network = get_network(name)(input_shape, num_classes, **kwargs)
    return _as_network(network, name)


def available_networks():
    """Returns the registered network names, sorted."""
    return sorted(_NETWORK_BUILDERS)


def _validate_name(name):
    if not isinstance(name, str) or not name or any(c.isspace() for c in name):
        raise ValueError(
            "A network name must be a non-empty string without whitespace. "
            f"Received: name={name!r}"
        )


def _splitting(builder, bottleneck_layer):
    """Wraps a full-model builder so that it returns a `Network`."""

    @functools.wraps(builder)
    def build_and_split(input_shape, num_classes, **kwargs):
        return split_model(
            builder(input_shape, num_classes, **kwargs), bottleneck_layer
        )

    return build_and_split


def _as_network(built, name):
    """Checks a builder's return value and converts a pair to `Network`."""
    if isinstance(built, keras.Model):
        raise ValueError(
            f"The builder of network '{name}' returned a single model "
            f"'{built.name}'. Return Network(encoder, head), or register it "
            "with `register_network(name, bottleneck_layer=...)` so that the "
            "model is split at its bottleneck."
        )
    if (
        isinstance(built, tuple)
        and len(built) == 2
        and all(isinstance(part, keras.Model) for part in built)
    ):
        return Network(*built)
    raise ValueError(
        f"The builder of network '{name}' must return Network(encoder, head) "
        f"with two keras.Model objects. Received: {built!r}"
    )
