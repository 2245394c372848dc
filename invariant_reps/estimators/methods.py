"""The estimators behind `estimate_mi`, each run with its interval and null value."""

import dataclasses
import math

import numpy as np

from invariant_reps.estimators import neural
from invariant_reps.estimators import uncertainty
from invariant_reps.estimators.binned import binned_mi
from invariant_reps.estimators.critics import get_critic
from invariant_reps.estimators.gaussian_critic import GaussianResidualCritic
from invariant_reps.estimators.knn import ksg_mi
from invariant_reps.estimators.knn import mixed_ksg_mi
from invariant_reps.estimators.lnc import SEED_K
from invariant_reps.estimators.lnc import lnc_mi
from invariant_reps.estimators.nonparametric import gaussian_copula_mi
from invariant_reps.estimators.nonparametric import gaussian_mi
from invariant_reps.estimators.trainer import NEURAL_METHODS
from invariant_reps.estimators.upper_bounds import GaussianConditional
from invariant_reps.estimators.upper_estimate import UPPER_BOUND_METHODS
from invariant_reps.estimators.upper_estimate import train_and_read_out_upper

NONPARAMETRIC_METHODS = ("ksg", "binned", "gaussian", "lnc", "mixed_ksg", "gaussian_copula")
TRAINED_METHODS = NEURAL_METHODS + UPPER_BOUND_METHODS
METHODS = NEURAL_METHODS + NONPARAMETRIC_METHODS + UPPER_BOUND_METHODS + ("auto",)
DEFAULT_K = 3


@dataclasses.dataclass(frozen=True)
class Run:
    """One estimator's output before cross-checks (fields as in `MIEstimate`)."""

    mi_nats: float
    interval: tuple
    std_nats: float = math.nan
    null_nats: float = math.nan
    steps: int = 0
    batch_size: int | None = None
    converged: bool = True
    stopped_early: bool = False
    curve: neural.TrainingCurve | None = None
    best_step: int | None = None
    messages: tuple = ()


def run(method, x, y, *, x_discrete, y_discrete, critic, batch_size, learning_rate, max_steps,
        validation_fraction, eval_every, smoothing_window, patience, min_delta, clip,
        moving_average_rate, k, bins, confidence, seed, log_dir, callback):
    """Runs `method` on prepared `(x, y)`; returns a `Run`."""
    if method in TRAINED_METHODS:
        x32, y32 = x.astype(np.float32), y.astype(np.float32)
        log = neural.CurveLog(method, log_dir, callback)
        common = dict(
            method=method, batch_size=batch_size, learning_rate=learning_rate,
            max_steps=max_steps, validation_fraction=validation_fraction, eval_every=eval_every,
            smoothing_window=smoothing_window, patience=patience, min_delta=min_delta,
            confidence=confidence, seed=seed, log=log,
        )
        if method in UPPER_BOUND_METHODS:
            result = train_and_read_out_upper(
                x32, y32, GaussianConditional(seed=seed), **common
            )
        else:
            if critic == "gaussian_residual":
                critic = GaussianResidualCritic(seed=seed)
            elif isinstance(critic, str):
                critic = get_critic(critic, seed=seed)
            result = neural.train_and_read_out(
                x32, y32, critic, clip=clip, moving_average_rate=moving_average_rate, **common
            )
        return Run(
            mi_nats=result.mi_nats, interval=result.interval, std_nats=result.std_nats,
            null_nats=result.null_nats, steps=result.steps, batch_size=batch_size,
            converged=result.converged, stopped_early=result.steps < max_steps,
            curve=result.curve, best_step=result.best_step, messages=result.messages,
        )
    estimator = _nonparametric_estimator(method, x, y, x_discrete, y_discrete, k, bins)
    value = estimator(x, y)
    folds_seed = 0 if seed is None else seed
    min_fold_size = max(50, 5 * (x.shape[1] + y.shape[1]))
    interval = uncertainty.fold_interval(
        estimator, x, y, value, min_fold_size=min_fold_size, confidence=confidence,
        seed=folds_seed,
    )
    null = uncertainty.permutation_baseline(estimator, x, y, seed=folds_seed + 1)
    return Run(mi_nats=value, interval=interval, null_nats=null)


def _nonparametric_estimator(method, x, y, x_discrete, y_discrete, k, bins):
    dim = x.shape[1] + y.shape[1]
    if method == "lnc":
        lnc_k = max(SEED_K if k is None else k, dim + 1)
        return lambda a, b: lnc_mi(a, b, k=lnc_k)
    k = DEFAULT_K if k is None else k
    if method == "ksg":
        return lambda a, b: ksg_mi(a, b, k=k)
    if method == "binned":
        if x_discrete and y_discrete:
            return lambda a, b: binned_mi(a, b, bins="discrete", bias_correction=True)
        return lambda a, b: binned_mi(a, b, bins=bins)
    if method == "gaussian":
        return lambda a, b: gaussian_mi(a, b, bias_correction=_correctable(a, b))
    if method == "gaussian_copula":
        return lambda a, b: gaussian_copula_mi(a, b, bias_correction=_correctable(a, b))
    if method == "mixed_ksg":
        if y_discrete and not x_discrete:
            return lambda a, b: mixed_ksg_mi(a, b, k=k)
        if x_discrete and not y_discrete:
            return lambda a, b: mixed_ksg_mi(b, a, k=k)
        raise ValueError(
            "method='mixed_ksg' needs exactly one discrete variable (at most 32 distinct "
            f"values); got {'both' if x_discrete else 'neither'} discrete. Use 'binned' with "
            "bins='discrete' for two discrete variables, 'ksg' for two continuous ones."
        )
    raise ValueError(f"Unknown non-neural method {method!r}.")


def _correctable(x, y):
    """Whether the Gaussian bias correction is defined: more samples than dimensions."""
    return x.shape[0] > x.shape[1] + y.shape[1] + 1


def validate_training_arguments(batch_size, max_steps, validation_fraction, eval_every,
                                learning_rate):
    """Raises a ValueError naming the first bad training argument."""
    positive_ints = {"batch_size": batch_size, "max_steps": max_steps, "eval_every": eval_every}
    for name, value in positive_ints.items():
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f"`{name}` must be a positive int, got {name}={value!r}.")
    if batch_size < 2:
        raise ValueError(f"`batch_size` must be >= 2 to form marginal pairs, got {batch_size}.")
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(
            "`validation_fraction` must be in (0, 1), got "
            f"validation_fraction={validation_fraction!r}."
        )
    if not learning_rate > 0:
        raise ValueError(f"`learning_rate` must be > 0, got learning_rate={learning_rate!r}.")
