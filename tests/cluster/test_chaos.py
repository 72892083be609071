"""Chaos: worker processes SIGKILLed at random moments while a layered graph runs.

Three workers under nannies compute a graph of ~560 tasks in five layers (each task of
layers 1-3 reads two neighbours of the layer below, so results cross between workers),
twenty rounds in a row. In each round a seeded RNG picks moments to SIGKILL a random
worker process; its nanny restarts it. Every round's result must equal the same graph
computed in this process, and finish within a bound: a stall (a gather or a peer fetch
hanging on a dead address, the scheduler waiting for a heartbeat instead of noticing a
closed connection) fails the round instead of hiding in a long timeout.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time

import numpy as np
import pytest

import pardata
from pardata.distributed import Client, LocalCluster

pytestmark = [pytest.mark.processes, pytest.mark.timeout(240)]

WIDTH = 110  # tasks per layer; 5 layers + the reduction: 561 tasks
ROUNDS = 20
ROUND_BOUND = 25.0  # seconds: a healthy round takes about one


def seed_values(i: int, salt: int):
    return np.random.default_rng(i * 1_000_003 + salt).integers(0, 1000, size=2000, dtype=np.int64)


def mix_values(a, b, k: int):
    return (a * 3 + np.roll(b, k)) % 1_000_003


def seed_block(i: int, salt: int):
    time.sleep(0.002)  # long enough for kills to land mid-task now and then
    return seed_values(i, salt)


def mix(a, b, k: int):
    time.sleep(0.002)
    return mix_values(a, b, k)


def total(*blocks):
    return int(sum(int(b.sum()) for b in blocks))


def expected_total(salt: int) -> int:
    """The graph's result computed with plain NumPy in this process."""
    layer = [seed_values(i, salt) for i in range(WIDTH)]
    for depth in range(1, 5):
        layer = [mix_values(layer[i], layer[(i + depth) % WIDTH], depth) for i in range(WIDTH)]
    return total(*layer)


def layered_graph(salt: int):
    """A Delayed with ``5 * WIDTH + 1`` tasks; keys differ per ``salt``."""
    seed = pardata.delayed(seed_block, pure=True)
    step = pardata.delayed(mix, pure=True)
    layer = [seed(i, salt) for i in range(WIDTH)]
    for depth in range(1, 5):
        layer = [step(layer[i], layer[(i + depth) % WIDTH], depth) for i in range(WIDTH)]
    return pardata.delayed(total, pure=True)(*layer)


def worker_pids(client) -> list[int]:
    return [w["pid"] for w in client.scheduler_info()["workers"].values()]


def killer(client, rng: random.Random, moments: list[float], done: threading.Event, killed: list) -> None:
    start = time.monotonic()
    for moment in moments:
        if done.wait(max(moment - (time.monotonic() - start), 0)):
            return
        pids = worker_pids(client)
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
    expected = [expected_total(r) for r in range(ROUNDS)]
    killed: list[int] = []
    durations = []
    with LocalCluster(n_workers=3, threads_per_worker=1, memory_limit=0, dashboard_address=None) as cluster:
        with Client(cluster) as client:
            for r in range(ROUNDS):
                moments = sorted(rng.uniform(0.0, 0.8) for _ in range(rng.choice((1, 1, 2))))
                done = threading.Event()
                thread = threading.Thread(target=killer, args=(client, rng, moments, done, killed), daemon=True)
                start = time.monotonic()
                future = client.compute(layered_graph(r))
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
            deadline = time.monotonic() + 30
            while len(client.nthreads()) < 3:  # the nannies brought every worker back
                assert time.monotonic() < deadline, client.scheduler_info()["workers"]
                time.sleep(0.1)
