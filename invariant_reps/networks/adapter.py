"""`split_model`: cuts a user's functional Keras model at its bottleneck.

The encoder is the sub-graph from the model's inputs to the bottleneck layer's
output. The head is rebuilt from a fresh `keras.Input` for `z` by calling the
*same* layer objects that follow the bottleneck in the original graph, in
topological order, so encoder, head and the original model share weights.
Any DAG downstream of the bottleneck works (residual branches, multiple
outputs) as long as it reads nothing but `z`.
"""

import difflib

import keras

from invariant_reps.networks.network import Network


def split_model(model, bottleneck_layer_name):
    """Splits a functional or Sequential model into `(encoder, head)`.

    Args:
        model: a functional `keras.Model` or a built `keras.Sequential`
            mapping `x` to logits.
        bottleneck_layer_name: name of the layer whose output is the
            representation `z`. Its output must be 2-D `[batch, dim]`.

    Returns:
        A `Network(encoder, head)` with `head(encoder(x)) == model(x)`. The
        two parts share their layers (and so their weights) with `model`.

    Raises:
        ValueError: if `model` is not functional/Sequential, the layer name is
            unknown, the layer is called more than once or is not between the
            inputs and the outputs, its output is not 2-D, nothing follows it,
            or the layers after it read tensors that do not come from it.

    Example:

    >>> inputs = keras.Input(shape=(28, 28, 1))
    >>> x = keras.layers.Conv2D(8, 3, activation="relu")(inputs)
    >>> x = keras.layers.GlobalAveragePooling2D(name="features")(x)
    >>> outputs = keras.layers.Dense(10)(x)
    >>> encoder, head = split_model(keras.Model(inputs, outputs), "features")
    """
    inputs, outputs = _graph_endpoints(model)
    layer = _find_layer(model, bottleneck_layer_name)
    nodes = _nodes_in_topological_order(outputs)
    z = _bottleneck_output(nodes, layer)
    if len(z.shape) != 2:
        raise ValueError(
            f"The bottleneck must be 2-D [batch, dim], but layer "
            f"'{layer.name}' outputs shape {tuple(z.shape)}. Add a Flatten "
            "or GlobalAveragePooling2D layer after it and use that layer as "
            "the bottleneck."
        )
    head_nodes = _nodes_after(nodes, z, layer)
    _check_outputs_follow_bottleneck(outputs, head_nodes, z, layer)

    encoder_inputs = inputs[0] if len(inputs) == 1 else model.input
    encoder = keras.Model(encoder_inputs, z, name=f"{model.name}_encoder")

    z_input = keras.Input(
        shape=tuple(z.shape[1:]),
        dtype=z.dtype,
        name=_unused_name("z", {node.operation.name for node in head_nodes}),
    )
    rebuilt = _reapply(head_nodes, {id(z): z_input})
    head_outputs = [rebuilt[id(tensor)] for tensor in outputs]
    head = keras.Model(
        z_input,
        head_outputs[0] if len(head_outputs) == 1 else head_outputs,
        name=f"{model.name}_head",
    )
    return Network(encoder=encoder, head=head)


def _graph_endpoints(model):
    """Returns the flat symbolic inputs and outputs of a functional model."""
    if not isinstance(model, keras.Model):
        raise ValueError(
            "`model` must be a functional keras.Model or a keras.Sequential. "
            f"Received: model={model!r} of type {type(model).__name__}"
        )
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        inputs = outputs = None
    if not inputs or not outputs:
        raise ValueError(
            f"Model '{model.name}' ({type(model).__name__}) has no symbolic "
            "graph to split: only functional models (built with keras.Input) "
            "and Sequential models with a known input shape can be split. "
            "Wrap a subclassed model's layers in a functional model, or give "
            "the Sequential model a keras.Input."
        )
    return list(inputs), list(outputs)


