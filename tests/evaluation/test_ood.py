"""ODIN scores, the Gaussian OOD set and the seed's threshold-grid metrics, checked by value."""

import keras
import numpy as np
import pytest
from scipy import special
from sklearn import metrics as sk_metrics

from invariant_reps.evaluation import (
    OODMetrics,
    gaussian_noise_like,
    odin_detection,
    odin_perturb,
    odin_scores,
    ood_metrics,
)

# Logits W x + b, 3 inputs, 3 classes; column 2 is zero, so that input has an exactly zero gradient.
W = np.array([[1.0, -2.0, 0.0], [-0.5, 1.5, 0.0], [2.0, 0.25, 0.0]])
B = np.array([0.1, -0.2, 0.05])


def _linear_model(weights=W, bias=B):
    x = keras.Input((weights.shape[1],))
    dense = keras.layers.Dense(weights.shape[0])
    model = keras.Model(x, dense(x))
    dense.set_weights([weights.T.astype("float32"), bias.astype("float32")])
    return model


def _inputs(num=8, dim=3, seed=0):
    return np.random.default_rng(seed).uniform(-0.9, 0.9, size=(num, dim)).astype("float32")


# ---------------------------------------------------------------------------------------------- ODIN


def test_two_class_direction_by_hand():
    # K = 2: grad_x CE(f/T, yhat) = (p_other / T) (W_other - W_yhat), so x~ = x + eps sign(W_yhat - W_other):
    # a step towards the predicted class.
    weights, bias = np.array([[1.0, -2.0], [-0.5, 1.5]]), np.zeros(2)
    x = np.array([[0.5, 0.1], [-0.3, 0.4]], "float32")  # predicted classes 0 and 1
    assert list(np.argmax(x @ weights.T, 1)) == [0, 1]
    got = odin_perturb(_linear_model(weights, bias), x, temperature=1000.0, epsilon=0.1)
    expected = x + np.float32(0.1) * np.array([[1.0, -1.0], [-1.0, 1.0]], "float32")
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)


def test_perturbation_matches_analytic_gradient_sign():
    x = _inputs()
    for temperature, epsilon in ((1000.0, 0.0014), (1.0, 0.05)):
        logits = x.astype(np.float64) @ W.T + B
        p = special.softmax(logits / temperature, axis=1)
        gradient = (p - np.eye(3)[np.argmax(logits, 1)]) @ W / temperature
        assert np.abs(gradient[:, :2]).min() > 1e-6  # unambiguous signs in float32
        sign = np.where(gradient >= 0, 1.0, -1.0)
        expected = np.clip(x - np.float32(epsilon) * sign.astype("float32"), -1, 1)
        got = odin_perturb(_linear_model(), x, temperature=temperature, epsilon=epsilon)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-7)
        # The zero gradient of input 2 has sign +1: that input moves by -eps.
        np.testing.assert_allclose(got[:, 2], x[:, 2] - np.float32(epsilon), rtol=0, atol=1e-7)


def test_zero_gradient_sign_is_plus_one_and_clipped():
    x = np.array([[-0.9995, 0.0, 0.5]], "float32")
    constant = lambda inputs: keras.ops.zeros((inputs.shape[0], 3)) + np.array([0.0, 1.0, 0.0], "float32")  # noqa: E731
    got = odin_perturb(constant, x, epsilon=0.0014)
    np.testing.assert_allclose(got, [[-1.0, -0.0014, 0.4986]], rtol=0, atol=1e-7)


def test_scores_are_max_tempered_softmax_of_perturbed_inputs():
    x = _inputs(10)
    model = _linear_model()
    perturbed = odin_perturb(model, x, batch_size=3)
    logits = perturbed.astype(np.float64) @ W.T + B
    expected = special.softmax(logits / 1000.0, axis=1).max(1)
    np.testing.assert_allclose(odin_scores(model, x, batch_size=4), expected, rtol=1e-6, atol=0)
    # The step raises the score of every example (it lowers the predicted class's tempered CE).
    plain = special.softmax((x.astype(np.float64) @ W.T + B) / 1000.0, axis=1).max(1)
    assert np.all(odin_scores(model, x) > plain)


