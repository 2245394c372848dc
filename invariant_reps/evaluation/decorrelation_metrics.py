"""Registered metrics of a binary classifier decorrelated from a continuous nuisance.

Datasets declare them by name (`register_dataset(..., metrics=(...))`); each
is a function of a `Predictions` (the logit as score, the labels, the nuisance
`s`, the event weights and the split's extra columns). The math lives in
`evaluation.decorrelation` (cuts, JSD) and `estimators` (KSG, LNC):

| name | what | events | weights |
|---|---|---|---|
| `roc_auc` | ROC AUC from the logit | all | yes |
| `r50` | background rejection 1/eps_B at 50 % signal efficiency | all | yes |
| `jsd50`, `inv_jsd50` | JSD (nats) of passing vs failing background M_bc at 50 % signal eff., and 1/JSD | M_bc window, Delta E window | yes |
| `jsd_bkg_eff`, `inv_jsd_bkg_eff` | the seed's JSD: top 0.5 % most signal-like background pass | M_bc window, Delta E window | no (as the seed) |
| `logit_nuisance_mi` | KSG (k = 3) I(logit; s), nats | all (the seed's diagnostic) | no |
| `logit_nuisance_lnc` | LNC (k = 5, alpha = 0.2: the seed's) I(logit; s), nats | all | no |
| `background_logit_nuisance_mi` | KSG (k = 3) I(logit; s), nats | background only | no |

The JSDs histogram `s` in 32 bins on M_bc in [5.2425, 5.29] GeV, so they
apply to data whose `s` is that mass (the HEP-like sample); the Delta E
window -0.25 < Delta E < 0.1 is applied when the split has a `"delta_e"`
column. MI estimates use at most `MI_MAX_POINTS` events, a fixed random
subset (the same every epoch), with a 1e-7-relative jitter that breaks exact
ties (k-NN estimators need distinct values); a constant logit has MI 0.

Degenerate classifiers (a collapsed, constant logit at a very large lambda;
or a perfect one, when no background passes the cut) make a cut-based metric
undefined: it is then NaN (with a warning) rather than an error that would
stop a sweep. Missing `s`, a multiclass head, or an `s` outside the mass
window are errors.
"""

import warnings

import numpy as np

from invariant_reps.estimators import ksg_mi, lnc_mi
from invariant_reps.evaluation import decorrelation
from invariant_reps.evaluation.metrics import register_metric

MI_MAX_POINTS = 5000
SEED_BACKGROUND_EFFICIENCY = decorrelation.SEED_BACKGROUND_EFFICIENCY
_UNDEFINED = ("the sculpting JSD is undefined", "All scores are equal")


def _binary_arrays(predictions, metric):
    """`(y, scores, s, weights, delta_e)` of a binary task's predictions, checked."""
    if predictions.task != "binary":
        raise ValueError(f"Metric {metric!r} needs a binary task (one logit); this one is {predictions.task}.")
    if predictions.s is None:
        raise ValueError(f"Metric {metric!r} needs the nuisance `s` of the evaluation set; it has none.")
    delta_e = predictions.columns.get("delta_e") if predictions.columns else None
    return (
        np.asarray(predictions.y).reshape(-1),
        predictions.scores,
        np.asarray(predictions.s, np.float64).reshape(-1),
        predictions.sample_weight,
        delta_e,
    )


def _undefined_as_nan(metric, compute):
    try:
        return compute()
    except ValueError as error:
        if any(text in str(error) for text in _UNDEFINED):
            warnings.warn(f"{metric} is undefined for these predictions ({error}); reporting NaN.", stacklevel=3)
            return float("nan")
        raise


@register_metric("roc_auc", label="ROC AUC")
def roc_auc(predictions):
    """Weighted ROC AUC of the logit."""
    y, scores, _, weights, _ = _binary_arrays(predictions, "roc_auc")
    return decorrelation.roc_auc(y, scores, weights)


@register_metric("r50", label="R50 (1/eps_B at 50% signal eff.)")
def r50(predictions):
    """Weighted background rejection at 50 % signal efficiency (inf: no background passes)."""
    y, scores, _, weights, _ = _binary_arrays(predictions, "r50")
    return _undefined_as_nan("r50", lambda: decorrelation.background_rejection(y, scores, 0.5, weights))


