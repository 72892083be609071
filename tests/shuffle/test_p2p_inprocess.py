"""The peer-to-peer shuffle on an in-process cluster, against pandas and plain Python."""
from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

import pardata.bag as pdb
import pardata.dataframe as pdd
from pardata.testing.dataframe import assert_eq

distributed = pytest.importorskip("pardata.distributed")

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def client():
    with distributed.LocalCluster(n_workers=3, threads_per_worker=2, processes=False,
                                  dashboard_address=None) as cluster:
        with distributed.Client(cluster) as c:
            yield c


def frame(n=6000, seed=0):
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "k": rng.integers(0, 500, n),
        "v": rng.random(n),
        "s": pd.Series(rng.choice(["a", "b", None, "ééé"], n), dtype=object),
        "c": pd.Categorical(rng.choice(["x", "y", "z"], n)),
        "t": pd.date_range("2026-01-01", periods=n, freq="min"),
    })


def uses_p2p(collection) -> bool:
    return any("shuffle-transfer" in str(k) or "-transfer" in str(k) for k in collection.__pardata_graph__())


def leftover_files(client) -> dict:
    def files(pardata_worker):
        root = os.path.join(pardata_worker.local_directory, "shuffle")
        return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)

    return client.run(files)


def wait_for_no_files(client, timeout=20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        left = {w: f for w, f in leftover_files(client).items() if f}
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_shuffle_is_p2p_on_a_cluster_and_matches_pandas(client):
    p = frame()
    d = pdd.from_pandas(p, npartitions=9)
    s = d.shuffle("k", npartitions=11)
    assert uses_p2p(s)
    out = s.compute()
    pd.testing.assert_frame_equal(out.sort_values(["k", "v"]), p.sort_values(["k", "v"]))
    # every key lives in one output partition
    from pardata.dataframe.frame import partition_values

    seen: dict = {}
    parts = partition_values(s, scheduler=client)
    assert len(parts) == 11
    for j, part in enumerate(parts):
        for k in part["k"].unique():
            assert seen.setdefault(k, j) == j
    assert wait_for_no_files(client) == {}


def test_set_index_and_sort_values(client):
    p = frame(seed=1)
    d = pdd.from_pandas(p, npartitions=10)
    assert uses_p2p(d.set_index("v"))
    assert_eq(d.set_index("k"), p.set_index("k").sort_index(kind="stable"), scheduler=client)
    assert_eq(d.set_index("v"), p.set_index("v").sort_index(), scheduler=client)
    assert_eq(d.sort_values(["k", "v"]), p.sort_values(["k", "v"]), scheduler=client)
    assert_eq(d.sort_values("v", ascending=False), p.sort_values("v", ascending=False), scheduler=client)


def test_hash_merge_and_groupby_split_out(client):
    p = frame(seed=2).drop(columns="s")  # (an outer merge makes object strings StringDtype, any method)
    right = pd.DataFrame({"k": np.arange(0, 600, 2), "w": np.arange(300) * 1.5})
    d = pdd.from_pandas(p, npartitions=10)
    r = pdd.from_pandas(right, npartitions=8)
    for how in ("inner", "left", "outer"):
        joined = d.merge(r, on="k", how=how, broadcast=False, npartitions=9)
        assert uses_p2p(joined)
        assert_eq(joined, p.merge(right, on="k", how=how), check_index=False, sort_results=True, scheduler=client)
    g = d.groupby("k").agg({"v": ["sum", "count"]}, split_out=9)
    assert uses_p2p(g)
    assert_eq(g, p.groupby("k").agg({"v": ["sum", "count"]}), scheduler=client, sort_results=True, rtol=1e-9)


def test_empty_partitions_and_explicit_method(client):
    p = frame(300, seed=3)
    d = pdd.from_pandas(p, npartitions=6)
    filtered = d[d.k < 0]  # every partition empty
    out = filtered.shuffle("k", npartitions=12, method="p2p").compute()
    assert len(out) == 0 and list(out.dtypes) == list(p.dtypes)
    few = d[d.k == 7].shuffle("k", npartitions=12, method="p2p").compute()
    pd.testing.assert_frame_equal(few.sort_values("v"), p[p.k == 7].sort_values("v"))


def test_tiny_shuffles_still_use_tasks(client):
    d = pdd.from_pandas(frame(100), npartitions=2)
    assert not uses_p2p(d.shuffle("k", npartitions=3))


def test_bag_groupby_is_p2p_and_matches_python(client):
    words = [f"w{i % 37}-{'é' * (i % 3)}" for i in range(5000)]
    b = pdb.from_sequence(words, npartitions=12)
    g = b.groupby(lambda w: w.split("-")[0], npartitions=10)
    assert uses_p2p(g)
    out = {k: sorted(v) for k, v in g.compute()}
    expected: dict = {}
    for w in words:
        expected.setdefault(w.split("-")[0], []).append(w)
    assert out == {k: sorted(v) for k, v in expected.items()}
    assert wait_for_no_files(client) == {}


def test_an_output_read_away_from_its_owner_is_fetched_from_it(client):
    from pardata.dataframe.shuffle import Partitioner, split_by

    p = frame(4000, seed=4)
    d = pdd.from_pandas(p, npartitions=10)
    s = d.shuffle("k", npartitions=12)
    # partition 7 alone becomes partition 0 of the result: its key no longer says which
    # output it reads, so it may run on a worker that does not own output 7
    got = s.partitions[7].compute()
    expected = pd.concat([split_by(part, Partitioner("hash", ("k",)), 12)[7]
                          for part in (p.iloc[i * 400:(i + 1) * 400] for i in range(10))])
    pd.testing.assert_frame_equal(got.sort_values(["k", "v"]), expected.sort_values(["k", "v"]))
    sizes = [len(g) for g in split_by(p, Partitioner("hash", ("k",)), 12)]
    assert [len(s.get_partition(j).compute()) for j in range(12)] == sizes


def slow_identity(df, delay):
    time.sleep(delay)
    return df


def shuffle_file_count(pardata_worker):
    root = os.path.join(pardata_worker.local_directory, "shuffle")
    return sum(len(fs) for _, _, fs in os.walk(root))


def test_a_worker_lost_mid_shuffle_in_process_restarts_the_run():
    p = frame(8000, seed=9).drop(columns="s")
    with distributed.LocalCluster(n_workers=3, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as c:
        d = pdd.from_pandas(p, npartitions=16).map_partitions(slow_identity, 0.05, meta=p.iloc[:0])
        future = c.compute(d.set_index("k"))
        deadline = time.monotonic() + 60
        while sum(c.run(shuffle_file_count).values()) == 0:
            assert time.monotonic() < deadline, "the shuffle never started"
            time.sleep(0.02)
        victim = cluster.workers[-1]
        cluster._runner.run(cluster._inprocess.remove_worker(victim, graceful=False), timeout=30)
        out = future.result(timeout=90)
        assert c.scheduler_info()["shuffle_restarts"] >= 1
    expected = p.set_index("k").sort_index(kind="stable")
    pd.testing.assert_frame_equal(out.sort_values("v").sort_index(kind="stable"),
                                  expected.sort_values("v").sort_index(kind="stable"))