def test_gaussian_noise_like_is_seeded_clipped_standard_normal():
    x = np.zeros((5, 2, 3), "float32")
    noise = gaussian_noise_like(x, seed=3)
    expected = np.clip(np.random.default_rng(3).standard_normal((5, 2, 3)), -1, 1)
    assert noise.shape == x.shape and noise.dtype == np.float32
    np.testing.assert_allclose(noise, expected, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(gaussian_noise_like(x, seed=3), noise)
    assert not np.array_equal(gaussian_noise_like(x, seed=4), noise)


def test_odin_detection_combines_scores_and_metrics():
    x = _inputs(20)
    model = _linear_model()
    got = odin_detection(model, x, seed=1, num_thresholds=100)
    noise = gaussian_noise_like(x, seed=1)
    assert got == ood_metrics(odin_scores(model, x), odin_scores(model, noise), num_thresholds=100)
    assert odin_detection(model, x, x_out=noise, seed=99, num_thresholds=100) == got


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(temperature=0.0), "`temperature` must be > 0"),
        (dict(epsilon=-0.0014), "`epsilon` must be >= 0"),
        (dict(epsilon=float("inf")), "`epsilon` must be a finite number"),
        (dict(clip=(1.0, 1.0)), "lo < hi"),
        (dict(batch_size=-1), "`batch_size` must be a positive int"),
    ],
)
def test_bad_odin_options_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        odin_scores(_linear_model(), _inputs(), **kwargs)


def test_empty_inputs_raise():
    with pytest.raises(ValueError, match="`x` is empty"):
        odin_scores(_linear_model(), np.zeros((0, 3)))
    with pytest.raises(ValueError, match="`x` is empty"):
        gaussian_noise_like(np.zeros((0, 3)))


# ---------------------------------------------------------------------------------------------- metrics


def test_metrics_by_hand_on_a_four_threshold_grid():
    # Thresholds 0, .25, .5, .75 (exact in binary; ties count as >=).
    # TPR = (1, 1, 2/3, 2/3), FPR = (1, 2/3, 2/3, 1/3).
    m = ood_metrics([0.25, 0.75, 1.0], [0.0, 0.5, 0.75], num_thresholds=4)
    assert m.auroc == pytest.approx(1 / 3 + 2 / 9, abs=1e-15)  # (1 - 2/3) 1 + (2/3 - 1/3) 2/3
    assert m.aupr_in == pytest.approx(1 / 6, abs=1e-15)  # (1 - 2/3) * precision (2/3) / (4/3)
    # Descending 1, .75, .5, .25: recall P_out(< d) = (1, 2/3, 1/3, 1/3), false P_in(< d) = (2/3, 1/3, 1/3, 0).
    assert m.aupr_out == pytest.approx(2 / 9 + 1 / 6, abs=1e-15)
    assert m.detection_error == pytest.approx(1 / 3, abs=1e-15)
    # n_in = 3: int(0.9495 * 3) = int(0.9505 * 3) = 2, threshold = 3rd largest in-score 0.25; 2 of 3 OOD >= it.
    assert m.fpr_at_95_tpr == pytest.approx(2 / 3, abs=1e-15)
    assert m.auroc_exact == pytest.approx(6.5 / 9, abs=1e-15)  # pairs won, ties one half
    assert (m.num_in, m.num_out, m.num_thresholds) == (3, 3, 4)


def test_fpr_at_95_tpr_takes_the_in_distribution_rank_band():
    in_scores = np.arange(1.0, 21.0)  # n = 20: ranks int(18.99) = 18 .. int(19.01) = 19, the 19th largest: 2.0
    out_scores = np.array([0.0, 1.0, 2.0, 3.0, 10.0])
    assert ood_metrics(in_scores, out_scores).fpr_at_95_tpr == pytest.approx(3 / 5, abs=1e-15)
    # n = 2000: descending ranks 1899 and 1900 (int(1899.0), int(1901.0) exclusive), i.e. the ascending
    # in-scores 100 and 99; OOD >= them: 2 of 3 and 3 of 3.
    in_scores = np.linspace(0, 1, 2000)
    out_scores = np.array([in_scores[100] - 1e-9, in_scores[100], in_scores[101]])
    assert ood_metrics(in_scores, out_scores).fpr_at_95_tpr == pytest.approx((2 / 3 + 1) / 2, abs=1e-15)


def test_fpr_at_95_tpr_averages_over_a_band():
    # n = 20000: ranks 18990 .. 19009 (20 thresholds at in-scores 990 .. 1009 of arange(20000)).
    in_scores = np.arange(20000.0)
    out_scores = np.array([1000.0])  # >= thresholds 990 .. 1000: 11 of the 20
    assert ood_metrics(in_scores, out_scores).fpr_at_95_tpr == pytest.approx(11 / 20, abs=1e-15)


def _reference(in_scores, out_scores, num):
    """The definitions, one threshold at a time."""
    low = min(in_scores.min(), out_scores.min())
    high = max(in_scores.max(), out_scores.max())
    gap = (high - low) / num
    auroc, aupr_in, aupr_out, error = 0.0, 0.0, 0.0, 1.0
    last_fpr = last_recall = 1.0
    for k in range(num):
        delta = low + k * gap
        tpr, fpr = np.mean(in_scores >= delta), np.mean(out_scores >= delta)
        auroc += (last_fpr - fpr) * tpr
        last_fpr = fpr
        error = min(error, 0.5 * (1 - tpr) + 0.5 * fpr)
        if tpr + fpr > 0:
            aupr_in += (last_recall - tpr) * tpr / (tpr + fpr)
            last_recall = tpr
    last_recall = 1.0
    for k in range(num):
        delta = high - k * gap
        tp, fp = np.mean(out_scores < delta), np.mean(in_scores < delta)
        if tp + fp > 0:
            aupr_out += (last_recall - tp) * tp / (tp + fp)
            last_recall = tp
    return auroc, aupr_in, aupr_out, error


