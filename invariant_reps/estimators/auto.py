"""`method="auto"`: pick an MI estimator from the data, and say why.

The rule, from the finite-sample benchmark (`bench/mi_estimators.py`):

1. Both variables discrete (`crosscheck.is_discrete`): the plug-in
   histogram on the categories with the Miller-Madow correction.
2. One discrete, the other continuous with at most `KNN_MAX_DIM` columns:
   Ross's mixed kNN estimator on the continuous variable's normal scores.
3. Both continuous with `d_x + d_y <= KNN_MAX_DIM`: KSG on the normal
   scores (`copula_transform`), accurate in low dimension whatever the
   marginals.
4. Otherwise (high dimension): SMILE (adaptive `tau`) with a
   `GaussianResidualCritic` on the normal scores (one-hot codes for a
   discrete variable): the critic starts from the Gaussian log-density
   ratio of the training split, so it starts at the Gaussian-copula bound,
   and held-out early stopping keeps the residual from overfitting.

The Gaussian-copula estimate is computed next to every continuous choice;
it is a lower bound for scalars and nearly one for vectors, and exact for
Gaussian copulas (where kNN estimators lose accuracy at high MI and neural
critics underfit in high dimension). Up to `KNN_REFERENCE_MAX_DIM`
dimensions, KSG on the normal scores is computed too; above `KNN_MAX_DIM`
it is biased low, so it also serves as a near-lower bound. When the chosen
estimate falls below such a bound by more than their intervals,
`estimate_mi` reports the larger bound instead, and warns. A critic's
held-out bound is itself (nearly) a lower bound, so in high dimension the
largest of it and these (near-)lower bounds is reported in any case.
"""

import dataclasses

import numpy as np

from invariant_reps.estimators.crosscheck import KNN_MAX_DIM


@dataclasses.dataclass(frozen=True)
class Selection:
    """The estimator `method="auto"` chose.

    Attributes:
        method: the `estimate_mi` method to run.
        preprocessing: the marginal transform to apply first.
        one_hot: which of `"x"`, `"y"` to one-hot encode (neural critics on
            discrete variables).
        reason: one sentence saying why.
        critic: the critic of a neural choice (`"gaussian_residual"`: the
            Gaussian log-ratio of the training split plus a learned residual).
        clip: SMILE's `tau` for a neural choice: `"adaptive"`
            (`bounds.adaptive_clip`), which keeps SMILE's bias small above
            5 nats.
    """

    method: str
    preprocessing: str
    one_hot: tuple
    reason: str
    critic: str = "gaussian_residual"
    clip: object = "adaptive"


def select_method(x, y, x_discrete, y_discrete):
    """Chooses an estimator for the pair `(x, y)`.

    Args:
        x: `[N, d_x]` array.
        y: `[N, d_y]` array.
        x_discrete: whether `x` is discrete.
        y_discrete: whether `y` is discrete.

    Returns:
        A `Selection`.

    Example:
        >>> select_method(np.zeros((1000, 1)), np.zeros((1000, 1)), False, False).method
        'ksg'
    """
    num_samples, dim_x, dim_y = x.shape[0], x.shape[1], y.shape[1]
    shape = f"N={num_samples}, d_x={dim_x}, d_y={dim_y}"
    if x_discrete and y_discrete:
        return Selection(
            "binned", "none", (),
            f"both variables are discrete ({shape}): plug-in estimate on the categories "
            "with the Miller-Madow correction.",
        )
    if x_discrete or y_discrete:
        continuous, name = (y, "y") if x_discrete else (x, "x")
        discrete_name = "x" if x_discrete else "y"
        if continuous.shape[1] <= KNN_MAX_DIM:
            return Selection(
                "mixed_ksg", "copula", (),
                f"{discrete_name} is discrete and {name} continuous in {continuous.shape[1]} "
                f"<= {KNN_MAX_DIM} dimensions ({shape}): Ross's kNN estimator on the normal "
                f"scores of {name}.",
            )
        return Selection(
            "smile", "copula", (discrete_name,),
            f"{discrete_name} is discrete and {name} continuous in {continuous.shape[1]} > "
            f"{KNN_MAX_DIM} dimensions ({shape}): a SMILE critic on the normal scores of "
            f"{name} and one-hot {discrete_name}, with held-out early stopping.",
        )
    if dim_x + dim_y <= KNN_MAX_DIM:
        return Selection(
            "ksg", "copula", (),
            f"both variables are continuous in d_x + d_y = {dim_x + dim_y} <= {KNN_MAX_DIM} "
            f"dimensions ({shape}): KSG on the normal scores, the most accurate estimator "
            "in low dimension, checked against the Gaussian-copula lower bound.",
        )
    return Selection(
        "smile", "copula", (),
        f"both variables are continuous in d_x + d_y = {dim_x + dim_y} > {KNN_MAX_DIM} "
        f"dimensions ({shape}), where kNN estimators are biased low: a SMILE critic on the "
        "normal scores with held-out early stopping, checked against the Gaussian-copula "
        "estimate.",
    )


def one_hot(values):
    """One-hot codes of the distinct rows of a discrete `[N, d]` sample."""
    _, codes = np.unique(values, axis=0, return_inverse=True)
    codes = codes.reshape(-1)
    return np.eye(int(codes.max()) + 1)[codes]
