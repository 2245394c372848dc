"""The dt-tradeoff seed's MINE protocol (Cui et al., ECCV 2022; spec §A.3).

The package's own information dynamics read a critic's bound on held-out
pairs (`information_dynamics`, protocol `"held_out"`). This module
reproduces instead how the seed (`dt-tradeoff:mine.py`) measured I(X;T) and
I(T;Y), so that its numbers can be compared with the paper's:

- **Critic:** `T(a, b) = MLP([a, b])`, three hidden ReLU layers of 1024
  units and one linear output; hidden kernels drawn from N(0, 0.02^2) with
  zero biases, the output layer with PyTorch's `Linear` default
  (kernel and bias U(+-1/sqrt(fan_in))).
- **Sampling, every iteration:** a joint batch of 5,000 rows drawn without
  replacement, and a marginal batch whose `a` part and `b` part come from
  two *other, independent* draws of 5,000 rows (not a shuffle of the joint
  batch).
- **Objective:** MINE with its bias-corrected gradient (Belghazi et al.,
  ICML 2018, sec. 3.2). With `m_0 = 1` and `alpha = 0.01`,

      DV_t  = mean_joint T - log mean_marg e^T                 (the value)
      m_t   = (1 - alpha) m_{t-1} + alpha * mean_marg e^T      (updated first)
      loss  = -(mean_joint T - mean_marg e^T / stopgrad(m_t))  (its gradient)

  so the gradient of the log term is `grad mean e^T / m_t`, as in the seed's
  `log(mean e^T) * stopgrad(mean e^T) / stopgrad(m_t)`. An iteration whose
  loss is not finite is skipped (no update, no recorded value).
- **Optimizer:** Adam (PyTorch's betas and epsilon); I(X;T) with lr 8e-5
  for 10,000 iterations, I(T;Y) with lr 1e-5 for 20,000 (the seed README).
- **Readout:** no held-out data. The reported number is the last entry of
  a moving average (window 500) of the per-iteration training values:
  the mean of the 500 values that end one before the last (`seed_readout`).

Differences from the seed, where it would crash or misbehave: a batch
larger than the data is clamped to it (the seed's draw raises), after a
skipped iteration `m` keeps its value (the seed sets it to 0), and `m` is
kept in log space (same numbers, no overflow). The estimate's `warnings`
report the first, and a readout still drifting between its last two
windows (the seed has no convergence criterion).

The seed's defaults are heavy (a 5,000-row batch through a 3x1024 MLP,
30,000 iterations per checkpoint): hours per checkpoint on a CPU. Every
setting is an argument, so a small run can shrink them; the defaults stay
the seed's.
"""

import dataclasses
import math

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from invariant_reps.estimators import dv_bound
from invariant_reps.estimators import log_mean_exp
from invariant_reps.evaluation.dt_tradeoff_critic import SEED_HIDDEN_UNITS
from invariant_reps.evaluation.dt_tradeoff_critic import SeedMineCritic
from invariant_reps.evaluation.dt_tradeoff_critic import check_positive_int as _check_positive_int

NAME = "dt_tradeoff"
SEED_BATCH_SIZE = 5000
SEED_READOUT_WINDOW = 500
SEED_MOVING_AVERAGE_RATE = 0.01
# Adam as PyTorch builds it (betas (0.9, 0.999), eps 1e-8).
_ADAM_EPSILON = 1e-8


@dataclasses.dataclass(frozen=True)
class DtTradeoffSettings:
    """The seed protocol's settings for one checkpoint (defaults: the seed's).

    Attributes:
        xt_steps: MINE iterations for I(X;T) (seed README: 10,000).
        xt_learning_rate: Adam learning rate for I(X;T) (8e-5).
        ty_steps: MINE iterations for I(T;Y) (20,000).
        ty_learning_rate: Adam learning rate for I(T;Y) (1e-5).
        batch_size: rows per joint and per marginal batch (5,000).
        hidden_units: width of the critic's three hidden layers (1024).
        readout_window: iterations averaged for the readout (500).
        moving_average_rate: MINE's `alpha` (0.01).

    Example:
        >>> tiny = DtTradeoffSettings(xt_steps=50, ty_steps=50, batch_size=64,
        ...                           hidden_units=32, readout_window=10)
    """

    xt_steps: int = 10_000
    xt_learning_rate: float = 8e-5
    ty_steps: int = 20_000
    ty_learning_rate: float = 1e-5
    batch_size: int = SEED_BATCH_SIZE
    hidden_units: int = SEED_HIDDEN_UNITS
    readout_window: int = SEED_READOUT_WINDOW
    moving_average_rate: float = SEED_MOVING_AVERAGE_RATE

    def __post_init__(self):
        for name in ("xt_steps", "ty_steps", "batch_size", "hidden_units", "readout_window"):
            _check_positive_int(name, getattr(self, name), minimum=2 if name == "batch_size" else 1)
        for name in ("xt_learning_rate", "ty_learning_rate"):
            _check_learning_rate(name, getattr(self, name))
        _check_rate(self.moving_average_rate)

    def for_pair(self, pair):
        """`(steps, learning_rate)` of `pair`, `"xt"` or `"ty"`."""
        if pair not in ("xt", "ty"):
            raise ValueError(f"Unknown pair {pair!r}; expected 'xt' or 'ty'.")
        return getattr(self, f"{pair}_steps"), getattr(self, f"{pair}_learning_rate")


