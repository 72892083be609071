"""Static priorities: finish one branch before starting the next.

``order`` numbers the tasks in depth-first post-order, starting from the graph's outputs
(keys nothing depends on) in the graph's own order and visiting each task's dependencies
in argument order. A scheduler that always runs the ready task with the smallest number
completes a subtree (and can free its inputs) before it starts loading the next one, so
a reduction over N inputs holds O(depth) intermediate results instead of O(N).

The cluster scheduler uses the same numbers to decide which queued root task goes out
next.
"""
from __future__ import annotations

from typing import Mapping

from pardata.core.graph import CycleError, MissingDependencyError, _find_cycle
from pardata.core.spec import Key, Node


def order(graph: Mapping[Key, Node], dependencies: Mapping | None = None) -> dict:
    """Map each key to its priority (0 runs first).

    >>> from operator import add
    >>> from pardata.core.spec import Task, Ref
    >>> g = {"a": Task("a", int, 1), "b": Task("b", int, 2),
    ...      "c": Task("c", add, Ref("a"), Ref("b"))}
    >>> order(g)
    {'a': 0, 'b': 1, 'c': 2}
    """
    deps = dependencies if dependencies is not None else {k: n.dependencies for k, n in graph.items()}
    has_dependent = set()
    for k, ds in deps.items():
        for d in ds:
            if d not in deps:
                raise MissingDependencyError(k, d)
            has_dependent.add(d)

    result: dict = {}
    counter = 0
    for root in deps:
        if root in has_dependent or root in result:
            continue
        stack = [(root, iter(deps[root]))]
        on_stack = {root}
        while stack:
            key, it = stack[-1]
            for d in it:
                if d in result:
                    continue
                if d in on_stack:
                    path = [k for k, _ in stack]
                    raise CycleError(path[path.index(d):] + [d])
                on_stack.add(d)
                stack.append((d, iter(deps[d])))
                break
            else:
                stack.pop()
                on_stack.discard(key)
                result[key] = counter
                counter += 1
    if len(result) != len(deps):
        raise CycleError(_find_cycle(graph, (k for k in deps if k not in result)))
    return result
