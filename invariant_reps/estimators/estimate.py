"""`estimate_mi`: one call from paired samples to a diagnosed MI estimate."""

import dataclasses
import math
import warnings

import numpy as np
import tensorflow as tf

from invariant_reps.estimators import diagnostics
from invariant_reps.estimators import nonparametric
from invariant_reps.estimators._samples import as_sample_pair
from invariant_reps.estimators.critics import get_critic
from invariant_reps.estimators.plateau import PlateauDetector
from invariant_reps.estimators.trainer import NEURAL_METHODS
from invariant_reps.estimators.trainer import CriticTrainer

NONPARAMETRIC_METHODS = ("ksg", "binned", "gaussian")
METHODS = NEURAL_METHODS + NONPARAMETRIC_METHODS

# Held-out batches evaluated at each check; caps the cost on large data.
_MAX_HELDOUT_BATCHES = 64


@dataclasses.dataclass(frozen=True)
class TrainingCurve:
    """Estimates in nats at each evaluation step of a neural estimator.

    Attributes:
        steps: training steps at which the curve was evaluated.
        train_nats: mean training-batch bound since the previous evaluation.
        heldout_nats: mean bound over the held-out batches.
    """

    steps: np.ndarray
    train_nats: np.ndarray
    heldout_nats: np.ndarray


