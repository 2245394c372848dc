"""A HEP-like B-decay sample whose classifier sculpts the background M_bc.

Stands in for the seed's Belle II b -> s gamma vs continuum data (spec A.1,
none of which is public). Each event has a label (1 = signal B decay,
0 = continuum background), the beam-constrained mass M_bc (the nuisance `s`),
Delta E, an event weight and `num_features` classifier inputs.

Distributions (all exact: inverse-CDF sampling of the truncated shapes, in
`hep_mass_shapes.py`):
    - M_bc in [5.2425, 5.29] GeV. Background: ARGUS,
      `f(m) ~ m (1 - m^2/c^2)^p exp(-chi^2/2 (1 - m^2/c^2))` with endpoint
      c = 5.29, p = 0.5 and chi = sqrt(40) ~ 6.32 (exponent -20 (1 - m^2/c^2):
      a typical continuum shape, rising away from the endpoint; chi ~ 20
      would pile the background up at 5.283 GeV, on the signal peak). Signal:
      Crystal Ball with the seed's fit values alpha = 1.277, n = 11.66,
      mu = 5.27934, sigma = 0.003135 (spec A.7). Both truncated to the window.
    - Delta E in [-0.3, 0.2] GeV. Signal: 80 % N(0, 0.03) + 20 % N(-0.06,
      0.09) (a low-side tail), truncated; background: linear, density
      proportional to 1 - 0.8 Delta E.
    - Features (no standardisation is applied: every feature is O(1) by
      construction, mean within ~1 of 0 and spread ~1). With
      `v = 2 (M_bc - 5.2425) / 0.0475 - 1` in [-1, 1] and `k = num_features`:
        * `mass_correlated` (k // 4): `h_j(v) + noise` where h_j cycles over a
          B-momentum proxy `2 sqrt((1 - m^2/c^2) / (1 - 5.2425^2/c^2)) - 1`,
          a bump at the signal mass, `sin(2.5 v)` and `tanh(3 v)`. Background:
          `h_j(v) + 0.5 eps`; signal: `0.5 h_j(v) + 0.4 + 0.5 eps`. A
          classifier that uses them learns the signal's narrow M_bc, so the
          background it selects peaks under the signal (sculpting).
        * `discriminating` (k // 2): mass-independent, correlated (rho = 0.3)
          Gaussians; background N(0, 1), signal mean `+-0.9 * 0.75^j`,
          spread 0.8.
        * `noise` (the rest): N(0, 1) for both classes.
      Columns are in that order; `feature_groups(k)` gives the indices.
    - Weights: `luminosity_weights[y] * exp(0.1 eps - 0.005)` (a per-class
      luminosity weight times a ~10 % per-event correction, mean-preserving).

Events are generated in chunks of `chunk_size`; chunk `i` is a pure function
of `(seed, i, chunk_size, config)`, so `make_arrays(n)` is a prefix of
`make_arrays(m)` for n < m, and `make_hep_dataset` streams the same events
holding O(chunk_size) of them in memory.

Example:
    >>> x, y, s, delta_e, w = make_arrays(100_000, seed=0)
    >>> train = make_hep_dataset(5_000_000, 1024, seed=0, with_weights=True)
"""

import dataclasses
import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf
from scipy import special

from invariant_reps.data import packing
from invariant_reps.data.hep_mass_shapes import (  # noqa: F401  (argus_pdf, crystal_ball_pdf: re-exported)
    MBC_RANGE,
    argus_pdf,
    crystal_ball_pdf,
    sample_argus,
    sample_crystal_ball,
)
DELTA_E_RANGE = (-0.3, 0.2)
DEFAULT_CHUNK_SIZE = 65536
_SIGNAL_DELTA_E = ((0.8, 0.0, 0.03), (0.2, -0.06, 0.09))  # (fraction, mean, sigma)
_BACKGROUND_DELTA_E_SLOPE = -0.8


