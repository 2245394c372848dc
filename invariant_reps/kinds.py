"""The kinds of data a method or dataset declares (see the method and dataset registries)."""

#: Kinds of sensitive variable: class ids, real values, or none in the data.
SENSITIVE_KINDS = ("discrete", "continuous", "none")
#: Task kinds: K-way classification (K logits) or binary (one logit, sigmoid cross-entropy).
TASKS = ("multiclass", "binary")
