"""Results spilled to disk survive a restart of the worker process: no recomputation."""

from __future__ import annotations

import collections
import os
import signal
import time

import numpy as np
import pytest

from pardata.distributed import Client, LocalCluster, wait

pytestmark = [pytest.mark.processes, pytest.mark.timeout(120)]

MiB = 2**20


def block(i: int, log: str):
    """An 8 MiB result; every execution is written down in ``log``."""
    with open(log, "a") as f:
        f.write(f"{i}\n")
    return np.full(MiB, i, dtype="f8")


def spilled_keys(pardata_worker) -> list:
    return pardata_worker.store.buffer.spilled_keys()


def test_spilled_results_survive_a_nanny_restart_without_recomputation(tmp_path):
    log = tmp_path / "executions"
    with LocalCluster(n_workers=1, threads_per_worker=1, memory_limit=256 * MiB) as cluster, Client(cluster) as client:
        futures = client.map(block, range(40), log=str(log), pure=False)  # 320 MiB through 256 MiB
        wait(futures, timeout=60)
        (before,) = client.scheduler_info()["workers"].values()
        (on_disk,) = client.run(spilled_keys).values()
        assert len(on_disk) >= 10

        os.kill(before["pid"], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while True:
            workers = client.scheduler_info()["workers"]
            if workers and next(iter(workers.values()))["pid"] != before["pid"]:
                break
            assert time.monotonic() < deadline, "no worker came back"
            time.sleep(0.05)
        (address, after) = next(iter(workers.items()))
        assert after["restarts"] and after["restarts"][-1]["reason"] == "signal"
        while set(client.who_has(futures).values()) != {(address,)}:  # what was in memory: recomputed
            assert time.monotonic() < deadline, client.who_has(futures)
            time.sleep(0.05)

        values = client.gather(futures)
        assert all(np.array_equal(v, np.full(MiB, i, dtype="f8")) for i, v in enumerate(values))
        runs = collections.Counter(int(line) for line in log.read_text().split())
        index = {f.key: i for i, f in enumerate(futures)}
        assert all(runs[index[key]] == 1 for key in on_disk), runs  # recovered, not recomputed
        assert sum(runs.values()) <= 40 + (40 - len(on_disk))  # at most what was in memory ran again