@dataclasses.dataclass(frozen=True)
class DtTradeoffEstimate:
    """One estimate of the seed protocol.

    Attributes:
        mi_nats: the readout, `seed_readout(values, readout_window)`.
        values: the per-iteration DV values on the training batches, in
            order, skipped (non-finite) iterations left out as in the seed.
        steps: iterations run (recorded plus skipped).
        skipped_steps: iterations skipped for a non-finite loss.
        batch_size: rows per batch actually used (after clamping).
        learning_rate: Adam learning rate.
        readout_window: the window asked for.
        warnings: texts of what departs from the seed's run (clamped batch,
            skipped iterations, a window longer than the run), and a note
            when the readout window's mean still moves against the window
            before it (the seed has no convergence criterion).
    """

    mi_nats: float
    values: np.ndarray = dataclasses.field(repr=False)
    steps: int
    skipped_steps: int
    batch_size: int
    learning_rate: float
    readout_window: int
    warnings: tuple = ()
    method = "mine (dt_tradeoff protocol)"

    def moving_average(self):
        """The seed's curve: window means `mean(values[i:i+w])`, `i < len - w`."""
        return moving_average(self.values, self.readout_window)


def moving_average(values, window):
    """The seed's `ma`: `[mean(values[i:i + window]) for i in range(len(values) - window)]`.

    Args:
        values: 1-D sequence of numbers.
        window: positive int.

    Returns:
        A 1-D float array of `max(0, len(values) - window)` entries.
    """
    values = np.asarray(values, np.float64)
    count = len(values) - window
    if count <= 0:
        return np.zeros(0)
    sums = np.concatenate([[0.0], np.cumsum(values)])
    return (sums[window:window + count] - sums[:count]) / window


def seed_readout(values, window=SEED_READOUT_WINDOW):
    """The seed's reported number, `ma(values, window)[-1]`.

    That is the mean of the `window` values ending one before the last:
    `mean(values[n - window - 1 : n - 1])`. With `n <= window` values (the
    seed raises), the mean of all but the last value (or the one value).

    Args:
        values: the per-iteration estimates, 1-D.
        window: positive int.

    Returns:
        A float (NaN when `values` is empty).

    Example:
        >>> seed_readout([1.0, 2.0, 3.0, 4.0, 5.0], window=2)  # mean(3, 4)
        3.5
    """
    values = np.asarray(values, np.float64)
    count = len(values)
    if count == 0:
        return math.nan
    if count == 1:
        return float(values[0])
    start = max(0, count - window - 1)
    return float(np.mean(values[start:count - 1]))


def draw_rows(rng, num_rows, batch_size):
    """One iteration's rows: the joint batch and the two halves of the marginal batch.

    Three independent draws of `batch_size` distinct rows each (the seed's
    `sample_batch`): pairs `(a[joint], b[joint])` are joint samples, pairs
    `(a[marginal_a], b[marginal_b])` samples of the product of marginals.

    Args:
        rng: a `numpy.random.Generator`.
        num_rows: rows to draw from.
        batch_size: rows per draw, at most `num_rows`.

    Returns:
        `(joint, marginal_a, marginal_b)`, int arrays `[batch_size]`.
    """
    return tuple(rng.choice(num_rows, batch_size, replace=False) for _ in range(3))


