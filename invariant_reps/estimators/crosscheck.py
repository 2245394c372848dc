"""Cross-checks of an MI estimate: references, ceilings, and the data's shape.

`references` computes cheap second opinions on the same data:

- the Gaussian-copula estimate (`gaussian_copula_mi`), a lower bound on the
  MI of continuous scalars and close to one for vectors, used when both
  variables are continuous;
- KSG on the normal scores (continuous pairs of up to `KNN_MAX_DIM`
  dimensions in all), or Ross's mixed estimator (one discrete variable),
  an independent estimate; up to `KNN_REFERENCE_MAX_DIM` dimensions KSG is
  biased low, and serves as a near-lower bound;
- with one discrete variable, `classifier_lower_bound` (a logistic
  regression's held-out cross-entropy below `H`), a lower bound in any
  dimension;
- with two discrete variables, the plug-in estimate.

`check` turns an estimate, its interval, the references and the ceiling
into `(warning category, message)` pairs: a non-finite, negative or
above-ceiling estimate, an interval that misses a reference (below a
lower bound, or disjoint from an independent estimate), and an upper bound
far above every reference (loose: it overstates the MI).
"""

import dataclasses
import math

import numpy as np

from invariant_reps.estimators import diagnostics
from invariant_reps.estimators import uncertainty
from invariant_reps.estimators.binned import binned_mi
from invariant_reps.estimators.binned import discrete_entropy
from invariant_reps.estimators.classifier import classifier_lower_bound
from invariant_reps.estimators.knn import ksg_mi
from invariant_reps.estimators.knn import mixed_ksg_mi
from invariant_reps.estimators.nonparametric import gaussian_copula_mi
from invariant_reps.estimators.preprocessing import copula_transform

# kNN estimators are used up to this many dimensions of (x, y) together.
KNN_MAX_DIM = 6
# Above KNN_MAX_DIM and up to this, KSG still serves as a (nearly) lower reference,
# on up to this many samples (its marginal counts cost about N^1.5 there).
KNN_REFERENCE_MAX_DIM = 20
_KNN_REFERENCE_MAX_SAMPLES = 100_000
# A variable with at most this many distinct rows (and at most N / 5) is discrete.
DISCRETE_MAX_VALUES = 32
# (q_99.9% - q_0.1%) / IQR; about 4.6 for a normal column, 13 for Student-t(3).
HEAVY_TAIL_RATIO = 12.0
# An upper bound whose interval lies above (1 + slack) times the largest cross-check
# (plus an absolute margin in nats) is loose: it overstates the MI.
UPPER_BOUND_SLACK = 0.25
UPPER_BOUND_MARGIN = 0.05
# Estimators built for continuous variables only.
_CONTINUOUS_METHODS = ("ksg", "lnc", "gaussian", "gaussian_copula")
# Methods that need no heavy-tail warning: rank-based or built for any marginals.
_TAIL_ROBUST_METHODS = ("ksg", "lnc", "mixed_ksg", "binned", "gaussian_copula")


@dataclasses.dataclass(frozen=True)
class Reference:
    """A second estimate of the same MI.

    Attributes:
        method: its name, e.g. `"gaussian_copula"`.
        mi_nats: the estimate.
        interval: its `(low, high)` confidence interval.
        lower_bound: whether it bounds the MI from below, exactly or through
            a known downward bias (then the check is one-sided).
        note: what kind of reference it is, for messages.
    """

    method: str
    mi_nats: float
    interval: tuple
    lower_bound: bool
    note: str = "an independent estimate"


