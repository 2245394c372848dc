"""Name -> dataset registry: each dataset declares its splits, kinds and metrics.

A dataset module registers a builder that returns an `ExperimentData`, with a
declaration: the task kind, the kind of sensitive variable, its
hyperparameters (flags `--<dataset>_<name>`), the evaluation sets it returns
and the metrics reported on them. The command line and the end-of-run
evaluation read only the declaration, so adding a dataset touches its own
module, a test and a flagfile.

    @register_dataset(
        "my_data",
        task="binary",
        sensitive="continuous",
        evaluation_sets={"test": "held-out test"},
        metrics=("accuracy", "roc_auc"),
        hyperparameters=[Hyperparameter("num_events", int, 10000, "events", lower=10)],
        summary="...",
    )
    def build_my_data(num_events, seed):
        ...
        return ExperimentData(...)

Builders receive their hyperparameters plus whichever of the common options
(`COMMON_OPTIONS`: seed, source, data_dir, ...) they name as arguments.
"""

import dataclasses
import inspect

from invariant_reps import hyperparameters as hp
from invariant_reps import registries
from invariant_reps.kinds import SENSITIVE_KINDS, TASKS

#: Options every dataset may take from the command line, when its builder names them.
COMMON_OPTIONS = (
    "seed", "source", "data_dir", "max_train_examples", "max_test_examples", "validation_fraction", "test_size",
)

_DATASETS = {}


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset's declaration.

    Attributes:
        name: registry key and flag prefix.
        builder: function returning an `ExperimentData`.
        task: "multiclass" or "binary".
        sensitive: "discrete", "continuous" or "none".
        summary: one line.
        hyperparameters: tuple of `Hyperparameter` (flags `--<name>_<param>`).
        evaluation_sets: `{name: description}` of the evaluation sets.
        metrics: metric names (see `invariant_reps.evaluation.metrics`)
            reported on every evaluation set (and validation), per epoch and
            at the end.
        offline: whether it builds without internet (generated or embedded data).
    """

    name: str
    builder: object
    task: str
    sensitive: str
    summary: str
    hyperparameters: tuple
    evaluation_sets: dict
    metrics: tuple
    offline: bool = True

    def flag_name(self, parameter):
        """The command-line flag of a hyperparameter: `<dataset>_<parameter>`."""
        return f"{self.name}_{parameter}"

    def accepted_options(self):
        """The `COMMON_OPTIONS` the builder takes."""
        arguments = inspect.signature(self.builder).parameters
        return tuple(option for option in COMMON_OPTIONS if option in arguments)

    def build(self, params=None, **options):
        """Builds the experiment's data.

        Args:
            params: `{hyperparameter: value}`; defaults fill the rest.
            **options: common options; those the builder does not take are
                ignored (see `check_options` to refuse them instead).

        Returns:
            The builder's `ExperimentData`, checked against the declaration.
        """
        resolved = hp.resolve(f"dataset {self.name!r}", self.hyperparameters, dict(params or {}))
        accepted = self.accepted_options()
        # An option left unset (None) lets the builder's own default apply.
        data = self.builder(**resolved, **{k: v for k, v in options.items() if k in accepted and v is not None})
        self._check(data)
        return data

    def check_options(self, given):
        """Raises ValueError if an option in `given` does not apply to this dataset."""
        unused = sorted(set(given) - set(self.accepted_options()))
        if unused:
            raise ValueError(
                f"--{', --'.join(unused)} do(es) not apply to --dataset={self.name}; it takes "
                f"{', '.join('--' + o for o in self.accepted_options()) or 'none of the common options'}."
            )

    def _check(self, data):
        from invariant_reps.data.experiment_data import ExperimentData

        if not isinstance(data, ExperimentData):
            raise ValueError(f"The builder of dataset {self.name!r} must return ExperimentData; got {data!r}.")
        for field, declared in (("task", self.task), ("sensitive_kind", self.sensitive)):
            if getattr(data, field) != declared:
                raise ValueError(
                    f"Dataset {self.name!r} declares {field}={declared!r} but its builder returned "
                    f"{getattr(data, field)!r}."
                )
        if set(data.tests) != set(self.evaluation_sets):
            raise ValueError(
                f"Dataset {self.name!r} declares evaluation sets {sorted(self.evaluation_sets)} but its builder "
                f"returned {sorted(data.tests)}."
            )

    def describe(self):
        """A multi-line description for `--list`."""
        lines = [
            f"{self.name}: {self.summary}",
            f"    task: {self.task}; sensitive: {self.sensitive}; metrics: {', '.join(self.metrics)}; "
            f"evaluation sets: {', '.join(self.evaluation_sets)}" + ("" if self.offline else "; needs a download"),
        ]
        lines += [f"    {h.describe('--' + self.flag_name(h.name))}" for h in self.hyperparameters]
        if self.accepted_options():
            lines.append(f"    common options: {', '.join('--' + o for o in self.accepted_options())}")
        return "\n".join(lines)


def register_dataset(
    name,
    *,
    task,
    sensitive,
    summary,
    evaluation_sets,
    metrics=("accuracy",),
    hyperparameters=(),
    offline=True,
    overwrite=False,
):
    """Function decorator registering a dataset builder as `name`.

    Args:
        name: lower-case identifier; the `--dataset` value and flag prefix.
        task: one of `TASKS`.
        sensitive: one of `SENSITIVE_KINDS`.
        summary: one line.
        evaluation_sets: `{name: description}` of the evaluation sets the
            builder returns in `ExperimentData.tests`.
        metrics: names of registered metrics to report.
        hyperparameters: sequence of `Hyperparameter`, each an argument of
            the builder.
        offline: whether the data need no download.
        overwrite: replace a dataset already registered as `name`.

    Returns:
        The decorator; it returns the builder unchanged.
    """
    registries.check_name(name, "dataset")
    owner = f"dataset {name!r}"
    if task not in TASKS:
        raise ValueError(f"{owner}: `task` must be one of {TASKS}; received {task!r}.")
    if sensitive not in SENSITIVE_KINDS:
        raise ValueError(f"{owner}: `sensitive` must be one of {SENSITIVE_KINDS}; received {sensitive!r}.")
    if not evaluation_sets:
        raise ValueError(f"{owner}: declare at least one evaluation set.")
    hyperparameters = tuple(hyperparameters)
    hp.check_unique(owner, hyperparameters)
    clash = [h.name for h in hyperparameters if h.name in COMMON_OPTIONS]
    if clash:
        raise ValueError(f"{owner}: hyperparameter(s) {clash} clash with the common options {COMMON_OPTIONS}.")

    def decorator(builder):
        if not callable(builder):
            raise ValueError(f"{owner}: the builder must be callable; received {builder!r}.")
        if name in _DATASETS and not overwrite and _DATASETS[name].builder is not builder:
            raise ValueError(f"A dataset named {name!r} is already registered. Pass `overwrite=True` to replace it.")
        _DATASETS[name] = DatasetSpec(
            name=name,
            builder=builder,
            task=task,
            sensitive=sensitive,
            summary=summary,
            hyperparameters=hyperparameters,
            evaluation_sets=dict(evaluation_sets),
            metrics=tuple(metrics),
            offline=offline,
        )
        return builder

    return decorator


def get_dataset(name):
    """Returns the `DatasetSpec` registered as `name`; the error lists the known ones."""
    return registries.lookup(_DATASETS, name, "dataset")


def available_datasets():
    """The registered dataset names, sorted."""
    return sorted(_DATASETS)
