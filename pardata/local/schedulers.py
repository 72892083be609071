"""The local schedulers: sync, threads and processes, as thin adapters of one loop.

``get(graph, keys, scheduler=...)`` runs a graph in the calling process and returns the
results in the nested-list shape of ``keys``. A task that raises re-raises in the
caller with its own type, message and traceback, plus a note naming the failing key;
the pools stay usable afterwards.
"""
from __future__ import annotations

import atexit
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Mapping

from pardata import config
from pardata.core.graph import cull, ensure_graph, flatten_keys, pack_results
from pardata.core.optimize import fuse
from pardata.core.spec import Node
from pardata.local._process import WorkerProcess, WorkerProcessDied, dumps
from pardata.local.callbacks import active_callbacks
from pardata.local.loop import Execution, direct

_thread_state = threading.local()
_pools_lock = threading.Lock()
_thread_pool: ThreadPoolExecutor | None = None
_thread_pool_size = 0
_processes: list = []

SCHEDULER_ALIASES = {
    "sync": "sync",
    "synchronous": "sync",
    "single-threaded": "sync",
    "threads": "threads",
    "threading": "threads",
    "processes": "processes",
    "multiprocessing": "processes",
}


def default_num_workers() -> int:
    return config.get("num-workers", None) or os.cpu_count() or 1


def _get_thread_pool(n: int) -> ThreadPoolExecutor:
    global _thread_pool, _thread_pool_size
    with _pools_lock:
        if _thread_pool is None or _thread_pool_size < n:
            if _thread_pool is not None:
                _thread_pool.shutdown(wait=False)
            _thread_pool = ThreadPoolExecutor(n, thread_name_prefix="pardata-threads")
            _thread_pool_size = n
        return _thread_pool


def _acquire_process() -> WorkerProcess:
    """An idle live worker process, started if none is free."""
    with _pools_lock:
        _processes[:] = [p for p in _processes if not p.dead]
        for proc in _processes:
            if proc.lock.acquire(blocking=False):
                return proc
        proc = WorkerProcess()
        proc.lock.acquire()
        _processes.append(proc)
        return proc


@atexit.register
def _close_processes() -> None:
    for proc in list(_processes):
        proc.close()


def _run_in_process(node: Node, results: Mapping) -> Any:
    proc = _thread_state.process
    inputs = {d: results[d] for d in node.dependencies}
    return proc.run(dumps((node, inputs)), node.key)


def _work(execution: Execution, run_task) -> None:
    _thread_state.in_run = True
    proc = None
    if run_task is _run_in_process:
        proc = _thread_state.process = _acquire_process()
    try:
        execution.work(run_task)
    finally:
        _thread_state.in_run = False
        if proc is not None:
            _thread_state.process = None
            proc.lock.release()


def execute(graph: dict, keys: list, scheduler: str = "threads", num_workers: int | None = None) -> Execution:
    """Run an already culled graph in pardata's format; return the finished run."""
    callbacks = active_callbacks()
    execution = Execution(graph, keys, callbacks)
    for cb in callbacks:
        cb.start(graph)
    nested = getattr(_thread_state, "in_run", False)
    try:
        if scheduler == "sync" or nested or (len(graph) <= 1 and scheduler == "threads"):
            _work(execution, direct)
        else:
            n = num_workers or default_num_workers()
            if scheduler == "threads":
                run_task = direct
            elif scheduler == "processes":
                run_task = _run_in_process
            else:
                raise ValueError(f"unknown local scheduler {scheduler!r}")
            pool = _get_thread_pool(max(n - 1, 1))
            helpers = [pool.submit(_work, execution, run_task) for _ in range(n - 1)]
            _work(execution, run_task)
            for h in helpers:
                h.result()
    finally:
        for cb in callbacks:
            cb.finish(graph, execution.failure is not None)
    execution.raise_failure()
    return execution


def get(graph: Mapping, keys, scheduler: str = "threads", num_workers: int | None = None, optimize: bool = False):
    """Compute ``keys`` (a key or nested lists of keys) from a graph, locally.

    Accepts pardata graphs and Dask-style ``{key: (func, *args)}`` graphs.

    >>> from operator import add
    >>> get({"x": 1, "y": (add, "x", 10)}, "y", scheduler="sync")
    11
    """
    name = SCHEDULER_ALIASES.get(scheduler)
    if name is None:
        raise ValueError(
            f"unknown scheduler {scheduler!r}; expected one of {sorted(SCHEDULER_ALIASES)}"
        )
    flat = flatten_keys(keys)
    culled, _ = cull(ensure_graph(graph), flat)
    if optimize:
        culled, _ = fuse(culled, flat)
    execution = execute(culled, flat, name, num_workers)
    return pack_results(keys, execution.results)
