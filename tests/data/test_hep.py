"""The HEP-like B-decay sample: shapes, determinism, streaming, and sculpting."""

import math

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn.linear_model import LogisticRegression

from invariant_reps.data import hep
from invariant_reps.evaluation import decorrelation

LOW, HIGH = 5.2425, 5.29


def _argus_by_hand(m, chi=math.sqrt(40.0), p=0.5, c=5.29):
    u = 1.0 - (m / c) ** 2
    return m * u**p * math.exp(-0.5 * chi**2 * u)


def _crystal_ball_by_hand(m, alpha=1.277, n=11.66, mu=5.27934, sigma=0.003135):
    t = (m - mu) / sigma
    if t > -alpha:
        return math.exp(-0.5 * t * t)
    return (n / alpha) ** n * math.exp(-0.5 * alpha**2) * (n / alpha - alpha - t) ** (-n)


def _normalised(shape):
    total = integrate.quad(shape, LOW, HIGH, points=[5.27934], limit=200)[0]
    return lambda m: shape(m) / total


@pytest.mark.parametrize(
    "library, hand", [(hep.argus_pdf, _argus_by_hand), (hep.crystal_ball_pdf, _crystal_ball_by_hand)]
)
def test_pdfs_match_the_formulas_and_are_normalised(library, hand):
    pdf = _normalised(hand)
    grid = np.linspace(LOW, HIGH, 41)
    np.testing.assert_allclose(library(grid), [pdf(m) for m in grid], rtol=1e-6, atol=1e-9)
    assert integrate.quad(library, LOW, HIGH, points=[5.27934], limit=200)[0] == pytest.approx(1.0, abs=1e-6)
    assert library(np.array([LOW - 1e-3, HIGH + 1e-3])).tolist() == [0.0, 0.0]


@pytest.mark.parametrize(
    "sampler, hand", [(hep.sample_argus, _argus_by_hand), (hep.sample_crystal_ball, _crystal_ball_by_hand)]
)
def test_sampled_masses_follow_the_pdfs(sampler, hand):
    # 1e5 exact draws against the hand-written pdf: chi-square in 32 bins and KS.
    pdf = _normalised(hand)
    masses = sampler(np.random.default_rng(0), 100_000)
    assert masses.min() >= LOW and masses.max() <= HIGH
    edges = np.linspace(LOW, HIGH, 33)
    counts, _ = np.histogram(masses, edges)
    expected = np.array([integrate.quad(pdf, a, b, limit=200)[0] for a, b in zip(edges[:-1], edges[1:])])
    expected *= len(masses)
    used = expected > 5
    chi2 = np.sum((counts[used] - expected[used]) ** 2 / expected[used])
    assert stats.chi2.sf(chi2, used.sum() - 1) > 1e-3
    grid = np.linspace(LOW, HIGH, 40001)
    cdf = integrate.cumulative_trapezoid([pdf(m) for m in grid], grid, initial=0.0)
    result = stats.kstest(masses, lambda m: np.interp(m, grid, cdf / cdf[-1]))
    assert result.pvalue > 1e-3


def test_event_contents():
    x, y, s, delta_e, w = hep.make_arrays(20_000, seed=0)
    assert x.shape == (20_000, 16) and x.dtype == np.float32 and y.dtype == np.int64
    assert y.mean() == pytest.approx(0.5, abs=0.02)
    assert s.min() >= LOW and s.max() <= HIGH
    assert delta_e.min() >= -0.3 and delta_e.max() <= 0.2
    assert abs(np.median(delta_e[y == 1])) < 0.01 and np.std(delta_e[y == 1]) < 0.07
    assert np.std(delta_e[y == 0]) > 0.12  # broad, near uniform on [-0.3, 0.2]
    assert np.all(w > 0)
    assert w[y == 0].mean() == pytest.approx(1.0, abs=0.01) and w[y == 1].mean() == pytest.approx(0.5, abs=0.01)
    # O(1) features by construction (no standardisation applied).
    assert np.all(np.abs(x.mean(0)) < 1.0) and np.all((x.std(0) > 0.3) & (x.std(0) < 2.0))
    assert hep.make_arrays(20_000, seed=0, signal_fraction=0.1).y.mean() == pytest.approx(0.1, abs=0.01)


