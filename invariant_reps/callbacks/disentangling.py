"""Disentangling pictures of DisenIB: `Rec(style of image i, label of image j)` on a grid.

The seed's qualitative evaluation (`vis_grid_disentangling`): for `n`
images, row `i` keeps the style code of image `i` and column `j` takes the
label of image `j`. The top row shows the images whose labels are used, the
left column the images whose styles are used:

    [  (blank)  | x_0        x_1        ...  ]
    [   x_0     | Rec(0, 0)  Rec(0, 1)  ...  ]
    [   x_1     | Rec(1, 0)  Rec(1, 1)  ...  ]

A good disentangling keeps the handwriting style along a row and the digit
along a column. `DisentanglingPictures` renders the grid every N training
batches and at the end of training, as a PNG (matplotlib, no pyplot state)
and as a TensorBoard image summary.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

#: Width in pixels of the white lines between the header and the grid (the seed's `gap_size`).
GAP = 3


def _as_images(array, image_shape):
    array = np.asarray(array, dtype=np.float32)
    return array.reshape((-1,) + tuple(image_shape))


def infer_image_shape(input_shape):
    """`(H, W, C)` to draw one input: images as they are, flat `d = s^2` inputs as `s x s`, else one row."""
    input_shape = tuple(input_shape)
    if len(input_shape) == 3:
        return input_shape
    if len(input_shape) == 2:
        return input_shape + (1,)
    size = math.prod(input_shape)
    side = math.isqrt(size)
    return (side, side, 1) if side * side == size else (1, size, 1)


def disentangling_grid(images, reconstructions, value_range=(0.0, 1.0), image_shape=None, gap=GAP):
    """Composes the seed's grid as one image in [0, 1].

    Args:
        images: `[n, ...]` the inputs (styles come from row i, labels from column j).
        reconstructions: `[n, n, ...]`, `reconstructions[i, j] = Rec(E_s(x_i), y_j)`.
        value_range: `(lo, hi)` of the input scale, mapped to [0, 1] (values clipped).
        image_shape: `(H, W, C)` of one input; inferred from the input shape by default.
        gap: width of the white separating lines.

    Returns:
        float32 `[(n + 1) H + gap, (n + 1) W + gap, C]`.

    Example:
        >>> grid = disentangling_grid(x[:10], model.swap_reconstructions(x[:10], y[:10]), (-1, 1))
    """
    images = np.asarray(images)
    count = len(images)
    reconstructions = np.asarray(reconstructions)
    if reconstructions.shape[:2] != (count, count):
        raise ValueError(
            f"`reconstructions` must be [n, n, ...] for n = {count} images; got shape {reconstructions.shape}."
        )
    image_shape = tuple(image_shape or infer_image_shape(images.shape[1:]))
    low, high = (float(v) for v in value_range)
    if not high > low:
        raise ValueError(f"`value_range` must be (lo, hi) with hi > lo; received {value_range!r}.")

    def scaled(array):
        return np.clip((_as_images(array, image_shape) - low) / (high - low), 0.0, 1.0)

    height, width, channels = image_shape
    tiles = scaled(images)
    cells = scaled(reconstructions.reshape((count * count,) + images.shape[1:]))
    grid = np.ones(((count + 1) * height + gap, (count + 1) * width + gap, channels), np.float32)
    grid[:height, :width] = 0.0  # the blank corner
    for j in range(count):
        grid[:height, width + gap + j * width: width + gap + (j + 1) * width] = tiles[j]
    for i in range(count):
        top = height + gap + i * height
        grid[top: top + height, :width] = tiles[i]
        for j in range(count):
            left = width + gap + j * width
            grid[top: top + height, left: left + width] = cells[i * count + j]
    return grid


def save_grid_png(grid, path, title=None):
    """Writes a `[H, W, C]` grid in [0, 1] as a PNG with matplotlib's object API (no pyplot)."""
    figure = Figure(figsize=(max(2.0, grid.shape[1] / 50), max(2.0, grid.shape[0] / 50 + (0.3 if title else 0))))
    FigureCanvasAgg(figure)
    axes = figure.add_axes([0, 0, 1, 0.94 if title else 1])
    image = grid[..., 0] if grid.shape[-1] == 1 else grid
    axes.imshow(image, cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
    axes.axis("off")
    if title:
        figure.suptitle(title, fontsize=8)
    figure.savefig(path, dpi=100)


class DisentanglingPictures(keras.callbacks.Callback):
    """Renders `Rec(style of image i, label of image j)` every `every_n_batches` batches and at the end.

    The model must have `swap_reconstructions(x, y) -> [n, n, ...]` (DisenIB
    has). Files are `<output_dir>/iteration_<k>.png` with `k` the number of
    training batches (main iterations) so far; with `tensorboard_dir`, the grid
    is also written as the image summary `disentangling` at step `k`.

    Args:
        images: `[n, ...]` fixed inputs (the seed: 10).
        labels: `[n]` their labels.
        output_dir: directory of the PNG files (created).
        every_n_batches: period in training batches (> 0).
        tensorboard_dir: optional TensorBoard log directory.
        value_range: `(lo, hi)` input scale; inferred ((-1, 1) when an input
            is negative, else (0, 1)) by default.
        image_shape: `(H, W, C)` to draw one input; inferred by default.

    Example:
        >>> pictures = DisentanglingPictures(x[:10], y[:10], "runs/disenib/disentangling", 5000)
        >>> model.fit(x, y, callbacks=[pictures])
    """

    def __init__(self, images, labels, output_dir, every_n_batches=5000, tensorboard_dir=None,
                 value_range=None, image_shape=None):
        super().__init__()
        if isinstance(every_n_batches, bool) or not isinstance(every_n_batches, (int, np.integer)) \
                or every_n_batches < 1:
            raise ValueError(f"`every_n_batches` must be a positive int; received {every_n_batches!r}.")
        self.images = np.asarray(images, np.float32)
        self.labels = np.asarray(labels).reshape(-1)
        if len(self.images) != len(self.labels) or not len(self.images):
            raise ValueError(
                f"`images` and `labels` must be non-empty with one label per image; got {len(self.images)} "
                f"images and {len(self.labels)} labels."
            )
        self.output_dir = output_dir
        self.every_n_batches = int(every_n_batches)
        self.tensorboard_dir = tensorboard_dir
        self.value_range = value_range or ((-1.0, 1.0) if self.images.min() < 0 else (0.0, 1.0))
        self.image_shape = image_shape
        self._writer = None
        self._last = None
        self.paths = []

    def _iteration(self):
        return int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))

    def on_train_batch_end(self, batch, logs=None):
        iteration = self._iteration()
        if iteration % self.every_n_batches == 0:
            self.render(iteration)

    def on_train_end(self, logs=None):
        iteration = self._iteration()
        if iteration != self._last:
            self.render(iteration)

    def render(self, iteration):
        """Draws the grid for the model's current weights; returns the PNG's path."""
        grid = disentangling_grid(
            self.images, self.model.swap_reconstructions(self.images, self.labels), self.value_range,
            self.image_shape,
        )
        os.makedirs(self.output_dir, exist_ok=True)
        path = os.path.join(self.output_dir, f"iteration_{iteration:07d}.png")
        save_grid_png(grid, path, title=f"iteration {iteration}: rows = style of image i, columns = label of "
                                        "image j")
        if self.tensorboard_dir:
            if self._writer is None:
                self._writer = tf.summary.create_file_writer(self.tensorboard_dir)
            with self._writer.as_default():
                tf.summary.image("disentangling", grid[None], step=iteration)
            self._writer.flush()
        self._last = iteration
        self.paths.append(path)
        return path