@dataclasses.dataclass(frozen=True)
class MIEstimate:
    """The result of `estimate_mi`.

    Attributes:
        method: the estimator used.
        mi_nats: the estimate in nats. Neural methods: the mean of the last
            `smoothing_window` held-out evaluations (never training data).
        std_nats: neural methods: the standard deviation of the bound over
            the held-out batches at the last evaluation; NaN otherwise.
        num_samples: number of `(x, y)` pairs given.
        steps: training steps taken (0 for non-neural methods).
        batch_size: pairs per batch of a neural method, else None.
        converged: True when the plateau test stopped training (always True
            for non-neural methods).
        stopped_early: True when training ended before `max_steps`
            (plateau or divergence).
        curve: the `TrainingCurve` of a neural method, else None.
        warnings: the texts of the warnings raised for this estimate.
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

    @property
    def mi_bits(self):
        """The estimate in bits."""
        return self.mi_nats / math.log(2.0)

    @property
    def std_bits(self):
        """`std_nats` in bits."""
        return self.std_nats / math.log(2.0)


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
    eval_every=100,
    smoothing_window=5,
    patience=10,
    min_delta=0.01,
    clip=5.0,
    moving_average_rate=0.01,
    k=3,
    bins=16,
    seed=None,
    log_dir=None,
    callback=None,
):
    """Estimates `I(X; Y)` in nats from paired samples, with diagnostics.

    Neural methods (`"mine"`, `"nwj"`, `"infonce"`, `"smile"`) split the
    samples once into a training and a held-out part. The critic trains on
    the training part only (`CriticTrainer`); every `eval_every` steps the
    bound is averaged over fixed held-out batches of `batch_size` pairs, and
    that held-out curve both decides when to stop and gives the reported
    number. Training stops at the first of:

    - the plateau test (`PlateauDetector`): the `smoothing_window`-point
      moving average of the held-out curve has not gained more than
      `min_delta` nats for `patience` evaluations, i.e. the critic is as
      well optimized as this learning rate gets it;
    - a NaN or infinite bound (divergence);
    - `max_steps`.

    Warnings (`MIEstimationWarning` subclasses, also stored in the result)
    flag InfoNCE within 10% of its `log(batch_size)` ceiling, divergence, a
    held-out curve that fell well below its best, a large spread across
    held-out batches, and training that hit `max_steps` still improving.

    Non-neural methods (`"ksg"`, `"binned"`, `"gaussian"`) use all samples
    and ignore the training arguments.

    Args:
        x: `[N, ...]` samples; trailing axes are flattened.
        y: `[N, ...]` samples paired with `x`.
        method: one of `METHODS`.
        critic: `"separable"`, `"concat"` or a `Critic` (trained in place).
            A concat critic runs its MLP on `batch_size^2` pairs per step,
            about 50 times slower than a separable one at batch 128 on CPU.
        batch_size: pairs per batch; also the `N` of every bound.
        learning_rate: Adam step size for the critic. 2e-4 is the default because
            it kept every estimator closest to the truth on the 20-D Gaussian
            staircase (bench/mi_estimators.py; 5e-4 left MINE 30% low at 6 nats).
        max_steps: the most training steps.
        validation_fraction: share of the samples held out, in (0, 1).
        eval_every: training steps between held-out evaluations.
        smoothing_window: points in the plateau test's moving average.
        patience: evaluations without improvement before stopping.
        min_delta: improvement in nats that resets the patience.
        clip: SMILE's `tau`.
        moving_average_rate: MINE's `alpha`.
        k: neighbours for `"ksg"`.
        bins: binning for `"binned"` (see `binned_mi`).
        seed: int seeding the split, the batches and the critic.
        log_dir: if given, the curve is written there as TensorBoard scalars
            `mi/<method>/train` and `mi/<method>/heldout`.
        callback: optional `callback(step, train_value, heldout_value)`,
            called at each evaluation (a progress bar, early abort via an
            exception, ...).

    Returns:
        An `MIEstimate`.

    Example:
        >>> x, y = correlated_gaussian(20000, dim=5, rho=0.8, seed=0)
        >>> result = estimate_mi(x, y, method="smile", seed=0)
        >>> result.mi_nats, result.converged  # true value 2.55 nats
        (2.4..., True)
    """
    if method not in METHODS:
        raise ValueError(f"Unknown method {method!r}; expected one of {METHODS}.")
    if method in NONPARAMETRIC_METHODS:
        return _estimate_nonparametric(x, y, method, k=k, bins=bins)
    _validate_training_arguments(
        batch_size, max_steps, validation_fraction, eval_every, learning_rate
    )
    x, y = as_sample_pair(x, y, min_samples=2, dtype=np.float32)
    rng = np.random.default_rng(seed)
    train_indices, heldout_batches = _split(x.shape[0], batch_size, validation_fraction, rng)
    if isinstance(critic, str):
        critic = get_critic(critic, seed=seed)
    trainer = CriticTrainer(
        critic,
        method=method,
        learning_rate=learning_rate,
        clip=clip,
        moving_average_rate=moving_average_rate,
    )
    detector = PlateauDetector(window=smoothing_window, patience=patience, min_delta=min_delta)
    log = _CurveLog(method, log_dir, callback)
    batches = _training_batches(train_indices, batch_size, rng)
    recent_train, heldout_values, divergence, step = [], np.array([math.nan]), None, 0
    try:
        for step in range(1, max_steps + 1):
            indices = next(batches)
            recent_train.append(float(trainer.train_step(x[indices], y[indices])))
            if not math.isfinite(recent_train[-1]):
                divergence = diagnostics.divergence_message(step, recent_train[-1], "training")
                break
            if step % eval_every and step != max_steps:
                continue
            heldout_values = np.array(
                [float(trainer.evaluate(x[batch], y[batch])) for batch in heldout_batches]
            )
            if not np.isfinite(heldout_values).all():
                divergence = diagnostics.divergence_message(
                    step, float(np.mean(heldout_values)), "held-out"
                )
                break
            log.record(step, float(np.mean(recent_train)), float(np.mean(heldout_values)))
            recent_train = []
            if detector.update(log.heldout[-1]):
                break
    finally:
        log.close()

    curve = log.curve()
    mi_nats = float(np.mean(log.heldout[-smoothing_window:])) if log.heldout else math.nan
    std_nats = float(np.std(heldout_values)) if divergence is None else math.nan
    messages = [(diagnostics.UnstableEstimateWarning, divergence)] if divergence else []
    messages += _diagnose(method, mi_nats, std_nats, batch_size, detector, curve)
    if step == max_steps and not detector.plateaued and divergence is None:
        messages.append(
            (diagnostics.NotConvergedWarning,
             diagnostics.not_converged_message(max_steps, _recent_gain(curve, smoothing_window)))
        )
    for category, message in messages:
        warnings.warn(message, category, stacklevel=2)
    return MIEstimate(
        method=method,
        mi_nats=mi_nats,
        std_nats=std_nats,
        num_samples=x.shape[0],
        steps=step,
        batch_size=batch_size,
        converged=detector.plateaued,
        stopped_early=step < max_steps,
        curve=curve,
        warnings=tuple(message for _, message in messages),
    )


class _CurveLog:
    """Collects the curve; forwards each point to TensorBoard and the callback."""

    def __init__(self, method, log_dir, callback):
        self.method = method
        self.callback = callback
        self.steps, self.train, self.heldout = [], [], []
        self._writer = tf.summary.create_file_writer(log_dir) if log_dir is not None else None

    def record(self, step, train_value, heldout_value):
        self.steps.append(step)
        self.train.append(train_value)
        self.heldout.append(heldout_value)
        if self._writer is not None:
            with self._writer.as_default():
                tf.summary.scalar(f"mi/{self.method}/train", train_value, step=step)
                tf.summary.scalar(f"mi/{self.method}/heldout", heldout_value, step=step)
        if self.callback is not None:
            self.callback(step, train_value, heldout_value)

    def close(self):
        if self._writer is not None:
            self._writer.close()

    def curve(self):
        return TrainingCurve(
            steps=np.asarray(self.steps, dtype=np.int64),
            train_nats=np.asarray(self.train, dtype=np.float64),
            heldout_nats=np.asarray(self.heldout, dtype=np.float64),
        )


def _estimate_nonparametric(x, y, method, k, bins):
    if method == "ksg":
        value = nonparametric.ksg_mi(x, y, k=k)
    elif method == "binned":
        value = nonparametric.binned_mi(x, y, bins=bins)
    else:
        value = nonparametric.gaussian_mi(x, y)
    return MIEstimate(method=method, mi_nats=value, std_nats=math.nan, num_samples=len(x))


def _diagnose(method, mi_nats, std_nats, batch_size, detector, curve):
    """Returns `(category, message)` pairs for the finished curve."""
    checks = []
    if math.isfinite(mi_nats):
        if method == "infonce":
            checks.append(
                (diagnostics.InfoNCECeilingWarning,
                 diagnostics.infonce_ceiling_message(mi_nats, batch_size))
            )
        checks.append(
            (diagnostics.UnstableEstimateWarning,
             diagnostics.decline_message(mi_nats, detector.best))
        )
    if math.isfinite(std_nats):
        checks.append(
            (diagnostics.UnstableEstimateWarning, diagnostics.variance_message(std_nats, mi_nats))
        )
    return [(category, message) for category, message in checks if message is not None]


def _recent_gain(curve, window):
    """Rise of the held-out curve between its last two `window`-point means."""
    heldout = curve.heldout_nats
    if heldout.size < 2 * window:
        return math.nan
    return float(np.mean(heldout[-window:]) - np.mean(heldout[-2 * window : -window]))


def _split(num_samples, batch_size, validation_fraction, rng):
    """Shuffles once; returns training indices and held-out index batches."""
    order = rng.permutation(num_samples)
    num_heldout = int(round(validation_fraction * num_samples))
    num_train = num_samples - num_heldout
    if num_heldout < batch_size or num_train < batch_size:
        raise ValueError(
            f"{num_samples} samples with validation_fraction={validation_fraction} give "
            f"{num_train} training and {num_heldout} held-out samples; both need at "
            f"least batch_size={batch_size}. Pass more samples or a smaller batch_size."
        )
    heldout, train = order[:num_heldout], order[num_heldout:]
    # Whole batches only: every bound depends on the batch size.
    num_batches = min(num_heldout // batch_size, _MAX_HELDOUT_BATCHES)
    heldout_batches = [
        heldout[i * batch_size : (i + 1) * batch_size] for i in range(num_batches)
    ]
    return train, heldout_batches


def _training_batches(train_indices, batch_size, rng):
    """Yields index batches forever, reshuffling at each epoch."""
    while True:
        order = rng.permutation(train_indices)
        for start in range(0, order.size - batch_size + 1, batch_size):
            yield order[start : start + batch_size]


def _validate_training_arguments(
    batch_size, max_steps, validation_fraction, eval_every, learning_rate
):
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
