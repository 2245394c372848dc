"""Declared hyperparameters: conversion, bounds, choices and the messages a user sees."""

import math

import pytest

from invariant_reps.hyperparameters import Hyperparameter, check_unique, resolve

ALPHA = Hyperparameter("alpha", float, 0.1, "alpha: weight", lower=0.0)
STEPS = Hyperparameter("steps", int, 16, "critic steps", lower=1, upper=100)
BOUND = Hyperparameter("bound", str, "dv", "bound", choices=("dv", "jsd"))
SN = Hyperparameter("spectral_norm", bool, False, "spectral norm")


@pytest.mark.parametrize(
    "hyperparameter, given, expected",
    [
        (ALPHA, "0.5", 0.5), (ALPHA, 2, 2.0), (STEPS, "8", 8), (STEPS, 4.0, 4), (BOUND, "jsd", "jsd"),
        (SN, "true", True), (SN, "0", False), (SN, True, True),
    ],
)
def test_values_are_converted_to_the_declared_type(hyperparameter, given, expected):
    value = hyperparameter.validate(given)
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize(
    "hyperparameter, given, message",
    [
        (ALPHA, -1.0, "`alpha` must be >= 0; received -1.0"),
        (ALPHA, math.nan, "`alpha` must be a finite number"),
        (ALPHA, "abc", "`alpha` must be of type float; received 'abc'"),
        (ALPHA, True, "received the bool True"),
        (STEPS, 2.5, "`steps` must be an integer; received 2.5"),
        (STEPS, 101, "`steps` must be <= 100; received 101"),
        (BOUND, "mine", "`bound` must be one of ('dv', 'jsd'); received 'mine'"),
        (SN, "maybe", "`spectral_norm` must be a bool"),
    ],
)
def test_invalid_values_name_the_hyperparameter_and_the_rule(hyperparameter, given, message):
    with pytest.raises(ValueError, match=None) as raised:
        hyperparameter.validate(given)
    assert message in str(raised.value)


def test_resolve_fills_defaults_and_lists_valid_names_for_an_unknown_one():
    assert resolve("method 'x'", [ALPHA, STEPS], {"steps": "4"}) == {"alpha": 0.1, "steps": 4}
    with pytest.raises(ValueError) as raised:
        resolve("method 'x'", [ALPHA, STEPS], {"gama": 1})
    assert str(raised.value) == "Unknown hyperparameter(s) ['gama'] for method 'x'; its hyperparameters are: alpha, steps."
    with pytest.raises(ValueError, match=r"method 'x': `alpha` must be >= 0"):
        resolve("method 'x'", [ALPHA], {"alpha": -2})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(name="2x", type=float, default=1.0, help="h"), "must be an identifier"),
        (dict(name="x", type=list, default=None, help="h"), "`type` must be one of float, int, bool, str"),
        (dict(name="x", type=float, default=1.0, help=""), "needs a one-line `help`"),
        (dict(name="x", type=float, default=1.0, help="h", choices=("a",)), "`choices` needs type str"),
        (dict(name="x", type=str, default="a", help="h", lower=0), "bounds need type float or int"),
        (dict(name="x", type=float, default=-1.0, help="h", lower=0.0), "`x` must be >= 0"),
    ],
)
def test_bad_declarations_fail_at_declaration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Hyperparameter(**kwargs)


def test_duplicate_names_are_refused():
    with pytest.raises(ValueError, match=r"declares hyperparameter\(s\) \['alpha'\] twice"):
        check_unique("method 'x'", [ALPHA, ALPHA])


def test_describe_shows_type_default_bounds_and_help():
    assert STEPS.describe("--m_steps") == "--m_steps (int, default 16, in [1, 100]): critic steps"
    assert BOUND.describe() == "bound (str, default 'dv', one of dv|jsd): bound"
