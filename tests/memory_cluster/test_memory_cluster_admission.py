"""Admission by the memory a task uses while running, on a real worker process.

Tasks that build a large temporary (40% of the worker's limit) and return a few bytes:
three threads running three at once cross the terminate threshold and the nanny kills
the worker; with admission the scheduler learns from the first run what such a task
needs while running and starts them one at a time, so nothing is restarted.
"""

from __future__ import annotations

import time

import pytest

from pardata.distributed import Client, LocalCluster

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]

MiB = 2**20
LIMIT = 400 * MiB
TEMPORARY = int(0.4 * LIMIT)


def make_temporary(i: int, nbytes: int = TEMPORARY) -> int:
    """Build ``nbytes`` of temporaries step by step, hold them a moment, return a number."""
    import numpy as np

    parts = []
    for _ in range(nbytes // (8 * MiB)):
        parts.append(np.full(MiB, i, dtype=np.int64))
        time.sleep(0.005)
    time.sleep(0.2)
    return int(sum(int(p[0]) for p in parts)) + i


def expected(i: int) -> int:
    return i * (TEMPORARY // (8 * MiB)) + i


def restarts(client) -> list:
    return [r for w in client.scheduler_info()["workers"].values() for r in w["restarts"]]


def wait_until(predicate, timeout=60.0, interval=0.05) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
    return True


@pytest.fixture
def cluster_env(monkeypatch):
    monkeypatch.setenv("PARDATA_WORKER__NANNY__BACKOFF", "0.05")
    return monkeypatch


def test_without_admission_the_temporaries_together_get_the_worker_killed(cluster_env):
    cluster_env.setenv("PARDATA_DISTRIBUTED__SCHEDULER__MEMORY_ADMISSION", "inf")
    with LocalCluster(n_workers=1, threads_per_worker=3, memory_limit=LIMIT) as cluster, Client(cluster) as client:
        futures = client.map(make_temporary, range(6), pure=False)
        assert wait_until(lambda: restarts(client), timeout=90), "the worker was never restarted"
        assert restarts(client)[0]["reason"] == "memory"
        client.cancel(futures)


def test_with_admission_they_run_one_at_a_time_and_nothing_is_restarted(cluster_env):
    with LocalCluster(n_workers=1, threads_per_worker=3, memory_limit=LIMIT) as cluster, Client(cluster) as client:
        futures = client.map(make_temporary, range(6), pure=False)
        assert client.gather(futures) == [expected(i) for i in range(6)]
        info = client.scheduler_info()
        assert restarts(client) == []
        (estimate,) = (v for k, v in info["memory_estimates"].items() if k.startswith("make_temporary"))
        assert estimate["running"] >= 0.8 * TEMPORARY and estimate["output"] < 1024, estimate
        (worker,) = info["workers"].values()
        assert worker["memory"]["admission_room"] is not None
