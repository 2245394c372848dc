"""Warnings that say when a neural MI estimate should not be trusted.

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


def divergence_message(step, value, which):
    """A warning text for a bound that became NaN or infinite at `step`."""
    return (
        f"The {which} estimate became {value} at step {step}; training stopped. "
        "Lower the learning rate, or use method='smile' or 'infonce', whose "
        "variance stays bounded."
    )


def decline_message(final, best, tolerance=0.1):
    """A warning text if the smoothed held-out curve fell well below its best.

    A held-out estimate that rises then falls means the critic overfits the
    training split (or the optimization diverges): the final value then
    underestimates the plateau.

    Args:
        final: the final smoothed held-out estimate in nats.
        best: the best smoothed held-out estimate in nats.
        tolerance: allowed drop, relative to `max(1, |best|)` nats.

    Returns:
        The message, or None.
    """
    if not math.isfinite(best) or best - final <= tolerance * max(1.0, abs(best)):
        return None
    return (
        f"The smoothed held-out estimate fell from {best:.3f} to {final:.3f} nats; "
        "the critic overfits the training split or the optimization is "
        "unstable. Use more samples, a smaller critic, a lower learning rate, "
        "or a smaller `patience` so training stops at the plateau."
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
    """A warning text for training that hit `max_steps` still improving.

    Args:
        max_steps: the step budget that ran out.
        recent_gain: rise of the smoothed held-out curve over its last
            window in nats, or NaN when the curve is too short to say.

    Returns:
        The message.
    """
    trend = (
        f" (it rose {recent_gain:.3f} nats over the last smoothing window)"
        if math.isfinite(recent_gain)
        else ""
    )
    return (
        f"Training reached max_steps={max_steps} before the held-out estimate "
        f"levelled off{trend}; the estimate may be low. Raise max_steps or the "
        "learning rate."
    )
