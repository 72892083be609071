"""Out-of-core work through memory-limited workers: pardata and Dask side by side (issue 4).

    python benchmarks/out_of_core.py [--total 6GiB] [--chunk 64MiB] [--workers 2]
        [--limit 1GiB] [--only array|groupby] [--libraries pardata,dask] [--save]

Each workload runs on a fresh ``LocalCluster`` of ``--workers`` single-thread worker
processes with ``--limit`` of memory each, first with pardata, then with Dask:

- ``array``: persist a float64 array of ``--total`` bytes in ``--chunk`` blocks, then
  compute its sum and its per-column mean (exact answers: the values are ``i + j*rows``);
- ``groupby``: persist a DataFrame of ``--total`` bytes in ``--chunk`` partitions of
  random floats (so that spill compression, which Dask has and pardata has not, does not
  decide the result; ``--regular`` makes them highly compressible), then a groupby-mean
  over 1000 keys, checked against the same partitions aggregated here one at a time.

Reported per run: wall time (persist, then the reductions), peak RSS of each worker
process (sampled every 10 ms), bytes written to spill, workers killed (worker processes
that died and were replaced, or were lost), and whether the answers are right.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import psutil  # noqa: E402

from pardata._units import format_bytes, parse_bytes  # noqa: E402

NKEYS = 1000


class WorkerWatch:
    """Peak RSS of every worker process seen, and how many there were, in a thread."""

    def __init__(self, client):
        self.client = client
        self.peak: dict[int, int] = {}
        self.initial = set(self._pids())
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _pids(self):
        return list(self.client.run(os.getpid).values())

    def _run(self):
        procs: dict[int, psutil.Process] = {}
        last = 0.0
        while not self._stop.wait(0.01):
            if time.monotonic() - last > 0.5:
                last = time.monotonic()
                try:
                    for pid in self._pids():
                        if pid not in procs:
                            procs[pid] = psutil.Process(pid)
                except Exception:  # noqa: BLE001 - the scheduler is busy or gone: try later
                    pass
            for pid, proc in list(procs.items()):
                try:
                    self.peak[pid] = max(self.peak.get(pid, 0), proc.memory_info().rss)
                except psutil.Error:
                    pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def killed(self, final: list[int]) -> int:
        return len(set(self.peak) | self.initial | set(final)) - len(final)


# --- the two libraries, behind the same few calls -----------------------------------------


class Pardata:
    name = "pardata"

    def cluster(self, workers, limit):
        from pardata.distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit)
        return cluster, Client(cluster)

    def array(self):
        import pardata.array as pa

        return pa

    def dataframe(self):
        import pardata.dataframe as pdd

        return pdd

    def persist(self, client, coll):
        from pardata.distributed import wait

        coll = client.persist(coll)
        wait([node.value for node in coll.__pardata_graph__().values()])
        return coll

    def spilled(self, client):
        def metric(pardata_worker):
            buffer = pardata_worker.store.buffer
            return buffer.metrics().spill_bytes if buffer is not None else 0

        return sum(client.run(metric).values())


class Dask:
    name = "dask"

    def cluster(self, workers, limit):
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, memory_limit=limit,
                               processes=True, dashboard_address=":0")
        return cluster, Client(cluster)

    def array(self):
        import dask.array as da

        return da

    def dataframe(self):
        import dask.dataframe as dd

        return dd

    def persist(self, client, coll):
        from distributed import futures_of, wait

        coll = client.persist(coll)
        wait(futures_of(coll))
        return coll

    def spilled(self, client):
        def metric(dask_worker):
            return dask_worker.data.cumulative_metrics.get(("disk-write", "bytes"), 0)

        return sum(client.run(metric).values())


# --- workloads ----------------------------------------------------------------------------


def array_workload(lib, client, total, chunk):
    xp = lib.array()
    cols = 4096
    rows = max(total // (8 * cols), 1)
    block_rows = max(chunk // (8 * cols), 1)
    x = (xp.arange(rows, chunks=block_rows, dtype="f8")[:, None]
         + xp.arange(cols, chunks=cols, dtype="f8")[None, :] * rows)
    start = time.perf_counter()
    x = lib.persist(client, x)
    persisted = time.perf_counter() - start
    got_sum = x.sum().compute()
    got_mean = x.mean(axis=0).compute()
    seconds = time.perf_counter() - start
    n = rows * cols
    ok = got_sum == n * (n - 1) / 2 and np.array_equal(got_mean, (rows - 1) / 2 + np.arange(cols) * rows)
    return persisted, seconds, bool(ok)


def make_frame(i: int, rows: int, regular: bool = False) -> pd.DataFrame:
    key = (np.arange(rows) + i) % NKEYS
    if regular:
        return pd.DataFrame({"key": key, "x": i + key / NKEYS, "y": np.full(rows, float(i))})
    rng = np.random.default_rng(i)
    return pd.DataFrame({"key": key, "x": rng.random(rows), "y": rng.random(rows)})


def groupby_workload(lib, client, total, chunk, regular=False):
    dd = lib.dataframe()
    rows = max(chunk // 24, NKEYS) // NKEYS * NKEYS  # every key equally often per partition
    n = max(total // (24 * rows), 1)
    meta = make_frame(0, 0)
    df = dd.from_map(make_frame, range(n), rows=rows, regular=regular, meta=meta)
    start = time.perf_counter()
    df = lib.persist(client, df)
    persisted = time.perf_counter() - start
    got = df.groupby("key").x.mean().compute().sort_index()
    seconds = time.perf_counter() - start
    sums = np.zeros(NKEYS)
    for i in range(n):  # untimed: the expected answer, one partition at a time
        part = make_frame(i, rows, regular)
        sums += part.groupby("key").x.sum().to_numpy()
    expected = sums / (rows // NKEYS * n)
    ok = len(got) == NKEYS and np.allclose(got.to_numpy(), expected, rtol=1e-12, atol=1e-12)
    return persisted, seconds, bool(ok)


WORKLOADS = {"array": array_workload, "groupby": groupby_workload}


def run(lib, workload: str, args) -> dict:
    cluster, client = lib.cluster(args.workers, args.limit)
    result = {"library": lib.name, "workload": workload, "total": args.total, "chunk": args.chunk,
              "workers": args.workers, "limit": args.limit}
    try:
        with WorkerWatch(client) as watch:
            try:
                extra = {"regular": True} if workload == "groupby" and args.regular else {}
                persisted, seconds, ok = WORKLOADS[workload](lib, client, args.total, args.chunk, **extra)
                result.update(persist_seconds=persisted, seconds=seconds, correct=ok, error="")
            except Exception as exc:  # noqa: BLE001 - a failed run is a result too
                result.update(persist_seconds=None, seconds=None, correct=False,
                              error=f"{type(exc).__name__}: {str(exc)[:200]}")
            try:
                result["spilled_bytes"] = lib.spilled(client)
            except Exception:  # noqa: BLE001
                result["spilled_bytes"] = None
            final = watch._pids()
        result["peak_rss"] = sorted(watch.peak.values(), reverse=True)[: args.workers]
        result["killed"] = watch.killed(final)
    finally:
        client.close()
        cluster.close()
    return result


def show(r: dict) -> None:
    secs = f"{r['seconds']:7.1f} s (persist {r['persist_seconds']:5.1f} s)" if r["seconds"] else "   failed"
    peak = ", ".join(format_bytes(p) for p in r["peak_rss"])
    spilled = format_bytes(r["spilled_bytes"]) if r["spilled_bytes"] is not None else "?"
    print(f"{r['workload']:8} {r['library']:8} {secs}  peak RSS [{peak}] of {format_bytes(r['limit'])}  "
          f"spilled {spilled:>10}  killed {r['killed']}  {'ok' if r['correct'] else 'WRONG'} {r['error']}",
          flush=True)


def common_parser(description: str, workloads: dict) -> argparse.ArgumentParser:
    """The options every memory-limited cluster benchmark takes (sizes, workers, libraries)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--total", default="6GiB")
    p.add_argument("--chunk", default="64MiB")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", default="1GiB")
    p.add_argument("--only", choices=sorted(workloads), default=None)
    p.add_argument("--libraries", default="pardata,dask")
    p.add_argument("--save", action="store_true", help="write the results to benchmarks/results/")
    return p


def run_all(name: str, args, workloads: dict, libs: dict, run, show) -> int:
    """Each workload with each library in turn (pardata first), shown as it ends; saved
    to ``benchmarks/results/NAME-*.json`` with ``--save``."""
    args.total, args.chunk, args.limit = (parse_bytes(v) for v in (args.total, args.chunk, args.limit))
    print(f"{format_bytes(args.total)} in {format_bytes(args.chunk)} pieces through {args.workers} x "
          f"{format_bytes(args.limit)} workers; {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}", flush=True)
    results = []
    for workload in [args.only] if args.only else list(workloads):
        for lib_name in args.libraries.split(","):
            results.append(run(libs[lib_name], workload, args))
            show(results[-1])
    if args.save:
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                            f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json")
        with open(path, "w") as f:
            json.dump(results, f, indent=1)
        print("saved", path)
    return 0


def main(argv=None) -> int:
    p = common_parser(__doc__.split("\n\n")[0], WORKLOADS)
    p.add_argument("--regular", action="store_true", help="groupby data that compresses very well")
    args = p.parse_args(argv)
    return run_all("out_of_core", args, WORKLOADS, {"pardata": Pardata(), "dask": Dask()}, run, show)


if __name__ == "__main__":
    sys.exit(main())
