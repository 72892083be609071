"""With one worker's link capped (tc tbf), the scheduler runs each task where its large
input already is: it moves the small inputs, not the large ones. Measured in bytes the
workers fetched from each other, against the same tasks pinned to the other worker
(locality disabled), which must move every large input across the capped link."""

import numpy as np
import pytest

pytestmark = [pytest.mark.multihost, pytest.mark.processes, pytest.mark.timeout(120)]

N_PAIRS = 4
BIG = 2**17  # int64 elements: 1 MiB per large input
RATE = "8mbit"  # 1 MB/s on the capped link, both ways
#: The scheduler is told the network's bandwidth, as an operator would configure it: it
#: weighs moving an input (bytes / bandwidth) against waiting for a busy worker.
ENV = {"PARDATA_DISTRIBUTED__SCHEDULER__BANDWIDTH": "1MB"}

SCRIPT = r"""
import sys
import time

import numpy as np

from pardata.distributed import Client, wait
from pardata.testing.netlab import emit, wait_for_workers

address, capped_host, other_host, n, size = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
client = Client(address, timeout=30)
workers = wait_for_workers(client, 2, hosts=[capped_host, other_host])
capped = next(w for w in workers if w.split("//")[1].rsplit(":", 1)[0] == capped_host)
other = next(w for w in workers if w != capped)


def big(i):
    import numpy as np
    return np.random.default_rng(i).integers(0, 1000, size=size)


def small(i):
    import numpy as np
    return np.arange(i, i + 16)


def combine(b, s):
    return int(b.sum()) * 1000 + int(s.sum())


def fetched(pardata_worker):
    return pardata_worker.diagnostics.transfer_in_bytes


def measure(futures_of):
    before = sum(client.run(fetched).values())
    start = time.monotonic()
    futures = futures_of()
    values = client.gather(futures)
    elapsed = time.monotonic() - start
    ran_on = [ws[0] for ws in client.who_has(futures).values()]
    return {"values": values, "bytes": sum(client.run(fetched).values()) - before, "seconds": elapsed,
            "on_capped": sum(w == capped for w in ran_on)}


bigs = [client.submit(big, i, workers=[capped], pure=False) for i in range(n)]
smalls = [client.submit(small, i, workers=[other], pure=False) for i in range(n)]
wait(bigs + smalls)
for _ in range(3):  # the scheduler learns that combine is quick
    client.submit(combine, np.zeros(4, dtype=int), np.zeros(4, dtype=int), pure=False).result()
free = measure(lambda: client.map(combine, bigs, smalls))
pinned = measure(lambda: [client.submit(combine, b, s, workers=[other], pure=False) for b, s in zip(bigs, smalls)])
emit({"free": free, "pinned": pinned})
"""


def test_bandwidth_cap_scheduler_keeps_large_inputs_local(make_lab):
    lab = make_lab(ENV)
    lab.cap_bandwidth("w1", RATE)
    sched = lab.start_scheduler("sched")
    lab.start_worker("w1", sched.address)
    lab.start_worker("w2", sched.address)
    out = lab.run_python("client", SCRIPT, args=[sched.address, lab.address("w1"), lab.address("w2"), N_PAIRS, BIG],
                         timeout=100)

    expected = [
        int(np.random.default_rng(i).integers(0, 1000, size=BIG).sum()) * 1000 + int(np.arange(i, i + 16).sum())
        for i in range(N_PAIRS)
    ]
    free, pinned = out["free"], out["pinned"]
    assert free["values"] == expected
    assert pinned["values"] == expected

    large_total = N_PAIRS * BIG * 8
    # Pinned to the other worker, every large input crossed the capped link: this is
    # what the byte count measures when locality is not used.
    assert pinned["bytes"] >= large_total
    # Left to the scheduler, every task ran beside its large input; only the small
    # ones (128 bytes each) moved.
    assert free["on_capped"] == N_PAIRS, out
    assert free["bytes"] < 0.01 * large_total
    print(f"bytes fetched: scheduler's choice {free['bytes']} in {free['seconds']:.2f}s, "
          f"pinned away from the data {pinned['bytes']} in {pinned['seconds']:.2f}s")
