"""`converged` is False whenever the reported value is invalid, for every kind of estimator.

The estimator's own run is replaced by a stub that claims to have
converged, so that only `estimate_mi`'s checks decide: a NaN, a negative
value, a value above the known ceiling, or an upper bound far above every
cross-check must each come out `converged=False`, with its warning.
"""

import math
import warnings

import numpy as np
import pytest

from invariant_reps.estimators import InvalidEstimateWarning
from invariant_reps.estimators import LooseBoundWarning
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import methods


def _stub_run(monkeypatch, value, interval):
    def run(method, x, y, **kwargs):
        return methods.Run(mi_nats=value, interval=interval, converged=True,
                           batch_size=kwargs["batch_size"], steps=100, stopped_early=True)

    monkeypatch.setattr(methods, "run", run)


def _estimate(x, y, method):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MIEstimationWarning)
        result = estimate_mi(x, y, method=method, seed=0)
    return result, [w.category for w in caught]


def _gaussian_pair():
    # rho = 0.8: I = 0.511 nats; the ksg_copula and gaussian_copula references
    # land within 0.06 of it on 1,000 pairs.
    return ground_truth.correlated_gaussian(1000, 1, 0.8, seed=0)


def _discrete_pair():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=1000)
    return labels + 0.3 * rng.normal(size=1000), labels


@pytest.mark.parametrize("method", ["club", "smile", "ksg"])
def test_nan_and_negative_values_are_never_converged(monkeypatch, method):
    x, y = _gaussian_pair()
    _stub_run(monkeypatch, math.nan, (math.nan, math.nan))
    result, categories = _estimate(x, y, method)
    assert not result.converged and InvalidEstimateWarning in categories
    assert f"The {method} estimate is nan" in result.warnings[0]
    _stub_run(monkeypatch, -0.2, (-0.3, -0.1))
    result, categories = _estimate(x, y, method)
    assert not result.converged and InvalidEstimateWarning in categories
    assert any("The estimate is negative (-0.200 nats" in text for text in result.warnings)


@pytest.mark.parametrize("method", ["club", "l1out", "infonce"])
def test_a_value_above_the_discrete_ceiling_is_never_converged(monkeypatch, method):
    # The 10-class CLUB row of the finite bench (10.06 nats, ceiling 2.30) was
    # once marked converged: above H(Y), never.
    x, y = _discrete_pair()
    _stub_run(monkeypatch, 2.0, (1.9, 2.1))
    result, categories = _estimate(x, y, method)
    # The ceiling is the plug-in entropy of the sample's labels, near log 2.
    shares = np.bincount(y) / y.size
    entropy = float(-np.sum(shares * np.log(shares)))
    assert result.ceiling_nats == pytest.approx(entropy) and abs(entropy - math.log(2)) < 0.01
    assert not result.converged and InvalidEstimateWarning in categories
    assert any(f"exceeds its ceiling {entropy:.3f} nats" in text for text in result.warnings)


def test_an_exploding_upper_bound_warns_and_is_never_converged(monkeypatch):
    # CLUB at 538,636 nats on an 8-nat pair (a row of the finite bench) holds as
    # a bound but says nothing about the MI: on this 0.511-nat pair 50 nats is
    # about 100 times every cross-check.
    x, y = _gaussian_pair()
    _stub_run(monkeypatch, 50.0, (48.0, 52.0))
    result, categories = _estimate(x, y, "club")
    assert not result.converged and categories == [LooseBoundWarning]
    assert "The club upper bound 50.000 nats [48.000, 52.000] is" in result.warnings[0]
    # A tight upper bound (0.55 nats on 0.511) passes every check.
    _stub_run(monkeypatch, 0.55, (0.50, 0.60))
    result, categories = _estimate(x, y, "club")
    assert result.converged and categories == []