def test_feature_groups_partition_the_columns():
    groups = hep.feature_groups(22)
    assert groups["mass_correlated"] == [0, 1, 2, 3, 4]
    assert sorted(sum(groups.values(), [])) == list(range(22))
    x, y, s, _, _ = hep.make_arrays(20_000, seed=1, num_features=22)
    background = y == 0

    def mass_dependence(columns):  # spread of the binned mean over M_bc: catches non-monotone shapes too
        bins = np.digitize(s[background], np.linspace(LOW, HIGH, 9))
        return max(
            np.std([x[background][bins == b, c].mean() for b in range(1, 9)]) for c in columns
        )

    assert mass_dependence(groups["mass_correlated"]) > 0.3
    assert mass_dependence(groups["discriminating"] + groups["noise"]) < 0.1  # noise: ~0.03


def test_reproducible_and_chunked_equals_in_memory():
    first = hep.make_arrays(2_500, seed=4, chunk_size=1_000)
    again = hep.make_arrays(2_500, seed=4, chunk_size=1_000)
    longer = hep.make_arrays(3_100, seed=4, chunk_size=1_000)
    other = hep.make_arrays(2_500, seed=5, chunk_size=1_000)
    chunks = list(hep.iterate_chunks(2_500, seed=4, chunk_size=1_000))
    assert [len(c.y) for c in chunks] == [1_000, 1_000, 500]
    for index, name in enumerate(hep.HEPSample._fields):
        np.testing.assert_array_equal(first[index], again[index])
        np.testing.assert_array_equal(first[index], np.concatenate([c[index] for c in chunks]))
        np.testing.assert_array_equal(first[index], longer[index][:2_500])  # a prefix
        np.testing.assert_array_equal(chunks[1][index], hep.generate_chunk(1, 4, 1_000)[index])
    assert not np.array_equal(first.x, other.x)


def test_dataset_streams_the_in_memory_events():
    x, y, s, _, w = hep.make_arrays(1_000, seed=2, chunk_size=300)
    dataset = hep.make_hep_dataset(1_000, 128, seed=2, with_weights=True, chunk_size=300)
    assert int(dataset.cardinality()) == 8
    batches = list(dataset.as_numpy_iterator())
    assert [len(b[1]) for b in batches] == [128] * 7 + [104]
    inputs = {key: np.concatenate([b[0][key] for b in batches]) for key in ("inputs", "sensitive")}
    np.testing.assert_array_equal(inputs["inputs"], x)
    np.testing.assert_array_equal(inputs["sensitive"], s.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y.astype(np.float32))
    np.testing.assert_array_equal(np.concatenate([b[2] for b in batches]), w.astype(np.float32))
    unweighted = hep.make_hep_dataset(1_000, 256, seed=2, drop_remainder=True, chunk_size=300)
    assert int(unweighted.cardinality()) == 3
    element = next(iter(unweighted))
    assert len(element) == 2 and element[0]["inputs"].shape == (256, 16)


def test_unregularised_classifier_sculpts_the_background_mass():
    # A plain logistic regression on a few thousand events: with the
    # mass-correlated features it selects background under the signal peak.
    x, y, _, _, _ = hep.make_arrays(4_000, seed=1)
    x_test, y_test, mass, delta_e, _ = hep.make_arrays(20_000, seed=2)
    groups = hep.feature_groups(16)
    without_mass = groups["discriminating"] + groups["noise"]
    jsd = {}
    for name, columns in (("all", slice(None)), ("no_mass", without_mass)):
        model = LogisticRegression(max_iter=1000).fit(x[:, columns], y)
        scores = model.decision_function(x_test[:, columns])
        jsd[name] = decorrelation.sculpting_jsd(y_test, scores, mass, delta_e=delta_e)
    assert jsd["all"] > 0.1  # measured ~0.35 nats
    assert jsd["all"] > 5 * jsd["no_mass"]  # no_mass: ~0.01, statistical noise only


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(num_features=4), r"`num_features` must be an int in \[6, 1024\]"),
        (dict(signal_fraction=1.0), r"`signal_fraction` must be in \(0, 1\)"),
        (dict(mass_range=(5.25, 5.30)), "`mass_range` must satisfy low < high <= argus_endpoint"),
        (dict(luminosity_weights=(1.0, 0.0)), "`luminosity_weights` must be two positive numbers"),
        (dict(cb_sigma=0.0), "`cb_sigma` must be > 0"),
    ],
)
def test_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        hep.HEPConfig(**kwargs)


def test_rejects_bad_sizes():
    with pytest.raises(ValueError, match="`num_events` must be an int >= 1"):
        hep.make_arrays(0)
    with pytest.raises(ValueError, match="`batch_size` must be an int >= 1"):
        hep.make_hep_dataset(100, 0)
    with pytest.raises(ValueError, match="`seed` must be an int >= 0"):
        hep.generate_chunk(0, seed=-1)
