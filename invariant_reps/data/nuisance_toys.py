"""2-D toys for decorrelating a binary classifier from a continuous nuisance.

Two generators, each returning `ToyData(x, y, s)`: float32 inputs `x [N, 2]`,
int64 labels `y [N]` (1 = signal, 0 = background) and the float32 nuisance
`s [N]` to decorrelate the classifier's output from.

- `make_seed_toy`: the invariant_reps notebook `toy_MI.ipynb` (spec A.6).
  Class 0: `x ~ N((z, 0), [[1, .5], [.5, 1]])` with `z ~ N(0, 1)` drawn per
  sample (so marginally `x ~ N((0, 0), [[2, .5], [.5, 1]])`); class 1:
  `x ~ N((0, 1.5), I)`. The penalised nuisance is the first input
  coordinate, `s = x[:, 0]`, for both classes (not z).
- `make_pivot_toy`: Louppe, Kagan & Cranmer, "Learning to pivot with
  adversarial networks", NeurIPS 2017, section 5.1. Equal priors; class 0:
  `x ~ N((0, 0), [[1, -.5], [-.5, 1]])`; class 1: `x ~ N((1, 1 + z), I)`.
  The nuisance is `s = z ~ N(0, 1)`, drawn from its prior for *every* event:
  it shifts x_2 of class 1 only and is independent of x in class 0 (the
  paper generates `{x_i, y_i, z_i}` with z from the prior; the spec's text).

The notebook draws a fresh batch at every step: `toy_batch(name, rng)`
reproduces that (512 per class, a random 512 of the 1024), and
`make_toy_dataset` streams such batches as a `tf.data.Dataset`, packed as
`({"inputs": x, "sensitive": s}, y)`, batch `k` a pure function of
`(seed, k)`.

Example:
    >>> x, y, s = make_seed_toy(512, seed=0)
    >>> dataset = make_toy_dataset("seed", seed=0).take(5000)
"""

from typing import NamedTuple

import numpy as np
import tensorflow as tf

from invariant_reps.data import packing

TOYS = ("seed", "pivot")
SEED_TOY_COVARIANCE_0 = ((1.0, 0.5), (0.5, 1.0))
SEED_TOY_MEAN_1 = (0.0, 1.5)
PIVOT_TOY_COVARIANCE_0 = ((1.0, -0.5), (-0.5, 1.0))
PIVOT_TOY_MEAN_1 = (1.0, 1.0)


class ToyData(NamedTuple):
    """Toy arrays; unpacks as `x, y, s = ...`.

    Attributes:
        x: float32 `[N, 2]` inputs.
        y: int64 `[N]` labels, 1 = signal (class 1), 0 = background.
        s: float32 `[N]` continuous nuisance.
    """

    x: np.ndarray
    y: np.ndarray
    s: np.ndarray


def make_seed_toy(num_per_class=512, seed=None):
    """The seed notebook's toy: s = x_1 must not be readable from the output.

    Args:
        num_per_class: events of each class (the notebook: 512).
        seed: int seed or a `np.random.Generator` (None: fresh entropy).

    Returns:
        `ToyData` with `2 * num_per_class` events, class 0 first, then class
        1 (shuffle or use `toy_batch` for training batches).

    Example:
        >>> x, y, s = make_seed_toy(512, seed=0)
        >>> bool(np.all(s == x[:, 0]))  # True
    """
    _check_count(num_per_class, "num_per_class")
    rng = _rng(seed)
    z = rng.standard_normal(num_per_class)
    noise = rng.multivariate_normal((0.0, 0.0), SEED_TOY_COVARIANCE_0, size=num_per_class)
    x0 = noise + np.stack([z, np.zeros_like(z)], axis=1)
    x1 = rng.standard_normal((num_per_class, 2)) + np.asarray(SEED_TOY_MEAN_1)
    x = np.concatenate([x0, x1]).astype(np.float32)
    y = np.repeat(np.array([0, 1], dtype=np.int64), num_per_class)
    return ToyData(x, y, x[:, 0].copy())