def is_discrete(values):
    """Whether a `[N, d]` sample looks discrete: few distinct rows.

    At most `DISCRETE_MAX_VALUES` distinct rows, and at most `N / 5`, so
    that each value repeats on average 5 times or more.
    """
    distinct = np.unique(values, axis=0).shape[0]
    return distinct <= min(DISCRETE_MAX_VALUES, values.shape[0] // 5)


def heavy_tailed_columns(values):
    """Indices of the columns with tails far heavier than a normal's.

    The ratio of the 0.1%-99.9% quantile range to the interquartile range
    is about 4.6 for a normal column, 8 for Student-t with 5 degrees of
    freedom, 13 with 3, 27 with 2 and 300 for Cauchy; columns above
    `HEAVY_TAIL_RATIO` are returned.
    """
    low, q1, q3, high = np.quantile(values, [0.001, 0.25, 0.75, 0.999], axis=0)
    spread = q3 - q1
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(spread > 0, (high - low) / spread, 0.0)
    return [int(column) for column in np.flatnonzero(ratio > HEAVY_TAIL_RATIO)]


def ceiling(x, y, x_discrete, y_discrete):
    """The known ceiling `min(H(X), H(Y))` over the discrete variables, or None."""
    bounds = []
    if x_discrete:
        bounds.append(discrete_entropy(x))
    if y_discrete:
        bounds.append(discrete_entropy(y))
    return min(bounds) if bounds else None


def references(x, y, x_discrete, y_discrete, *, skip=(), confidence, seed):
    """Second opinions on `I(X; Y)`, each with a fold interval.

    Args:
        x: `[N, d_x]` array.
        y: `[N, d_y]` array.
        x_discrete: whether `x` is discrete (`is_discrete`).
        y_discrete: whether `y` is discrete.
        skip: reference names not to compute (the estimate's own method).
        confidence: coverage of the intervals.
        seed: seed of the folds.

    Returns:
        A list of `Reference`.
    """
    found = []
    candidates = []
    dim = x.shape[1] + y.shape[1]
    # The Gaussian estimators need several samples per dimension in each fold.
    min_fold_size = max(50, 5 * dim)
    if not (x_discrete or y_discrete) and x.shape[0] >= 2 * min_fold_size:
        note = (
            "a lower bound for scalar variables" if dim == 2
            else "exact for Gaussian copulas and nearly always below the MI"
        )
        candidates.append(("gaussian_copula", gaussian_copula_mi, True, note))
        if dim <= KNN_MAX_DIM:
            candidates.append(("ksg_copula", _ksg_on_scores, False, "an independent estimate"))
        elif dim <= KNN_REFERENCE_MAX_DIM and x.shape[0] <= _KNN_REFERENCE_MAX_SAMPLES:
            candidates.append((
                "ksg_copula", _ksg_on_scores, True,
                f"biased low in {dim} dimensions, so nearly a lower bound",
            ))
    elif x_discrete != y_discrete:
        continuous, labels = (y, x) if x_discrete else (x, y)
        if continuous.shape[1] <= KNN_MAX_DIM:
            candidates.append(
                ("mixed_ksg", _mixed_on_scores(x_discrete), False, "an independent estimate")
            )
        if "classifier" not in skip and x.shape[0] >= 100:
            value, interval = classifier_lower_bound(
                continuous, labels, confidence=confidence, seed=seed
            )
            found.append(Reference(
                "classifier", value, interval, True,
                "a lower bound: H of the discrete variable minus a logistic regression's "
                "held-out cross-entropy",
            ))
    elif x_discrete and y_discrete:
        candidates.append(("binned", _plug_in, False, "the plug-in estimate on the categories"))
    for name, estimator, lower_bound, note in candidates:
        if name in skip:
            continue
        value = estimator(x, y)
        interval = uncertainty.fold_interval(
            estimator, x, y, value, min_fold_size=min_fold_size, confidence=confidence, seed=seed
        )
        found.append(Reference(name, value, interval, lower_bound, note))
    return found


def check(method, estimate, interval, found_references, known_ceiling, ceiling_name,
          upper_bound=False):
    """`(category, message)` pairs for an estimate that should not be trusted.

    Args:
        method: the estimate's method name.
        estimate: the estimate in nats.
        interval: its `(low, high)` interval.
        found_references: `Reference`s to compare with.
        known_ceiling: a ceiling in nats, or None.
        ceiling_name: what the ceiling is, for the message.
        upper_bound: the estimate is an upper bound (CLUB, L1Out): it is
            checked for falling below a reference, for lying far above all
            of them (`UPPER_BOUND_SLACK`, a `LooseBoundWarning`), and a
            value above the ceiling is reported as vacuous.

    Returns:
        A list of `(warning category, message)`.
    """
    if not math.isfinite(estimate):
        return [(diagnostics.InvalidEstimateWarning,
                 diagnostics.non_finite_message(estimate, method))]
    messages = []
    if estimate < 0:
        messages.append((diagnostics.InvalidEstimateWarning,
                         diagnostics.negative_message(estimate, interval)))
    above_ceiling = (
        known_ceiling is not None and estimate > known_ceiling + 1e-9 * max(1.0, known_ceiling)
    )
    if above_ceiling:
        messages.append((
            diagnostics.InvalidEstimateWarning,
            diagnostics.ceiling_message(estimate, known_ceiling, ceiling_name, upper_bound),
        ))
    if upper_bound and not above_ceiling:
        messages += _loose_bound_messages(method, estimate, interval, found_references)
    for reference in found_references:
        if reference.lower_bound or upper_bound:
            disagree = math.isfinite(reference.interval[0]) and interval[1] < reference.interval[0]
        else:
            disagree = not uncertainty.intervals_overlap(interval, reference.interval)
        if disagree and upper_bound:
            messages.append((
                diagnostics.EstimatorDisagreementWarning,
                f"The {method} upper bound {estimate:.3f} nats [{interval[0]:.3f}, "
                f"{interval[1]:.3f}] is below the {reference.method} estimate "
                f"{reference.mi_nats:.3f} nats [{reference.interval[0]:.3f}, "
                f"{reference.interval[1]:.3f}] by more than their intervals: its conditional "
                "q(y|x) is too far from p(y|x) for the bound to hold.",
            ))
        elif disagree:
            messages.append((
                diagnostics.EstimatorDisagreementWarning,
                diagnostics.disagreement_message(
                    method, estimate, interval, reference.mi_nats, reference.interval,
                    reference.method, reference.lower_bound, reference.note,
                ),
            ))
    return messages


def _loose_bound_messages(method, estimate, interval, found_references):
    """A `LooseBoundWarning` when an upper bound lies far above every reference."""
    finite = [r for r in found_references if math.isfinite(r.mi_nats)]
    if not finite:
        return []
    top = max(finite, key=lambda r: _high_end(r.mi_nats, r.interval))
    low = interval[0] if math.isfinite(interval[0]) else estimate
    threshold = (1.0 + UPPER_BOUND_SLACK) * _high_end(top.mi_nats, top.interval)
    if low <= threshold + UPPER_BOUND_MARGIN:
        return []
    return [(
        diagnostics.LooseBoundWarning,
        diagnostics.loose_bound_message(
            method, estimate, interval, top.mi_nats, top.interval, top.method, top.note
        ),
    )]


def _high_end(value, interval):
    return interval[1] if math.isfinite(interval[1]) else value


def data_messages(method, x, y, preprocessing, x_discrete=False, y_discrete=False):
    """Warnings about data outside the method's regime.

    - heavy tails (`heavy_tailed_columns`) reaching a neural critic or the
      Gaussian estimator without `preprocessing="copula"`;
    - kNN estimators above `KNN_MAX_DIM` dimensions, where they are biased low;
    - discrete variables given to estimators for continuous ones.
    """
    messages = []
    discrete = [name for name, flag in (("x", x_discrete), ("y", y_discrete)) if flag]
    if discrete and method in _CONTINUOUS_METHODS:
        advice = (
            "method='binned' (bins='discrete')" if len(discrete) == 2
            else "method='mixed_ksg' or 'auto'"
        )
        messages.append((
            diagnostics.UnsuitableDataWarning,
            f"{' and '.join(discrete)} {'are' if len(discrete) == 2 else 'is'} discrete (at most "
            f"{DISCRETE_MAX_VALUES} distinct values), but {method} assumes continuous variables: "
            f"repeated values bias it. Use {advice}.",
        ))
    if preprocessing != "copula" and method not in _TAIL_ROBUST_METHODS:
        for name, values in (("x", x), ("y", y)):
            columns = heavy_tailed_columns(values)
            if columns:
                shown = f"{columns[:5]}{'...' if len(columns) > 5 else ''}"
                messages.append((
                    diagnostics.UnsuitableDataWarning,
                    f"{name} has heavy tails (columns {shown}: 0.1%-99.9% range over "
                    f"{HEAVY_TAIL_RATIO:g} interquartile ranges); the {method} estimate is "
                    "unreliable on them. Pass preprocessing='copula' (MI is unchanged by the "
                    "rank transform) or use method='auto'.",
                ))
    if method in ("ksg", "lnc") and x.shape[1] + y.shape[1] > KNN_MAX_DIM:
        messages.append((
            diagnostics.UnsuitableDataWarning,
            f"kNN estimators are biased low in high dimension, and d_x + d_y = "
            f"{x.shape[1] + y.shape[1]} > {KNN_MAX_DIM}. Use method='auto' or a neural method.",
        ))
    return messages


def non_gaussian_messages(method, estimate, x, y, found_references, share=0.5):
    """A warning for strongly non-Gaussian dependence above `KNN_MAX_DIM` dimensions.

    In high dimension every finite-sample estimator is accurate when the
    dependence is close to a Gaussian copula (the Gaussian part is then
    estimated in closed form or by a critic that starts from it), and
    biased low when it is not: mixtures, tail dependence and other
    structure that normal-score correlations miss must be learned from the
    sample. The Gaussian-copula estimate measures how much of the estimate
    the correlations explain; below `share` of it, the estimate may be
    10-30% low.
    """
    if x.shape[1] + y.shape[1] <= KNN_MAX_DIM or not math.isfinite(estimate) or estimate <= 0:
        return []
    for reference in found_references:
        if reference.method == "gaussian_copula" and reference.mi_nats < share * estimate:
            return [(
                diagnostics.UnsuitableDataWarning,
                f"Only {max(reference.mi_nats, 0.0) / estimate:.0%} of the {method} estimate "
                f"{estimate:.3f} nats is explained by the normal-score correlations (the "
                f"Gaussian-copula estimate is {reference.mi_nats:.3f} nats): the dependence is "
                f"far from Gaussian in {x.shape[1] + y.shape[1]} dimensions, where estimators "
                "trained on a finite sample are often 10-30% low. More samples help.",
            )]
    return []


def gaussian_normality_messages(estimate, interval, found_references):
    """A warning when `gaussian_mi` and the copula estimate disagree (non-normal data)."""
    for reference in found_references:
        if reference.method == "gaussian_copula" and not uncertainty.intervals_overlap(
            interval, reference.interval
        ):
            return [(
                diagnostics.UnsuitableDataWarning,
                f"The Gaussian estimate {estimate:.3f} nats differs from the Gaussian-copula "
                f"estimate {reference.mi_nats:.3f} nats by more than their intervals: the data "
                "are not jointly normal, and the Gaussian estimate is wrong for them. Use "
                "method='gaussian_copula' or 'auto'.",
            )]
    return []


def _plug_in(x, y):
    return binned_mi(x, y, bins="discrete", bias_correction=True)


def _ksg_on_scores(x, y):
    return ksg_mi(copula_transform(x), copula_transform(y), k=3)


def _mixed_on_scores(x_discrete):
    def estimator(x, y):
        if x_discrete:
            return mixed_ksg_mi(copula_transform(y), x, k=3)
        return mixed_ksg_mi(copula_transform(x), y, k=3)

    return estimator