def seed_mine_loss(joint_scores, marginal_scores, log_moving_average, moving_average_rate=SEED_MOVING_AVERAGE_RATE):
    """One MINE iteration of the seed: the loss, the DV value and the new average.

    With `b = mean_marg e^T` and `m_{t-1} = exp(log_moving_average)`:

        m_t   = (1 - alpha) m_{t-1} + alpha b            (no gradient)
        value = mean_joint T - log b                      (DV bound, MINE eq. 10)
        loss  = -(mean_joint T - b / m_t)                 (m_t constant)

    `loss`'s gradient, `-(grad mean_joint T - grad b / m_t)`, is the seed's:
    its `log(b) * stopgrad(b) / stopgrad(m_t)` has gradient `grad b / m_t`.
    The average is kept in log space so that `e^T` cannot overflow it.

    Args:
        joint_scores: critic scores of the joint pairs `[B]`.
        marginal_scores: critic scores of the marginal pairs `[B]`.
        log_moving_average: `log m_{t-1}` (0.0 at the start: `m_0 = 1`).
        moving_average_rate: `alpha` in (0, 1].

    Returns:
        `(loss, value, log m_t)`, scalar tensors.

    Example:
        >>> loss, value, log_m = seed_mine_loss([1.0, 3.0], [0.0, math.log(3.0)], 0.0)
        >>> float(value), math.exp(float(log_m))  # 2 - log 2 = 1.3069, 0.99 + 0.01 * 2 = 1.01
    """
    joint_scores = tf.convert_to_tensor(joint_scores, tf.float32)
    marginal_scores = tf.convert_to_tensor(marginal_scores, tf.float32)
    log_decay = math.log1p(-moving_average_rate) if moving_average_rate < 1 else -math.inf
    log_batch_mean = log_mean_exp(marginal_scores)
    new_log_average = tf.reduce_logsumexp(tf.stack([
        log_decay + tf.cast(log_moving_average, tf.float32),
        math.log(moving_average_rate) + tf.stop_gradient(log_batch_mean),
    ]))
    loss = -(tf.reduce_mean(joint_scores) - tf.exp(log_batch_mean - tf.stop_gradient(new_log_average)))
    return loss, dv_bound(joint_scores, marginal_scores), new_log_average


def dt_tradeoff_mi(a, b, *, steps, learning_rate, batch_size=SEED_BATCH_SIZE, hidden_units=SEED_HIDDEN_UNITS,
                   readout_window=SEED_READOUT_WINDOW, moving_average_rate=SEED_MOVING_AVERAGE_RATE, seed=0):
    """Estimates `I(A; B)` in nats with the seed's MINE protocol.

    Args:
        a: `[N, ...]` samples (flattened), e.g. X or T.
        b: `[N, ...]` samples paired with `a`, e.g. T or one-hot Y.
        steps: MINE iterations (seed: 10,000 for I(X;T), 20,000 for I(T;Y)).
        learning_rate: Adam learning rate (seed: 8e-5, resp. 1e-5).
        batch_size: rows per joint and marginal batch; clamped to `N`.
        hidden_units: width of the critic's three hidden layers.
        readout_window: iterations averaged for the readout.
        moving_average_rate: MINE's `alpha`.
        seed: seed of the critic's initialization and of the row draws.

    Returns:
        A `DtTradeoffEstimate`.

    Raises:
        ValueError: mismatched or too few rows, or a bad setting.

    Example:
        >>> result = dt_tradeoff_mi(x, t, steps=10_000, learning_rate=8e-5)
        >>> result.mi_nats, result.moving_average()[-1] == result.mi_nats
    """
    for name, value in (("steps", steps), ("hidden_units", hidden_units), ("readout_window", readout_window)):
        _check_positive_int(name, value)
    _check_positive_int("batch_size", batch_size, minimum=2)
    _check_learning_rate("learning_rate", learning_rate)
    _check_rate(moving_average_rate)
    a = np.asarray(a, np.float32).reshape(len(a), -1)
    b = np.asarray(b, np.float32).reshape(len(b), -1)
    if len(a) != len(b):
        raise ValueError(f"`a` and `b` differ in length: {len(a)} vs {len(b)}.")
    if len(a) < 2:
        raise ValueError(f"The seed protocol needs at least 2 rows; received {len(a)}.")
    notes = []
    if batch_size > len(a):
        notes.append(f"batch_size={batch_size} exceeds the {len(a)} rows: batches of {len(a)} used "
                     "(the seed would fail).")
        batch_size = len(a)
    rng = np.random.default_rng(seed)
    critic = SeedMineCritic(hidden_units=hidden_units, seed=seed)
    critic.build((None, a.shape[1] + b.shape[1]))
    optimizer = keras.optimizers.Adam(learning_rate, epsilon=_ADAM_EPSILON)
    optimizer.build(critic.trainable_variables)
    a_table, b_table = tf.constant(a), tf.constant(b)

    @tf.function(jit_compile=False)
    def compute(joint, marginal_a, marginal_b, log_average):
        with tf.GradientTape() as tape:
            joint_scores = critic(tf.concat([tf.gather(a_table, joint), tf.gather(b_table, joint)], axis=1))
            marginal_scores = critic(
                tf.concat([tf.gather(a_table, marginal_a), tf.gather(b_table, marginal_b)], axis=1))
            loss, value, new_log_average = seed_mine_loss(
                joint_scores, marginal_scores, log_average, moving_average_rate)
        return value, loss, new_log_average, tape.gradient(loss, critic.trainable_variables)

    @tf.function(jit_compile=False)
    def apply(gradients):
        optimizer.apply_gradients(zip(gradients, critic.trainable_variables))

    values, skipped, log_average = [], 0, tf.constant(0.0)  # m_0 = 1.
    for _ in range(steps):
        value, loss, new_log_average, gradients = compute(*draw_rows(rng, len(a), batch_size), log_average)
        if not math.isfinite(float(loss)):
            skipped += 1
            continue
        apply(gradients)
        log_average = new_log_average
        values.append(float(value))
    if skipped:
        notes.append(f"{skipped} of {steps} iterations had a non-finite loss and were skipped.")
    if len(values) <= readout_window:
        notes.append(f"only {len(values)} iterations recorded for a readout window of {readout_window}: "
                     "the readout averages all but the last (the seed would fail).")
    values = np.asarray(values, np.float64)
    drift = _window_drift(values, readout_window)
    if drift is not None:
        notes.append(drift)
    return DtTradeoffEstimate(
        mi_nats=seed_readout(values, readout_window), values=values, steps=steps, skipped_steps=skipped,
        batch_size=batch_size, learning_rate=float(learning_rate), readout_window=readout_window,
        warnings=tuple(notes),
    )


