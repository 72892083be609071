"""Per-task overhead of the local schedulers, and the cost of building a graph.

Targets (issue 2): pardata <= 0.5x Dask's wall time on ``tree_sum`` and ``independent``
for both schedulers, and <= 0.2x on ``build_tree``.
"""
from __future__ import annotations

from operator import add

from benchmarks.registry import Benchmark, register


def inc(x):
    return x + 1


def build_tree(delayed, n: int, offset: int = 0):
    """Pairwise tree-sum of ``n`` leaves ``delayed(inc)(offset + i)``: ``2n - 1`` tasks."""
    level = [delayed(inc)(offset + i) for i in range(n)]
    while len(level) > 1:
        paired = [delayed(add)(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            paired.append(level[-1])
        level = paired
    return level[0]


def _sum_of_incs(n: int) -> int:
    return n * (n + 1) // 2


def _tree_sum(lib, size):
    tree = build_tree(lib.delayed, size)  # untimed: only the compute is measured
    return lambda scheduler: lib.compute(tree, scheduler=scheduler)[0]


def _independent(lib, size):
    tasks = [lib.delayed(inc)(i) for i in range(size)]
    return lambda scheduler: lib.compute(*tasks, scheduler=scheduler)


def _build_tree(lib, size):
    # Timed: the delayed calls plus the library's default optimization, ending with a
    # plain dict of tasks ready to run. pardata: collections_to_graph (merge, cull, fuse
    # linear chains). Dask: dask.optimize (cull; no fusion for delayed by default), then
    # dict(graph) to materialize. pardata does at least as much work as Dask here.
    return lambda scheduler: lib.to_graph(build_tree(lib.delayed, size))


def _run_built_graph(lib, raw):
    graph, keys = raw
    return lib.get(graph, keys)[0]


register(Benchmark(
    name="tree_sum",
    description="compute a pairwise tree-sum of delayed(inc) leaves (graph built untimed)",
    setup=_tree_sum,
    expected=_sum_of_incs,
    tasks=lambda n: 2 * n - 1,
    target=0.5,
))

register(Benchmark(
    name="independent",
    description="compute(*tasks) of N independent delayed(inc)(i) tasks",
    setup=_independent,
    expected=lambda n: [i + 1 for i in range(n)],
    answer=lambda lib, raw: list(raw),
    target=0.5,
))

register(Benchmark(
    name="build_tree",
    description="build the tree_sum graph with delayed calls and optimize it to a dict",
    setup=_build_tree,
    expected=_sum_of_incs,
    answer=_run_built_graph,
    tasks=lambda n: 2 * n - 1,
    target=0.2,
    uses_scheduler=False,
))
