"""``make demo``: what pardata does today, in under a minute.

1. A ``delayed`` pipeline (load -> clean -> summarize per chunk, then combine), checked
   against the same work done in plain Python.
2. An embarrassingly parallel NumPy workload on the threaded scheduler, timed against a
   plain single-threaded loop over the same chunks.

3. The graph of the pipeline as Graphviz DOT.
4. A ``LocalCluster`` of 2 worker processes (authenticated with a fresh secret) computing
   an array workload and a dataframe groupby, both checked against NumPy and pandas,
   with the address of the live dashboard printed while it runs.
"""
from __future__ import annotations

import os
import time

# One BLAS thread per task, so "one thread" vs "pardata threads" compares like with like.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

import pardata  # noqa: E402
from pardata.diagnostics import ProgressBar  # noqa: E402


def load(i: int) -> np.ndarray:
    return np.random.default_rng(i).normal(loc=i, scale=1.0, size=200_000)


def clean(x: np.ndarray) -> np.ndarray:
    return x[np.abs(x - x.mean()) < 3 * x.std()]


def summarize(x: np.ndarray) -> tuple[float, int]:
    return float(x.sum()), int(x.size)


def combine(parts: list) -> float:
    total = sum(s for s, _ in parts)
    count = sum(n for _, n in parts)
    return total / count


def heavy(seed: int) -> float:
    """A chunk of NumPy work that releases the GIL: a matrix product and a solve."""
    rng = np.random.default_rng(seed)
    a = rng.random((700, 700))
    b = a @ a.T + np.eye(700) * 700
    return float(np.linalg.solve(b, np.ones(700)).sum())


def main() -> None:
    print(f"pardata {pardata.__version__} on {os.cpu_count()} cores\n")

    print("1. delayed pipeline: 16 chunks of 200,000 samples, cleaned and averaged")
    parts = [pardata.delayed(summarize)(pardata.delayed(clean)(pardata.delayed(load)(i))) for i in range(16)]
    mean = pardata.delayed(combine)(parts)
    t0 = time.perf_counter()
    with ProgressBar(minimum=0.5):
        result = mean.compute()
    t1 = time.perf_counter()
    expected = combine([summarize(clean(load(i))) for i in range(16)])
    print(f"   mean = {result:.6f} (plain Python: {expected:.6f}) in {t1 - t0:.2f} s on threads")
    assert abs(result - expected) < 1e-9

    print("\n2. embarrassingly parallel NumPy: 24 independent 700x700 solves")
    seeds = range(24)
    t0 = time.perf_counter()
    serial = [heavy(s) for s in seeds]
    t1 = time.perf_counter()
    parallel = pardata.compute(*[pardata.delayed(heavy)(s) for s in seeds], scheduler="threads")
    t2 = time.perf_counter()
    assert np.allclose(serial, parallel)
    print(f"   sum of results = {sum(parallel):.6f}")
    print(f"   one thread: {t1 - t0:.2f} s, pardata threads: {t2 - t1:.2f} s "
          f"(speed-up {(t1 - t0) / (t2 - t1):.2f}x)")

    print("\n3. the graph of the pipeline, as Graphviz DOT (first lines):")
    print("   " + "\n   ".join(str(pardata.visualize(parts[0])).splitlines()[:6]))

    cluster_demo()


def cluster_demo() -> None:
    import pandas as pd

    import pardata.array as pa
    import pardata.dataframe as pdd
    from pardata.distributed import Client, LocalCluster

    print("\n4. a LocalCluster of 2 worker processes")
    t0 = time.perf_counter()
    with LocalCluster(n_workers=2, threads_per_worker=1) as cluster, Client(cluster) as client:
        print(f"   ready in {time.perf_counter() - t0:.2f} s; dashboard: {client.dashboard_link}")

        data = np.random.default_rng(0).random((4000, 4000))
        x = pa.from_array(data, chunks=1000)
        t0 = time.perf_counter()
        col_means = (x + x.T).mean(axis=0).compute()
        t1 = time.perf_counter()
        assert np.allclose(col_means, (data + data.T).mean(axis=0))
        print(f"   array: (x + x.T).mean(axis=0) of a 4000x4000 array in 16 blocks: first values "
              f"{np.round(col_means[:3], 6).tolist()} (NumPy agrees) in {t1 - t0:.2f} s")

        rng = np.random.default_rng(1)
        frame = pd.DataFrame({"key": rng.integers(0, 10, 400_000), "value": rng.random(400_000)})
        df = pdd.from_pandas(frame, npartitions=8)
        t0 = time.perf_counter()
        got = df.groupby("key").value.mean().compute().sort_index()
        t1 = time.perf_counter()
        pd.testing.assert_series_equal(got, frame.groupby("key").value.mean())
        print(f"   dataframe: groupby(key).value.mean() over 400,000 rows in 8 partitions: "
              f"{len(got)} groups, key 0 -> {got.iloc[0]:.6f} (pandas agrees) in {t1 - t0:.2f} s")
        workers = client.scheduler_info()["workers"]
        print(f"   {len(workers)} workers, {sum(client.nthreads().values())} threads")
    print("   cluster closed")


if __name__ == "__main__":
    main()
