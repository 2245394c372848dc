"""Registered decorrelation metrics: each equals its definition on a `Predictions`."""

import warnings

import numpy as np
import pytest

from invariant_reps.estimators import ksg_mi, lnc_mi
from invariant_reps.evaluation import decorrelation
from invariant_reps.evaluation import decorrelation_metrics as dm
from invariant_reps.evaluation.metrics import Predictions, compute_metrics, get_metric


def _predictions(logit, y, s, weights=None, delta_e=None, task="binary"):
    columns = {} if delta_e is None else {"delta_e": np.asarray(delta_e)}
    return Predictions(
        logits=np.asarray(logit, np.float64).reshape(-1, 1), y=np.asarray(y), s=None if s is None else np.asarray(s),
        sample_weight=None if weights is None else np.asarray(weights), columns=columns, task=task,
    )


def _sculpted(n=20_000, seed=0):
    """Background M_bc uniform; the logit of background rises towards the signal mass (sculpting)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.float32)
    mass = rng.uniform(5.2425, 5.29, n)
    logit = np.where(y == 1, 1.5, 0.0) + 20.0 * (mass - 5.2425) * (y == 0) + rng.normal(size=n)
    weights = rng.uniform(0.5, 1.5, n)
    delta_e = rng.uniform(-0.3, 0.2, n)
    return logit, y, mass, weights, delta_e


def test_hand_computed_roc_auc_and_r50():
    # Examples worked in evaluation/decorrelation.py: AUC 0.75; 50 % signal cut at 0.8 keeps 1 of 5 background.
    assert dm.roc_auc(_predictions([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1], [5.25] * 4)) == pytest.approx(0.75)
    y = [1, 1, 1, 1, 0, 0, 0, 0, 0]
    scores = [0.9, 0.8, 0.7, 0.6, 0.85, 0.5, 0.3, 0.2, 0.1]
    assert dm.r50(_predictions(scores, y, [5.25] * 9)) == pytest.approx(5.0)


def test_cut_metrics_use_weights_the_delta_e_window_and_the_seeds_unweighted_jsd():
    logit, y, mass, weights, delta_e = _sculpted()
    p = _predictions(logit, y, mass, weights, delta_e)
    values = compute_metrics(("roc_auc", "r50", "jsd50", "inv_jsd50", "jsd_bkg_eff", "inv_jsd_bkg_eff"), p)
    report = decorrelation.decorrelation_report(y, logit, mass, weights, delta_e)
    assert values["roc_auc"] == pytest.approx(report.roc_auc)
    assert values["r50"] == pytest.approx(report.r50)
    assert values["jsd50"] == pytest.approx(report.jsd50) and values["inv_jsd50"] == pytest.approx(1 / report.jsd50)
    seed_jsd = decorrelation.sculpting_jsd(y, logit, mass, efficiency=0.005, cut_on="background", delta_e=delta_e)
    assert values["jsd_bkg_eff"] == pytest.approx(seed_jsd)
    assert values["inv_jsd_bkg_eff"] == pytest.approx(1 / seed_jsd)
    assert values["jsd50"] > 0.02  # the sculpted sample is sculpted (shuffled masses: ~5e-3 of binning noise)
    # Without the column, no window: a different (all-events) value.
    assert dm.jsd50(_predictions(logit, y, mass, weights)) != pytest.approx(values["jsd50"])


def test_mi_metrics_measure_the_logit_nuisance_dependence():
    rng = np.random.default_rng(1)
    n = 4000
    y = (rng.random(n) < 0.5).astype(np.float32)
    s = rng.normal(size=n)
    dependent = _predictions(s + 0.5 * rng.normal(size=n), y, s)
    independent = _predictions(rng.normal(size=n), y, s)
    truth = 0.5 * np.log(1 + 1 / 0.25)  # Gaussian channel, SNR 4: 0.805 nats
    assert dm.logit_nuisance_mi(dependent) == pytest.approx(truth, abs=0.05)
    assert dm.logit_nuisance_lnc(dependent) == pytest.approx(truth, abs=0.05)
    assert abs(dm.logit_nuisance_mi(independent)) < 0.04  # KSG scatter around 0 at N = 4000
    # Background only: dependence in the signal alone is invisible to it.
    logit = np.where(y == 1, s, rng.normal(size=n))
    assert abs(dm.background_logit_nuisance_mi(_predictions(logit, y, s))) < 0.03
    assert dm.logit_nuisance_mi(_predictions(logit, y, s)) > 0.2


def test_mi_uses_a_fixed_subset_of_at_most_5000_events():
    rng = np.random.default_rng(2)
    s = rng.normal(size=12_000)
    p = _predictions(s + rng.normal(size=12_000), np.zeros(12_000), s)
    assert dm.logit_nuisance_mi(p) == dm.logit_nuisance_mi(p)  # deterministic
    keep = np.sort(np.random.default_rng(0).permutation(12_000)[:dm.MI_MAX_POINTS])
    assert dm.logit_nuisance_mi(p) == pytest.approx(ksg_mi(p.scores[keep], s[keep], k=3), abs=5e-3)
    assert dm.logit_nuisance_lnc(p) == pytest.approx(lnc_mi(p.scores[keep], s[keep], k=5, alpha=0.2), abs=5e-3)


def test_a_collapsed_classifier_gives_nan_cuts_and_zero_mi():
    logit, y, mass, _, _ = _sculpted(n=500)
    p = _predictions(np.zeros_like(logit), y, mass)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert np.isnan(dm.r50(p)) and np.isnan(dm.jsd50(p)) and np.isnan(dm.inv_jsd_bkg_eff(p))
    assert any("undefined" in str(w.message) for w in caught)
    assert dm.logit_nuisance_mi(p) == 0.0


@pytest.mark.parametrize(
    "predictions, metric, message",
    [
        (_predictions([0.1, 0.2], [0, 1], None), "roc_auc", "needs the nuisance `s`"),
        (_predictions([0.1, 0.2, 0.3], [0, 1, 2], [1.0] * 3, task="multiclass"), "r50", "needs a binary task"),
        (_predictions([0.1, 0.2, 0.4, 0.3], [0, 1, 0, 1], [0.0, 1.0, 2.0, 3.0]), "jsd50", "no event's s lies there"),
    ],
)
def test_misuse_is_a_named_error(predictions, metric, message):
    with pytest.raises(ValueError, match=message):
        get_metric(metric).fn(predictions)


def test_labels_and_directions():
    assert not get_metric("jsd50").higher_is_better and get_metric("inv_jsd50").higher_is_better
    assert not get_metric("logit_nuisance_mi").higher_is_better and get_metric("r50").higher_is_better
