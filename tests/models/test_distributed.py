"""MirroredStrategy on two logical CPU devices reports and learns what one device does."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def report():
    completed = subprocess.run(
        [sys.executable, "-m", "tests.models.distributed_check"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def test_two_replicas_are_in_sync(report):
    assert report["replicas"] == 2


def test_reported_losses_equal_single_device_values(report):
    single, mirrored = report["single"]["history"], report["mirrored"]["history"]
    assert set(single) == set(mirrored)
    for name in single:
        np.testing.assert_allclose(mirrored[name], single[name], rtol=1e-5, err_msg=name)
    for name, value in report["single"]["evaluation"].items():
        np.testing.assert_allclose(report["mirrored"]["evaluation"][name], value, rtol=1e-5, err_msg=name)


def test_weights_after_training_equal_single_device_weights(report):
    assert len(report["single"]["weights"]) == len(report["mirrored"]["weights"])
    for single, mirrored in zip(report["single"]["weights"], report["mirrored"]["weights"]):
        np.testing.assert_allclose(mirrored, single, atol=1e-5)


def test_auxiliary_optimizer_variables_are_mirrored(report):
    assert report["mirrored"]["auxiliary_optimizer_in_scope"]
    assert report["mirrored"]["auxiliary_variable_types"] == ["MirroredVariable"]


# ------------------------------------------- every registered method, through the harness
@pytest.fixture(scope="module")
def method_report():
    completed = subprocess.run(
        [sys.executable, "-m", "tests.models.method_mirrored_check"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


def _distributed_methods():
    import invariant_reps as ir

    return [name for name in ir.available_methods() if ir.get_method(name).distributed]


@pytest.mark.parametrize("name", _distributed_methods())
def test_every_method_under_mirrored_strategy_equals_one_device(method_report, name):
    """Batch-level terms (Gram matrices, plug-in MI, critics) see the global batch on every replica."""
    assert method_report["replicas"] == 2
    single, mirrored = method_report["methods"][name]["single"], method_report["methods"][name]["mirrored"]
    assert set(single["history"]) == set(mirrored["history"])
    for key, values in single["history"].items():
        np.testing.assert_allclose(mirrored["history"][key], values, rtol=1e-5, atol=1e-6, err_msg=key)
    for key, value in single["evaluation"].items():
        np.testing.assert_allclose(mirrored["evaluation"][key], value, rtol=1e-5, atol=1e-6, err_msg=key)
    assert len(mirrored["weights"]) == len(single["weights"])
    for index, (a, b) in enumerate(zip(mirrored["weights"], single["weights"])):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, err_msg=f"variable {index}")