def _jsd(predictions, metric, efficiency, cut_on, weighted):
    y, scores, s, weights, delta_e = _binary_arrays(predictions, metric)
    low, high = decorrelation.MASS_RANGE
    if not np.any((s >= low) & (s <= high)):
        raise ValueError(
            f"Metric {metric!r} histograms M_bc in [{low}, {high}] GeV but no event's s lies there: declare it "
            "only for data whose s is that mass."
        )
    return _undefined_as_nan(metric, lambda: decorrelation.sculpting_jsd(
        y, scores, s, efficiency=efficiency, cut_on=cut_on, weights=weights if weighted else None, delta_e=delta_e
    ))


@register_metric("jsd50", label="JSD50 (nats)", higher_is_better=False)
def jsd50(predictions):
    """Background-mass JSD at 50 % signal efficiency (weighted, Delta E window when present)."""
    return _jsd(predictions, "jsd50", 0.5, "signal", weighted=True)


@register_metric("inv_jsd50", label="1/JSD50")
def inv_jsd50(predictions):
    """1 / JSD50 (inf: no measurable sculpting)."""
    value = jsd50(predictions)
    return value if np.isnan(value) else decorrelation.inverse(value)


@register_metric("jsd_bkg_eff", label="JSD at 0.5% bkg. eff. (seed, nats)", higher_is_better=False)
def jsd_bkg_eff(predictions):
    """The seed's `jsd_metric`: top 0.5 % background pass; unweighted; Delta E window when present."""
    return _jsd(predictions, "jsd_bkg_eff", SEED_BACKGROUND_EFFICIENCY, "background", weighted=False)


@register_metric("inv_jsd_bkg_eff", label="1/JSD at 0.5% bkg. eff.")
def inv_jsd_bkg_eff(predictions):
    """1 / `jsd_bkg_eff`."""
    value = jsd_bkg_eff(predictions)
    return value if np.isnan(value) else decorrelation.inverse(value)


def mi_sample(scores, s, max_points=MI_MAX_POINTS, seed=0):
    """`(scores, s)` of at most `max_points` events (a fixed random subset), ties broken.

    Args:
        scores: `[N]` logits.
        s: `[N]` nuisance values.
        max_points: subset size bound.
        seed: the subset's seed (fixed: the same events every epoch).

    Returns:
        Two float64 arrays `[min(N, max_points)]`, each with a jitter of
        1e-7 times its spread (or None for the scores when they are constant).

    Example:
        >>> logit, mass = mi_sample(predictions.scores, predictions.s)
    """
    scores, s = np.asarray(scores, np.float64).reshape(-1), np.asarray(s, np.float64).reshape(-1)
    rng = np.random.default_rng(seed)
    if len(scores) > max_points:
        keep = np.sort(rng.permutation(len(scores))[:max_points])
        scores, s = scores[keep], s[keep]
    if np.ptp(scores) == 0:
        return None, s

    def jitter(values):
        return values + 1e-7 * (np.std(values) or 1.0) * rng.standard_normal(len(values))

    return jitter(scores), jitter(s)


def _mi(predictions, metric, estimator, background_only=False):
    y, scores, s, _, _ = _binary_arrays(predictions, metric)
    if background_only:
        scores, s = scores[y == 0], s[y == 0]
    scores, s = mi_sample(scores, s)
    if scores is None:
        return 0.0  # a constant logit carries no information
    return float(estimator(scores, s))


@register_metric("logit_nuisance_mi", label="I(logit; s), KSG (nats)", higher_is_better=False)
def logit_nuisance_mi(predictions):
    """KSG (k = 3) MI between the logit and s over all events, nats."""
    return _mi(predictions, "logit_nuisance_mi", lambda a, b: ksg_mi(a, b, k=3))


@register_metric("logit_nuisance_lnc", label="I(logit; s), LNC (nats)", higher_is_better=False)
def logit_nuisance_lnc(predictions):
    """LNC (k = 5, alpha = 0.2, the seed's diagnostic) MI between the logit and s, all events, nats."""
    return _mi(predictions, "logit_nuisance_lnc", lambda a, b: lnc_mi(a, b, k=5, alpha=0.2))


@register_metric("background_logit_nuisance_mi", label="I(logit; s | background), KSG (nats)",
                 higher_is_better=False)
def background_logit_nuisance_mi(predictions):
    """KSG (k = 3) MI between the logit and s over the background (y = 0) events, nats."""
    return _mi(predictions, "background_logit_nuisance_mi", lambda a, b: ksg_mi(a, b, k=3), background_only=True)