@dataclasses.dataclass(frozen=True)
class HEPConfig:
    """Parameters of the HEP-like sample (see the module docstring).

    Attributes:
        num_features: classifier inputs k (k // 4 mass-correlated, k // 2
            discriminating, the rest noise).
        signal_fraction: the probability that an event is signal.
        argus_chi, argus_p, argus_endpoint: background M_bc shape (chi, p, c).
        cb_alpha, cb_n, cb_mean, cb_sigma: signal M_bc Crystal Ball.
        mass_range: the M_bc window (GeV) both shapes are truncated to.
        luminosity_weights: per-class weights (background, signal).
        weight_spread: sd of the log-normal per-event weight factor.
        mass_feature_noise: sd of the noise on the mass-correlated features
            (larger: weaker mass information, less sculpting).
    """

    num_features: int = 16
    signal_fraction: float = 0.5
    argus_chi: float = math.sqrt(40.0)
    argus_p: float = 0.5
    argus_endpoint: float = 5.29
    cb_alpha: float = 1.277
    cb_n: float = 11.66
    cb_mean: float = 5.27934
    cb_sigma: float = 0.003135
    mass_range: tuple = MBC_RANGE
    luminosity_weights: tuple = (1.0, 0.5)  # (background, signal)
    weight_spread: float = 0.1
    mass_feature_noise: float = 0.5

    def __post_init__(self):
        if isinstance(self.num_features, bool) or not isinstance(self.num_features, (int, np.integer)) or not (
            6 <= self.num_features <= 1024
        ):
            raise ValueError(f"`num_features` must be an int in [6, 1024]; received {self.num_features!r}.")
        if not 0.0 < self.signal_fraction < 1.0:
            raise ValueError(f"`signal_fraction` must be in (0, 1); received {self.signal_fraction!r}.")
        low, high = self.mass_range
        if not low < high <= self.argus_endpoint:
            raise ValueError(
                f"`mass_range` must satisfy low < high <= argus_endpoint ({self.argus_endpoint}); "
                f"received {self.mass_range!r}."
            )
        for name in ("argus_chi", "cb_alpha", "cb_sigma", "mass_feature_noise"):
            if not getattr(self, name) > 0:
                raise ValueError(f"`{name}` must be > 0; received {getattr(self, name)!r}.")
        if not (self.argus_p > -1 and self.cb_n > 1 and self.weight_spread >= 0):
            raise ValueError(
                f"Need argus_p > -1, cb_n > 1, weight_spread >= 0; received {self.argus_p!r}, "
                f"{self.cb_n!r}, {self.weight_spread!r}."
            )
        if len(self.luminosity_weights) != 2 or not all(w > 0 for w in self.luminosity_weights):
            raise ValueError(
                f"`luminosity_weights` must be two positive numbers (background, signal); "
                f"received {self.luminosity_weights!r}."
            )


class HEPSample(NamedTuple):
    """One block of events; unpacks as `x, y, s, delta_e, weights = ...`.

    Attributes:
        x: float32 `[N, num_features]` classifier inputs.
        y: int64 `[N]`, 1 = signal, 0 = background.
        s: float64 `[N]` M_bc in GeV, the nuisance.
        delta_e: float64 `[N]` Delta E in GeV.
        weights: float64 `[N]` positive event weights.
    """

    x: np.ndarray
    y: np.ndarray
    s: np.ndarray
    delta_e: np.ndarray
    weights: np.ndarray


# ------------------------------------------------------------------- features
def feature_groups(num_features=16):
    """Column indices of each feature group, in column order.

    Returns:
        dict `{"mass_correlated": [...], "discriminating": [...], "noise": [...]}`.

    Example:
        >>> feature_groups(16)["mass_correlated"]  # [0, 1, 2, 3]
    """
    HEPConfig(num_features=num_features)  # validates
    n_mass, n_disc = num_features // 4, num_features // 2
    return {
        "mass_correlated": list(range(n_mass)),
        "discriminating": list(range(n_mass, n_mass + n_disc)),
        "noise": list(range(n_mass + n_disc, num_features)),
    }


def _mass_shapes(m, config):
    low, high = config.mass_range
    v = 2.0 * (m - low) / (high - low) - 1.0
    v_signal = 2.0 * (config.cb_mean - low) / (high - low) - 1.0
    c = config.argus_endpoint
    momentum = 2.0 * np.sqrt(np.maximum(1.0 - (m / c) ** 2, 0.0) / (1.0 - (low / c) ** 2)) - 1.0
    bump = 2.0 * np.exp(-(((v - v_signal) / 0.4) ** 2)) - 1.0
    return np.stack([momentum, bump, np.sin(2.5 * v), np.tanh(3.0 * v)], axis=1)


