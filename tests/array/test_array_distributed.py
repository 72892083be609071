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
