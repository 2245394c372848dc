import keras
import numpy as np
import pytest
import tensorflow as tf

from invariant_reps.data.packing import pack_inputs
from invariant_reps.models.end import (
    EnD,
    gram_lower,
    orthogonal_pair_count,
    orthogonal_term,
    parallel_pair_count,
    parallel_term,
)
from invariant_reps.networks import build_network
from tests.models.toy import random_batch

# A 4-sample batch in 2-D, worked by hand:
#   z0 = (1, 0), z1 = (0, 1), z2 = (0.6, 0.8), z3 = (-1, 0)
#   cosines i > j: G10 = 0, G20 = 0.6, G21 = 0.8, G30 = -1, G31 = 0, G32 = -0.6
#   bias   b = [0, 1, 0, 0], target y = [0, 0, 0, 1]
# R_perp: bias 0 = {0, 2, 3}, pairs (2,0), (3,0), (3,2): S_0 = 0.6 - 1 - 0.6 = -1;
#   bias 1 has one sample, no pair. Pairs = 3.
#   "sum": |S_0| / 3 = 1/3;  "elementwise": (0.6 + 1 + 0.6) / 3 = 2.2/3.
# R_par: target 0 = {0, 1, 2}; (2,0) share a bias. (1,0): b1 = 1 > b0 = 0;
#   (2,1): b2 = 0 < b1 = 1.
#   "lower_triangle" {(2,1)}: (1 - 0.8) / 2 = 0.1
#   "symmetric" {(1,0), (2,1)}: ((1 - 0) / 2 + (1 - 0.8) / 2) / 2 = 0.3
HAND_Z = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]], "float32")
HAND_BIAS = np.array([0, 1, 0, 0])
HAND_TARGET = np.array([0, 0, 0, 1])


def _numpy_gram(z):
    unit = z / np.linalg.norm(z, axis=1, keepdims=True)
    return np.clip(np.tril(unit @ unit.T, -1), -1.0, 1.0)


def _loop_orthogonal(z, bias, variant):
    """The official `abs_orthogonal_blind`, one bias class at a time."""
    gram = _numpy_gram(z)
    total, pairs = 0.0, 0
    for value in np.unique(bias):
        class_sum, class_pairs = 0.0, 0
        for i in range(len(z)):
            for j in range(i):
                if bias[i] == bias[j] == value:
                    g = gram[i, j]
                    class_sum += abs(g) if variant == "elementwise" else g
                    class_pairs += 1
        total += abs(class_sum)
        pairs += class_pairs
    return total / pairs if pairs else 0.0


def _loop_parallel_pairs(target, bias, pairs):
    keep = []
    for i in range(len(target)):
        for j in range(i):
            if target[i] != target[j] or bias[i] == bias[j]:
                continue
            if pairs == "symmetric" or bias[i] < bias[j]:
                keep.append((i, j))
    return keep


def _loop_parallel(z, target, bias, pairs):
    gram = _numpy_gram(z)
    keep = _loop_parallel_pairs(target, bias, pairs)
    if not keep:
        return 0.0
    return float(np.mean([(1.0 - gram[i, j]) / 2.0 for i, j in keep]))


def _aligned_batch(seed, size=256, classes=10, aligned=0.9):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, classes, size)
    bias = np.where(rng.random(size) < aligned, target, rng.integers(0, classes, size))
    return target, bias


# ----------------------------------------------------------------- math
def test_gram_keeps_strict_lower_triangle_of_cosines():
    gram = gram_lower(np.array([[1.0, 0.0], [3.0, 4.0], [0.0, -2.0]]))
    expected = [[0.0, 0.0, 0.0], [0.6, 0.0, 0.0], [0.0, -0.8, 0.0]]
    np.testing.assert_allclose(gram, expected, atol=1e-6)


def test_hand_computed_batch_both_variants():
    args = (HAND_BIAS, 2)
    np.testing.assert_allclose(orthogonal_term(HAND_Z, *args), 1.0 / 3.0, rtol=1e-6)
    np.testing.assert_allclose(
        orthogonal_term(HAND_Z, *args, variant="elementwise"), 2.2 / 3.0, rtol=1e-6
    )
    args = (HAND_TARGET, HAND_BIAS, 2, 2)
    np.testing.assert_allclose(parallel_term(HAND_Z, *args), 0.1, rtol=1e-5)
    np.testing.assert_allclose(parallel_term(HAND_Z, *args, pairs="symmetric"), 0.3, rtol=1e-6)
    assert int(orthogonal_pair_count(HAND_BIAS, 2)) == 3
    assert int(parallel_pair_count(*args)) == 1
    assert int(parallel_pair_count(*args, pairs="symmetric")) == 2


def test_terms_use_cosines_so_row_scale_does_not_matter():
    scaled = HAND_Z * np.array([[1.0], [2.0], [5.0], [0.5]], "float32")
    np.testing.assert_allclose(
        orthogonal_term(scaled, HAND_BIAS, 2), orthogonal_term(HAND_Z, HAND_BIAS, 2), rtol=1e-6
    )
    np.testing.assert_allclose(
        parallel_term(scaled, HAND_TARGET, HAND_BIAS, 2, 2),
        parallel_term(HAND_Z, HAND_TARGET, HAND_BIAS, 2, 2),
        rtol=1e-5,
    )


