"""Workers and client reach the scheduler through a user-space proxy that adds 50 ms each
way (``tc netem`` is not available everywhere): registration, the authentication
handshake, task dispatch and results all cross the slow path, and the result is exact."""

import pytest

import pardata.array as pa

pytestmark = [pytest.mark.multihost, pytest.mark.processes, pytest.mark.timeout(120)]

DELAY = 0.05

SCRIPT = r"""
import sys
import time

import pardata.array as pa
from pardata.distributed import Client
from pardata.testing.netlab import emit, wait_for_workers

address, host1, host2 = sys.argv[1:4]
client = Client(address, timeout=30)
wait_for_workers(client, 2, hosts=[host1, host2])


def step(x, i):
    return x * 3 + i


start = time.monotonic()
chain = client.submit(step, 1, 0)
for i in range(1, 12):
    chain = client.submit(step, chain, i)
chained = chain.result(timeout=60)
chain_seconds = time.monotonic() - start
x = pa.random.default_rng(3).integers(0, 100, size=(400, 400), chunks=100)
total = int((x @ x.T).sum().compute())
emit({"chained": chained, "total": total, "chain_seconds": chain_seconds})
"""


def test_scheduler_behind_a_slow_link(make_lab):
    lab = make_lab()
    sched = lab.start_scheduler("sched")
    proxy = lab.start_delay_proxy("sched", sched.address, delay=DELAY, lifetime=110)
    lab.start_worker("w1", proxy.address)
    lab.start_worker("w2", proxy.address)
    out = lab.run_python("client", SCRIPT, args=[proxy.address, lab.address("w1"), lab.address("w2")], timeout=100)

    value = 1 * 3 + 0
    for i in range(1, 12):
        value = value * 3 + i
    assert out["chained"] == value
    xn = pa.random.default_rng(3).integers(0, 100, size=(400, 400), chunks=100).compute(scheduler="sync")
    assert out["total"] == int((xn @ xn.T).sum())
    stats = proxy.stats()
    assert stats["connections"] >= 3, stats  # two workers and the client, at least
    assert stats["bytes_to_target"] > 0 and stats["bytes_from_target"] > 0
    print(f"12 chained tasks through {DELAY * 1000:.0f} ms each way: {out['chain_seconds']:.2f}s")
