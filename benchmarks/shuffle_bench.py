"""Shuffles bigger than the cluster's memory: pardata's and Dask's peer-to-peer shuffles.

    python benchmarks/shuffle_bench.py [--total 6GiB] [--chunk 64MiB] [--workers 2]
        [--limit 1GiB] [--only set_index|skew] [--libraries pardata,dask] [--save]

Each workload runs on a fresh ``LocalCluster`` of ``--workers`` single-thread worker
processes with ``--limit`` of memory each, first with pardata, then with Dask, both with
their peer-to-peer shuffle:

- ``set_index``: a DataFrame of ``--total`` bytes (``--chunk`` partitions of a random
  int64 key and two random floats, made on the workers) sorted by ``set_index("k")``;
  each output partition is summarized (rows, a checksum, its key range) so that only
  the summaries come back. Checked: every row arrived, the checksum matches, partitions
  are sorted and in order.
- ``skew``: the same with 30% of the rows on key 0, followed by a groupby-sum over the
  sorted index (``groupby("k").a.sum()``), checked against the same partitions
  aggregated here one at a time.

Reported per run: wall time, peak RSS of each worker process (sampled every 10 ms),
workers killed (worker processes that died and were replaced), and whether the
answer is right. Timings on a shared machine are noisy: compare ratios from one run.
"""
from __future__ import annotations

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.out_of_core import Dask, Pardata, WorkerWatch, common_parser, run_all  # noqa: E402
from pardata._units import format_bytes  # noqa: E402

SKEW = 0.3  # share of rows on key 0 in the skewed workload
NGROUPS = 1000  # distinct keys besides 0 in the skewed workload


class PardataShuffle(Pardata):
    def set_index(self, df, column):
        return df.set_index(column)


class DaskShuffle(Dask):
    def set_index(self, df, column):
        return df.set_index(column, shuffle_method="p2p")


def make_frame(i: int, rows: int, skewed: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    if skewed:
        k = rng.integers(1, NGROUPS + 1, rows)
        k[rng.random(rows) < SKEW] = 0
    else:
        k = rng.integers(0, 2**62, rows)
    return pd.DataFrame({"k": k, "a": rng.random(rows), "b": rng.random(rows)})


def summary(df: pd.DataFrame) -> pd.DataFrame:
    idx = df.index
    return pd.DataFrame({"n": [len(df)], "sum": [float(df["a"].sum())],
                         "lo": [idx.min() if len(df) else -1], "hi": [idx.max() if len(df) else -1],
                         "sorted": [bool(idx.is_monotonic_increasing)]})


def _frame(lib, total, chunk, skewed):
    dd = lib.dataframe()
    rows = max(chunk // 24, 1)
    n = max(total // (24 * rows), 1)
    df = dd.from_map(make_frame, range(n), rows=rows, skewed=skewed, meta=make_frame(0, 0))
    return df, rows, n


def set_index_workload(lib, client, total, chunk):
    df, rows, n = _frame(lib, total, chunk, skewed=False)
    meta = summary(make_frame(0, 0).set_index("k"))
    start = time.perf_counter()
    out = lib.set_index(df, "k").map_partitions(summary, meta=meta).compute()
    seconds = time.perf_counter() - start
    checksum = sum(make_frame(i, rows)["a"].sum() for i in range(n))  # untimed
    full = out[out.n > 0]
    ok = (int(out.n.sum()) == rows * n and np.isclose(out["sum"].sum(), checksum, rtol=1e-9)
          and bool(full.sorted.all()) and bool((full.lo.to_numpy()[1:] >= full.hi.to_numpy()[:-1]).all()))
    return seconds, bool(ok)


def skew_workload(lib, client, total, chunk):
    df, rows, n = _frame(lib, total, chunk, skewed=True)
    start = time.perf_counter()
    got = lib.set_index(df, "k").groupby("k").a.sum().compute().sort_index()
    seconds = time.perf_counter() - start
    expected = None
    for i in range(n):  # untimed: the expected answer, one partition at a time
        part = make_frame(i, rows, skewed=True).groupby("k").a.sum()
        expected = part if expected is None else expected.add(part, fill_value=0)
    ok = len(got) == len(expected) and np.allclose(got.to_numpy(), expected.sort_index().to_numpy(), rtol=1e-9)
    return seconds, bool(ok)


WORKLOADS = {"set_index": set_index_workload, "skew": skew_workload}


def run(lib, workload: str, args) -> dict:
    cluster, client = lib.cluster(args.workers, args.limit)
    result = {"library": lib.name, "workload": workload, "total": args.total, "chunk": args.chunk,
              "workers": args.workers, "limit": args.limit, "load": os.getloadavg()[0]}
    try:
        with WorkerWatch(client) as watch:
            try:
                seconds, ok = WORKLOADS[workload](lib, client, args.total, args.chunk)
                result.update(seconds=seconds, correct=ok, error="")
            except Exception as exc:  # noqa: BLE001 - a failed run is a result too
                result.update(seconds=None, correct=False, error=f"{type(exc).__name__}: {str(exc)[:300]}")
            final = watch._pids()
        result["peak_rss"] = sorted(watch.peak.values(), reverse=True)[: args.workers]
        result["killed"] = watch.killed(final)
    finally:
        client.close()
        cluster.close()
    return result


def show(r: dict) -> None:
    secs = f"{r['seconds']:7.1f} s" if r["seconds"] else "  failed"
    peak = ", ".join(format_bytes(p) for p in r["peak_rss"])
    print(f"{r['workload']:9} {r['library']:8} {secs}  peak RSS [{peak}] of {format_bytes(r['limit'])}  "
          f"killed {r['killed']}  {'ok' if r['correct'] else 'WRONG'} {r['error']}", flush=True)


def main(argv=None) -> int:
    args = common_parser(__doc__.split("\n\n")[0], WORKLOADS).parse_args(argv)
    return run_all("shuffle", args, WORKLOADS, {"pardata": PardataShuffle(), "dask": DaskShuffle()}, run, show)


if __name__ == "__main__":
    sys.exit(main())
