"""The peer-to-peer shuffle between worker processes, and a worker killed mid-shuffle."""
from __future__ import annotations

import os
import signal
import time

import numpy as np
import pandas as pd
import pytest

import pardata.bag as pdb
import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq

distributed = pytest.importorskip("pardata.distributed")

pytestmark = [pytest.mark.processes, pytest.mark.timeout(180)]


def frame(n=20000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"k": rng.integers(0, 2000, n), "v": rng.random(n), "i": np.arange(n)})


def slow_identity(df, delay):
    time.sleep(delay)
    return df


def shuffle_files(pardata_worker):
    root = os.path.join(pardata_worker.local_directory, "shuffle")
    return sum(len(fs) for _, _, fs in os.walk(root))


def test_set_index_and_bag_groupby_between_processes():
    p = frame()
    with distributed.LocalCluster(n_workers=2, threads_per_worker=2, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        d = pdd.from_pandas(p, npartitions=12)
        assert_eq(d.set_index("k"), p.set_index("k").sort_index(kind="stable"), scheduler=client)
        merged = d.merge(d[["i", "v"]].rename(columns={"v": "w"}), on="i", broadcast=False, npartitions=10)
        assert_eq(merged, p.merge(p[["i", "v"]].rename(columns={"v": "w"}), on="i"), check_index=False,
                  scheduler=client)
        b = pdb.from_sequence(range(3000), npartitions=10).groupby(lambda x: x % 17, npartitions=9)
        assert {k: sorted(v) for k, v in b.compute()} == {k: list(range(k, 3000, 17)) for k in range(17)}


def test_a_worker_killed_mid_shuffle_costs_a_rerun_not_the_job():
    p = frame(40000, seed=5)
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        d = pdd.from_pandas(p, npartitions=24).map_partitions(slow_identity, 0.15, meta=p.iloc[:0])
        result = d.set_index("k")
        future = client.compute(result)
        deadline = time.monotonic() + 60
        while sum(client.run(shuffle_files).values()) == 0:  # shards are on disk: mid-shuffle
            assert time.monotonic() < deadline, "the shuffle never started"
            time.sleep(0.05)
        pids = client.run(os.getpid)
        victim = sorted(pids)[-1]
        os.kill(pids[victim], signal.SIGKILL)
        out = future.result(timeout=120)
        expected = p.set_index("k").sort_index(kind="stable")
        pd.testing.assert_frame_equal(out.sort_values(["v"]).sort_index(kind="stable"),
                                      expected.sort_values(["v"]).sort_index(kind="stable"))
        assert len(out) == len(p)
        assert client.scheduler_info()["shuffle_restarts"] >= 1  # it was mid-shuffle indeed


def skewed_part(i, rows=100_000):
    rng = np.random.default_rng(i)
    k = rng.integers(1, 1000, rows)
    k[rng.random(rows) < 0.7] = 0
    return pd.DataFrame({"k": k, "a": rng.random(rows), "b": rng.random(rows)})


def test_an_output_too_large_for_its_worker_fails_fast_naming_the_key(monkeypatch):
    from pardata.shuffle import ShuffleOutputTooLarge

    # outputs over 0.5% of 1 GiB (5 MiB) are refused: the one holding key 0 has ~10 MB
    monkeypatch.setenv("PARDATA_DISTRIBUTED__SHUFFLE__MAX_OUTPUT_FRACTION", "0.005")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="1GiB",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        d = pdd.from_map(skewed_part, list(range(6)))  # 14 MB, 70% of the rows on key 0
        shuffled = d.shuffle("k", npartitions=9, method="p2p").map_partitions(len)
        expected = r"(?s)of its memory limit.*heaviest key.*: 0, on \d+ of \d+ rows"
        with pytest.raises(ShuffleOutputTooLarge, match=expected):
            shuffled.compute()
        assert all(w["restarts"] == [] for w in client.scheduler_info()["workers"].values())
