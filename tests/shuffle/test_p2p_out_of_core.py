"""A shuffle of more data than the whole cluster's memory, within the memory limits."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import pardata.dataframe as pdd
from pardata.dataframe.shuffle import Partitioner

distributed = pytest.importorskip("pardata.distributed")

pytestmark = [pytest.mark.processes, pytest.mark.slow, pytest.mark.timeout(300)]

ROWS = 150_000  # 3.6 MB a partition
NPARTS = 190  # 684 MB, more than 2 x 320 MiB
# A bare worker that compiled its modules from source (no bytecode cache) holds about
# 160 MiB; the limit leaves it room below the pause line (0.8) for the shuffle's buffers.
LIMIT = 320 * 2**20


def make(i):
    rng = np.random.default_rng(i)
    return pd.DataFrame({"k": rng.integers(0, 10**9, ROWS), "a": rng.random(ROWS), "b": rng.random(ROWS)})


def summary(df):
    """Rows, a checksum, and the range of hash buckets its keys fall in (one bucket each)."""
    buckets = Partitioner("hash", ("k",)).assign(df, NPARTS)
    return pd.DataFrame({"n": [len(df)], "sum": [df.a.sum()],
                         "lo": [int(buckets.min()) if len(df) else -1], "hi": [int(buckets.max()) if len(df) else -1]})


def peak_rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))


def test_shuffle_larger_than_the_cluster_memory_finishes_without_restarts():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, memory_limit=LIMIT,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        before = set(client.scheduler_info()["workers"])
        d = pdd.from_map(make, list(range(NPARTS)))
        shuffled = d.shuffle("k", npartitions=NPARTS)
        assert any("shuffle-transfer" in str(k) for k in shuffled.__pardata_graph__())
        out = shuffled.map_partitions(summary, meta=summary(make(0).iloc[:0])).compute()
        info = client.scheduler_info()
        assert set(info["workers"]) == before
        assert all(w["restarts"] == [] for w in info["workers"].values())
        peaks = client.run(peak_rss)
        assert all(p < LIMIT for p in peaks.values()), peaks
    assert out.n.sum() == ROWS * NPARTS
    assert out["sum"].sum() == pytest.approx(sum(make(i).a.sum() for i in range(NPARTS)), rel=1e-9)
    full = out[out.n > 0]
    assert (full.lo == full.hi).all() and full.lo.is_unique  # each output holds one bucket