def _delta_e(rng, y):
    low, high = DELTA_E_RANGE
    out = np.empty(len(y))
    signal = y == 1
    fraction, _, _ = _SIGNAL_DELTA_E[0]
    core = rng.random(len(y)) < fraction
    for component, (_, mean, sigma) in zip((core, ~core), _SIGNAL_DELTA_E):
        chosen = signal & component
        p_low, p_high = special.ndtr((low - mean) / sigma), special.ndtr((high - mean) / sigma)
        out[chosen] = mean + sigma * special.ndtri(p_low + (p_high - p_low) * rng.random(chosen.sum()))
    # Background: density a + b e on [low, high]; invert the quadratic CDF.
    a, b = 1.0, _BACKGROUND_DELTA_E_SLOPE
    total = a * (high - low) + 0.5 * b * (high**2 - low**2)
    target = total * rng.random((~signal).sum()) + a * low + 0.5 * b * low**2
    out[~signal] = (-a + np.sqrt(a**2 + 2.0 * b * target)) / b
    return np.clip(out, low, high)


def generate_chunk(chunk_index, seed=0, chunk_size=DEFAULT_CHUNK_SIZE, config=None):
    """Generates chunk `chunk_index`: events `[i * chunk_size, (i + 1) * chunk_size)`.

    Args:
        chunk_index: int >= 0.
        seed: int >= 0.
        chunk_size: events per chunk.
        config: a `HEPConfig` (None: defaults).

    Returns:
        A `HEPSample` of `chunk_size` events, a pure function of the arguments.

    Example:
        >>> first = generate_chunk(0, seed=3)
    """
    config = config or HEPConfig()
    for name, value, minimum in (("chunk_index", chunk_index, 0), ("seed", seed, 0)):
        _check_int(value, name, minimum)
    _check_int(chunk_size, "chunk_size", 1)
    rng = np.random.default_rng([int(seed), int(chunk_index)])
    n = chunk_size
    y = (rng.random(n) < config.signal_fraction).astype(np.int64)
    signal = y == 1
    mass = np.empty(n)
    mass[signal] = sample_crystal_ball(
        rng, signal.sum(), config.cb_alpha, config.cb_n, config.cb_mean, config.cb_sigma, config.mass_range
    )
    mass[~signal] = sample_argus(
        rng, (~signal).sum(), config.argus_chi, config.argus_p, config.argus_endpoint, config.mass_range
    )
    delta_e = _delta_e(rng, y)
    groups = feature_groups(config.num_features)
    n_mass, n_disc = len(groups["mass_correlated"]), len(groups["discriminating"])
    shapes = _mass_shapes(mass, config)[:, np.arange(n_mass) % 4]
    noise = config.mass_feature_noise * rng.standard_normal((n, n_mass))
    mass_features = np.where(signal[:, None], 0.5 * shapes + 0.4, shapes) + noise
    rho = 0.3
    common = rng.standard_normal((n, 1))
    disc = math.sqrt(rho) * common + math.sqrt(1.0 - rho) * rng.standard_normal((n, n_disc))
    shift = 0.9 * 0.75 ** np.arange(n_disc) * np.where(np.arange(n_disc) % 2 == 0, 1.0, -1.0)
    disc = np.where(signal[:, None], 0.8 * disc + shift, disc)
    pure_noise = rng.standard_normal((n, len(groups["noise"])))
    x = np.concatenate([mass_features, disc, pure_noise], axis=1).astype(np.float32)
    spread = config.weight_spread
    weights = np.asarray(config.luminosity_weights)[y] * np.exp(spread * rng.standard_normal(n) - 0.5 * spread**2)
    return HEPSample(x, y, mass, delta_e, weights)


