import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.data import biased_mnist

# MNIST train class sizes, digits 0..9.
MNIST_TRAIN_SIZES = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
# MNIST test (t10k) class sizes.
MNIST_TEST_SIZES = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _labels_with_sizes(sizes, seed=0):
    labels = np.repeat(np.arange(10), sizes)
    return np.random.RandomState(seed).permutation(labels)


def _rebias_reference(labels, rho):
    """A line-by-line transcription of ReBias's `BiasedMNIST` index logic,
    with the global NumPy RNG and Python lists, as in the original."""
    bias_indices = {label: [] for label in range(10)}
    for label in range(10):
        indices = np.where(labels == label)[0]
        np.random.shuffle(indices)
        n_samples = len(indices)
        n_correlated = int(n_samples * rho)
        n_per_class = int(np.ceil((n_samples - n_correlated) / 9))
        bias_indices[label].extend(indices[:n_correlated])
        rest = indices[n_correlated:]
        # torch.split(rest, 0) on an empty tensor yields one empty chunk.
        if n_per_class:
            starts = range(0, len(rest), n_per_class)
            chunks = [rest[i : i + n_per_class] for i in starts]
        else:
            chunks = [rest]
        other_labels = [k % 10 for k in range(label + 1, label + 10)]
        np.random.shuffle(other_labels)
        for idx, chunk in enumerate(chunks):
            bias_indices[other_labels[idx]].extend(chunk)
    order, colours = [], []
    for colour, indices in bias_indices.items():
        order.extend(indices)
        colours.extend([colour] * len(indices))
    final = np.arange(len(order))
    np.random.shuffle(final)
    return np.array(order)[final], np.array(colours)[final]


@pytest.mark.parametrize(
    "rho, expected", [(0.999, 63), (0.997, 184), (0.995, 305), (0.990, 606)]
)
def test_conflicting_counts_match_spec_on_mnist_train_sizes(rho, expected):
    labels = _labels_with_sizes(MNIST_TRAIN_SIZES)
    colours = biased_mnist.assign_colours(
        labels, rho, np.random.RandomState(0)
    )
    assert np.sum(colours != labels) == expected


def test_rho_one_gives_every_colour_its_digit():
    labels = _labels_with_sizes(MNIST_TEST_SIZES)
    colours = biased_mnist.assign_colours(
        labels, 1.0, np.random.RandomState(3)
    )
    np.testing.assert_array_equal(colours, labels)


def test_rho_point_one_makes_colour_independent_of_digit():
    labels = _labels_with_sizes(MNIST_TEST_SIZES)
    colours = biased_mnist.assign_colours(
        labels, 0.1, np.random.RandomState(1)
    )
    for digit in range(10):
        fractions = np.bincount(colours[labels == digit], minlength=10) / (
            MNIST_TEST_SIZES[digit]
        )
        np.testing.assert_allclose(fractions, 0.1, atol=0.01)


def test_chunks_follow_hand_computed_sizes():
    # 20 zeros at rho = 0.5: n_corr = 10, n_dec = ceil(10 / 9) = 2, so the
    # first 10 shuffled indices keep colour 0 and 5 other colours get 2 each.
    labels = np.zeros(20, np.int64)
    colours = biased_mnist.assign_colours(
        labels, 0.5, np.random.RandomState(7)
    )
    counts = np.bincount(colours, minlength=10)
    assert counts[0] == 10
    assert sorted(counts[1:].tolist()) == [0, 0, 0, 0, 2, 2, 2, 2, 2]
    shuffled = np.arange(20)
    np.random.RandomState(7).shuffle(shuffled)
    np.testing.assert_array_equal(colours[shuffled[:10]], 0)


@pytest.mark.parametrize("rho", [0.99, 0.1, 1.0])
def test_build_reproduces_rebias_global_rng_order(rho):
    labels = _labels_with_sizes([30, 41, 25, 33, 28, 37, 22, 45, 31, 29])
    images = np.arange(len(labels), dtype=np.int64)  # Image i "is" i.
    images = np.broadcast_to(images[:, None, None], (len(labels), 1, 1))
    np.random.seed(42)
    expected_order, expected_colours = _rebias_reference(labels, rho)
    built = biased_mnist.build_biased_mnist(images, labels, rho, seed=42)
    np.testing.assert_array_equal(built.images[:, 0, 0], expected_order)
    np.testing.assert_array_equal(built.colours, expected_colours)
    np.testing.assert_array_equal(built.digits, labels[expected_order])


def test_build_shares_one_random_state_across_splits():
    labels = _labels_with_sizes([12] * 10)
    images = np.zeros((len(labels), 2, 2), np.uint8)
    rng = np.random.RandomState(5)
    first = biased_mnist.build_biased_mnist(images, labels, 0.5, seed=rng)
    second = biased_mnist.build_biased_mnist(images, labels, 0.5, seed=rng)
    again = biased_mnist.build_biased_mnist(images, labels, 0.5, seed=5)
    np.testing.assert_array_equal(first.colours, again.colours)
    assert not np.array_equal(first.colours, second.colours)