def test_label_shape_and_dtype_do_not_matter():
    column = HAND_BIAS.reshape(-1, 1).astype("float32")
    np.testing.assert_allclose(orthogonal_term(HAND_Z, column, 2), 1.0 / 3.0, rtol=1e-6)
    np.testing.assert_allclose(
        parallel_term(HAND_Z, HAND_TARGET.reshape(-1, 1), column, 2, 2), 0.1, rtol=1e-5
    )


@pytest.mark.parametrize("pairs", ["lower_triangle", "symmetric"])
def test_identical_features_are_parallel_and_not_orthogonal(pairs):
    z = np.full((6, 4), 0.5, "float32")  # unit rows, all equal
    target = np.array([0, 0, 0, 1, 1, 1])
    bias = np.array([0, 1, 2, 0, 1, 1])  # >= 2 bias classes per target
    np.testing.assert_allclose(parallel_term(z, target, bias, 2, 3, pairs), 0.0, atol=1e-6)
    np.testing.assert_allclose(orthogonal_term(z, bias, 3), 1.0, rtol=1e-6)
    np.testing.assert_allclose(orthogonal_term(z, bias, 3, "elementwise"), 1.0, rtol=1e-6)


@pytest.mark.parametrize("pairs", ["lower_triangle", "symmetric"])
def test_orthogonal_features(pairs):
    z = np.eye(6, dtype="float32")
    target = np.array([0, 0, 0, 1, 1, 1])
    bias = np.array([1, 0, 0, 1, 1, 0])  # official pairs: b_i < b_j for i > j
    np.testing.assert_allclose(orthogonal_term(z, bias, 2), 0.0, atol=1e-7)
    np.testing.assert_allclose(parallel_term(z, target, bias, 2, 2, pairs), 0.5, rtol=1e-6)


def test_pair_counts_official_about_half_of_symmetric():
    target, bias = _aligned_batch(seed=0)
    official = int(parallel_pair_count(target, bias, 10, 10))
    symmetric = int(parallel_pair_count(target, bias, 10, 10, pairs="symmetric"))
    assert official == len(_loop_parallel_pairs(target, bias, "lower_triangle"))
    assert symmetric == len(_loop_parallel_pairs(target, bias, "symmetric"))
    assert 0.35 < official / symmetric < 0.65
    same_bias = sum(bias[i] == bias[j] for i in range(256) for j in range(i))
    assert int(orthogonal_pair_count(bias, 10)) == same_bias


def test_no_pairs_gives_zero_and_finite_gradient():
    z = tf.constant(np.random.default_rng(0).normal(size=(4, 3)), "float32")
    distinct = np.array([0, 1, 2, 3])
    with tf.GradientTape() as tape:
        tape.watch(z)
        orthogonal = orthogonal_term(z, distinct, 4)  # no two share a bias
        parallel = parallel_term(z, distinct, np.zeros(4), 4, 4)  # no shared target
        parallel_same_bias = parallel_term(z, np.zeros(4), np.ones(4), 1, 2)
        total = orthogonal + parallel + parallel_same_bias
    for value in (orthogonal, parallel, parallel_same_bias):
        assert float(value) == 0.0
    gradient = tape.gradient(total, z).numpy()
    np.testing.assert_array_equal(gradient, np.zeros((4, 3)))
    single = orthogonal_term(np.ones((1, 3)), [0], 2)
    assert float(single) == 0.0


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_vectorized_equals_loop(seed):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(12, 5)).astype("float32")
    target, bias = rng.integers(0, 3, 12), rng.integers(0, 4, 12)
    for variant in ("sum", "elementwise"):
        np.testing.assert_allclose(
            orthogonal_term(z, bias, 4, variant), _loop_orthogonal(z, bias, variant), rtol=1e-5
        )
    for pairs in ("lower_triangle", "symmetric"):
        np.testing.assert_allclose(
            parallel_term(z, target, bias, 3, 4, pairs),
            _loop_parallel(z, target, bias, pairs),
            rtol=1e-5,
        )


def test_only_symmetric_pairs_invariant_to_relabelling_bias():
    rng = np.random.default_rng(4)
    target, bias = _aligned_batch(seed=4, size=64, classes=4, aligned=0.6)
    z = rng.normal(size=(64, 8)).astype("float32")
    relabelled = 3 - bias  # reverses the order of the ids
    symmetric = [parallel_term(z, target, b, 4, 4, "symmetric") for b in (bias, relabelled)]
    np.testing.assert_allclose(symmetric[0], symmetric[1], rtol=1e-6)
    official = [parallel_term(z, target, b, 4, 4) for b in (bias, relabelled)]
    assert abs(float(official[0]) - float(official[1])) > 1e-4
    # R_perp groups by bias class only, so any relabelling leaves it unchanged.
    np.testing.assert_allclose(
        orthogonal_term(z, bias, 4), orthogonal_term(z, relabelled, 4), rtol=1e-6
    )