@pytest.mark.parametrize("num", [1, 7, 500])
def test_metrics_match_the_reference_loop(num):
    rng = np.random.default_rng(num)
    in_scores = np.round(rng.normal(1.0, 1.0, 300), 1)  # rounded: many ties
    out_scores = np.round(rng.normal(0.0, 1.0, 200), 1)
    m = ood_metrics(in_scores, out_scores, num_thresholds=num)
    expected = _reference(in_scores, out_scores, num)
    np.testing.assert_allclose([m.auroc, m.aupr_in, m.aupr_out, m.detection_error], expected, rtol=0, atol=1e-12)
    labels = np.r_[np.ones(300), np.zeros(200)]
    scores = np.r_[in_scores, out_scores]
    assert m.auroc_exact == pytest.approx(sk_metrics.roc_auc_score(labels, scores), abs=1e-15)
    assert m.aupr_in_exact == pytest.approx(sk_metrics.average_precision_score(labels, scores), abs=1e-15)
    assert m.aupr_out_exact == pytest.approx(sk_metrics.average_precision_score(1 - labels, -scores), abs=1e-15)


def test_riemann_auroc_equals_sklearn_when_each_grid_cell_holds_one_score():
    # Distinct scores 1/199 apart on a 1e-4 grid, the maximum in-distribution: the grid ROC is the exact one.
    rng = np.random.default_rng(0)
    scores = rng.permutation(np.arange(200) / 199.0)
    in_scores, out_scores = scores[:100] + 0.3 * (scores[:100] > 0.5), scores[100:]
    in_scores[np.argmax(in_scores)] = 2.0
    m = ood_metrics(in_scores, out_scores)
    assert 0.6 < m.auroc < 0.95
    assert m.auroc == pytest.approx(m.auroc_exact, abs=1e-12)


def test_riemann_auroc_is_within_the_grid_error_of_sklearn():
    rng = np.random.default_rng(1)
    in_scores, out_scores = rng.normal(1.0, 1.0, 2000), rng.normal(0.0, 1.0, 2000)
    m = ood_metrics(in_scores, out_scores)
    # A lower Riemann sum: short of the exact area by at most one TPR step per FPR step, here < 1e-3.
    assert 0 <= m.auroc_exact - m.auroc < 1e-3
    assert m.auroc_exact == pytest.approx(0.7602, abs=0.02)  # Phi(1 / sqrt 2)


def test_perfect_separation():
    in_scores = np.linspace(0.6, 1.0, 50)
    out_scores = np.linspace(0.0, 0.4, 50)
    m = ood_metrics(in_scores, out_scores)
    assert m.auroc == 1.0 and m.detection_error == 0.0 and m.fpr_at_95_tpr == 0.0
    assert m.auroc_exact == 1.0 and m.aupr_in_exact == 1.0 and m.aupr_out_exact == 1.0
    # Only the top in-score lies above the last threshold: recall falls from 1 to 1/50 within the grid.
    assert m.aupr_in == pytest.approx(1 - 1 / 50, abs=1e-12)
    assert m.aupr_out == pytest.approx(1 - 1 / 50, abs=1e-12)


def test_equal_scores_are_chance():
    m = ood_metrics(np.full(4, 0.1), np.full(6, 0.1))
    assert (m.auroc, m.aupr_in, m.aupr_out, m.detection_error, m.fpr_at_95_tpr) == (0.5, 0.5, 0.5, 0.5, 1.0)
    assert m.auroc_exact == 0.5
    assert isinstance(m, OODMetrics) and m.as_dict()["num_out"] == 6


@pytest.mark.parametrize(
    "in_scores,out_scores,kwargs,match",
    [
        ([], [0.1], {}, "`in_scores` is empty"),
        ([0.1], [], {}, "`out_scores` is empty"),
        ([0.1, np.nan], [0.1], {}, r"`in_scores` contains NaN/inf \(first at 1\)"),
        ([[0.1]], [0.1], {}, "`in_scores` must be a 1-D array"),
        ([0.1], [0.2], dict(num_thresholds=0), "`num_thresholds` must be a positive int"),
    ],
)
def test_bad_scores_raise(in_scores, out_scores, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ood_metrics(in_scores, out_scores, **kwargs)