def _find_layer(model, name):
    """Returns the layer called `name`, or raises with the closest names."""
    names = [layer.name for layer in model.layers]
    if name not in names:
        close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.5)
        hint = (
            f"Closest names: {close}."
            if close
            else f"Layers of the model: {names}."
        )
        raise ValueError(
            f"Model '{model.name}' has no layer named {name!r}. {hint}"
        )
    layer = model.get_layer(name)
    if isinstance(layer, keras.layers.InputLayer):
        raise ValueError(
            f"The bottleneck cannot be the input layer '{name}'; name a "
            "layer that computes the representation."
        )
    return layer


def _producer(tensor):
    """The graph node that computed a symbolic tensor."""
    operation, node_index, _ = tensor._keras_history
    return operation._inbound_nodes[node_index]


def _nodes_in_topological_order(outputs):
    """All nodes the outputs depend on, each after the nodes it reads from.

    An iterative depth-first search from the outputs (deep models would hit
    Python's recursion limit); a node is emitted once all its parents are.
    """
    ordered, visited = [], set()
    stack = [(_producer(tensor), False) for tensor in reversed(outputs)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            ordered.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for tensor in reversed(node.input_tensors):
            parent = _producer(tensor)
            if id(parent) not in visited:
                stack.append((parent, False))
    return ordered


def _bottleneck_output(nodes, layer):
    """The single output tensor of the bottleneck layer's call in the graph."""
    calls = [node for node in nodes if node.operation is layer]
    if not calls:
        raise ValueError(
            f"Layer '{layer.name}' is not on a path from the model's inputs "
            "to its outputs, so it cannot be the bottleneck."
        )
    if len(calls) > 1:
        raise ValueError(
            f"Layer '{layer.name}' is called {len(calls)} times in the model; "
            "the bottleneck must be a layer called exactly once."
        )
    (node,) = calls
    if len(node.output_tensors) != 1:
        raise ValueError(
            f"The bottleneck layer '{layer.name}' has "
            f"{len(node.output_tensors)} outputs; it must have exactly one."
        )
    return node.output_tensors[0]


def _nodes_after(nodes, z, layer):
    """The nodes computed from `z`, checking they read nothing else."""
    from_z = {id(z)}
    head_nodes = []
    for node in nodes:
        reads = node.input_tensors
        if not any(id(tensor) in from_z for tensor in reads):
            continue
        for tensor in reads:
            if id(tensor) not in from_z:
                source = tensor._keras_history.operation.name
                raise ValueError(
                    f"Layer '{node.operation.name}' after the bottleneck "
                    f"'{layer.name}' also reads the output of '{source}', "
                    "which is not computed from the bottleneck. The head may "
                    "only take z as input: choose a bottleneck that every "
                    "path from the inputs to the outputs passes through."
                )
        head_nodes.append(node)
        from_z.update(id(tensor) for tensor in node.output_tensors)
    if not head_nodes:
        raise ValueError(
            f"No layer follows the bottleneck '{layer.name}'; the model must "
            "map z to the task logits with at least one more layer."
        )
    return head_nodes


def _check_outputs_follow_bottleneck(outputs, head_nodes, z, layer):
    """Raises if a model output does not depend on the bottleneck."""
    from_z = {id(z)}
    for node in head_nodes:
        from_z.update(id(tensor) for tensor in node.output_tensors)
    for tensor in outputs:
        if id(tensor) not in from_z:
            source = tensor._keras_history.operation.name
            raise ValueError(
                f"The model output computed by '{source}' does not depend on "
                f"the bottleneck '{layer.name}'; every output of the head "
                "must be computed from z."
            )


def _unused_name(name, taken):
    """`name`, prefixed with underscores until it is not in `taken`."""
    while name in taken:
        name = f"_{name}"
    return name


def _reapply(head_nodes, substitutes):
    """Calls each node's layer again on the substituted tensors.

    Args:
        head_nodes: nodes in topological order.
        substitutes: dict from `id(original tensor)` to its replacement,
            seeded with the bottleneck output; updated in place.

    Returns:
        `substitutes`, now covering every output of `head_nodes`.
    """
    for node in head_nodes:
        args, kwargs = node.arguments.fill_in(substitutes)
        new_outputs = keras.tree.flatten(node.operation(*args, **kwargs))
        for old, new in zip(node.output_tensors, new_outputs):
            substitutes[id(old)] = new
    return substitutes