def plot_dt_tradeoff_curve(estimate, path, title=None):
    """Writes the per-iteration values, their moving average and the readout to a PNG.

    Args:
        estimate: a `DtTradeoffEstimate`.
        path: the PNG file to write.
        title: figure title (default: the settings).

    Returns:
        `path`.
    """
    figure = Figure(figsize=(6.4, 4.0))
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot(np.arange(1, len(estimate.values) + 1), estimate.values, color="tab:blue", alpha=0.4,
              label="training batches")
    average = estimate.moving_average()
    if average.size:
        window = estimate.readout_window
        axes.plot(np.arange(window, window + average.size), average, color="tab:orange",
                  label=f"moving average ({window})")
    if math.isfinite(estimate.mi_nats):
        axes.axhline(estimate.mi_nats, color="tab:orange", linestyle=":",
                     label=f"readout {estimate.mi_nats:.3f} nats")
    axes.set_title(title or f"MINE, dt-tradeoff protocol: {estimate.steps} steps, batch {estimate.batch_size}, "
                   f"lr {estimate.learning_rate:g}", fontsize="small")
    axes.set_xlabel("iteration")
    axes.set_ylabel("DV bound (nats)")
    axes.legend(loc="lower right")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    return path


def _window_drift(values, window, tolerance=0.05):
    """A note when the readout window's mean still moves against the window before it.

    The seed gives no convergence criterion; a readout that differs from the
    previous window's mean by more than `tolerance` of its size (at least
    0.01 nats) was read while the critic was still learning.
    """
    count = len(values)
    if count < 2 * window + 1:
        return None
    readout = float(np.mean(values[count - window - 1:count - 1]))
    previous = float(np.mean(values[count - 2 * window - 1:count - window - 1]))
    if abs(readout - previous) <= max(tolerance * abs(readout), 0.01):
        return None
    direction = "rose" if readout > previous else "fell"
    return (f"not settled: the readout window's mean {direction} from {previous:.3f} to {readout:.3f} nats over the "
            "window before it; more steps (or a higher learning rate) would change the estimate.")


def _check_learning_rate(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be a positive finite number; received {value!r}.")


def _check_rate(value):
    if not 0.0 < value <= 1.0:
        raise ValueError(f"`moving_average_rate` (MINE's alpha) must be in (0, 1]; received {value!r}.")
