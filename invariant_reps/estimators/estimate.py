"""`estimate_mi`: one call from paired samples to a diagnosed MI estimate."""

import dataclasses
import math
import warnings


from invariant_reps.estimators import auto
from invariant_reps.estimators import crosscheck
from invariant_reps.estimators import diagnostics
from invariant_reps.estimators import methods as _methods
from invariant_reps.estimators import uncertainty
from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.methods import METHODS
from invariant_reps.estimators.methods import NONPARAMETRIC_METHODS  # noqa: F401
from invariant_reps.estimators.methods import UPPER_BOUND_METHODS
from invariant_reps.estimators.neural import TrainingCurve
from invariant_reps.estimators.preprocessing import PREPROCESSING
from invariant_reps.estimators.preprocessing import transform_marginal

# Warnings that leave `converged` True: the peak was found and reported.
_BENIGN = (diagnostics.OverfittingWarning,)


@dataclasses.dataclass(frozen=True)
class MIEstimate:
    """The result of `estimate_mi`.

    Attributes:
        method: the method asked for (`"auto"` included).
        mi_nats: the estimate in nats. Neural methods: the best smoothed
            held-out value (never training data), read with the critic
            restored to `best_step`.
        std_nats: neural methods: the standard deviation of the bound over
            the held-out batches at the best step; NaN otherwise.
        num_samples: number of `(x, y)` pairs given.
        steps: training steps taken (0 for non-neural methods).
        batch_size: pairs per batch of a neural method, else None.
        converged: True only when nothing casts doubt on the estimate: for
            neural methods the held-out curve reached a plateau (a fall
            after the peak counts, the peak being reported), and for every
            method no warning fired about a negative, non-finite or
            above-ceiling value, a disagreement with a cross-check, an
            upper bound (CLUB, L1Out) far above every cross-check
            (`LooseBoundWarning`), divergence, or data outside the
            method's regime.
        stopped_early: True when training ended before `max_steps`.
        curve: the `TrainingCurve` of a neural method, else None.
        warnings: the texts of the warnings raised for this estimate.
        interval: `(low, high)` confidence interval in nats: from disjoint
            folds for non-neural methods, from the held-out batches for
            neural ones (sampling error only, not bias).
        confidence: the interval's coverage.
        null_nats: the permutation baseline: the estimate on shuffled pairs
            (neural methods: the restored critic's bound on shuffled
            held-out pairs). An interval that reaches it (or 0) means no
            detectable information.
        best_step: neural methods: the step of the reported critic.
        preprocessing: the marginal transform applied first.
        selected_method: the estimator that produced `mi_nats` (with
            `method="auto"`, the one it chose, or `"gaussian_copula"` when
            that lower bound overruled it).
        reason: `method="auto"`: why it chose `selected_method`.
        references: the cross-checks, `crosscheck.Reference` objects.
        ceiling_nats: the known ceiling (`H` of a discrete variable), or None.
    """

    method: str
    mi_nats: float
    std_nats: float
    num_samples: int
    steps: int = 0
    batch_size: int | None = None
    converged: bool = True
    stopped_early: bool = False
    curve: TrainingCurve | None = None
    warnings: tuple = ()
    interval: tuple = (math.nan, math.nan)
    confidence: float = uncertainty.DEFAULT_CONFIDENCE
    null_nats: float = math.nan
    best_step: int | None = None
    preprocessing: str = "none"
    selected_method: str | None = None
    reason: str = ""
    references: tuple = ()
    ceiling_nats: float | None = None

    @property
    def mi_bits(self):
        """The estimate in bits."""
        return self.mi_nats / math.log(2.0)

    @property
    def std_bits(self):
        """`std_nats` in bits."""
        return self.std_nats / math.log(2.0)

    @property
    def consistent_with_independence(self):
        """Whether the interval reaches down to the permutation baseline or to 0."""
        floor = max(0.0, self.null_nats) if math.isfinite(self.null_nats) else 0.0
        low = self.interval[0] if math.isfinite(self.interval[0]) else self.mi_nats
        return bool(low <= floor)


