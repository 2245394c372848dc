"""A classifier's lower bound on `I(X; C)` for a discrete `C`.

For any classifier `q(c | x)`, `H(C | X) <= E[-log q(C | X)]` (the
cross-entropy never falls below the conditional entropy), so

    I(X; C) = H(C) - H(C | X) >= H(C) - E[-log q(C | X)]

(Barber & Agakov, NIPS 2003). The cross-entropy is measured on held-out
folds (cross-fitting: each sample is scored by a model that never saw it),
which keeps the bound honest on a finite sample; every sample contributes
one held-out log-loss, so the interval comes from their spread. A
multinomial logistic regression is exact when the class-conditional laws
are Gaussians with a shared covariance, and a lower bound otherwise.
"""

import math

import numpy as np
from scipy.stats import norm

from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.binned import discrete_entropy
from invariant_reps.estimators.preprocessing import standardize

DEFAULT_FOLDS = 5


def classifier_lower_bound(values, labels, *, folds=DEFAULT_FOLDS, confidence=0.95, seed=0):
    """`H(C) - (held-out cross-entropy of a logistic regression)`, in nats.

    Args:
        values: `[N, d]` continuous samples.
        labels: `[N]` or `[N, m]` discrete labels (each distinct row a class).
        folds: cross-fitting folds, at least 2.
        confidence: coverage of the interval.
        seed: seed of the folds.

    Returns:
        `(estimate, (low, high))`: the bound and a normal interval from the
        per-sample held-out log-losses.

    Example:
        >>> labels = rng.integers(0, 2, 4000)
        >>> classifier_lower_bound(2.0 * labels + rng.normal(size=4000), labels)[0]  # 0.337
        0.33...
    """
    from sklearn.linear_model import LogisticRegression

    values, labels = as_sample_pair(values, labels, min_samples=2 * folds)
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"`folds` must be an int >= 2, got folds={folds!r}.")
    _, classes = np.unique(labels, axis=0, return_inverse=True)
    classes = classes.reshape(-1)
    num_classes = int(classes.max()) + 1
    prior = np.bincount(classes, minlength=num_classes) / classes.size
    features = standardize(values)
    losses = np.empty(classes.size)
    order = np.random.default_rng(seed).permutation(classes.size)
    for held_out in np.array_split(order, folds):
        train = np.setdiff1d(order, held_out, assume_unique=True)
        seen = np.unique(classes[train])
        if seen.size < 2:
            losses[held_out] = -np.log(prior[classes[held_out]])
            continue
        model = LogisticRegression(max_iter=1000).fit(features[train], classes[train])
        probabilities = np.full((held_out.size, num_classes), 1e-12)
        probabilities[:, model.classes_] = np.maximum(
            model.predict_proba(features[held_out]), 1e-12
        )
        losses[held_out] = -np.log(probabilities[np.arange(held_out.size), classes[held_out]])
    estimate = discrete_entropy(classes) - float(losses.mean())
    half_width = norm.ppf(0.5 + confidence / 2.0) * losses.std(ddof=1) / math.sqrt(losses.size)
    return estimate, (estimate - half_width, estimate + half_width)