def make_pivot_toy(num_per_class=5000, seed=None):
    """Louppe et al.'s pivot toy: s = z shifts x_2 of class 1.

    Args:
        num_per_class: events of each class (equal priors).
        seed: int seed or a `np.random.Generator` (None: fresh entropy).

    Returns:
        `ToyData` with `2 * num_per_class` events, class 0 first; `s = z`,
        drawn from N(0, 1) for both classes.

    Example:
        >>> x, y, s = make_pivot_toy(5000, seed=0)
        >>> np.corrcoef(x[y == 1, 1], s[y == 1])[0, 1]  # ~0.71 (= 1 / sqrt 2)
    """
    _check_count(num_per_class, "num_per_class")
    rng = _rng(seed)
    x0 = rng.multivariate_normal((0.0, 0.0), PIVOT_TOY_COVARIANCE_0, size=num_per_class)
    z = rng.standard_normal(2 * num_per_class)
    x1 = rng.standard_normal((num_per_class, 2)) + np.asarray(PIVOT_TOY_MEAN_1)
    x1[:, 1] += z[num_per_class:]
    x = np.concatenate([x0, x1]).astype(np.float32)
    y = np.repeat(np.array([0, 1], dtype=np.int64), num_per_class)
    return ToyData(x, y, z.astype(np.float32))


def toy_batch(name, rng, batch_size=512, num_per_class=512):
    """One training batch the notebook's way: a random subset of a fresh draw.

    Args:
        name: "seed" or "pivot".
        rng: a `np.random.Generator` (advanced by the call).
        batch_size: events in the batch, at most `2 * num_per_class`.
        num_per_class: events of each class in the fresh draw.

    Returns:
        `ToyData` of `batch_size` events in random order.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x, y, s = toy_batch("seed", rng)   # 512 of 1024 fresh events
    """
    if name not in TOYS:
        raise ValueError(f"Unknown toy {name!r}; valid toys are {list(TOYS)}.")
    _check_count(batch_size, "batch_size")
    _check_count(num_per_class, "num_per_class")
    if batch_size > 2 * num_per_class:
        raise ValueError(
            f"`batch_size` ({batch_size}) cannot exceed the 2 * num_per_class = {2 * num_per_class} drawn events."
        )
    make = make_seed_toy if name == "seed" else make_pivot_toy
    data = make(num_per_class, rng)
    keep = rng.choice(2 * num_per_class, size=batch_size, replace=False)
    return ToyData(*(array[keep] for array in data))


def make_toy_dataset(name, seed=0, batch_size=512, num_per_class=512, num_batches=None):
    """A `tf.data` stream of fresh toy batches, packed for `Model.fit`.

    Batch `k` is `toy_batch(name, np.random.default_rng([seed, k]), ...)`, so
    the stream is reproducible and can be resumed at any step with
    `dataset.skip(k)`.

    Args:
        name: "seed" or "pivot".
        seed: int >= 0.
        batch_size: events per batch.
        num_per_class: events of each class drawn per batch.
        num_batches: length of the stream; None: infinite (use `.take`, or
            `steps_per_epoch` in `fit`).

    Returns:
        A `tf.data.Dataset` of `({"inputs": float32 [B, 2], "sensitive":
        float32 [B]}, float32 [B])` (labels as float for sigmoid
        cross-entropy).

    Example:
        >>> model.fit(make_toy_dataset("seed", seed=0), steps_per_epoch=1000, epochs=5)
    """
    if name not in TOYS:
        raise ValueError(f"Unknown toy {name!r}; valid toys are {list(TOYS)}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"`seed` must be an int >= 0; received {seed!r}.")
    toy_batch(name, np.random.default_rng(0), batch_size, num_per_class)  # validates the sizes

    def draw(step):
        x, y, s = toy_batch(name, np.random.default_rng([int(seed), int(step)]), batch_size, num_per_class)
        return x, y.astype(np.float32), s

    def batch(step):
        x, y, s = tf.numpy_function(draw, [step], (tf.float32, tf.float32, tf.float32), stateful=False)
        x.set_shape([batch_size, 2])
        y.set_shape([batch_size])
        s.set_shape([batch_size])
        return packing.pack(x, y, s)

    steps = tf.data.Dataset.range(num_batches) if num_batches is not None else tf.data.Dataset.counter()
    return steps.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def _rng(seed):
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _check_count(value, name):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"`{name}` must be an int >= 1; received {value!r}.")
