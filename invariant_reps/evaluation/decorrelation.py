"""Mass-decorrelation metrics for a binary classifier and a continuous nuisance.

Every metric is computed from continuous *scores* (a logit or a probability:
any monotone transform gives the same numbers), never from hard labels (the
seed's TensorBoard "auc" was balanced accuracy on 0/1 predictions; spec
A.7). Labels are 1 = signal, 0 = background.

Cuts (`rejection.py`, which also holds ROC AUC and R50): a cut at efficiency
`eps` of a class keeps `score >= t`, `t` the highest score keeping at least
`eps` of that class's weight; ties at `t` all pass.

Sculpting. The passing and failing *background* mass histograms at a cut are
compared by their Jensen-Shannon divergence in nats (0: identical shapes, no
sculpting; ln 2: disjoint). Two cuts are standard: 50 % signal efficiency
(JSD50, the field's convention, usually quoted as 1/JSD50 next to the
background rejection R50 = 1/eps_B) and the seed's 0.5 % background
efficiency (`Utils.jsd_metric`: the top 0.5 % most signal-like background
pass), in 32 bins of M_bc on [5.2425, 5.29] GeV, optionally inside the Delta E
window -0.25 < Delta E < 0.1.
"""

import dataclasses
import math

import numpy as np
from matplotlib.figure import Figure

from invariant_reps.evaluation.rejection import (  # noqa: F401  (roc_auc, background_rejection: re-exported)
    background_rejection,
    check_array,
    check_efficiency,
    check_inputs,
    check_not_constant,
    cut_threshold,
    roc_auc,
)

MASS_RANGE = (5.2425, 5.29)
DELTA_E_WINDOW = (-0.25, 0.1)
SEED_BACKGROUND_EFFICIENCY = 0.005
CUT_CLASSES = ("signal", "background")


