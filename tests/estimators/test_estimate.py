"""estimate_mi end to end: held-out discipline, stopping, warnings, outputs."""

import glob
import math
import warnings

import numpy as np
import pytest
from scipy.stats import t as student_t
import tensorflow as tf

from invariant_reps.estimators import CriticTrainer
from invariant_reps.estimators import InfoNCECeilingWarning
from invariant_reps.estimators import MIEstimationWarning
from invariant_reps.estimators import NotConvergedWarning
from invariant_reps.estimators import SeparableCritic
from invariant_reps.estimators import UnstableEstimateWarning
from invariant_reps.estimators import estimate_mi
from invariant_reps.estimators import ground_truth
from invariant_reps.estimators import plot_training_curve

SMALL = dict(batch_size=64, eval_every=50, seed=0)


def _small_critic():
    return SeparableCritic(hidden_units=(32, 32), embedding_dim=8, seed=0)


def test_short_smile_run_lands_near_a_low_mi():
    x, y = ground_truth.correlated_gaussian(4000, dim=1, rho=0.8, seed=0)
    true_mi = ground_truth.correlated_gaussian_mi(0.8, dim=1)  # 0.511 nats
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MIEstimationWarning)
        result = estimate_mi(
            x, y, "smile", _small_critic(), learning_rate=2e-3, max_steps=800, **SMALL
        )
    assert result.mi_nats == pytest.approx(true_mi, abs=0.1)
    assert result.mi_bits == pytest.approx(result.mi_nats / math.log(2))
    # std_nats is the spread over the 800 // 64 = 12 held-out batches, and the
    # interval is the t-interval of their mean: half width t_11 * std * sqrt(12/11) / sqrt(12).
    half_width = (result.interval[1] - result.interval[0]) / 2
    assert half_width == pytest.approx(
        student_t.ppf(0.975, 11) * result.std_nats / math.sqrt(11), rel=1e-6
    )
    assert result.std_nats < 0.2
    curve = result.curve
    assert curve.steps.size == curve.train_nats.size == curve.heldout_nats.size > 0
    # The reported value is the best 5-point moving average of the held-out curve.
    smoothed = np.convolve(curve.heldout_nats, np.ones(5) / 5, mode="valid")
    assert result.mi_nats == pytest.approx(smoothed.max())
    assert result.best_step == curve.steps[int(np.argmax(smoothed)) + 2]
    low, high = result.interval
    assert low < result.mi_nats < high and high - low < 0.3


def test_heldout_pairs_never_reach_the_critic_update(monkeypatch):
    trained_rows, evaluated_rows = set(), set()
    original_train, original_evaluate = CriticTrainer.train_step, CriticTrainer.evaluate

    def recording_train(self, x, y):
        trained_rows.update(np.asarray(x)[:, 0].tolist())
        return original_train(self, x, y)

    def recording_evaluate(self, x, y):
        evaluated_rows.update(np.asarray(x)[:, 0].tolist())
        return original_evaluate(self, x, y)

    monkeypatch.setattr(CriticTrainer, "train_step", recording_train)
    monkeypatch.setattr(CriticTrainer, "evaluate", recording_evaluate)
    ids = np.arange(1000.0)[:, None]  # every row identifies its sample
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MIEstimationWarning)
        estimate_mi(ids, ids, "infonce", _small_critic(), max_steps=100, **SMALL)
    assert len(evaluated_rows) == 3 * 64  # 200 held out -> 3 whole batches
    assert trained_rows and not trained_rows & evaluated_rows


def test_plateau_stops_training_early_on_independent_data():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MIEstimationWarning)
        result = estimate_mi(
            x, y, "infonce", _small_critic(), max_steps=5000, patience=4, **SMALL
        )
    assert result.stopped_early and result.steps < 5000 and result.steps == result.curve.steps[-1]
    assert abs(result.mi_nats) < 0.1
    # "No information" is recognisable: the interval reaches the permutation baseline.
    assert result.consistent_with_independence
    assert result.interval[0] < 0.0 < result.interval[1]


@pytest.mark.filterwarnings("ignore::invariant_reps.estimators.NotConvergedWarning")
def test_infonce_ceiling_warning_when_true_mi_far_exceeds_log_batch():
    rho = ground_truth.rho_for_mi(8.0, dim=4)
    x, y = ground_truth.correlated_gaussian(3000, dim=4, rho=rho, seed=2)
    with pytest.warns(InfoNCECeilingWarning, match=r"log\(16\)"):
        result = estimate_mi(
            x, y, "infonce", _small_critic(), batch_size=16, learning_rate=2e-3,
            max_steps=400, eval_every=50, seed=0,
        )
    assert result.mi_nats <= math.log(16) + 1e-6
    assert any("ceiling" in message for message in result.warnings)