def estimate_mi(
    x,
    y,
    method="smile",
    critic="separable",
    *,
    batch_size=128,
    learning_rate=2e-4,
    max_steps=5000,
    validation_fraction=0.2,
    eval_every=50,
    smoothing_window=5,
    patience=10,
    min_delta=0.01,
    clip=5.0,
    moving_average_rate=0.01,
    k=None,
    bins=16,
    preprocessing=None,
    cross_check=True,
    confidence=uncertainty.DEFAULT_CONFIDENCE,
    seed=None,
    log_dir=None,
    callback=None,
):
    """Estimates `I(X; Y)` in nats from paired samples, with diagnostics.

    Methods (`METHODS`):

    - `"auto"` picks one from the data (`auto.select_method`: kNN in low
      dimension, a critic in high dimension, plug-in for discrete pairs),
      on normal scores, and says which and why (`selected_method`,
      `reason`).
    - Neural lower bounds `"mine"`, `"nwj"`, `"infonce"`, `"smile"` and
      upper bounds `"club"`, `"l1out"` split the samples once into a
      training and a held-out part; the critic (a `GaussianConditional`
      for the upper bounds) trains on the training part only. Every
      `eval_every` steps the bound is averaged over fixed held-out batches;
      training stops at the plateau of the smoothed held-out curve (or at
      a NaN, or `max_steps`), the critic is restored to the best smoothed
      value and that value is reported, with its step. Upper bounds stop
      on the held-out likelihood of `q(y|x)`.
    - `"ksg"`, `"lnc"`, `"mixed_ksg"` (one discrete variable), `"binned"`,
      `"gaussian"` and `"gaussian_copula"` use all samples.

    Every estimate gets a confidence interval, a permutation baseline and,
    with `cross_check=True`, cheap second opinions (`crosscheck.references`).
    Warnings (`MIEstimationWarning` subclasses, also stored in the result)
    flag a negative, non-finite or above-ceiling value (`log N` for
    InfoNCE, `H(Y)` for discrete `Y`), intervals that miss a cross-check,
    heavy tails without `preprocessing="copula"`, an upper bound far above
    every cross-check (it holds but overstates the MI), InfoNCE near its ceiling,
    divergence, overfitting (the peak is reported), a large spread across
    held-out batches, and training that ended before a plateau.

    Args:
        x: `[N, ...]` samples; trailing axes are flattened.
        y: `[N, ...]` samples paired with `x`.
        method: one of `METHODS`.
        critic: `"separable"`, `"concat"`, `"gaussian_residual"`
            (`GaussianResidualCritic`, the choice of `"auto"`) or a `Critic`
            (trained in place).
        batch_size: pairs per batch of a neural method; also the `N` of
            every bound. `"auto"` lowers it so that 4 held-out batches fit.
        learning_rate: Adam step size of the critic.
        max_steps: the most training steps.
        validation_fraction: share of the samples held out, in (0, 1).
        eval_every: training steps between held-out evaluations.
        smoothing_window: evaluations in the held-out moving average.
        patience: evaluations without improvement before stopping.
        min_delta: improvement in nats that resets the patience.
        clip: SMILE's `tau`.
        moving_average_rate: MINE's `alpha`.
        k: neighbours for the kNN methods; None uses 3 for `"ksg"` and
            `"mixed_ksg"`, and the seed's 5 for `"lnc"` (which needs at least
            `d_x + d_y + 1`).
        bins: binning for `"binned"` (see `binned_mi`).
        preprocessing: one of `PREPROCESSING`, or None for the method's
            default: `"standardize"` for neural methods, `"copula"` for
            `"auto"`, `"none"` otherwise. MI is unchanged by either.
        cross_check: compute the references and compare with them.
        confidence: coverage of the intervals, in (0, 1).
        seed: int seeding the split, the batches, the critic, the folds and
            the shuffles.
        log_dir: if given, the curve is written there as TensorBoard scalars
            `mi/<method>/train` and `mi/<method>/heldout`.
        callback: optional `callback(step, train_value, heldout_value)`,
            called at each evaluation.

    Returns:
        An `MIEstimate`.

    Example:
        >>> x, y = correlated_gaussian(5000, dim=1, rho=0.8, seed=0)
        >>> result = estimate_mi(x, np.sinh(y), method="auto", seed=0)
        >>> result.selected_method, result.mi_nats, result.interval  # true 0.511
        ('ksg', 0.51..., (0.47..., 0.55...))
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}.")
    if preprocessing is not None and preprocessing not in PREPROCESSING:
        raise ValueError(
            f"Unknown preprocessing {preprocessing!r}; expected one of {PREPROCESSING} or None."
        )
    options = dict(
        critic=critic, batch_size=batch_size, learning_rate=learning_rate, max_steps=max_steps,
        validation_fraction=validation_fraction, eval_every=eval_every,
        smoothing_window=smoothing_window, patience=patience, min_delta=min_delta, clip=clip,
        moving_average_rate=moving_average_rate, k=k, bins=bins, confidence=confidence,
        seed=seed, log_dir=log_dir, callback=callback,
    )
    if method in _methods.TRAINED_METHODS:
        _methods.validate_training_arguments(
            batch_size, max_steps, validation_fraction, eval_every, learning_rate
        )
    x, y = as_sample_pair(x, y, min_samples=2)
    x_discrete, y_discrete = crosscheck.is_discrete(x), crosscheck.is_discrete(y)
    selection = None
    if method == "auto":
        selection = auto.select_method(x, y, x_discrete, y_discrete)
        run_method, how = selection.method, preprocessing or selection.preprocessing
        options["batch_size"] = _auto_batch_size(x.shape[0], batch_size, validation_fraction)
        if isinstance(critic, str) and critic == "separable":
            options["critic"] = selection.critic
        if clip == 5.0:
            options["clip"] = selection.clip
    else:
        run_method, how = method, preprocessing or _default_preprocessing(method)
    x_in, y_in = _prepare(x, y, how, x_discrete, y_discrete, selection)
    run = _methods.run(run_method, x_in, y_in, x_discrete=x_discrete, y_discrete=y_discrete,
                       **options)

    known_ceiling = crosscheck.ceiling(x, y, x_discrete, y_discrete)
    ceiling_name = "H of the discrete variable"
    if run_method == "infonce" and run.batch_size:
        infonce_ceiling = math.log(options["batch_size"])
        if known_ceiling is None or infonce_ceiling < known_ceiling:
            known_ceiling, ceiling_name = infonce_ceiling, "log(batch_size) for InfoNCE"
    references = []
    if cross_check:
        # A reference identical to the estimate itself is no cross-check.
        skip = {run_method, "ksg_copula" if (run_method, how) == ("ksg", "copula") else ""}
        references = crosscheck.references(
            x, y, x_discrete, y_discrete, skip=skip, confidence=confidence,
            seed=0 if seed is None else seed,
        )
    mi_nats, interval, selected, reason = run.mi_nats, run.interval, run_method, ""
    messages = list(run.messages)
    messages += crosscheck.data_messages(run_method, x_in, y_in, how, x_discrete, y_discrete)
    compared = references
    if run_method == "gaussian":
        # One message says it all: the data are not jointly normal.
        messages += crosscheck.gaussian_normality_messages(mi_nats, interval, references)
        compared = [r for r in references if r.method != "gaussian_copula"]
    messages += crosscheck.check(run_method, mi_nats, interval, compared, known_ceiling,
                                 ceiling_name, upper_bound=run_method in UPPER_BOUND_METHODS)
    messages += crosscheck.non_gaussian_messages(run_method, mi_nats, x, y, references)
    if selection is not None:
        mi_nats, interval, selected, reason = _resolve_auto(
            selection, run_method, mi_nats, interval, references
        )
    converged = run.converged and not any(
        not issubclass(category, _BENIGN) for category, _ in messages
    )
    for category, message in messages:
        warnings.warn(message, category, stacklevel=2)
    return MIEstimate(
        method=method, mi_nats=mi_nats, std_nats=run.std_nats, num_samples=x.shape[0],
        steps=run.steps, batch_size=run.batch_size, converged=converged,
        stopped_early=run.stopped_early, curve=run.curve,
        warnings=tuple(message for _, message in messages), interval=tuple(interval),
        confidence=confidence, null_nats=run.null_nats, best_step=run.best_step,
        preprocessing=how, selected_method=selected, reason=reason,
        references=tuple(references), ceiling_nats=known_ceiling,
    )


def _resolve_auto(selection, run_method, mi_nats, interval, references):
    """What `method="auto"` reports: its estimate, or a larger (near-)lower bound.

    Returns:
        `(mi_nats, interval, selected_method, reason)`.
    """
    reason = selection.reason
    overruling = _lower_bound_above(mi_nats, interval, references)
    if overruling is not None:
        reason += (
            f" Its estimate fell below the {overruling.method} estimate ({overruling.note}) "
            "by more than their intervals, so that estimate is reported instead."
        )
        return overruling.mi_nats, overruling.interval, overruling.method, reason
    bounds_below = [r for r in references if r.lower_bound and math.isfinite(r.mi_nats)]
    best_bound = max(bounds_below, key=lambda r: r.mi_nats, default=None)
    if (run_method in _methods.TRAINED_METHODS and best_bound is not None
            and best_bound.mi_nats > mi_nats):
        # A trained critic's held-out bound is itself (nearly) a lower bound:
        # report the best of the lower bounds.
        reason += (
            f" The {best_bound.method} estimate ({best_bound.note}) came out above the "
            "critic's held-out bound, within their intervals; as both are (nearly) lower "
            "bounds, the larger is reported."
        )
        return best_bound.mi_nats, best_bound.interval, best_bound.method, reason
    return mi_nats, interval, run_method, reason


def _default_preprocessing(method):
    if method in _methods.TRAINED_METHODS:
        return "standardize"
    return "none"


def _prepare(x, y, how, x_discrete, y_discrete, selection):
    """Applies the marginal transform; discrete variables stay as they are."""
    x_out = x if x_discrete else transform_marginal(x, how)
    y_out = y if y_discrete else transform_marginal(y, how)
    if selection is not None and "x" in selection.one_hot:
        x_out = auto.one_hot(x)
    if selection is not None and "y" in selection.one_hot:
        y_out = auto.one_hot(y)
    return x_out, y_out


def _auto_batch_size(num_samples, batch_size, validation_fraction):
    """The largest batch up to `batch_size` that leaves 4 held-out batches."""
    heldout = int(round(validation_fraction * num_samples))
    return int(max(8, min(batch_size, heldout // 4)))


def _lower_bound_above(estimate, interval, references):
    """The largest lower-bound reference whose interval lies above `interval`."""
    above = [
        reference for reference in references
        if reference.lower_bound and math.isfinite(reference.interval[0])
        and (not math.isfinite(estimate) or interval[1] < reference.interval[0])
    ]
    return max(above, key=lambda reference: reference.mi_nats, default=None)
