"""Spilling workers on one event loop: tasks and peers read spilled inputs, off the loop."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from pardata.testing.cluster import cluster, connect_client

pytestmark = pytest.mark.timeout(60)

MiB = 2**20
# Only managed memory steers these workers: the RSS is this whole test process's.
MANAGED_ONLY = {"target": 0.5, "spill": False, "pause": False, "terminate": False}


def make(i):
    return np.full(MiB // 2, i, dtype="f8")  # 4 MiB


def total(*blocks):
    return float(sum(b.sum() for b in blocks))


def test_tasks_and_peers_use_spilled_values_transparently():
    async def main():
        options = {"memory_limit": 16 * MiB, "memory_thresholds": MANAGED_ONLY}
        async with cluster(2, worker_options=options) as c, connect_client(c.scheduler_address) as client:
            blocks = client.map(make, range(16))  # 64 MiB through 2 x 8 MiB of target
            await client.gather(blocks[:1])
            while not all(f.done() for f in blocks):
                await asyncio.sleep(0.01)
            spilled = [w.store.buffer.metrics().spill_count for w in c.workers]
            assert all(n > 0 for n in spilled), spilled
            # every block is an input: spilled ones are read back (or fetched from a peer's disk)
            result = client.submit(total, *blocks)
            expected = float(sum(i * (MiB // 2) for i in range(16)))
            assert await result == expected
            values = await client.gather(blocks)
            assert [v[0] for v in values] == list(range(16))
            unspilled = sum(w.store.buffer.metrics().unspill_count for w in c.workers)
            assert unspilled > 0
            statuses = [w.monitor.state() for w in c.workers]
            assert all(s.limit == 16 * MiB and not s.paused for s in statuses)

    asyncio.run(main())
