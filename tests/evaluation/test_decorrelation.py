"""Decorrelation metrics on small fixed score arrays, computed by hand."""

import math

import numpy as np
import pytest
from matplotlib.figure import Figure
from sklearn import metrics

from invariant_reps.evaluation import decorrelation as dc

# 4 signal, 5 background (spec: R50 from scores, not hard labels).
Y = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0])
S = np.array([0.9, 0.8, 0.7, 0.6, 0.85, 0.5, 0.3, 0.2, 0.1])


def _jsd_by_hand(p, f):
    p, f = np.asarray(p, float) / np.sum(p), np.asarray(f, float) / np.sum(f)
    m = (p + f) / 2
    kl = lambda a: sum(ai * math.log(ai / mi) for ai, mi in zip(a, m) if ai > 0)  # noqa: E731
    return 0.5 * kl(p) + 0.5 * kl(f)


def test_roc_auc_by_hand_with_ties_and_weights():
    assert dc.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # signal 0.5 ties background 0.5 (counts 1/2); every other pair is won.
    y, s = [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]
    assert dc.roc_auc(y, s) == pytest.approx(3.5 / 4)
    # weights (1, 1, 3, 1): (0.5 + 3 + 1 + 3) / (2 * 4)
    assert dc.roc_auc(y, s, [1, 1, 3, 1]) == pytest.approx(7.5 / 8)
    assert dc.roc_auc(y, s, [1, 1, 3, 1]) == pytest.approx(metrics.roc_auc_score(y, s, sample_weight=[1, 1, 3, 1]))
    assert dc.roc_auc(y, [0.3] * 4) == 0.5


def test_roc_auc_matches_sklearn_on_random_scores():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    s = np.round(rng.normal(size=500) + y, 1)  # many ties
    w = rng.uniform(0.1, 2.0, 500)
    assert dc.roc_auc(y, s, w) == pytest.approx(metrics.roc_auc_score(y, s, sample_weight=w), rel=1e-12)


def test_cut_threshold_definition():
    assert dc.cut_threshold([0.9, 0.8, 0.7, 0.6], 0.5) == 0.8  # top 2 of 4
    assert dc.cut_threshold([0.9, 0.8, 0.7, 0.6], 0.51) == 0.7  # need 3 to reach 51 %
    assert dc.cut_threshold([0.9, 0.8, 0.7, 0.6], 1.0) == 0.6
    assert dc.cut_threshold([0.9, 0.8, 0.7, 0.6], 0.5, [3, 1, 1, 1]) == 0.9  # 3 of 6 at the top
    assert dc.cut_threshold(np.arange(200.0), 0.005) == 199.0  # the top 0.5 %: one event


def test_background_rejection_by_hand():
    # 50 % of signal: t = 0.8; background >= 0.8 is {0.85}: eps_B = 1/5.
    assert dc.background_rejection(Y, S) == pytest.approx(5.0)
    assert dc.background_rejection(Y, S, 0.75) == pytest.approx(5.0)  # t = 0.7
    # background weights (2, 1, 1, 1, 1): eps_B = 2/6.
    w = np.array([1, 1, 1, 1, 2, 1, 1, 1, 1], float)
    assert dc.background_rejection(Y, S, 0.5, w) == pytest.approx(3.0)
    # signal weights (3, 1, 1, 1): t = 0.9, no background passes.
    w = np.array([3, 1, 1, 1, 1, 1, 1, 1, 1], float)
    assert dc.background_rejection(Y, S, 0.5, w) == math.inf


def test_jsd_limits_and_hand_value():
    assert dc.jensen_shannon_divergence([3, 1, 0], [6, 2, 0]) == pytest.approx(0.0, abs=1e-15)
    assert dc.jensen_shannon_divergence([1, 2, 0, 0], [0, 0, 5, 1]) == pytest.approx(math.log(2))
    expected = 0.5 * (0.5 * math.log(0.5 / 0.375) + 0.5 * math.log(0.5 / 0.625)) + 0.5 * (
        0.25 * math.log(0.25 / 0.375) + 0.75 * math.log(0.75 / 0.625)
    )
    assert dc.jensen_shannon_divergence([1, 1], [1, 3]) == pytest.approx(expected, rel=1e-12)


