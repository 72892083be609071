"""A hung worker (SIGSTOP): its TCP connection stays open, but it answers nothing.

The scheduler must notice within its heartbeat timeout (``worker-ttl``, short here),
remove the worker, and have its work and its results recomputed elsewhere; peers
fetching from it must give up (the scheduler's ``worker-removed`` announcement) and
use another holder or report the dependency missing. The computation finishes with
the exact result while the worker is still stopped. After SIGCONT the worker must not
corrupt anything: its stale completions are dropped (attempt ids), and it leaves, to
be replaced by a fresh process from its nanny, which registers again.
"""

from __future__ import annotations

import os
import signal
import time

import psutil
import pytest

import pardata
from pardata.distributed import Client, LocalCluster
from pardata.testing.faults import expected_total, layered_graph, wait_until, worker_pids

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]

TTL = 3.0  # the scheduler's heartbeat timeout here (the default is 60 s)
BEAT = 0.5  # how often workers report in (the default is 1 s)


@pytest.fixture
def short_ttl(monkeypatch):
    monkeypatch.setenv("PARDATA_DISTRIBUTED__SCHEDULER__WORKER_TTL", f"{TTL}s")
    monkeypatch.setenv("PARDATA_DISTRIBUTED__SCHEDULER__HEARTBEAT_INTERVAL", f"{BEAT}s")
    monkeypatch.setenv("PARDATA_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES", "100")
    with pardata.config.set({"worker.nanny.backoff": 0.05}):
        yield


def test_a_stopped_worker_is_removed_its_work_redone_and_it_comes_back_fresh(short_ttl):
    with LocalCluster(n_workers=3, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            graph = layered_graph(1, width=60, depth=5, delay=0.01)
            future = client.compute(graph)
            # Stop a worker once it holds results others will need.
            def holder():
                workers = client.scheduler_info()["workers"]
                busy = [a for a, w in workers.items() if w["keys"] >= 5]
                return busy[0] if busy else None

            victim = wait_until(holder, what="a worker holding results")
            pid = worker_pids(client)[victim]
            os.kill(pid, signal.SIGSTOP)
            stopped_at = time.monotonic()
            try:
                wait_until(lambda: victim not in client.nthreads(), timeout=60,
                           what="the scheduler to remove the stopped worker")
                noticed = time.monotonic() - stopped_at
                # Finished while the worker is still stopped: nobody waited on it (a
                # fetch or gather stuck on the frozen peer would take the 30 s connect
                # timeout; the rest of the graph is a few seconds of work).
                assert future.result(timeout=25) == expected_total(1, width=60, depth=5)
                assert psutil.Process(pid).status() == psutil.STATUS_STOPPED
            finally:
                os.kill(pid, signal.SIGCONT)
            print(f"the scheduler removed the stopped worker {noticed:.1f}s after SIGSTOP (ttl {TTL}s)")

            # Awake again, it leaves (its nanny starts a fresh worker) or registers
            # afresh; either way the cluster computes exactly, with every worker.
            try:
                wait_until(lambda: len(client.nthreads()) == 3, timeout=60, what="three workers again")
            except AssertionError:
                info = client.scheduler_info()["workers"]
                print({a: (w["name"], w["pid"], w["restarts"]) for a, w in info.items()},
                      [(n.pid, n.status) for n in cluster.nannies],
                      psutil.Process(pid).status() if psutil.pid_exists(pid) else "gone")
                raise
            wait_until(lambda: not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
                       or pid in worker_pids(client).values(), timeout=60, what="the old process to leave or rejoin")
            again = client.compute(layered_graph(2, width=60, depth=5))
            assert again.result(timeout=60) == expected_total(2, width=60, depth=5)
            info = client.scheduler_info()
            assert info["tasks"].get("erred", 0) == 0
