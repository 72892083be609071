"""Scheduler memory per task while it holds a large graph (issue 3, section 6).

    python -m benchmarks.scheduler_memory [--tasks 1000000] [--chunk 100000] [--dask [N]]

A scheduler process is started alone (no workers, so nothing runs and every task
stays held), a client submits pairwise tree-sums of ``inc`` leaves, ``--chunk`` tasks per
submission, until ``--tasks`` tasks are held, and the scheduler's resident set size is
read (psutil) before and after. Bytes per task = RSS growth / tasks held. Everything
the scheduler keeps counts: task records, dependency links, priorities, and the
pickled payloads it forwards to workers later. Target: <= 2 KiB per task. With
``--dask`` Dask's scheduler (``python -m distributed.cli.dask_scheduler``) is measured
the same way on N tasks (default: as many). Prints one line per library; saves nothing.
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from operator import add

import psutil

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.overhead import inc  # noqa: E402

TARGET_BYTES = 2048


def tree_graph(prefix: str, ntasks: int, leaf, node):
    """A pairwise tree-sum of about ``ntasks`` tasks (``2 * leaves - 1``): ``(graph, root)``.

    ``leaf(key, i)`` and ``node(key, left_key, right_key)`` build one library's tasks.
    """
    leaves = max((ntasks + 1) // 2, 1)
    graph = {}
    level = []
    for i in range(leaves):
        key = f"inc-{prefix}-{i}"
        graph[key] = leaf(key, i)
        level.append(key)
    depth = 0
    while len(level) > 1:
        depth += 1
        paired = []
        for j in range(0, len(level) - 1, 2):
            key = f"add-{prefix}-{depth}-{j}"
            graph[key] = node(key, level[j], level[j + 1])
            paired.append(key)
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return graph, level[0]


def _chunks(total: int, chunk: int):
    n = 0
    while n < total:
        size = min(chunk, total - n)
        yield n, size
        n += size


def _wait_for_file(path: str, proc: subprocess.Popen, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with open(path) as f:
                return json.load(f)
        except (FileNotFoundError, ValueError):
            if proc.poll() is not None:
                raise RuntimeError(f"the scheduler exited with code {proc.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError("the scheduler did not start")
            time.sleep(0.05)


def _settled_rss(pid: int, seconds: float = 1.0) -> int:
    """RSS once it stopped changing for ``seconds`` (the scheduler finished digesting)."""
    proc = psutil.Process(pid)
    last = proc.memory_info().rss
    while True:
        time.sleep(seconds)
        now = proc.memory_info().rss
        if abs(now - last) < 256 * 1024:
            return now
        last = now


def measure_pardata(ntasks: int, chunk: int) -> dict:
    from pardata.core.spec import Ref, Task
    from pardata.distributed import Client
    from pardata.security import Security

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scheduler.json")
        proc = subprocess.Popen([sys.executable, "-m", "scheduler", "--scheduler-file", path,
                                 "--log-level", "WARNING"])
        try:
            info = _wait_for_file(path, proc)
            client = Client(info["address"], security=Security.from_env(auth_file=info["auth_file"]))
            before = _settled_rss(proc.pid)
            futures = []
            submitted = 0
            start = time.perf_counter()
            for n, size in _chunks(ntasks, chunk):
                graph, root = tree_graph(f"c{n}", size, lambda k, i: Task(k, inc, i),
                                         lambda k, a, b: Task(k, add, Ref(a), Ref(b)))
                futures.append(client._core.submit_graph(graph, [root])[root])
                submitted += len(graph)
                del graph
            info = client.scheduler_info()
            while info["n_tasks"] < submitted:
                time.sleep(0.2)
                info = client.scheduler_info()
            seconds = time.perf_counter() - start
            after = _settled_rss(proc.pid)
            held = info["n_tasks"]
            client.close()
        finally:
            proc.terminate()
            proc.wait(30)
    return {"library": "pardata", "tasks": held, "rss_before": before, "rss_after": after,
            "bytes_per_task": (after - before) / held, "submit_seconds": seconds}


def measure_dask(ntasks: int, chunk: int) -> dict:
    from distributed import Client

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "scheduler.json")
        proc = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host",
                                 "127.0.0.1", "--port", "0", "--no-dashboard", "--scheduler-file", path],
                                stderr=subprocess.DEVNULL)
        try:
            _wait_for_file(path, proc)
            client = Client(scheduler_file=path)
            before = _settled_rss(proc.pid)
            futures = []
            submitted = 0
            start = time.perf_counter()
            for n, size in _chunks(ntasks, chunk):
                graph, root = tree_graph(f"c{n}", size, lambda k, i: (inc, i), lambda k, a, b: (add, a, b))
                futures.append(client.get(graph, root, sync=False))
                submitted += len(graph)
                del graph
            count = 0
            while count < submitted:
                time.sleep(0.5)
                count = client.run_on_scheduler(lambda dask_scheduler: len(dask_scheduler.tasks))
            seconds = time.perf_counter() - start
            after = _settled_rss(proc.pid)
            client.close()
        finally:
            proc.terminate()
            proc.wait(30)
    return {"library": "dask", "tasks": count, "rss_before": before, "rss_after": after,
            "bytes_per_task": (after - before) / count, "submit_seconds": seconds}


def report(result: dict) -> str:
    per_task = result["bytes_per_task"]
    verdict = ""
    if result["library"] == "pardata":
        verdict = f"  target <= {TARGET_BYTES} B: {'met' if per_task <= TARGET_BYTES else 'MISSED'}"
    return (f"{result['library']:8} {result['tasks']:>9,} tasks held: scheduler RSS "
            f"{result['rss_before'] / 2**20:7.1f} -> {result['rss_after'] / 2**20:7.1f} MiB, "
            f"{per_task:7.0f} B/task ({per_task / 1024:.2f} KiB), "
            f"submitted in {result['submit_seconds']:.1f} s{verdict}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scheduler_memory", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1_000_000)
    parser.add_argument("--chunk", type=int, default=100_000, help="tasks per submission")
    parser.add_argument("--dask", type=int, nargs="?", const=0, default=None, metavar="N",
                        help="also measure Dask's scheduler on N tasks (default: --tasks)")
    args = parser.parse_args(argv)
    gc.collect()
    print(report(measure_pardata(args.tasks, args.chunk)), flush=True)
    if args.dask is not None:
        print(report(measure_dask(args.dask or args.tasks, args.chunk)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
