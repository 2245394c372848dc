"""MultiWorkerMirroredStrategy with two worker processes on 127.0.0.1: same weights, exact resume."""

import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
METHOD = "irene"  # A privacy head with its own optimizer: the auxiliary updates must stay in sync too.
TIMEOUT_S = 420


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("multi_worker")
    ports = ",".join(str(p) for p in _free_ports(2))
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.models.multi_worker_check", METHOD, str(i), ports, str(out_dir)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]
    deadline = time.time() + TIMEOUT_S
    try:
        outputs = [p.communicate(timeout=max(1, deadline - time.time())) for p in processes]
    finally:
        for p in processes:  # Never leave a worker waiting for its peer.
            if p.poll() is None:
                p.kill()
                p.wait()
    for p, (_, stderr) in zip(processes, outputs):
        assert p.returncode == 0, stderr[-3000:]
    return out_dir


def _load(out_dir, name):
    with np.load(out_dir / f"{name}.npz") as arrays:
        return [arrays[key] for key in sorted(arrays.files)]


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_both_workers_end_with_identical_weights(workers):
    for phase in ("straight", "resumed"):
        chief, other = _load(workers, f"{phase}_0"), _load(workers, f"{phase}_1")
        assert len(chief) == len(other) > 0
        for a, b in zip(chief, other):
            np.testing.assert_array_equal(a, b)


@pytest.mark.timeout(TIMEOUT_S + 60)
def test_resuming_from_a_checkpoint_under_the_strategy_equals_uninterrupted_training(workers):
    straight, resumed = _load(workers, "straight_0"), _load(workers, "resumed_0")
    assert len(straight) == len(resumed)
    for a, b in zip(straight, resumed):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
