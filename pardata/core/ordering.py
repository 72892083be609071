"""Static priorities: finish one branch before starting the next.

``order`` numbers the tasks in depth-first post-order, starting from the graph's outputs
(keys nothing depends on) in the graph's own order and visiting each task's dependencies
in argument order. A scheduler that always runs the ready task with the smallest number
completes a subtree (and can free its inputs) before it starts loading the next one, so
a reduction over N inputs holds O(depth) intermediate results instead of O(N).

Post-order alone keeps inputs shared with tasks *outside* the current branch until the
walk reaches those tasks. ``(x + x.T).sum(axis=0)`` is the typical case: column ``j``
reads blocks ``x[i, j]`` and ``x[j, i]``, so a column-by-column walk holds about half of
the blocks at once. Hence one more rule: whenever a task gets its number, each of its
dependents that has become runnable (every dependency numbered) is numbered at once if
that lets some input go, i.e. if every other consumer of one of its inputs is already
numbered or is the task the walk is expanding (which runs as soon as its own branch is
done). There, once ``x[i, j]`` and ``x[j, i]`` both exist, both tasks reading them run
and the two blocks are freed. A runnable task that frees nothing is left where
post-order puts it (running a fan-out early would only hold its result longer).

Everything is linear in the size of the graph, deterministic, and the numbering stays
a topological order. The cluster scheduler uses the same numbers to decide which queued
root task goes out next.
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
    dependents: dict = {k: [] for k in deps}
    for k, ds in deps.items():
        for d in ds:
            try:
                dependents[d].append(k)
            except KeyError:
                raise MissingDependencyError(k, d) from None
    waiting = {k: len(ds) for k, ds in deps.items()}  # dependencies not numbered yet
    unnumbered = {k: len(ds) for k, ds in dependents.items()}  # dependents not numbered yet
    result: dict = {}
    dep_sets: dict = {}  # dependencies as sets, for keys on the walk's stack that needed one

    def number_ready(runnable: list, expanding) -> None:
        """Number the ``runnable`` tasks that free an input, and what they make runnable."""
        expanding_deps = dep_sets.get(expanding)
        while runnable:
            c = runnable.pop()
            for d in deps[c]:
                others = unnumbered[d] - 1
                if not others:
                    break
                if others == 1 and expanding is not None:
                    if expanding_deps is None:
                        expanding_deps = dep_sets[expanding] = set(deps[expanding])
                    if d in expanding_deps:
                        break
            else:
                continue
            result[c] = len(result)
            for d in deps[c]:
                unnumbered[d] -= 1
            for cc in dependents[c]:
                left = waiting[cc] - 1
                waiting[cc] = left
                if not left and cc != expanding:
                    runnable.append(cc)

    for root in deps:
        if dependents[root] or root in result:
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
                dep_sets.pop(key, None)
                result[key] = len(result)
                for d in deps[key]:
                    unnumbered[d] -= 1
                runnable = None
                for c in dependents[key]:
                    left = waiting[c] - 1
                    waiting[c] = left
                    if not left and c not in on_stack:
                        if runnable is None:
                            runnable = [c]
                        else:
                            runnable.append(c)
                if runnable is not None:
                    number_ready(runnable[::-1], stack[-1][0] if stack else None)
    if len(result) != len(deps):
        raise CycleError(_find_cycle(graph, (k for k in deps if k not in result)))
    return result
