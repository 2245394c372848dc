"""Biased-MNIST with the ReBias protocol (Bahng et al., ICML 2020).

The background colour of each digit is the bias (the sensitive / private
label `s`); the digit is the task label `y`. With correlation `rho`, a
fraction `rho` of each digit's images gets that digit's own colour and the
rest is spread evenly over the 9 other colours. This port follows ReBias's
`ColourBiasedMNIST` (copied unchanged by IRENE and EnD) step by step,
including the order of its NumPy RNG calls, so that a `RandomState(seed)`
here gives the sample -> colour assignment and the final order that
`np.random.seed(seed)` gives there (for the same MNIST ordering).

Images are kept grayscale with a colour id per image; `colourize` (NumPy) or
`colourize_tf` (inside `tf.data`) paints them on demand, which keeps 60k
training images at 47 MB instead of 141 MB.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from invariant_reps.data import sources

NUM_DIGITS = 10
NUM_COLOURS = 10
# The colours not tied to a digit (ReBias `n_confusing_labels`, default 9).
NUM_OTHER_COLOURS = 9

# ReBias `BiasedMNIST.COLOUR_MAP` (RGB); colour c is digit c's own colour.
# Yellow (3) and magenta (4) use 225, not 255, as in the original.
COLOUR_MAP = np.array(
    [
        [255, 0, 0],  # 0 red
        [0, 255, 0],  # 1 green
        [0, 0, 255],  # 2 blue
        [225, 225, 0],  # 3 yellow
        [225, 0, 225],  # 4 magenta
        [0, 255, 255],  # 5 cyan
        [255, 128, 0],  # 6 orange
        [255, 0, 128],  # 7 pink
        [128, 0, 255],  # 8 purple
        [128, 128, 128],  # 9 grey
    ],
    dtype=np.uint8,
)
COLOUR_MAP.setflags(write=False)
_FOREGROUND_VALUE = 255


def assign_colours(labels, rho, rng):
    """Assigns a background colour to every image (ReBias, spec section 1.3).

    For each digit d = 0..9 in order:
        1. shuffle the indices of digit d with `rng`;
        2. n = their count, n_corr = int(n * rho) (truncation) and
           n_dec = ceil((n - n_corr) / 9);
        3. the first n_corr indices get colour d;
        4. shuffle `other = [(d+1) % 10, ..., (d+9) % 10]` with `rng` and give
           the k-th consecutive chunk of n_dec remaining indices colour
           `other[k]` (at high rho only the first few colours get a chunk;
           at rho = 1 there is no chunk). `other` is shuffled even then, as
           the original does, so later RNG draws stay aligned.

    Args:
        labels: int array `[N]` of digits 0..9.
        rho: the colour-digit correlation, in [0, 1].
        rng: a `np.random.RandomState`, advanced in place.

    Returns:
        int64 array `[N]`: the colour id of each image.

    Example:
        >>> colours = assign_colours(labels, 0.99, np.random.RandomState(1))
        >>> np.mean(colours != labels)  # about 1 - rho
    """
    labels = _check_labels(labels)
    colours = np.empty(len(labels), np.int64)
    for colour, indices in enumerate(_indices_by_colour(labels, rho, rng)):
        colours[indices] = colour
    return colours


def _indices_by_colour(labels, rho, rng):
    """`assign_colours`'s work: the image indices of each colour, in order.

    Colour c's list is in the order ReBias concatenates it: by digit, then
    in that digit's shuffled order.
    """
    rho = _check_rho(rho)
    parts_by_colour = [[] for _ in range(NUM_COLOURS)]
    for digit in range(NUM_DIGITS):
        indices = np.where(labels == digit)[0]
        rng.shuffle(indices)
        num_samples = len(indices)
        num_correlated = int(num_samples * rho)
        num_per_other = math.ceil(
            (num_samples - num_correlated) / NUM_OTHER_COLOURS
        )
        parts_by_colour[digit].append(indices[:num_correlated])
        other = np.array(
            [(digit + k) % NUM_COLOURS for k in range(1, NUM_OTHER_COLOURS + 1)]
        )
        rng.shuffle(other)
        if num_per_other == 0:
            continue
        remaining = indices[num_correlated:]
        for chunk, start in enumerate(range(0, len(remaining), num_per_other)):
            parts_by_colour[other[chunk]].append(
                remaining[start : start + num_per_other]
            )
    return [np.concatenate(parts).astype(np.int64) for parts in parts_by_colour]


def colourize(images, colours):
    """Paints grayscale digits white on a coloured background (NumPy).

    ReBias `_binary_to_colour`: a pixel != 0 becomes (255, 255, 255); a
    pixel == 0 becomes `COLOUR_MAP[colour]`. Anti-aliasing is lost.

    Args:
        images: uint8 `[..., H, W]` grayscale images.
        colours: int colour ids 0..9, shape `images.shape[:-2]`.

    Returns:
        uint8 `[..., H, W, 3]` RGB images.

    Example:
        >>> rgb = colourize(images, colours)  # [N, 28, 28, 3]
    """
    images = np.asarray(images)
    colours = np.asarray(colours)
    background = COLOUR_MAP[colours][..., np.newaxis, np.newaxis, :]
    foreground = (images != 0)[..., np.newaxis]
    return np.where(foreground, np.uint8(_FOREGROUND_VALUE), background)


def colourize_tf(images, colours):
    """`colourize` in TensorFlow, for use inside `tf.data.Dataset.map`.

    Args:
        images: uint8 tensor `[..., H, W]`.
        colours: int tensor of colour ids, shape `images.shape[:-2]`.

    Returns:
        uint8 tensor `[..., H, W, 3]`, equal to `colourize(images, colours)`.
    """
    colour_map = tf.constant(COLOUR_MAP)
    background = tf.gather(colour_map, colours)[..., tf.newaxis, tf.newaxis, :]
    foreground = tf.not_equal(images, 0)[..., tf.newaxis]
    return tf.where(
        foreground, tf.constant(_FOREGROUND_VALUE, tf.uint8), background
    )


def normalize_images(images):
    """Maps uint8 pixels to float32 in [-1, 1]: `(x / 255 - 0.5) / 0.5`.

    ReBias's `ToTensor()` then `Normalize(mean=0.5, std=0.5)` per channel.
    """
    return ((np.asarray(images, np.float32) / 255.0 - 0.5) / 0.5).astype(
        np.float32
    )


def normalize_images_tf(images):
    """`normalize_images` in TensorFlow (float32 tensor in [-1, 1])."""
    return (tf.cast(images, tf.float32) / 255.0 - 0.5) / 0.5


@dataclasses.dataclass(frozen=True, eq=False)
class BiasedMNIST:
    """One split of Biased-MNIST, stored grayscale with a colour per image.

    Attributes:
        images: uint8 `[N, 28, 28]` grayscale digits, in ReBias order.
        digits: int64 `[N]` task labels `y`.
        colours: int64 `[N]` background colour ids, the bias / sensitive `s`.
        rho: the colour-digit correlation the split was built with.
        source: the MNIST source used (`"tfds"`, `"idx"`, `"digits"`), or
            None when built from caller arrays.
    """

    images: np.ndarray
    digits: np.ndarray
    colours: np.ndarray
    rho: float
    source: str = None

    def __len__(self):
        return len(self.digits)

    @property
    def bias_aligned(self):
        """Boolean `[N]`: True where the colour is the digit's own colour."""
        return self.colours == self.digits

    @property
    def num_conflicting(self):
        """Number of bias-conflicting images (colour != digit)."""
        return int(np.sum(~self.bias_aligned))

    def rgb_images(self):
        """The coloured uint8 images `[N, 28, 28, 3]` (computed on demand)."""
        return colourize(self.images, self.colours)

    def normalized_rgb_images(self):
        """The coloured images as float32 in [-1, 1], the model's input."""
        return normalize_images(self.rgb_images())


