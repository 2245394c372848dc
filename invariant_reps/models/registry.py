"""Name -> method registry: each method declares what it needs, the CLI reads it.

A method module registers its `InvariantModel` subclass with a declaration:
its hyperparameters (name, type, paper default, bounds, help), the kinds of
sensitive variable it accepts and the tasks it supports. The command line
builds one flag per hyperparameter (`--<method>_<name>`), refuses a method on
a dataset it cannot train on, and builds the model from the declaration; it
has no per-method code. A method defined in a user's module registers the same
way and trains from the CLI with `--import=my_module`.

    @register_method(
        "my_penalty",
        hyperparameters=[Hyperparameter("lam", float, 1.0, "lambda: penalty weight", lower=0.0)],
        sensitive=("discrete", "continuous"),
        tasks=("multiclass", "binary"),
        summary="CE + lambda * my penalty",
    )
    class MyPenalty(InvariantModel):
        def __init__(self, encoder, head, lam=1.0, **kwargs): ...

Building: `spec.build(encoder, head, params, context)` calls the class's
`from_experiment(encoder, head, params, context)` (see `InvariantModel`), which
passes the hyperparameters as keyword arguments, plus any of the context
arguments (`ExperimentContext` fields such as `num_sensitive_classes`,
`num_examples`, `seed`) that the constructor names.
"""

import dataclasses

from invariant_reps import hyperparameters as hp
from invariant_reps import registries
from invariant_reps.kinds import SENSITIVE_KINDS, TASKS

_METHODS = {}


@dataclasses.dataclass(frozen=True)
class ExperimentContext:
    """What a model may need from the experiment besides its hyperparameters.

    Attributes:
        num_classes: task classes (1 logit for a binary task).
        task: "multiclass" or "binary".
        sensitive_kind: "discrete", "continuous" or "none".
        num_sensitive_classes: number of sensitive classes (discrete), else None.
        num_examples: number of training examples.
        epochs: planned number of epochs.
        seed: the run's seed.
        weight_decay: coupled L2 weight decay of encoder + head.
    """

    num_classes: int
    task: str = "multiclass"
    sensitive_kind: str = "discrete"
    num_sensitive_classes: int = None
    num_examples: int = None
    epochs: int = None
    seed: int = 0
    weight_decay: float = 0.0


@dataclasses.dataclass(frozen=True)
class MethodSpec:
    """A registered method's declaration.

    Attributes:
        name: registry key and flag prefix.
        model_class: the `InvariantModel` subclass.
        hyperparameters: tuple of `Hyperparameter`.
        sensitive: sensitive kinds the method trains with.
        tasks: task kinds the method supports.
        summary: one line: what it adds to the task loss.
        needs_index: batches must carry each example's dataset index.
        network_defaults: network options the method's paper uses, e.g.
            `{"normalize_bottleneck": True}` for EnD.
        distributed: whether it runs under a multi-replica strategy.
    """

    name: str
    model_class: type
    hyperparameters: tuple
    sensitive: tuple
    tasks: tuple
    summary: str
    needs_index: bool = False
    network_defaults: dict = dataclasses.field(default_factory=dict)
    distributed: bool = True

    def flag_name(self, parameter):
        """The command-line flag of a hyperparameter: `<method>_<parameter>`."""
        return f"{self.name}_{parameter}"

    def resolve(self, values=None):
        """Validated hyperparameters, defaults filled in (see `hyperparameters.resolve`)."""
        return hp.resolve(f"method {self.name!r}", self.hyperparameters, dict(values or {}))

    def check_applies(self, task, sensitive_kind, dataset_name="the dataset"):
        """Raises ValueError unless this method can train on such data."""
        if sensitive_kind not in self.sensitive:
            raise ValueError(
                f"Method {self.name!r} needs a sensitive variable of kind {' or '.join(self.sensitive)}, but "
                f"{dataset_name} has a {sensitive_kind!r} one."
                + (" Methods on class ids need discrete s; for a continuous nuisance use a method that "
                   "accepts 'continuous'." if sensitive_kind == "continuous" else "")
            )
        if task not in self.tasks:
            raise ValueError(
                f"Method {self.name!r} supports {' and '.join(self.tasks)} tasks; {dataset_name} is {task}."
            )

    def build(self, encoder, head, params, context):
        """Builds the (uncompiled) model from validated `params` and the context."""
        return self.model_class.from_experiment(encoder, head, self.resolve(params), context)

    def describe(self):
        """A multi-line description for `--list`."""
        lines = [
            f"{self.name}: {self.summary}",
            f"    class {self.model_class.__module__}.{self.model_class.__name__}; "
            f"sensitive: {', '.join(self.sensitive)}; tasks: {', '.join(self.tasks)}",
        ]
        lines += [f"    {h.describe('--' + self.flag_name(h.name))}" for h in self.hyperparameters]
        return "\n".join(lines)


def register_method(
    name,
    *,
    hyperparameters=(),
    sensitive=("discrete",),
    tasks=("multiclass",),
    summary,
    needs_index=False,
    network_defaults=None,
    distributed=True,
    overwrite=False,
):
    """Class decorator registering an `InvariantModel` subclass as method `name`.

    Args:
        name: lower-case identifier; the `--method` value and flag prefix.
        hyperparameters: sequence of `Hyperparameter`, each also a keyword
            argument of the class's constructor.
        sensitive: accepted kinds of s, from `SENSITIVE_KINDS`.
        tasks: supported task kinds, from `TASKS`.
        summary: one line: what the method adds to the task loss.
        needs_index: whether batches must carry example indices.
        network_defaults: network options to default to (see `MethodSpec`).
        distributed: whether the method supports multi-replica strategies.
        overwrite: replace a method already registered as `name`.

    Returns:
        The decorator; it returns the class unchanged.
    """
    registries.check_name(name, "method")
    owner = f"method {name!r}"
    hyperparameters = tuple(hyperparameters)
    hp.check_unique(owner, hyperparameters)
    for kinds, allowed, what in ((sensitive, SENSITIVE_KINDS, "sensitive"), (tasks, TASKS, "tasks")):
        bad = [k for k in kinds if k not in allowed]
        if bad or not kinds:
            raise ValueError(f"{owner}: `{what}` must be a non-empty subset of {allowed}; received {kinds!r}.")

    def decorator(model_class):
        from invariant_reps.models.base import InvariantModel

        if not (isinstance(model_class, type) and issubclass(model_class, InvariantModel)):
            raise ValueError(f"{owner}: register an InvariantModel subclass; received {model_class!r}.")
        if name in _METHODS and not overwrite and _METHODS[name].model_class is not model_class:
            raise ValueError(f"A method named {name!r} is already registered. Pass `overwrite=True` to replace it.")
        _METHODS[name] = MethodSpec(
            name=name,
            model_class=model_class,
            hyperparameters=hyperparameters,
            sensitive=tuple(sensitive),
            tasks=tuple(tasks),
            summary=summary,
            needs_index=needs_index,
            network_defaults=dict(network_defaults or {}),
            distributed=distributed,
        )
        return model_class

    return decorator


def get_method(name):
    """Returns the `MethodSpec` registered as `name`; the error lists the known ones."""
    return registries.lookup(_METHODS, name, "method")


def available_methods():
    """The registered method names, sorted."""
    return sorted(_METHODS)