def test_built_split_keeps_images_with_their_digits():
    labels = _labels_with_sizes([20] * 10)
    images = np.broadcast_to(
        labels.astype(np.uint8)[:, None, None], (200, 28, 28)
    )
    built = biased_mnist.build_biased_mnist(images, labels, 0.9, seed=0)
    np.testing.assert_array_equal(built.images[:, 5, 5], built.digits)
    assert len(built) == 200
    assert built.num_conflicting == 10 * (20 - int(20 * 0.9))
    assert built.rho == 0.9
    assert built.source is None


def test_colour_map_values():
    assert biased_mnist.COLOUR_MAP.dtype == np.uint8
    assert biased_mnist.COLOUR_MAP.shape == (10, 3)
    assert biased_mnist.COLOUR_MAP[3].tolist() == [225, 225, 0]
    assert biased_mnist.COLOUR_MAP[4].tolist() == [225, 0, 225]
    assert biased_mnist.COLOUR_MAP[0].tolist() == [255, 0, 0]
    assert biased_mnist.COLOUR_MAP[6].tolist() == [255, 128, 0]
    assert biased_mnist.COLOUR_MAP[9].tolist() == [128, 128, 128]


def test_colourize_paints_white_digit_on_colour():
    image = np.array([[[0, 7], [255, 0]]], np.uint8)
    rgb = biased_mnist.colourize(image, np.array([3]))
    assert rgb.dtype == np.uint8
    assert rgb.shape == (1, 2, 2, 3)
    yellow, white = [225, 225, 0], [255, 255, 255]
    assert rgb[0].tolist() == [[yellow, white], [white, yellow]]


def test_colourize_tf_matches_numpy():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (6, 28, 28)).astype(np.uint8)
    images[images < 128] = 0
    colours = rng.randint(0, 10, 6)
    expected = biased_mnist.colourize(images, colours)
    result = biased_mnist.colourize_tf(
        tf.constant(images), tf.constant(colours)
    )
    assert result.dtype == tf.uint8
    np.testing.assert_array_equal(result.numpy(), expected)
    single = biased_mnist.colourize_tf(images[0], colours[0])
    np.testing.assert_array_equal(single.numpy(), expected[0])


def test_normalize_maps_to_minus_one_one():
    pixels = np.array([0, 51, 255], np.uint8)
    expected = np.array([-1.0, -0.6, 1.0], np.float32)
    result = biased_mnist.normalize_images(pixels)
    assert result.dtype == np.float32
    np.testing.assert_allclose(result, expected, atol=1e-6)
    result_tf = biased_mnist.normalize_images_tf(tf.constant(pixels))
    np.testing.assert_allclose(result_tf.numpy(), expected, atol=1e-6)


def test_normalized_rgb_images_of_a_split():
    labels = np.arange(10)
    images = np.zeros((10, 28, 28), np.uint8)
    images[:, 10:18, 10:18] = 200
    built = biased_mnist.build_biased_mnist(images, labels, 1.0, seed=0)
    x = built.normalized_rgb_images()
    assert x.shape == (10, 28, 28, 3) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 12, 12], 1.0)
    expected_background = biased_mnist.COLOUR_MAP[built.colours] / 127.5 - 1
    np.testing.assert_allclose(x[:, 0, 0], expected_background, atol=1e-6)


@pytest.mark.parametrize("rho", [-0.1, 1.5, "0.5", True])
def test_bad_rho_raises(rho):
    with pytest.raises(ValueError, match="rho"):
        biased_mnist.assign_colours(np.arange(10), rho, np.random.RandomState())


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 3, 10, 12]), r"\[10, 12\]"),
        (np.array([-1, 2]), r"\[-1\]"),
        (np.array([0.0, 1.0]), "integer"),
    ],
)
def test_bad_labels_raise(labels, message):
    with pytest.raises(ValueError, match=message):
        biased_mnist.assign_colours(labels, 0.5, np.random.RandomState())


def test_mismatched_images_raise():
    with pytest.raises(ValueError, match="one row per label"):
        biased_mnist.build_biased_mnist(
            np.zeros((3, 28, 28), np.uint8), np.arange(4), 0.5
        )


def test_load_biased_mnist_from_embedded_digits():
    test = biased_mnist.load_biased_mnist("digits", "test", rho=1.0, seed=1)
    assert test.source == "digits"
    assert test.images.shape == (360, 28, 28)
    np.testing.assert_array_equal(test.colours, test.digits)


def test_load_biased_mnist_rejects_unknown_source():
    with pytest.raises(ValueError, match="Unknown MNIST source 'mnist'"):
        biased_mnist.load_biased_mnist("mnist", "train", rho=0.99)