def build_biased_mnist(images, labels, rho, seed=1, source=None):
    """Builds Biased-MNIST from grayscale digits, following ReBias exactly.

    The RNG calls happen in the original's order: `assign_colours` (two
    shuffles per digit), then the images are concatenated colour-major
    (colour 0's images first), then one more shuffle permutes the whole set.
    So `seed=s` reproduces a ReBias run that called `np.random.seed(s)` just
    before building this split from the same MNIST ordering (EnD seeds 42,
    IRENE seeds 1). A ReBias script builds its train then its test set from
    one global RNG; to reproduce the test set too, pass the same
    `np.random.RandomState` to both calls.

    Args:
        images: uint8 `[N, 28, 28]` grayscale digits (0 is background).
        labels: int `[N]` digits 0..9.
        rho: the colour-digit correlation in [0, 1]; 0.1 gives the unbiased
            test set, 1.0 the fully biased one.
        seed: an int seed or a `np.random.RandomState` (used in place).
        source: recorded in the result's `source`.

    Returns:
        A `BiasedMNIST`.

    Example:
        >>> train = build_biased_mnist(images, labels, rho=0.99, seed=1)
        >>> train.num_conflicting
    """
    images = np.asarray(images)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(
            "`images` must be `[N, H, W]` with one row per label; got shape "
            f"{images.shape} for {len(labels)} labels."
        )
    rng = (
        seed
        if isinstance(seed, np.random.RandomState)
        else np.random.RandomState(seed)
    )
    labels = _check_labels(labels)
    indices_by_colour = _indices_by_colour(labels, rho, rng)
    # Colour-major concatenation, as `build_biased_mnist` in ReBias.
    colours = np.repeat(
        np.arange(NUM_COLOURS, dtype=np.int64),
        [len(indices) for indices in indices_by_colour],
    )
    order = np.concatenate(indices_by_colour)
    # The final whole-set shuffle of `BiasedMNIST.__init__`.
    final_shuffle = np.arange(len(order))
    rng.shuffle(final_shuffle)
    return BiasedMNIST(
        images=images[order[final_shuffle]],
        digits=labels[order[final_shuffle]],
        colours=colours[final_shuffle],
        rho=float(rho),
        source=source,
    )