def jensen_shannon_divergence(p, q):
    """JSD in nats between two histograms, each normalised to sum 1.

    `JSD = KL(P || M) / 2 + KL(Q || M) / 2` with `M = (P + Q) / 2` and
    `0 log 0 = 0`. It lies in [0, ln 2].

    Args:
        p: non-negative bin contents (counts or weights).
        q: non-negative bin contents, same shape as `p`.

    Returns:
        Python float.

    Example:
        >>> jensen_shannon_divergence([1, 0], [0, 1])  # ln 2 = 0.693...
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"Histograms must be 1-D of equal length; received {p.shape} and {q.shape}.")
    for name, h in (("p", p), ("q", q)):
        if not np.all(np.isfinite(h)) or np.any(h < 0) or h.sum() <= 0:
            raise ValueError(f"Histogram `{name}` must be finite, non-negative, with a positive sum.")
    p, q = p / p.sum(), q / q.sum()
    m = 0.5 * (p + q)

    def kl(a):
        nonzero = a > 0
        return float(np.sum(a[nonzero] * np.log(a[nonzero] / m[nonzero])))

    return 0.5 * kl(p) + 0.5 * kl(q)


@dataclasses.dataclass(frozen=True)
class SculptingHistograms:
    """Passing and failing background mass histograms at one cut.

    Attributes:
        edges: `[bins + 1]` bin edges.
        passing: `[bins]` (weighted) counts of background with `score >= t`.
        failing: `[bins]` (weighted) counts of background with `score < t`.
        threshold: the score cut `t`.
        jsd: `jensen_shannon_divergence(passing, failing)`, nats.
    """

    edges: np.ndarray
    passing: np.ndarray
    failing: np.ndarray
    threshold: float
    jsd: float


def sculpting_histograms(
    y,
    scores,
    mass,
    *,
    efficiency=0.5,
    cut_on="signal",
    bins=32,
    mass_range=MASS_RANGE,
    weights=None,
    delta_e=None,
    delta_e_window=DELTA_E_WINDOW,
):
    """Background mass histograms passing and failing a score cut, and their JSD.

    Events outside `mass_range` (and, when `delta_e` is given, outside the
    open window `delta_e_window`) are removed first, from both classes; the
    cut threshold is then computed on what remains.

    Args:
        y: labels `[N]`, 1 = signal, 0 = background.
        scores: `[N]` classifier outputs, higher = more signal-like.
        mass: `[N]` nuisance values (M_bc in GeV).
        efficiency: kept fraction of the `cut_on` class, in (0, 1].
        cut_on: "signal" (JSD50 with efficiency 0.5) or "background" (the
            seed's metric with efficiency 0.005).
        bins: number of uniform mass bins.
        mass_range: `(low, high)` of the histograms, inclusive.
        weights: optional `[N]` non-negative event weights (the seed's metric
            is unweighted).
        delta_e: optional `[N]` Delta E values for the window cut.
        delta_e_window: `(low, high)`, kept when `low < delta_e < high`.

    Returns:
        A `SculptingHistograms`.

    Example:
        >>> h = sculpting_histograms(y, scores, mbc, efficiency=0.005, cut_on="background")
        >>> h.jsd
    """
    if cut_on not in CUT_CLASSES:
        raise ValueError(f"`cut_on` must be one of {list(CUT_CLASSES)}; received {cut_on!r}.")
    check_efficiency(efficiency)
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool) or bins < 1:
        raise ValueError(f"`bins` must be an int >= 1; received {bins!r}.")
    low, high = (float(v) for v in mass_range)
    if not low < high:
        raise ValueError(f"`mass_range` must be (low, high) with low < high; received {mass_range!r}.")
    y, scores, weights = check_inputs(y, scores, weights)
    mass = check_array(mass, "mass", len(y))
    keep = (mass >= low) & (mass <= high)
    if delta_e is not None:
        delta_e = check_array(delta_e, "delta_e", len(y))
        keep &= (delta_e > delta_e_window[0]) & (delta_e < delta_e_window[1])
    y, scores, mass, weights = y[keep], scores[keep], mass[keep], weights[keep]
    background = y == 0
    if not np.any(background) or np.sum(weights[background]) <= 0:
        raise ValueError("No background event (y == 0) with positive weight lies in the mass range and window.")
    check_not_constant(scores)
    reference = (y == 1) if cut_on == "signal" else background
    if not np.any(reference) or np.sum(weights[reference]) <= 0:
        raise ValueError(f"No {cut_on} event with positive weight lies in the mass range and window.")
    threshold = cut_threshold(scores[reference], efficiency, weights[reference])
    passes = scores >= threshold
    edges = np.linspace(low, high, bins + 1)
    passing, _ = np.histogram(mass[background & passes], edges, weights=weights[background & passes])
    failing, _ = np.histogram(mass[background & ~passes], edges, weights=weights[background & ~passes])
    for name, h in (("passes", passing), ("fails", failing)):
        if h.sum() <= 0:
            raise ValueError(
                f"No background {name} the cut (threshold {threshold:.6g}, {cut_on} efficiency "
                f"{efficiency}): the sculpting JSD is undefined."
            )
    return SculptingHistograms(edges, passing, failing, threshold, jensen_shannon_divergence(passing, failing))


def sculpting_jsd(y, scores, mass, **kwargs):
    """JSD (nats) between passing and failing background mass histograms.

    Args:
        y, scores, mass: as in `sculpting_histograms`.
        **kwargs: `efficiency`, `cut_on`, `bins`, `mass_range`, `weights`,
            `delta_e`, `delta_e_window` of `sculpting_histograms`.

    Returns:
        Python float in [0, ln 2]; 1/JSD is the usual figure of merit.

    Example:
        >>> jsd50 = sculpting_jsd(y, scores, mbc)                       # 50 % signal eff.
        >>> seed = sculpting_jsd(y, scores, mbc, efficiency=0.005, cut_on="background",
        ...                      delta_e=de)                            # the seed's metric
    """
    return sculpting_histograms(y, scores, mass, **kwargs).jsd


def inverse(value):
    """`1 / value`, `inf` for 0 (a perfectly decorrelated 1/JSD)."""
    return math.inf if value == 0 else 1.0 / value


@dataclasses.dataclass(frozen=True)
class DecorrelationReport:
    """Performance and sculpting of a classifier (see `decorrelation_report`).

    Attributes:
        roc_auc: ROC AUC from the scores.
        r50: background rejection 1/eps_B at 50 % signal efficiency.
        jsd50: background-mass JSD at 50 % signal efficiency (nats).
        inv_jsd50: 1 / jsd50.
        jsd_at_bkg_eff: background-mass JSD at `background_efficiency` (the
            seed's metric at 0.005).
        inv_jsd_at_bkg_eff: 1 / jsd_at_bkg_eff.
        background_efficiency: the background efficiency of that cut.
    """

    roc_auc: float
    r50: float
    jsd50: float
    inv_jsd50: float
    jsd_at_bkg_eff: float
    inv_jsd_at_bkg_eff: float
    background_efficiency: float = SEED_BACKGROUND_EFFICIENCY

    def as_dict(self):
        return dataclasses.asdict(self)


def decorrelation_report(
    y,
    scores,
    mass,
    weights=None,
    delta_e=None,
    *,
    background_efficiency=SEED_BACKGROUND_EFFICIENCY,
    bins=32,
    mass_range=MASS_RANGE,
    delta_e_window=DELTA_E_WINDOW,
):
    """ROC AUC, R50, JSD50 and the seed's JSD at 0.5 % background efficiency.

    ROC AUC and R50 use every event; the two JSDs use the events in
    `mass_range` (and in the Delta E window when `delta_e` is given), as in
    `sculpting_histograms`.

    Args:
        y: labels `[N]`, 1 = signal, 0 = background.
        scores: `[N]` classifier outputs, higher = more signal-like.
        mass: `[N]` nuisance values (M_bc in GeV).
        weights: optional `[N]` non-negative event weights, used everywhere.
        delta_e: optional `[N]` Delta E for the window cut of the JSDs.
        background_efficiency: the background efficiency of the second JSD.
        bins: number of mass bins.
        mass_range: `(low, high)` of the mass histograms.
        delta_e_window: `(low, high)`, open window on Delta E.

    Returns:
        A `DecorrelationReport`.

    Example:
        >>> report = decorrelation_report(y, model.predict(x)[:, 0], mbc, delta_e=de)
        >>> print(report.r50, report.inv_jsd50)
    """
    common = dict(
        bins=bins, mass_range=mass_range, weights=weights, delta_e=delta_e, delta_e_window=delta_e_window
    )
    jsd50 = sculpting_jsd(y, scores, mass, efficiency=0.5, cut_on="signal", **common)
    jsd_bkg = sculpting_jsd(y, scores, mass, efficiency=background_efficiency, cut_on="background", **common)
    return DecorrelationReport(
        roc_auc=roc_auc(y, scores, weights),
        r50=background_rejection(y, scores, 0.5, weights),
        jsd50=jsd50,
        inv_jsd50=inverse(jsd50),
        jsd_at_bkg_eff=jsd_bkg,
        inv_jsd_at_bkg_eff=inverse(jsd_bkg),
        background_efficiency=float(background_efficiency),
    )


def plot_sculpting(y, scores, mass, *, title=None, xlabel="$M_{bc}$ [GeV]", **kwargs):
    """The sculpting plot: passing vs failing background mass, each normalised.

    Args:
        y, scores, mass: as in `sculpting_histograms`.
        title: optional axes title; by default the cut and its JSD.
        xlabel: the mass axis label.
        **kwargs: forwarded to `sculpting_histograms` (`efficiency`,
            `cut_on`, `bins`, `mass_range`, `weights`, `delta_e`, ...).

    Returns:
        A `matplotlib.figure.Figure` (not shown; save it with `savefig`).

    Example:
        >>> plot_sculpting(y, scores, mbc).savefig("sculpting.png")
    """
    h = sculpting_histograms(y, scores, mass, **kwargs)
    figure = Figure(figsize=(5.0, 3.6))
    axes = figure.add_subplot()
    for counts, label in ((h.failing, "background, fails cut"), (h.passing, "background, passes cut")):
        axes.stairs(counts / counts.sum(), h.edges, label=label, linewidth=1.5)
    axes.set_xlabel(xlabel)
    axes.set_ylabel("fraction per bin")
    cut = f"{kwargs.get('cut_on', 'signal')} eff. {kwargs.get('efficiency', 0.5):g}"
    axes.set_title(title if title is not None else f"cut at {cut}: JSD = {h.jsd:.3g} nats")
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    return figure
