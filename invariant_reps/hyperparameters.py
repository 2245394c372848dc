"""Declared hyperparameters: what a method or dataset accepts, checked in one place.

A method or dataset module declares its hyperparameters next to its class or
builder (see `invariant_reps.models.registry` and
`invariant_reps.data.registry`). The command line turns each declaration into
one flag, `--<owner>_<name>` (e.g. `--end_alpha`, `--biased_mnist_rho`), so no
flag ever means two things, and Python callers get the same validation.

Example:
    >>> alpha = Hyperparameter("alpha", float, 0.1, "alpha: weight of R_perp.", lower=0.0)
    >>> alpha.validate("0.5")
    0.5
    >>> alpha.validate(-1.0)
    ValueError: `alpha` must be >= 0; received -1.0.
"""

import dataclasses
import math
import numbers

_TYPES = (float, int, bool, str)


@dataclasses.dataclass(frozen=True)
class Hyperparameter:
    """One declared hyperparameter.

    Args:
        name: identifier (letters, digits, `_`), unique within its owner.
        type: `float`, `int`, `bool` or `str`.
        default: the published default (the paper's or the seed code's);
            None only for an optional value whose absence the owner handles.
        help: one line, with the paper's symbol (e.g. "alpha: weight of R_perp").
        lower: inclusive lower bound (numbers only), or None.
        upper: inclusive upper bound (numbers only), or None.
        choices: the allowed values of a `str` hyperparameter, or None.
    """

    name: str
    type: type
    default: object
    help: str
    lower: float = None
    upper: float = None
    choices: tuple = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"A hyperparameter name must be an identifier; received {self.name!r}.")
        if self.type not in _TYPES:
            raise ValueError(
                f"Hyperparameter {self.name!r}: `type` must be one of float, int, bool, str; "
                f"received {self.type!r}."
            )
        if not isinstance(self.help, str) or not self.help.strip():
            raise ValueError(f"Hyperparameter {self.name!r} needs a one-line `help`.")
        if self.choices is not None:
            if self.type is not str:
                raise ValueError(f"Hyperparameter {self.name!r}: `choices` needs type str.")
            object.__setattr__(self, "choices", tuple(self.choices))
        if (self.lower is not None or self.upper is not None) and self.type not in (float, int):
            raise ValueError(f"Hyperparameter {self.name!r}: bounds need type float or int.")
        if self.default is not None:
            object.__setattr__(self, "default", self.validate(self.default))

    def validate(self, value):
        """Returns `value` converted to the declared type; raises ValueError if invalid.

        Strings are parsed (`"0.5"`, `"true"`), so values from the command
        line, a sweep grid or a config file all go through here.
        """
        value = self._convert(value)
        if self.type in (float, int):
            if self.type is float and not math.isfinite(value):
                raise ValueError(f"`{self.name}` must be a finite number; received {value!r}.")
            if self.lower is not None and value < self.lower:
                raise ValueError(f"`{self.name}` must be >= {self.lower:g}; received {value!r}.")
            if self.upper is not None and value > self.upper:
                raise ValueError(f"`{self.name}` must be <= {self.upper:g}; received {value!r}.")
        if self.choices is not None and value not in self.choices:
            raise ValueError(f"`{self.name}` must be one of {self.choices}; received {value!r}.")
        return value

    def _convert(self, value):
        expected = self.type.__name__
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
                return value.lower() in ("true", "1")
            raise ValueError(f"`{self.name}` must be a bool (true/false); received {value!r}.")
        if self.type is str:
            if isinstance(value, str):
                return value
            raise ValueError(f"`{self.name}` must be a string; received {value!r}.")
        if isinstance(value, bool):
            raise ValueError(f"`{self.name}` must be of type {expected}; received the bool {value!r}.")
        if isinstance(value, str):
            try:
                value = float(value) if self.type is float else int(value)
            except ValueError:
                raise ValueError(f"`{self.name}` must be of type {expected}; received {value!r}.") from None
        if self.type is int:
            if isinstance(value, numbers.Integral):
                return int(value)
            if isinstance(value, numbers.Real) and float(value).is_integer():
                return int(value)
            raise ValueError(f"`{self.name}` must be an integer; received {value!r}.")
        if isinstance(value, numbers.Real):
            return float(value)
        raise ValueError(f"`{self.name}` must be of type {expected}; received {value!r}.")

    def describe(self, label=None):
        """`label (type, default D, in [lo, hi]): help`, for listings; `label` defaults to the name."""
        parts = [self.type.__name__, f"default {self.default!r}"]
        if self.lower is not None or self.upper is not None:
            lower = "-inf" if self.lower is None else f"{self.lower:g}"
            upper = "inf" if self.upper is None else f"{self.upper:g}"
            parts.append(f"in [{lower}, {upper}]")
        if self.choices is not None:
            parts.append("one of " + "|".join(self.choices))
        return f"{label or self.name} ({', '.join(parts)}): {self.help}"


def resolve(owner, declared, values):
    """Validates `values` against `declared` and fills in the defaults.

    Args:
        owner: what the hyperparameters belong to, for messages ("method 'end'").
        declared: a sequence of `Hyperparameter`.
        values: `{name: value}` given by the caller (strings are parsed).

    Returns:
        `{name: value}` for every declared hyperparameter.

    Raises:
        ValueError: for an unknown name (the message lists the valid ones) or
            an invalid value.
    """
    by_name = {h.name: h for h in declared}
    unknown = sorted(set(values) - set(by_name))
    if unknown:
        valid = ", ".join(sorted(by_name)) or "(none)"
        raise ValueError(f"Unknown hyperparameter(s) {unknown} for {owner}; its hyperparameters are: {valid}.")
    resolved = {}
    for name, hyperparameter in by_name.items():
        if name in values and values[name] is not None:
            try:
                resolved[name] = hyperparameter.validate(values[name])
            except ValueError as error:
                raise ValueError(f"{owner}: {error}") from None
        else:
            resolved[name] = hyperparameter.default
    return resolved


def check_unique(owner, declared):
    """Raises ValueError if two declared hyperparameters share a name."""
    names = [h.name for h in declared]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"{owner} declares hyperparameter(s) {duplicates} twice.")
    for h in declared:
        if not isinstance(h, Hyperparameter):
            raise ValueError(f"{owner}: hyperparameters must be `Hyperparameter` objects; received {h!r}.")