# Sculpting sample: mass bins [0, 1) and [1, 2] (bins=2, mass_range=(0, 2)).
SIG_SCORES = [0.9, 0.8, 0.7, 0.6]
BKG_SCORES = [0.85, 0.75, 0.5, 0.3, 0.2, 0.1]
BKG_MASS = [1.5, 0.5, 1.5, 0.5, 0.5, 0.5]


def _sculpting_sample(extra=True):
    y = [1] * 4 + [0] * 6
    scores = SIG_SCORES + BKG_SCORES
    mass = [0.2, 0.7, 1.2, 1.9] + BKG_MASS
    if extra:  # out of the mass range: must be removed before anything else
        y, scores, mass = y + [0, 1], scores + [0.95, 0.99], mass + [2.5, -0.1]
    return np.array(y), np.array(scores), np.array(mass)


def test_jsd50_by_hand():
    y, s, m = _sculpting_sample()
    h = dc.sculpting_histograms(y, s, m, bins=2, mass_range=(0.0, 2.0))
    # t = 0.8: background 0.85 (mass 1.5) passes; the other five fail.
    assert h.threshold == 0.8
    np.testing.assert_array_equal(h.passing, [0, 1])
    np.testing.assert_array_equal(h.failing, [4, 1])
    np.testing.assert_allclose(h.edges, [0.0, 1.0, 2.0])
    expected = 0.5 * math.log(1 / 0.6) + 0.5 * (0.8 * math.log(0.8 / 0.4) + 0.2 * math.log(0.2 / 0.6))
    assert h.jsd == pytest.approx(expected, rel=1e-12)
    assert dc.sculpting_jsd(y, s, m, bins=2, mass_range=(0.0, 2.0)) == pytest.approx(expected, rel=1e-12)


def test_jsd_at_background_efficiency_by_hand():
    y, s, m = _sculpting_sample()
    # the top 2 of 6 background pass: masses (1.5, 0.5) vs fail (1.5, 0.5, 0.5, 0.5).
    jsd = dc.sculpting_jsd(y, s, m, efficiency=2 / 6, cut_on="background", bins=2, mass_range=(0.0, 2.0))
    assert jsd == pytest.approx(_jsd_by_hand([1, 1], [3, 1]), rel=1e-12)


def test_delta_e_window_removes_events_first():
    y, s, m = _sculpting_sample(extra=False)
    delta_e = np.zeros(len(y))
    delta_e[5] = 0.15  # the 0.75 background (mass 0.5) leaves the window -0.25 < dE < 0.1
    delta_e[0] = -0.25  # the window is open: the top signal leaves too, so t = 0.7
    jsd = dc.sculpting_jsd(y, s, m, bins=2, mass_range=(0.0, 2.0), delta_e=delta_e)
    # signal left (0.8, 0.7, 0.6): t = 0.7; pass {0.85: 1.5}, fail {1.5, 0.5, 0.5, 0.5}.
    assert jsd == pytest.approx(_jsd_by_hand([0, 1], [3, 1]), rel=1e-12)


def test_weighted_histograms():
    y, s, m = _sculpting_sample(extra=False)
    w = np.ones(len(y))
    w[6] = 3.0  # the failing 0.5-score background at mass 1.5
    h = dc.sculpting_histograms(y, s, m, bins=2, mass_range=(0.0, 2.0), weights=w)
    np.testing.assert_allclose(h.failing, [4, 3])


