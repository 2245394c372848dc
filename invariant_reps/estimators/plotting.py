"""A PNG of a neural MI estimator's training curve."""

import math

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def plot_training_curve(result, path, true_mi=None):
    """Writes the train and held-out curves of an `MIEstimate` to a PNG.

    Draws the training-batch and held-out estimates against the step, the
    reported estimate and the step of the critic it was read from, the true
    MI when known, and for InfoNCE its `log(batch_size)` ceiling. A held-out
    curve that has levelled off is the sign of a well-optimized critic; a
    train curve far above it means the critic overfits. Uses the Agg canvas
    directly, so no display and no global pyplot state are involved.

    Args:
        result: an `MIEstimate` from a neural method.
        path: where to write the PNG.
        true_mi: optional true MI in nats, drawn as a reference line.

    Returns:
        `path`.

    Example:
        >>> result = estimate_mi(x, y, method="smile")
        >>> plot_training_curve(result, "smile_curve.png")
    """
    curve = result.curve
    if curve is None or curve.steps.size == 0:
        raise ValueError(
            f"The {result.method!r} estimate has no training curve to plot; only "
            "neural methods (mine, nwj, infonce, smile, club, l1out) that ran an "
            "evaluation have one."
        )
    figure = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(curve.steps, curve.train_nats, color="tab:blue", alpha=0.6, label="train batches")
    axes.plot(curve.steps, curve.heldout_nats, color="tab:orange", label="held-out")
    if math.isfinite(result.mi_nats):
        axes.axhline(
            result.mi_nats, color="tab:orange", linestyle=":",
            label=f"estimate {result.mi_nats:.3f} nats",
        )
    best_step = getattr(result, "best_step", None)
    if best_step is not None:
        axes.axvline(best_step, color="tab:green", linestyle=":",
                     label=f"reported critic (step {best_step})")
    if true_mi is not None:
        axes.axhline(true_mi, color="black", linestyle="--", label=f"true MI {true_mi:.3f} nats")
    if result.method == "infonce" and result.batch_size:
        axes.axhline(
            math.log(result.batch_size), color="tab:red", linestyle="-.",
            label=f"InfoNCE ceiling log {result.batch_size}",
        )
    status = "converged" if result.converged else "not converged"
    axes.set_title(f"{result.method}: {status} after {result.steps} steps")
    axes.set_xlabel("training step")
    axes.set_ylabel("MI estimate (nats)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    return path
