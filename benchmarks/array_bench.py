"""Array workloads of issue 5 on ``x = random((n, n), chunks=n // 10)`` (n = 20000 by default).

- ``array_mean_xxt``: ``(x + x.T).mean(axis=0)``
- ``array_sum``: ``x.sum()``
- ``array_strided_std``: ``x[::2, ::3].std()``
- ``array_rechunk_sum``: ``x.rechunk((n, n // 100)).sum(axis=1)``
- ``array_matmul``: ``x @ x[:, :n // 20]``

Both libraries draw ``x`` with their ``random.default_rng(seed).random`` (PCG64 in both),
build the expression untimed, and the timed part is the compute, random generation
included. Answers are checked statistically (the two libraries' streams differ).
Target (issue 5): pardata <= 0.8x Dask's wall time.

Rows: ``threads`` (each library's local threaded scheduler) and ``cluster``: a
``LocalCluster(n_workers=2, threads_per_worker=1)`` of each library (worker processes, no
dashboard) started untimed and kept for the repeats of one workload, so *cold* is a fresh
cluster's first run. The whole graph runs on the workers and only the final result comes
back (``client.compute(expr, sync=True)``). Each cluster run draws from a new seed, so no
run can be answered from results a previous one left on the workers. ``--size N`` makes
every workload smaller (n = N) when the full size takes too long.

``python -m benchmarks.array_bench --numpy [--size N]`` times the same work in plain
NumPy on one thread (BLAS limited to one thread), for the "NumPy per core" comparison.
"""
from __future__ import annotations

import atexit
import dataclasses
import itertools
import math
import os
import subprocess
import sys
import time

import numpy as np

from benchmarks.registry import Benchmark, register

SEED = 1234
CLUSTER = "cluster"
N_WORKERS = 2
THREADS_PER_WORKER = 1


def _array_module(lib):
    if lib.name == "pardata":
        import pardata.array as array
    else:
        import dask.array as array
    return array


def _x(lib, n, seed=SEED):
    return _array_module(lib).random.default_rng(seed).random((n, n), chunks=n // 10)


# ----------------------------------------------------------------------------- clusters

_clients: dict = {}  # library name -> (cluster, client)
_seeds = itertools.count(SEED + 1)


def _client(lib):
    """``lib``'s client of a 2-worker LocalCluster, started on first use."""
    if lib.name not in _clients:
        if lib.name == "pardata":
            from pardata.distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=THREADS_PER_WORKER,
                                   dashboard_address=None)
        else:
            from distributed import Client, LocalCluster

            cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=THREADS_PER_WORKER,
                                   dashboard_address=None)
        _clients[lib.name] = (cluster, Client(cluster, set_as_default=False))
    return _clients[lib.name][1]


@atexit.register
def close_clusters() -> None:
    """Close the clusters the benchmarks started (after each workload's cluster row)."""
    while _clients:
        _, (cluster, client) = _clients.popitem()
        try:
            client.close()
        finally:
            cluster.close()


def _near(value, target, tol):
    return bool(abs(value - target) <= tol * abs(target))


WORKLOADS = {
    "array_mean_xxt": (
        "(x + x.T).mean(axis=0)",
        lambda pa, x, n: (x + x.T).mean(axis=0),
        lambda r, n: r.shape == (n,) and _near(float(r.mean()), 1.0, 0.01),
    ),
    "array_sum": (
        "x.sum()",
        lambda pa, x, n: x.sum(),
        lambda r, n: _near(float(r), n * n / 2, 0.01),
    ),
    "array_strided_std": (
        "x[::2, ::3].std()",
        lambda pa, x, n: x[::2, ::3].std(),
        lambda r, n: _near(float(r), math.sqrt(1 / 12), 0.01),
    ),
    "array_rechunk_sum": (
        "x.rechunk((n, n // 100)).sum(axis=1)",
        lambda pa, x, n: x.rechunk((n, n // 100)).sum(axis=1),
        lambda r, n: r.shape == (n,) and _near(float(r.mean()), n / 2, 0.01),
    ),
    "array_matmul": (
        "x @ x[:, :n // 20]",
        lambda pa, x, n: x @ x[:, : n // 20],
        lambda r, n: r.shape == (n, n // 20) and _near(float(r.mean()), n / 4, 0.02),
    ),
}


_LAST_SIZE: dict = {}  # setup() records n for the answer check of the same run


def _setup(name):
    def setup(lib, size, scheduler=None):
        _LAST_SIZE[name] = size
        seed = next(_seeds) if scheduler == CLUSTER else SEED
        expr = WORKLOADS[name][1](_array_module(lib), _x(lib, size, seed), size)
        if scheduler == CLUSTER:
            _client(lib)  # started here, untimed

        def run(scheduler):
            if scheduler == CLUSTER:
                return _client(lib).compute(expr, sync=True)
            return lib.compute(expr, scheduler=scheduler)[0]

        return run

    return setup


# A harness that passes the row to ``setup`` (and tears rows down) starts each cluster
# untimed; an older one starts it inside the first cluster run.
_ROWS = {"schedulers": ("threads", CLUSTER), "setup_per_scheduler": True, "teardown": close_clusters}
_ROWS = {k: v for k, v in _ROWS.items() if k in {f.name for f in dataclasses.fields(Benchmark)}}


def _answer(name):
    def answer(lib, raw):
        return WORKLOADS[name][2](np.asarray(raw), _LAST_SIZE[name])

    return answer


for _name, (_text, _build, _check) in WORKLOADS.items():
    register(Benchmark(
        name=_name,
        description=f"{_text} on x = random((n, n), chunks=n // 10)",
        setup=_setup(_name),
        expected=lambda size: True,
        answer=_answer(_name),
        tasks=lambda n: 100,
        target=0.8,
        default_size=20_000,
        **_ROWS,
    ))


# ----------------------------------------------------------------------------- NumPy baseline

def numpy_workload(name: str, n: int) -> float:
    """Seconds for ``name`` in plain NumPy in this process (call with BLAS at 1 thread)."""
    start = time.perf_counter()
    x = np.random.default_rng(SEED).random((n, n))
    if name == "array_mean_xxt":
        out = (x + x.T).mean(axis=0)
    elif name == "array_sum":
        out = x.sum()
    elif name == "array_strided_std":
        out = x[::2, ::3].std()
    elif name == "array_rechunk_sum":
        out = np.ascontiguousarray(x).sum(axis=1)
    else:
        out = x @ x[:, : n // 20]
    elapsed = time.perf_counter() - start
    assert WORKLOADS[name][2](np.asarray(out), n)
    return elapsed


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m benchmarks.array_bench")
    parser.add_argument("--numpy", action="store_true", help="time plain NumPy on one thread")
    parser.add_argument("--size", type=int, default=20_000)
    parser.add_argument("--only", help="one workload name")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    names = [args.only] if args.only else list(WORKLOADS)
    if args.child:
        for name in names:
            print(f"{name} {numpy_workload(name, args.size):.3f}", flush=True)
        return 0
    if not args.numpy:
        parser.print_help()
        return 2
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    for name in names:
        # a fresh process per workload: cold memory, like each library's cold run
        out = subprocess.run([sys.executable, "-m", "benchmarks.array_bench", "--child", "--only", name,
                              "--size", str(args.size)], env=env, capture_output=True, text=True, check=True)
        seconds = float(out.stdout.split()[1])
        print(f"{name:20} numpy 1 thread {seconds:8.2f} s   per core ({cores} cores) {seconds / cores:8.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
