"""Warnings that say when an MI estimate should not be trusted.

All derive from `MIEstimationWarning`, so one filter silences or escalates
them all:

    >>> warnings.simplefilter("error", MIEstimationWarning)
"""

import math


class MIEstimationWarning(UserWarning):
    """Base class of the warnings raised by `estimate_mi`."""


class InfoNCECeilingWarning(MIEstimationWarning):
    """The InfoNCE estimate sits near its ceiling `log(batch_size)`."""


class UnstableEstimateWarning(MIEstimationWarning):
    """The bound became NaN or infinite, fell away, or varies too much."""


class NotConvergedWarning(MIEstimationWarning):
    """Training used all its steps before the held-out curve levelled off."""


class OverfittingWarning(UnstableEstimateWarning):
    """The held-out curve fell after its peak; the peak is reported."""


class InvalidEstimateWarning(MIEstimationWarning):
    """The estimate is negative, not finite, or above a known ceiling."""


class EstimatorDisagreementWarning(MIEstimationWarning):
    """Two sound estimators disagree by more than their intervals."""


class LooseBoundWarning(MIEstimationWarning):
    """An upper bound (CLUB, L1Out) lies far above every cross-check: it overstates the MI."""


class UnsuitableDataWarning(MIEstimationWarning):
    """The data are outside the regime where the chosen estimator is accurate."""


def infonce_ceiling_message(estimate, batch_size, margin=0.1):
    """A warning text if an InfoNCE estimate is within `margin` of `log N`.

    Args:
        estimate: the InfoNCE estimate in nats.
        batch_size: `N`, the number of pairs the bound was computed on.
        margin: relative distance to the ceiling that triggers the warning.

    Returns:
        The message, or None when the estimate is clear of the ceiling.
    """
    ceiling = math.log(batch_size)
    if estimate < (1.0 - margin) * ceiling:
        return None
    return (
        f"InfoNCE estimate {estimate:.3f} nats is within {margin:.0%} of its "
        f"ceiling log(batch_size) = log({batch_size}) = {ceiling:.3f} nats; the "
        "true MI may be much larger. Use a larger batch or method='smile'."
    )


def divergence_message(step, value, which, best_step=None):
    """A warning text for a bound that became NaN or infinite at `step`."""
    kept = (
        f" The estimate is the best held-out value before that, at step {best_step}."
        if best_step is not None
        else ""
    )
    return (
        f"The {which} estimate became {value} at step {step}; training stopped.{kept} "
        "Lower the learning rate, use preprocessing='copula' for heavy tails, or use "
        "method='smile' or 'infonce', whose variance stays bounded."
    )


def variance_message(std, estimate, tolerance=0.5):
    """A warning text if the spread over held-out batches is too large.

    Args:
        std: standard deviation of the bound over held-out batches, nats.
        estimate: the estimate in nats.
        tolerance: allowed std, relative to `max(1, |estimate|)` nats.

    Returns:
        The message, or None.
    """
    if std <= tolerance * max(1.0, abs(estimate)):
        return None
    return (
        f"The estimate varies by {std:.3f} nats (std) across held-out batches "
        f"around {estimate:.3f} nats. DV/MINE and NWJ variance grows like e^MI; "
        "use method='smile' (or 'infonce' below log(batch_size)) or a larger batch."
    )


def not_converged_message(max_steps, recent_gain):
    """A warning text for training that hit `max_steps` before a plateau.

    Args:
        max_steps: the step budget that ran out.
        recent_gain: change of the smoothed held-out curve over its last
            window in nats, or NaN when the curve is too short to say.

    Returns:
        The message; it says the curve was still rising only when it was.
    """
    if math.isfinite(recent_gain) and recent_gain > 0:
        trend = (
            f"; it was still rising ({recent_gain:+.3f} nats over the last smoothing "
            "window), so a longer run would likely give a larger value"
        )
    elif math.isfinite(recent_gain):
        trend = (
            f"; it changed by {recent_gain:+.3f} nats over the last smoothing window "
            "without gaining more than `min_delta`"
        )
    else:
        trend = ""
    return (
        f"Training reached max_steps={max_steps} before the held-out estimate "
        f"levelled off{trend}. Raise max_steps or the learning rate."
    )