def example_images(x, y=None, count=10):
    """Up to `count` examples `(images, labels)` of a `fit` input, one per label first.

    Args:
        x: what `fit` receives: a `tf.data.Dataset` of `(inputs, y[, w])`
            batches, a packed dict `{"inputs": ...}`, or an array.
        y: labels when `x` is not a dataset.
        count: number of examples.

    Returns:
        `(images, labels)` NumPy arrays, or None when none can be read.
    """
    if isinstance(x, tf.data.Dataset):
        element = next(iter(x.take(1)), None)
        if element is None:
            return None
        x, y, _ = keras.utils.unpack_x_y_sample_weight(element)
    if isinstance(x, dict):
        x = x.get("inputs")
    if x is None or y is None:
        return None
    x, y = np.asarray(x)[:1000], np.asarray(y).reshape(-1)[:1000]
    first = [int(np.flatnonzero(y == label)[0]) for label in np.unique(y)][:count]
    rest = [i for i in range(len(y)) if i not in set(first)][: count - len(first)]
    chosen = sorted(first + rest)
    return x[chosen], y[chosen]


def attach_pictures(model, callbacks, x, y, every_n_batches, count=10):
    """Adds a `DisentanglingPictures` to `callbacks` when `fit` writes TensorBoard events.

    Used by `DisenIB.fit`: with a `keras.callbacks.TensorBoard` in the list
    (as the train command adds, at `<run dir>/tensorboard`), the pictures go
    to `<run dir>/disentangling/` and to the summary `disentangling` under
    `<tensorboard dir>/disentangling`. Nothing is added when
    `every_n_batches` is 0, when a `DisentanglingPictures` is already there,
    or without TensorBoard.

    Returns:
        The (possibly extended) list of callbacks.
    """
    if every_n_batches <= 0 or any(isinstance(c, DisentanglingPictures) for c in callbacks):
        return callbacks
    board = next((c for c in callbacks if isinstance(c, keras.callbacks.TensorBoard)), None)
    if board is None:
        return callbacks
    examples = example_images(x, y, count)
    if examples is None:
        return callbacks
    run_dir = os.path.dirname(os.path.normpath(board.log_dir))
    return callbacks + [DisentanglingPictures(
        *examples, os.path.join(run_dir, "disentangling"), every_n_batches,
        tensorboard_dir=os.path.join(board.log_dir, "disentangling"),
    )]
