"""Chaos: worker processes SIGKILLed at random moments while a layered graph runs.

Three workers under nannies compute a graph of 501 tasks (``faults.layered_graph``: 100
seeded NumPy blocks, four layers whose every task reads two neighbours of the layer
below, so results cross between workers, and a sum), twenty rounds in a row. In each round a seeded RNG picks moments to SIGKILL a random
worker process; its nanny restarts it. Every round's result must equal the same graph
computed with plain NumPy in this process, and finish within a bound: a stall (a gather or a peer fetch
hanging on a dead address, the scheduler waiting for a heartbeat instead of noticing a
closed connection) fails the round instead of hiding in a long timeout.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import pytest

import pardata
from pardata.distributed import Client, LocalCluster
from pardata.testing.faults import expected_total, layered_graph, wait_until, worker_pids

pytestmark = [pytest.mark.processes, pytest.mark.timeout(240)]

ROUNDS = 20
WIDTH = 100  # 5 layers of 100 tasks and a sum: 501 tasks per round
ROUND_BOUND = 25.0  # seconds: a healthy round takes one or two
DELAY = 0.002  # seconds per task: kills land mid-task now and then


def killer(client, rng: random.Random, moments: list[float], done: threading.Event, killed: list) -> None:
    start = time.monotonic()
    for moment in moments:
        if done.wait(max(moment - (time.monotonic() - start), 0)):
            return
        pids = list(worker_pids(client).values())
        if len(pids) < 2:  # keep one worker alive so the round can progress
            continue
        pid = rng.choice(pids)
        try:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        except ProcessLookupError:
            pass


CHAOS_CONFIG = {
    # Nannies (in this process) restart a killed worker at once, as often as it takes.
    "worker.nanny.backoff": 0.05,
    "worker.nanny.max-restarts": 1000,
    "worker.nanny.restart-window": 1.0,
    # Random kills may hit one task's workers repeatedly: that is the test, not the task.
    "distributed.scheduler.allowed-failures": 1000,
}


@pytest.fixture
def chaos_env(monkeypatch):
    for key, value in CHAOS_CONFIG.items():  # for the scheduler's process
        monkeypatch.setenv("PARDATA_" + key.upper().replace(".", "__").replace("-", "_"), str(value))
    with pardata.config.set(CHAOS_CONFIG):  # for the nannies in this process
        yield


def test_chaos_random_sigkills_over_twenty_rounds(chaos_env):
    seed = int(os.environ.get("PARDATA_CHAOS_SEED", random.randrange(2**32)))
    print(f"chaos seed: {seed} (rerun with PARDATA_CHAOS_SEED={seed})")
    rng = random.Random(seed)
    expected = [expected_total(r, WIDTH) for r in range(ROUNDS)]
    killed: list[int] = []
    durations = []
    with LocalCluster(n_workers=3, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            for r in range(ROUNDS):
                moments = sorted(rng.uniform(0.0, 0.8) for _ in range(rng.choice((1, 1, 1, 2))))
                done = threading.Event()
                thread = threading.Thread(target=killer, args=(client, rng, moments, done, killed), daemon=True)
                start = time.monotonic()
                future = client.compute(layered_graph(r, WIDTH, delay=DELAY))
                thread.start()
                try:
                    result = future.result(timeout=ROUND_BOUND)
                finally:
                    done.set()
                    thread.join()
                elapsed = time.monotonic() - start
                durations.append(elapsed)
                assert result == expected[r], f"round {r} (seed {seed}): wrong result"
                assert elapsed < ROUND_BOUND, f"round {r} (seed {seed}) took {elapsed:.1f}s"
                del future
            print(f"rounds: max {max(durations):.2f}s, mean {sum(durations) / len(durations):.2f}s; "
                  f"{len(killed)} workers killed")
            assert killed, "no worker was killed: the test tested nothing"
            wait_until(lambda: len(client.nthreads()) == 3, what="the nannies to bring every worker back")
