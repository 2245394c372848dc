"""Shapes: the dSprites subset of DisenIB's supervised-disentangling experiment (spec B.0, B.3).

The seed (`methods/disenib_conv_shapes`) keeps the dSprites images of scale
index 5 and orientation indices {3, 36}, with all 3 shapes (square, ellipse,
heart) x 32 x 32 positions: 6,144 binary 64 x 64 images, label = shape.

The images are read from DeepMind's file
`dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` (github.com/deepmind/dsprites-dataset)
in `--data_dir`; they are not generated here. dSprites' renderer was never
published: the sprite outlines (in particular the heart's), the pixel size of
each scale, the mapping of the 32 positions to pixels and the binarisation
are only known through the file, so a re-rendering would be a different data
set. The file's `imgs` array (737,280 x 64 x 64, factor order color, shape,
scale, orientation, posX, posY with sizes 1, 3, 6, 40, 32, 32) is read in
the 6 blocks the subset needs, streamed from the zip (about 25 MB in memory
instead of the array's 3 GB).

The seed trains on all 6,144 images and evaluates qualitatively; here a
seeded `test_size` fraction is held out as the "test" evaluation set.
"""

import os
import zipfile

import numpy as np

from invariant_reps.data.experiment_data import ArraySplit, ExperimentData, subsample
from invariant_reps.data.registry import register_dataset

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
#: dSprites factors in the file's order and their numbers of values.
FACTOR_SIZES = (1, 3, 6, 40, 32, 32)
SCALE_INDEX = 5
ORIENTATION_INDICES = (3, 36)
SHAPE_NAMES = ("square", "ellipse", "heart")


def _read_header(stream):
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def load_shapes_subset(path, factor_sizes=FACTOR_SIZES, scale_index=SCALE_INDEX,
                       orientation_indices=ORIENTATION_INDICES):
    """The seed's Shapes images and shape labels, read from a dSprites `.npz`.

    Args:
        path: the dSprites file.
        factor_sizes: numbers of values of (color, shape, scale, orientation,
            posX, posY); the file's `imgs` must hold their product of images.
        scale_index: the kept scale.
        orientation_indices: the kept orientations, ascending.

    Returns:
        `(images, labels)`: float32 `[n, H, W, 1]` in {0, 1}, ordered (shape,
        orientation, posX, posY) like the seed's subset, and int64 shape ids.

    Example:
        >>> images, labels = load_shapes_subset("data/" + DSPRITES_FILE)   # (6144, 64, 64, 1), {0, 1, 2}
    """
    colors, shapes, scales, orientations, *positions = factor_sizes
    if colors != 1 or not 0 <= scale_index < scales or not all(0 <= o < orientations for o in orientation_indices):
        raise ValueError(f"Scale {scale_index} / orientations {orientation_indices} out of range for factors "
                         f"{factor_sizes}.")
    per_orientation = int(np.prod(positions))
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path} is not a readable dSprites .npz ({error}).") from None
    with archive, archive.open("imgs.npy") as stream:
        shape, fortran_order, dtype = _read_header(stream)
        if fortran_order or len(shape) != 3 or shape[0] != int(np.prod(factor_sizes)):
            raise ValueError(f"{path}: `imgs` has shape {shape} (fortran order {fortran_order}); expected "
                             f"[{int(np.prod(factor_sizes))}, H, W] in C order.")
        start = stream.tell()
        image_bytes = int(np.prod(shape[1:])) * np.dtype(dtype).itemsize
        blocks, labels = [], []
        for shape_id in range(shapes):
            for orientation in sorted(orientation_indices):
                first = ((shape_id * scales + scale_index) * orientations + orientation) * per_orientation
                stream.seek(start + first * image_bytes)
                data = stream.read(per_orientation * image_bytes)
                blocks.append(np.frombuffer(data, dtype=dtype).reshape((per_orientation,) + tuple(shape[1:])))
                labels.append(np.full(per_orientation, shape_id, np.int64))
    images = np.concatenate(blocks).astype(np.float32)[..., None]
    return images, np.concatenate(labels)


@register_dataset(
    "shapes",
    task="multiclass",
    sensitive="none",
    summary="dSprites subset of DisenIB (scale 5, orientations 3 and 36, 6,144 binary 64x64 images); task = "
    "shape; reads the dSprites .npz from --data_dir",
    evaluation_sets={"test": "held-out Shapes images"},
    metrics=("accuracy",),
)
def build_shapes_data(*, data_dir=None, seed=0, test_size=0.2, validation_fraction=0.0, max_train_examples=0,
                      max_test_examples=0):
    """Builds the `shapes` splits (see the module docstring).

    Args:
        data_dir: directory holding `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`.
        seed: seed of the test/validation split and of subsampling.
        test_size: fraction held out as the test set (in (0, 1)).
        validation_fraction: fraction of the rest held out for validation.
        max_train_examples: keep at most this many training examples (0: all).
        max_test_examples: keep at most this many test examples (0: all).

    Returns:
        An `ExperimentData` with 64 x 64 x 1 inputs in [0, 1] and 3 classes.

    Example:
        >>> data = build_shapes_data(data_dir="data/dsprites")
    """
    path = os.path.join(data_dir or ".", DSPRITES_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"The shapes dataset reads {DSPRITES_FILE} (github.com/deepmind/dsprites-dataset), not found in "
            f"{data_dir or '.'!r}: download it and pass --data_dir=DIR. It cannot be generated: the dSprites "
            "renderer is not published."
        )
    for name, value in (("test_size", test_size), ("validation_fraction", validation_fraction)):
        if not 0.0 <= float(value) < 1.0:
            raise ValueError(f"`{name}` must be in [0, 1); received {value!r}.")
    images, labels = load_shapes_subset(path)
    order = np.random.default_rng(seed).permutation(len(labels))
    num_test = int(round(test_size * len(labels)))
    num_validation = int(round(validation_fraction * (len(labels) - num_test)))
    test, validation, train = np.split(order, [num_test, num_test + num_validation])
    train_x, train_y = subsample(images[np.sort(train)], labels[np.sort(train)], max_train_examples, seed)
    test_x, test_y = subsample(images[np.sort(test)], labels[np.sort(test)], max_test_examples, seed + 1)
    return ExperimentData(
        train=ArraySplit(train_x, train_y),
        validation=ArraySplit(images[np.sort(validation)], labels[np.sort(validation)]) if len(validation) else None,
        tests={"test": ArraySplit(test_x, test_y)},
        input_shape=(64, 64, 1),
        num_classes=len(SHAPE_NAMES),
        source="dsprites",
        task="multiclass",
        sensitive_kind="none",
        sensitive_name="none",
    )