def test_report_and_inverses():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 4000)
    mass = np.where(y == 1, rng.normal(5.279, 0.003, 4000), rng.uniform(5.2425, 5.29, 4000))
    scores = y + rng.normal(size=4000) - 30 * np.abs(mass - 5.279)  # sculpts toward 5.279
    delta_e = rng.uniform(-0.3, 0.2, 4000)
    report = dc.decorrelation_report(y, scores, mass, delta_e=delta_e)
    assert report.roc_auc == pytest.approx(dc.roc_auc(y, scores))
    assert report.r50 == pytest.approx(dc.background_rejection(y, scores))
    assert report.jsd50 == pytest.approx(dc.sculpting_jsd(y, scores, mass, delta_e=delta_e))
    seed_jsd = dc.sculpting_jsd(y, scores, mass, efficiency=0.005, cut_on="background", delta_e=delta_e)
    assert report.jsd_at_bkg_eff == pytest.approx(seed_jsd)
    assert report.inv_jsd50 == pytest.approx(1 / report.jsd50)
    assert report.inv_jsd_at_bkg_eff == pytest.approx(1 / report.jsd_at_bkg_eff)
    assert report.jsd50 > 0.01 and set(report.as_dict()) >= {"roc_auc", "r50", "jsd50", "inv_jsd50"}
    assert dc.inverse(0.0) == math.inf


def test_plot_returns_a_figure():
    import matplotlib.pyplot as plt

    y, s, m = _sculpting_sample()
    before = plt.get_fignums()
    figure = dc.plot_sculpting(y, s, m, bins=2, mass_range=(0.0, 2.0))
    assert isinstance(figure, Figure) and plt.get_fignums() == before
    (axes,) = figure.axes
    assert len(axes.patches) == 2 and "JSD" in axes.get_title()


@pytest.mark.parametrize(
    "change, message",
    [
        (dict(scores=[np.nan] + list(S[1:])), r"`scores` contains NaN/inf \(first at index 0\)"),
        (dict(mass=np.full(9, np.inf)), r"`mass` contains NaN/inf"),
        (dict(mass=np.zeros(8)), "`mass` has 8 entries but `y` has 9"),
        (dict(y=[1] * 9), "No background event"),
        (dict(scores=np.full(9, 0.3)), r"All scores are equal \(0.3\)"),
        (dict(efficiency=0.0), r"An efficiency must be a number in \(0, 1\]"),
        (dict(efficiency=1.5), r"An efficiency must be a number in \(0, 1\]"),
        (dict(y=[2] + list(Y[1:])), r"`y` must hold 0 \(background\) or 1 \(signal\); y\[0\] = 2"),
        (dict(weights=-np.ones(9)), "`weights` must be non-negative"),
        (dict(cut_on="data"), "`cut_on` must be one of"),
        (dict(efficiency=1.0, cut_on="background"), "No background fails the cut"),
    ],
)
def test_sculpting_rejects_bad_input(change, message):
    args = dict(y=Y, scores=S, mass=np.linspace(5.25, 5.28, 9))
    args.update(change)
    with pytest.raises(ValueError, match=message):
        dc.sculpting_jsd(**args)


def test_other_metrics_reject_bad_input():
    with pytest.raises(ValueError, match=r"there is no background \(y == 0\) event"):
        dc.roc_auc([1, 1], [0.2, 0.3])
    with pytest.raises(ValueError, match=r"there is no signal \(y == 1\) event"):
        dc.background_rejection([0, 0], [0.2, 0.3])
    with pytest.raises(ValueError, match="All scores are equal"):
        dc.background_rejection(Y, np.ones(9))
    with pytest.raises(ValueError, match=r"An efficiency must be a number in \(0, 1\]"):
        dc.background_rejection(Y, S, signal_efficiency=-0.1)
    with pytest.raises(ValueError, match="`scores` has 3 entries but `y` has 9"):
        dc.roc_auc(Y, [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="Histograms must be 1-D of equal length"):
        dc.jensen_shannon_divergence([1, 2], [1, 2, 3])
