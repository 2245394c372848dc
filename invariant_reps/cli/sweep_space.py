"""The search space of a sweep: grid and random-search dimensions, and the planned runs.

Pure parsing and sampling, no I/O; `invariant_reps.cli.sweep` runs the plan.
"""

import dataclasses
import itertools
import math
import re

import numpy as np

#: Flags the sweep sets itself and that cannot be swept.
RESERVED_NAMES = ("logdir", "flagfile")

GRID_FORM = "NAME=V1,V2,...  e.g. --grid=end_alpha=0.1,1,10"
SPACE_FORMS = {
    "uniform": "NAME=uniform:LOW:HIGH  (LOW < HIGH)  e.g. --space=end_beta=uniform:0:1",
    "loguniform": "NAME=loguniform:LOW:HIGH  (0 < LOW < HIGH)  e.g. --space=end_alpha=loguniform:0.01:50",
    "int": "NAME=int:LOW:HIGH  (integers, LOW <= HIGH, both included)  e.g. --space=epochs=int:10:80",
    "choice": "NAME=choice:A|B|C  e.g. --space=network=choice:mlp|simple_conv",
}


@dataclasses.dataclass(frozen=True)
class Dimension:
    """One swept flag: listed values (`grid`, `choice`) or a range (`uniform`, `loguniform`, `int`)."""

    name: str
    kind: str
    values: tuple = ()
    low: float = None
    high: float = None

    def sample(self, rng):
        """Draws one value with the numpy `Generator` `rng`."""
        if self.kind == "choice":
            return self.values[int(rng.integers(len(self.values)))]
        if self.kind == "int":
            return int(rng.integers(self.low, self.high + 1))
        if self.kind == "uniform":
            value = rng.uniform(self.low, self.high)
        else:  # loguniform: uniform in log space.
            value = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        # Six significant digits, so the value logged is exactly the value passed to the run.
        return min(max(float(f"{value:.6g}"), self.low), self.high)


def _typed(texts):
    """Parses flag values as one type: bools, ints, floats (if any is), else the texts themselves."""
    lowered = [text.lower() for text in texts]
    if all(text in ("true", "false") for text in lowered):
        return tuple(text == "true" for text in lowered)
    if all(re.fullmatch(r"[+-]?\d+", text) for text in texts):
        return tuple(int(text) for text in texts)
    try:
        return tuple(float(text) for text in texts)
    except ValueError:
        return tuple(texts)


def _split_name(spec, forms):
    name, separator, rest = spec.partition("=")
    name = name.strip().lstrip("-")
    if not separator or not re.fullmatch(r"[A-Za-z_]\w*", name) or not rest.strip():
        raise ValueError(f"Ill-formed spec {spec!r}; expected {forms}.")
    if name in RESERVED_NAMES:
        raise ValueError(f"--{name} is set by the sweep itself and cannot be swept (spec {spec!r}).")
    return name, rest.strip()


def _listed_values(texts, spec, forms):
    texts = [text.strip() for text in texts]
    if not all(texts):
        raise ValueError(f"Empty value in spec {spec!r}; expected {forms}")
    values = _typed(texts)
    if len(set(values)) != len(values):
        raise ValueError(f"Repeated value in spec {spec!r}: {values}.")
    return values


def parse_grid_spec(spec):
    """Parses `NAME=V1,V2,...` into a grid `Dimension`; raises ValueError naming the valid form.

    Example:
        >>> parse_grid_spec("alpha=0.1,1,10").values
        (0.1, 1.0, 10.0)
    """
    name, rest = _split_name(spec, GRID_FORM)
    return Dimension(name, "grid", values=_listed_values(rest.split(","), spec, GRID_FORM))


def parse_space_spec(spec):
    """Parses a random-search spec (one of `SPACE_FORMS`) into a `Dimension`; raises ValueError.

    Example:
        >>> parse_space_spec("alpha=loguniform:0.01:50")
        Dimension(name='alpha', kind='loguniform', values=(), low=0.01, high=50.0)
    """
    forms = "one of:\n  " + "\n  ".join(SPACE_FORMS.values())
    name, rest = _split_name(spec, forms)
    kind, _, arguments = rest.partition(":")
    if kind == "choice":
        return Dimension(name, kind, values=_listed_values(arguments.split("|"), spec, SPACE_FORMS[kind]))
    if kind not in ("uniform", "loguniform", "int"):
        raise ValueError(f"Unknown distribution {kind!r} in space spec {spec!r}; expected {forms}")
    bounds = arguments.split(":")
    try:
        cast = int if kind == "int" else float
        low, high = (cast(bound) for bound in bounds)
    except ValueError:
        raise ValueError(
            f"Space spec {spec!r} needs two {'integer' if kind == 'int' else 'numeric'} bounds LOW:HIGH; "
            f"expected {forms}"
        ) from None
    if not (low <= high if kind == "int" else low < high) or (kind == "loguniform" and low <= 0):
        raise ValueError(f"Bounds of space spec {spec!r} are out of order; expected {SPACE_FORMS[kind]}")
    return Dimension(name, kind, low=low, high=high)


def plan_runs(dimensions, num_random=0, seed=0):
    """The planned runs as `[(run_id, {name: value}), ...]`.

    Without `num_random` the runs are the cartesian product of the dimensions'
    values (the first dimension varies slowest); with it, `num_random` draws.
    Draws are sequential, so a larger `num_random` with the same seed extends
    a sweep rather than replacing it.

    Example:
        >>> plan_runs([parse_grid_spec("alpha=1,10"), parse_grid_spec("beta=0.5")])
        [('run_000', {'alpha': 1, 'beta': 0.5}), ('run_001', {'alpha': 10, 'beta': 0.5})]
    """
    if num_random:
        rng = np.random.default_rng(seed)
        combos = [tuple(d.sample(rng) for d in dimensions) for _ in range(num_random)]
    else:
        combos = list(itertools.product(*(d.values for d in dimensions)))
    names = [d.name for d in dimensions]
    return [(f"run_{i:03d}", dict(zip(names, combo))) for i, combo in enumerate(combos)]
