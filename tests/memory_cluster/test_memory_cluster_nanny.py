"""Nannies restart workers that die or outgrow their memory; the scheduler recomputes."""

from __future__ import annotations

import os
import signal
import time

import pytest

import pardata
from pardata.distributed import Client, KilledWorker, LocalCluster
from pardata.testing.cluster import inc, slowinc

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

MiB = 2**20
LIMIT = 300 * MiB


def allocate(nbytes: int, marker: str | None = None) -> int:
    """Take ``nbytes`` of memory step by step, as a real task would; with a ``marker``
    file, only the first time (a rerun after the worker was killed returns at once)."""
    import numpy as np

    if marker is not None:
        if os.path.exists(marker):
            return 0
        open(marker, "w").close()
    hog = []
    for _ in range(nbytes // (8 * MiB)):
        hog.append(np.ones(MiB))
        time.sleep(0.01)
    return len(hog)


def wait_until(predicate, timeout=30.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


@pytest.fixture(scope="module")
def cluster_client():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PARDATA_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "2")
        with pardata.config.set({"worker.nanny.backoff": 0.05}), \
                LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=LIMIT) as cluster:
            with Client(cluster) as client:
                yield cluster, client


def restarts(client, reason=None) -> list:
    found = [r for w in client.scheduler_info()["workers"].values() for r in w["restarts"]]
    return [r for r in found if reason is None or r["reason"] == reason]


def test_a_killed_worker_process_is_restarted_by_its_nanny(cluster_client):
    cluster, client = cluster_client
    before = len(restarts(client))
    layer = client.map(slowinc, range(100), delay=0.02, pure=False)
    total = client.submit(sum, layer, pure=False)
    wait_until(lambda: sum(f.done() for f in layer) >= 20)
    victim = next(w for w in client.scheduler_info()["workers"].values() if w["name"] == "0")
    os.kill(victim["pid"], signal.SIGKILL)

    assert total.result(timeout=60) == sum(range(1, 101))
    wait_until(lambda: len(restarts(client)) > before and len(client.nthreads()) == 2)
    record = restarts(client)[-1]
    assert record["reason"] == "signal" and record["old_pid"] == victim["pid"], record
    assert "SIGKILL" in record["message"]
    assert [n.status for n in cluster.nannies] == ["running", "running"]
    assert all(p.poll() is None for p in cluster.worker_processes)
    assert victim["pid"] not in [p.pid for p in cluster.worker_processes]


def test_a_worker_over_the_terminate_threshold_is_restarted_and_its_task_recomputed(cluster_client, tmp_path):
    _, client = cluster_client
    before = len(restarts(client, "memory"))
    marker = tmp_path / "allocated"
    others = client.map(inc, range(10), pure=False)
    hog = client.submit(allocate, 2 * LIMIT, str(marker), pure=False)
    total = client.submit(sum, [hog, *others], pure=False)

    assert total.result(timeout=60) == sum(range(1, 11))
    assert marker.exists()
    wait_until(lambda: len(restarts(client, "memory")) > before and len(client.nthreads()) == 2)
    message = restarts(client, "memory")[-1]["message"]
    assert "killed by its nanny: memory" in message and "300 MiB limit" in message, message


def test_a_task_always_over_the_limit_errs_saying_so_and_the_cluster_carries_on(cluster_client):
    _, client = cluster_client
    hog = client.submit(allocate, 2 * LIMIT, pure=False)
    with pytest.raises(KilledWorker) as info:
        hog.result(timeout=60)
    text = str(info.value)
    assert "killed by its nanny: memory" in text and "of the 300 MiB limit" in text, text
    wait_until(lambda: len(client.nthreads()) == 2)
    assert client.submit(inc, 1, pure=False).result(timeout=30) == 2
