"""A worker over its pause threshold gets no work, says why, and resumes when memory falls."""

from __future__ import annotations

import time

import pytest

from pardata.distributed import Client, LocalCluster
from pardata.testing.cluster import inc, slowinc

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

MiB = 2**20
LIMIT = 400 * MiB


def hold_memory(nbytes, pardata_worker):
    """Unmanaged memory the worker cannot spill (think: a leak, or a library's cache)."""
    import numpy as np

    pardata_worker.ballast = np.ones(nbytes // 8)


def drop_memory(pardata_worker):
    del pardata_worker.ballast


def wait_until(predicate, timeout=20.0, interval=0.05):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(interval)


def test_paused_worker_gets_no_work_says_why_and_resumes():
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=LIMIT) as cluster, Client(cluster) as client:
        info = client.scheduler_info()["workers"]
        victim = next(a for a, w in info.items() if w["name"] == "0")
        other = next(a for a in info if a != victim)

        client.run(hold_memory, 300 * MiB, workers=[victim])  # RSS ~350 MiB: over 80%, under 95%

        def memory(addr):
            return client.scheduler_info()["workers"][addr]["memory"]

        wait_until(lambda: memory(victim)["paused"])
        reason = memory(victim)["reason"]
        assert "paused" in reason and "unmanaged" in reason and "nothing left to spill" in reason, reason

        futures = client.map(slowinc, range(20), delay=0.01, pure=False)
        pinned = client.submit(inc, 1, workers=[victim], pure=False)
        assert client.gather(futures) == list(range(1, 21))
        assert {w for holders in client.who_has(futures).values() for w in holders} == {other}
        time.sleep(0.3)
        assert not pinned.done()
        assert client._task_states([pinned.key])[pinned.key] == "no-worker"

        client.run(drop_memory, workers=[victim])
        assert pinned.result(timeout=20) == 2
        assert client.who_has([pinned])[pinned.key] == (victim,)
        assert not memory(victim)["paused"] and memory(victim)["reason"] == ""
        info = client.scheduler_info()["workers"]
        assert all(not w["restarts"] for w in info.values())
