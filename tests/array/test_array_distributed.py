"""Arrays on an in-process cluster: compute, persist (Futures behind the blocks), reuse."""
import numpy as np

import pardata.array as pa
from pardata.distributed import Client, LocalCluster
from pardata.testing.array import assert_eq


def test_arrays_compute_and_persist_on_a_cluster():
    a = np.random.default_rng(0).random((60, 50))
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, Client(cluster):
        x = pa.from_array(a, chunks=(16, 20))
        np.testing.assert_allclose(((x + 1) * x).sum(axis=0).compute(), ((a + 1) * a).sum(axis=0))
        np.testing.assert_allclose(x.rechunk((60, 5)).std(axis=1).compute(), a.std(axis=1))
        np.testing.assert_allclose((x @ x.T).compute(), a @ a.T)
        p = x[x[:, 0] > 0.5].persist()
        np.testing.assert_allclose((p + 1).compute(), a[a[:, 0] > 0.5] + 1)
        r = pa.random.default_rng(5).random((30, 30), chunks=7)
        assert_eq(r.T, r.compute(scheduler="sync").T, scheduler=None)


def test_pooled_blocks_cross_the_wire_and_persist():
    # Blocks of 2.7 MiB come from the buffer pool (pardata.array.buffers).
    x = pa.random.default_rng(6).random((1200, 1200), chunks=600)
    want = [e.compute(scheduler="sync") for e in ((x + x.T).mean(axis=0), x.rechunk((1200, 40)).sum(axis=1))]
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False) as cluster, Client(cluster):
        got = [((x + x.T).mean(axis=0)).compute(), x.rechunk((1200, 40)).sum(axis=1).compute()]
        p = x.persist()
        np.testing.assert_array_equal((p + p.T).compute(), (x + x.T).compute(scheduler="sync"))
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)
