"""The cluster runtime against Dask's (issue 3, section 6).

    python -m benchmarks cluster_map cluster_tree client_startup
    python -m benchmarks.scheduler_memory        # scheduler bytes per task, 1M tasks

Both libraries run a ``LocalCluster`` of 2 worker processes x 1 thread, started untimed
and kept for the repeats of one configuration (so *cold* is a fresh cluster's first
run, *warm* the best later one), then closed. The configurations are the rows:

``default``   both libraries with their default settings (root-task queuing on)
``inf``       both with ``distributed.scheduler.worker-saturation: inf`` (queuing off)

Targets (tasks per second): at least 10x Dask's with its defaults, at least 3x Dask's
without queuing; ``Client()`` ready no slower than Dask's. Before ``client_startup``
pardata's packages are compiled to bytecode, as an installed package's are (set
``PARDATA_BENCH_NO_BYTECODE=1`` to skip that and time start-up from source).
"""
from __future__ import annotations

import atexit
import logging
import math
import os

from benchmarks.overhead import _sum_of_incs, build_tree, inc
from benchmarks.registry import Benchmark, register

N_WORKERS = 2
THREADS_PER_WORKER = 1
CONFIGURATIONS = ("default", "inf")
SATURATION_KEY = "distributed.scheduler.worker-saturation"
#: How the configurations reach pardata's scheduler process (its environment).
PARDATA_SATURATION_ENV = "PARDATA_DISTRIBUTED__SCHEDULER__WORKER_SATURATION"


class _Cluster:
    """A library's LocalCluster and Client, with the two operations the benchmarks time."""

    def __init__(self, lib_name: str, configuration: str) -> None:
        if configuration not in CONFIGURATIONS:
            raise ValueError(f"unknown cluster configuration {configuration!r}; known: {CONFIGURATIONS}")
        self.lib_name = lib_name
        self.runs = 0
        saturation = math.inf if configuration == "inf" else None
        if lib_name == "pardata":
            self._start_pardata(saturation)
        else:
            self._start_dask(saturation)

    def _start_pardata(self, saturation) -> None:
        from pardata.distributed import Client, LocalCluster

        old = os.environ.pop(PARDATA_SATURATION_ENV, None)
        if saturation is not None:
            os.environ[PARDATA_SATURATION_ENV] = str(saturation)
        try:
            self.cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=THREADS_PER_WORKER)
        finally:
            os.environ.pop(PARDATA_SATURATION_ENV, None)
            if old is not None:
                os.environ[PARDATA_SATURATION_ENV] = old
        self.client = Client(self.cluster)

    def _start_dask(self, saturation) -> None:
        import dask
        from distributed import Client, LocalCluster

        settings = {SATURATION_KEY: saturation} if saturation is not None else {}
        with dask.config.set(settings):  # the scheduler reads it when it starts
            self.cluster = LocalCluster(n_workers=N_WORKERS, threads_per_worker=THREADS_PER_WORKER)
        self.client = Client(self.cluster)

    def map_gather(self, fn, seq) -> list:
        return self.client.gather(self.client.map(fn, seq))

    def compute(self, collection):
        return self.client.compute(collection, sync=True)

    def close(self) -> None:
        # Dask logs connections it sees closing at shutdown as errors: not news here.
        quiet = logging.getLogger("distributed") if self.lib_name == "dask" else None
        level = quiet.level if quiet is not None else None
        if quiet is not None:
            quiet.setLevel(logging.CRITICAL)
        try:
            self.client.close()
        finally:
            try:
                self.cluster.close()
            finally:
                if quiet is not None:
                    quiet.setLevel(level)


_clusters: dict[tuple[str, str], _Cluster] = {}


def _cluster(lib, configuration: str) -> _Cluster:
    """The running cluster of ``lib`` in ``configuration``, started on first use."""
    key = (lib.name, configuration)
    if key not in _clusters:
        _clusters[key] = _Cluster(lib.name, configuration)
    return _clusters[key]