def iterate_chunks(num_events, seed=0, chunk_size=DEFAULT_CHUNK_SIZE, config=None):
    """Yields `HEPSample` chunks covering the first `num_events` events.

    Every chunk has `chunk_size` events except the last, which is cut to
    what remains. Only one chunk is alive at a time.

    Example:
        >>> for x, y, s, delta_e, w in iterate_chunks(10_000_000, seed=0): ...
    """
    _check_int(num_events, "num_events", 1)
    _check_int(chunk_size, "chunk_size", 1)
    for index in range(-(-num_events // chunk_size)):
        chunk = generate_chunk(index, seed, chunk_size, config)
        keep = min(chunk_size, num_events - index * chunk_size)
        yield HEPSample(*(array[:keep] for array in chunk))


def make_arrays(num_events, seed=0, chunk_size=DEFAULT_CHUNK_SIZE, config=None, **config_overrides):
    """All `num_events` events in memory (the concatenated `iterate_chunks`).

    Args:
        num_events: int >= 1.
        seed: int >= 0.
        chunk_size: must match the streaming pipeline's for equal events.
        config: a `HEPConfig` (None: defaults).
        **config_overrides: `HEPConfig` fields replacing those of `config`.

    Returns:
        A `HEPSample` `(x, y, s, delta_e, weights)`.

    Example:
        >>> x, y, mbc, delta_e, w = make_arrays(20_000, seed=1, num_features=24)
    """
    config = dataclasses.replace(config or HEPConfig(), **config_overrides)
    chunks = list(iterate_chunks(num_events, seed, chunk_size, config))
    return HEPSample(*(np.concatenate(arrays) for arrays in zip(*chunks)))


def make_hep_dataset(
    num_events,
    batch_size,
    seed=0,
    *,
    with_weights=False,
    drop_remainder=False,
    chunk_size=DEFAULT_CHUNK_SIZE,
    config=None,
    **config_overrides,
):
    """A `tf.data` pipeline of packed batches, generated chunk by chunk.

    The events, in order, are those of `make_arrays(num_events, seed,
    chunk_size, config)` (already in random order: events are i.i.d.), with
    at most a couple of chunks in memory.

    Args:
        num_events: int >= 1.
        batch_size: events per batch.
        seed: int >= 0.
        with_weights: also yield the event weights, as Keras's sample weights.
        drop_remainder: drop the last, smaller batch.
        chunk_size: events generated at a time.
        config: a `HEPConfig`; `**config_overrides` replace its fields.

    Returns:
        A `tf.data.Dataset` of `({"inputs": float32 [B, k], "sensitive":
        float32 [B] (M_bc)}, float32 [B] labels)`, plus float32 `[B]` weights
        as a third element when `with_weights`.

    Example:
        >>> data = make_hep_dataset(2_000_000, 1024, seed=0, with_weights=True)
        >>> model.fit(data, epochs=3)
    """
    config = dataclasses.replace(config or HEPConfig(), **config_overrides)
    for name, value, minimum in (("num_events", num_events, 1), ("batch_size", batch_size, 1), ("seed", seed, 0)):
        _check_int(value, name, minimum)
    _check_int(chunk_size, "chunk_size", 1)
    num_chunks = -(-num_events // chunk_size)

    def chunk(index):
        index = int(index)
        x, y, s, _, w = generate_chunk(index, seed, chunk_size, config)
        keep = min(chunk_size, num_events - index * chunk_size)
        return x[:keep], y[:keep].astype(np.float32), s[:keep].astype(np.float32), w[:keep].astype(np.float32)

    def load(index):
        x, y, s, w = tf.numpy_function(chunk, [index], (tf.float32,) * 4, stateful=False)
        x.set_shape([None, config.num_features])
        for tensor in (y, s, w):
            tensor.set_shape([None])
        return x, y, s, w

    def to_batch(x, y, s, w):
        inputs, targets = packing.pack(x, y, s)
        return (inputs, targets, w) if with_weights else (inputs, targets)

    dataset = tf.data.Dataset.range(num_chunks).map(load).prefetch(1)
    dataset = dataset.rebatch(batch_size, drop_remainder=drop_remainder)
    num_batches = num_events // batch_size if drop_remainder else -(-num_events // batch_size)
    dataset = dataset.apply(tf.data.experimental.assert_cardinality(num_batches))
    return dataset.map(to_batch).prefetch(tf.data.AUTOTUNE)


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"`{name}` must be an int >= {minimum}; received {value!r}.")