def load_biased_mnist(
    source="auto", split="train", rho=0.99, seed=1, data_dir=None
):
    """Loads a split from `source` and builds Biased-MNIST from it.

    Args:
        source: MNIST source, see `sources.load_mnist`.
        split: `"train"` or `"test"`.
        rho: the colour-digit correlation in [0, 1] (use 0.1 for the
            unbiased test set).
        seed: an int seed or a `np.random.RandomState`.
        data_dir: passed to `sources.load_mnist`.

    Returns:
        A `BiasedMNIST` whose `source` says which source was used.

    Example:
        >>> test = load_biased_mnist("auto", "test", rho=0.1, seed=1)
    """
    _check_rho(rho)
    mnist = sources.load_mnist(source, split, data_dir)
    return build_biased_mnist(
        mnist.images, mnist.labels, rho, seed=seed, source=mnist.source
    )


def _check_rho(rho):
    is_number = isinstance(rho, (int, float, np.integer, np.floating))
    if isinstance(rho, bool) or not is_number or not 0.0 <= rho <= 1.0:
        raise ValueError(f"`rho` must be a number in [0, 1]; got {rho!r}.")
    return float(rho)


def _check_labels(labels):
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            "`labels` must be a 1-D integer array of digits 0..9; got dtype "
            f"{labels.dtype} and shape {labels.shape}."
        )
    bad = np.unique(labels[(labels < 0) | (labels >= NUM_DIGITS)])
    if bad.size:
        raise ValueError(
            f"`labels` must be digits 0..9; got out-of-range values "
            f"{bad[:10].tolist()}."
        )
    return labels.astype(np.int64)