def overfitting_message(peak, peak_step, final, final_step):
    """A warning text for a held-out curve that fell after its peak.

    Args:
        peak: the best smoothed held-out estimate in nats (the one reported).
        peak_step: the step of the restored critic.
        final: the last smoothed held-out estimate in nats.
        final_step: the last step trained.

    Returns:
        The message.
    """
    return (
        f"The smoothed held-out estimate peaked at {peak:.3f} nats at step {peak_step} "
        f"and fell to {final:.3f} nats by step {final_step}: the critic overfits the "
        f"training split. Reported the peak, with the critic restored to step {peak_step}."
    )


def negative_message(estimate, interval):
    """A warning text for a negative estimate (MI is never negative)."""
    low, high = interval
    if math.isfinite(high) and high < 0:
        verdict = "its whole interval is below 0, so the estimator failed on these data"
    else:
        verdict = "read it as no detectable information"
    return (
        f"The estimate is negative ({estimate:.3f} nats, interval [{low:.3f}, {high:.3f}]); "
        f"mutual information is never negative: {verdict}."
    )


def non_finite_message(estimate, method):
    """A warning text for a NaN or infinite estimate."""
    return (
        f"The {method} estimate is {estimate}: it failed on these data. Use "
        "method='auto', or preprocessing='copula' for heavy-tailed data."
    )


def ceiling_message(estimate, ceiling, what, upper_bound=False):
    """A warning text for an estimate above a known ceiling.

    Args:
        estimate: the estimate in nats.
        ceiling: the ceiling in nats.
        what: what the ceiling is, e.g. `"H(Y), Y discrete"`.
        upper_bound: the estimate is an upper bound, which stays valid but
            says nothing above the ceiling.

    Returns:
        The message.
    """
    verdict = (
        "the upper bound holds but is vacuous: the ceiling is the tighter bound"
        if upper_bound else "it overestimates"
    )
    return (
        f"The estimate {estimate:.3f} nats exceeds its ceiling {ceiling:.3f} nats "
        f"({what}) by {estimate - ceiling:.3f} nats: {verdict}."
    )


def disagreement_message(method, estimate, interval, reference, reference_interval,
                         reference_method, lower_bound, note=None):
    """A warning text for two estimates whose intervals do not overlap.

    Args:
        method: the reported estimator.
        estimate: its estimate in nats.
        interval: its `(low, high)` interval.
        reference: the cross-check's estimate in nats.
        reference_interval: the cross-check's interval.
        reference_method: the cross-check's name.
        lower_bound: whether the cross-check is (nearly) a lower bound on the MI.
        note: what the cross-check is, e.g. "a lower bound for scalar variables".

    Returns:
        The message; "low" or "high" follows the numbers.
    """
    direction = "below" if estimate < reference else "above"
    kind = note or ("a lower bound on the MI" if lower_bound else "an independent estimate")
    consequence = (
        f"so the {method} estimate is too low"
        if lower_bound
        else "so at least one of them is off"
    )
    return (
        f"The {method} estimate {estimate:.3f} nats [{interval[0]:.3f}, {interval[1]:.3f}] "
        f"is {direction} the {reference_method} estimate {reference:.3f} nats "
        f"[{reference_interval[0]:.3f}, {reference_interval[1]:.3f}], {kind}, by more than "
        f"their intervals, {consequence}."
    )


def loose_bound_message(method, estimate, interval, reference, reference_interval,
                        reference_method, note):
    """A warning text for an upper bound far above the largest cross-check.

    Args:
        method: `"club"` or `"l1out"`.
        estimate: the upper bound in nats.
        interval: its `(low, high)` interval.
        reference: the largest cross-check's estimate in nats.
        reference_interval: its interval.
        reference_method: its name.
        note: what kind of estimate it is.

    Returns:
        The message, with the ratio of the two estimates.
    """
    ratio = estimate / reference if reference > 0 else math.inf
    times = f"{ratio:.1f} times" if math.isfinite(ratio) else "far above"
    why = (
        " (on a Gaussian pair with correlation rho CLUB equals rho^2 / (1 - rho^2) = "
        "e^(2 I) - 1 nats in one dimension, so it grows exponentially with the MI)"
        if method == "club" else ""
    )
    return (
        f"The {method} upper bound {estimate:.3f} nats [{interval[0]:.3f}, {interval[1]:.3f}] "
        f"is {times} the {reference_method} estimate {reference:.3f} nats "
        f"[{reference_interval[0]:.3f}, {reference_interval[1]:.3f}] ({note}): the bound "
        f"holds but is loose here{why}, so it overstates the MI. Use it to minimise MI in "
        "training, not to measure it; for a value use method='auto'."
    )
