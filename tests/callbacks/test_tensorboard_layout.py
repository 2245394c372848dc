"""The shipped custom-scalar layout charts every tag a real run of every method and dataset writes."""

import re

import pytest

import invariant_reps as ir
from invariant_reps.callbacks import load_layout
from invariant_reps.evaluation import metrics as metric_registry
from tests.models import method_harness

ALWAYS = ["epoch_loss", "epoch_task_loss", "epoch_accuracy", "epoch_learning_rate"]


def _charts():
    layout = load_layout()
    return [(chart.title, list(chart.multiline.tag)) for category in layout.category for chart in category.chart]


def _matching_charts(tag):
    return [title for title, patterns in _charts() if any(re.search(p, tag) for p in patterns)]


def _method_tags(name):
    model = method_harness.make_case(name).model
    names = list(model.loss_term_names)
    for auxiliary in model.auxiliary_names:
        names += list(model._auxiliary_specs[auxiliary]["trackers"])
    return [f"epoch_{n}" for n in names]


def _dataset_tags(name):
    spec = ir.get_dataset(name)
    per_epoch = [f"epoch_{s}_{m}" for s in spec.evaluation_sets for m in spec.metrics]
    final = [f"test/{s}_{m}" for s in ("train", *spec.evaluation_sets) for m in spec.metrics]
    if spec.sensitive != "none":
        final += ["test/leakage_chance", "test/leakage_accuracy" if spec.sensitive == "discrete" else "test/leakage_r2"]
    return per_epoch + final


@pytest.mark.parametrize("name", ir.available_methods())
def test_every_method_tag_is_charted(name):
    unmatched = [tag for tag in ALWAYS + _method_tags(name) if not _matching_charts(tag)]
    assert not unmatched, f"tags of method {name!r} in no chart of tensorboard_configs/custom_scalars.json"


@pytest.mark.parametrize("name", ir.available_datasets())
def test_every_dataset_metric_is_charted(name):
    unmatched = [tag for tag in _dataset_tags(name) if not _matching_charts(tag)]
    assert not unmatched, f"tags of dataset {name!r} in no chart: {unmatched}"


def test_test_set_charts_do_not_pick_up_training_set_values():
    for title, patterns in _charts():
        if title.lower().startswith("test"):
            assert not any(re.search(p, "test/train_accuracy") for p in patterns), title


def test_every_registered_metric_has_a_label():
    for name in metric_registry.available_metrics():
        assert metric_registry.get_metric(name).label
