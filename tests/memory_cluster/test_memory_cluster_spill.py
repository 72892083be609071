"""Data several times the workers' memory: spilled to disk, computed exactly, nobody killed."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import psutil
import pytest

import pardata.array as pa
from pardata.distributed import Client, LocalCluster, wait

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

MiB = 2**20
LIMIT = 256 * MiB


class PeakRSS:
    """Samples the RSS of some processes every few milliseconds, in a thread."""

    def __init__(self, pids):
        self.peak = dict.fromkeys(pids, 0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        procs = [psutil.Process(p) for p in self.peak]
        while not self._stop.wait(0.005):
            for proc in procs:
                try:
                    self.peak[proc.pid] = max(self.peak[proc.pid], proc.memory_info().rss)
                except psutil.Error:
                    pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


async def loop_lag(seconds: float) -> float:
    """Worst delay of the worker's event loop waking up, over ``seconds``."""
    worst = 0.0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        start = time.monotonic()
        await asyncio.sleep(0.01)
        worst = max(worst, time.monotonic() - start - 0.01)
    return worst


def spill_metrics(pardata_worker):
    m = pardata_worker.store.buffer.metrics()
    return {"spill_bytes": m.spill_bytes, "unspill_bytes": m.unspill_bytes, "spilled_bytes": m.spilled_bytes}


def test_array_four_times_the_memory_spills_and_reduces_exactly(capsys):
    rows, cols = 4096, 32768  # 1 GiB of float64 in 8 MiB blocks, across 2 x 256 MiB workers
    x = pa.arange(rows, chunks=256, dtype="f8")[:, None] + pa.arange(cols, chunks=4096, dtype="f8")[None, :] * rows
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=LIMIT) as cluster, Client(cluster) as client:
        workers = client.scheduler_info()["workers"]
        pids = {addr: w["pid"] for addr, w in workers.items()}
        lags: dict = {}
        with PeakRSS(pids.values()) as rss:
            probe = threading.Thread(target=lambda: lags.update(client.run(loop_lag, 3.0)))
            probe.start()
            persisted = client.persist(x)
            wait([node.value for node in persisted.__pardata_graph__().values()], timeout=60)
            probe.join()
            total = persisted.sum().compute()
            means = persisted.mean(axis=0).compute()
        metrics = client.run(spill_metrics)
        info = client.scheduler_info()["workers"]

    n = rows * cols
    assert total == n * (n - 1) / 2
    np.testing.assert_array_equal(means, (rows - 1) / 2 + np.arange(cols, dtype="f8") * rows)
    assert {addr: w["pid"] for addr, w in info.items()} == pids  # nobody restarted
    assert all(not w["restarts"] for w in info.values())
    assert all(m["spill_bytes"] > 0 for m in metrics.values()), metrics
    assert sum(m["spilled_bytes"] for m in metrics.values()) >= 256 * MiB
    assert all(w["memory"]["limit"] == LIMIT for w in info.values())
    assert max(rss.peak.values()) < LIMIT, rss.peak
    with capsys.disabled():
        print(f"\n  spilled {sum(m['spill_bytes'] for m in metrics.values()) / MiB:.0f} MiB in total; "
              f"peak RSS {[round(v / MiB) for v in rss.peak.values()]} MiB of {LIMIT // MiB} MiB; "
              f"worst event-loop lag while spilling {max(lags.values()) * 1e3:.1f} ms")