def test_not_converged_warning_when_max_steps_is_too_small():
    x, y = ground_truth.correlated_gaussian(2000, dim=2, rho=0.9, seed=3)
    with pytest.warns(NotConvergedWarning, match="max_steps=20"):
        result = estimate_mi(x, y, "nwj", _small_critic(), max_steps=20, **SMALL)
    assert not result.converged and not result.stopped_early and result.steps == 20


class _NaNCritic(SeparableCritic):
    def pair_scores(self, x, y):
        return super().pair_scores(x, y) * math.nan


def test_divergence_stops_training_and_warns():
    x, y = ground_truth.correlated_gaussian(1000, dim=2, rho=0.5, seed=4)
    with pytest.warns(UnstableEstimateWarning, match="became nan at step 1"):
        result = estimate_mi(x, y, "mine", _NaNCritic(hidden_units=(4,)), max_steps=50, **SMALL)
    assert math.isnan(result.mi_nats) and result.steps == 1 and result.stopped_early
    assert not result.converged


@pytest.mark.filterwarnings("ignore::invariant_reps.estimators.NotConvergedWarning")
def test_callback_and_tensorboard_scalars(tmp_path):
    x, y = ground_truth.correlated_gaussian(1000, dim=2, rho=0.5, seed=5)
    calls = []
    result = estimate_mi(
        x, y, "smile", _small_critic(), max_steps=100, log_dir=str(tmp_path),
        callback=lambda *args: calls.append(args), patience=50, **SMALL,
    )
    assert [step for step, _, _ in calls] == result.curve.steps.tolist() == [50, 100]
    assert [heldout for _, _, heldout in calls] == result.curve.heldout_nats.tolist()
    tags = set()
    for event_file in glob.glob(str(tmp_path / "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(event_file):
            tags.update(value.tag for value in event.summary.value)
    assert {"mi/smile/train", "mi/smile/heldout"} <= tags


@pytest.mark.filterwarnings("ignore::invariant_reps.estimators.NotConvergedWarning")
def test_plot_training_curve_writes_a_png(tmp_path):
    x, y = ground_truth.correlated_gaussian(1000, dim=2, rho=0.5, seed=6)
    result = estimate_mi(x, y, "infonce", _small_critic(), max_steps=100, patience=50, **SMALL)
    path = plot_training_curve(result, tmp_path / "curve.png", true_mi=0.29)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="'ksg' estimate has no training curve"):
        plot_training_curve(estimate_mi(x, y, "ksg"), tmp_path / "ksg.png")


def test_nonparametric_methods_skip_training():
    x, y = ground_truth.correlated_gaussian(2000, dim=1, rho=0.8, seed=7)
    result = estimate_mi(x, y, "gaussian")
    assert result.curve is None and result.steps == 0 and math.isnan(result.std_nats)
    assert result.mi_nats == pytest.approx(0.511, abs=0.05)
    # 10 equal-width bins over this sample's range: the quantized bivariate normal
    # carries 0.454 nats (its CDF summed over the cells), below the continuous
    # 0.511 (data processing); the plug-in lands on it.
    binned = estimate_mi(x, y, "binned", bins=10)
    assert binned.mi_nats == pytest.approx(0.454, abs=0.02)
    assert binned.interval[0] < binned.mi_nats < binned.interval[1] < 0.511


def test_rejects_bad_arguments():
    x, y = ground_truth.correlated_gaussian(500, dim=1, rho=0.5, seed=8)
    with pytest.raises(ValueError, match=r"'mutual'.*'mine', 'nwj', 'infonce', 'smile', 'ksg'"):
        estimate_mi(x, y, "mutual")
    with pytest.raises(ValueError, match="validation_fraction=1.0"):
        estimate_mi(x, y, validation_fraction=1.0)
    with pytest.raises(ValueError, match="100 held-out samples.*batch_size=128"):
        estimate_mi(x, y, batch_size=128)
    with pytest.raises(ValueError, match="max_steps=0"):
        estimate_mi(x, y, max_steps=0)
    bad = x.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="`y` contains NaN"):
        estimate_mi(x, bad, batch_size=32)