@atexit.register
def close_clusters() -> None:
    """Close every cluster the benchmarks started (after each configuration's row)."""
    while _clusters:
        _, cluster = _clusters.popitem()
        cluster.close()


# --- workloads -------------------------------------------------------------------------


def _map(lib, size, configuration):
    cluster = _cluster(lib, configuration)
    start = cluster.runs * size  # fresh arguments, so fresh keys, on every run
    cluster.runs += 1
    return lambda scheduler: (start, cluster.map_gather(inc, range(start, start + size)))


def _map_answer(lib, raw):
    start, results = raw
    return [r - start for r in results]


# The targets as wall-time ratios: 10x Dask's rate with defaults, 3x without queuing.
_TARGETS = {"default": 0.1, "inf": 1 / 3}


register(Benchmark(
    name="cluster_map",
    description="client.map(inc, range(N)) + gather on a LocalCluster of 2 workers x 1 thread",
    setup=_map,
    expected=lambda n: [i + 1 for i in range(n)],
    answer=_map_answer,
    target=_TARGETS,
    schedulers=CONFIGURATIONS,
    setup_per_scheduler=True,
    teardown=close_clusters,
    show_rate=True,
))


#: (library, offset) -> leaves of the tree run with that offset, for checking its sum.
_tree_sizes: dict = {}


def _tree_check(lib, raw):
    offset, total = raw
    return total - offset * _tree_sizes.pop((lib.name, offset))


def _tree_setup(lib, size, configuration):
    cluster = _cluster(lib, configuration)
    offset = cluster.runs * size
    cluster.runs += 1
    _tree_sizes[lib.name, offset] = size
    tree = build_tree(lib.delayed, size, offset)  # untimed: only the run is measured
    return lambda scheduler: (offset, cluster.compute(tree))


register(Benchmark(
    name="cluster_tree",
    description="compute a pairwise tree-sum of N delayed(inc) leaves (2N-1 tasks) on the cluster",
    setup=_tree_setup,
    expected=_sum_of_incs,
    answer=_tree_check,
    tasks=lambda n: 2 * n - 1,
    target=_TARGETS,
    schedulers=CONFIGURATIONS,
    setup_per_scheduler=True,
    teardown=close_clusters,
    show_rate=True,
))


# --- Client() start-up -----------------------------------------------------------------


def _client_class(lib):
    if lib.name == "pardata":
        from pardata.distributed import Client
    else:
        from distributed import Client
    return Client


def _compile_bytecode() -> None:
    """Compile pardata's packages to bytecode (untimed), as installing a package does.

    Dask's modules load from bytecode compiled into site-packages at install time; an
    editable checkout run with ``PYTHONDONTWRITEBYTECODE=1`` never gets any, so every
    scheduler and worker process would compile about a megabyte of source first (about
    0.1 s of CPU each) and the comparison would measure that instead of start-up.
    """
    import compileall
    import pathlib

    root = pathlib.Path(__file__).resolve().parents[1]
    for package in ("pardata", "scheduler", "worker"):
        compileall.compile_dir(root / package, quiet=2)


def _startup(lib, size):
    Client = _client_class(lib)
    if lib.name == "pardata" and not os.environ.get("PARDATA_BENCH_NO_BYTECODE"):
        _compile_bytecode()
    return lambda scheduler: Client()


def _startup_answer(lib, client) -> int:
    """Threads of the cluster ``Client()`` started (then closed, untimed)."""
    try:
        return sum(client.nthreads().values())
    finally:
        client.close()


register(Benchmark(
    name="client_startup",
    description="Client() with no arguments: start a LocalCluster sized to the machine, connect",
    setup=_startup,
    expected=lambda n: os.cpu_count(),
    answer=_startup_answer,
    tasks=lambda n: 0,
    target=1.0,
    default_size=1,
    uses_scheduler=False,
))