def test_function_argument_errors():
    with pytest.raises(ValueError, match="`variant` must be one of .*'abs'"):
        orthogonal_term(HAND_Z, HAND_BIAS, 2, variant="abs")
    with pytest.raises(ValueError, match="`pairs` must be one of .*'all'"):
        parallel_term(HAND_Z, HAND_TARGET, HAND_BIAS, 2, 2, pairs="all")
    with pytest.raises(ValueError, match="`num_bias_classes` must be a positive int; received 0"):
        orthogonal_pair_count(HAND_BIAS, 0)


# ---------------------------------------------------------------- model
_data = random_batch


def _model(**kwargs):
    keras.utils.set_random_seed(0)
    net = build_network("mlp", (6,), 3, hidden_units=(8,), normalize_bottleneck=True)
    model = EnD(net.encoder, net.head, num_sensitive_classes=4, **kwargs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    return model


def test_fit_logs_terms_and_objective_is_weighted_sum():
    x, y, s = _data()
    model = _model(alpha=0.7, beta=2.0, parallel_pairs="symmetric")
    history = model.fit(pack_inputs(x, s), y, batch_size=8, epochs=2, verbose=0)
    for key in ("loss", "task_loss", "orthogonal", "parallel", "accuracy"):
        assert np.all(np.isfinite(history.history[key])), key
    logs = model.evaluate(pack_inputs(x, s), y, batch_size=32, verbose=0, return_dict=True)
    z = model.encoder(x)
    np.testing.assert_allclose(logs["orthogonal"], orthogonal_term(z, s, 4), rtol=1e-5)
    np.testing.assert_allclose(
        logs["parallel"], parallel_term(z, y, s, 3, 4, "symmetric"), rtol=1e-5
    )
    expected = logs["task_loss"] + 0.7 * logs["orthogonal"] + 2.0 * logs["parallel"]
    np.testing.assert_allclose(logs["loss"], expected, rtol=1e-5)


def test_regularizer_changes_the_update():
    x, y, s = _data()
    weights = []
    for alpha in (0.0, 5.0):
        model = _model(alpha=alpha, beta=0.0)
        model.fit(pack_inputs(x, s), y, batch_size=32, epochs=1, shuffle=False, verbose=0)
        weights.append(model.encoder.get_weights()[0])
    assert not np.allclose(weights[0], weights[1])


def test_save_load_round_trip(tmp_path):
    x, y, s = _data()
    model = _model(alpha=0.3, beta=0.4, orthogonal_variant="elementwise")
    model.fit(pack_inputs(x, s), y, batch_size=16, epochs=1, verbose=0)
    path = tmp_path / "end.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, EnD)
    config = loaded.get_config()
    assert (config["alpha"], config["beta"]) == (0.3, 0.4)
    assert config["orthogonal_variant"] == "elementwise"
    assert config["parallel_pairs"] == "lower_triangle"
    np.testing.assert_array_equal(model.predict(x, verbose=0), loaded.predict(x, verbose=0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_sensitive_classes": 1}, "`num_sensitive_classes` must be an int >= 2; received 1"),
        ({"num_sensitive_classes": 2.5}, "`num_sensitive_classes` must be an int >= 2"),
        ({"alpha": -1.0}, "`alpha` must be >= 0; received -1.0"),
        ({"beta": float("nan")}, "`beta` must be >= 0; received nan"),
        ({"orthogonal_variant": "abs"}, "`orthogonal_variant` must be one of"),
        ({"parallel_pairs": "all"}, "`parallel_pairs` must be one of"),
    ],
)
def test_bad_arguments(kwargs, message):
    net = build_network("mlp", (6,), 3, hidden_units=(8,))
    kwargs = {"num_sensitive_classes": 4, **kwargs}
    with pytest.raises(ValueError, match=message):
        EnD(net.encoder, net.head, **kwargs)


def test_out_of_range_bias_rejected_before_training():
    x, y, s = _data()
    s[5] = 4
    with pytest.raises(ValueError, match=r"sensitive values must be class ids in \[0, 4\)"):
        _model().fit(pack_inputs(x, s), y, epochs=1, verbose=0)


def test_gradient_untangles_a_collapsed_bottleneck():
    """From nearly parallel same-bias features (R⊥ ≈ 0.99, as a colour-collapsed z), descending R⊥ + R∥
    on z itself must reach a low R⊥: the terms' gradients point the right way."""
    rng = np.random.default_rng(0)
    bias = rng.integers(0, 10, 256)
    target = bias.copy()
    target[:20] = rng.integers(0, 10, 20)
    z = tf.Variable(rng.normal(size=(256, 32)).astype("float32") * 0.1 + 1.0)
    optimizer = keras.optimizers.Adam(1e-2)
    start = float(orthogonal_term(z, bias, 10))
    for _ in range(300):
        with tf.GradientTape() as tape:
            loss = orthogonal_term(z, bias, 10) + parallel_term(z, target, bias, 10, 10)
        optimizer.apply_gradients(zip(tape.gradient(loss, [z]), [z]))
    assert start > 0.98
    assert float(orthogonal_term(z, bias, 10)) < 0.2
