"""Graph rewrites that cut per-task overhead: linear fusion and inlining.

Both keep every requested key in the graph and never change a result. ``fuse`` merges
chains ``a -> b -> c`` (each link: one dependent, one dependency) into one ``Fused``
node keyed by the chain's last key; this removes scheduling work without losing any
parallelism. ``inline`` moves cheap tasks (or constants) into the tasks that use them,
so they run inside their dependents instead of as tasks of their own.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from pardata.core.graph import toposort
from pardata.core.spec import DataNode, Fused, Key, Node, Task


def _dependents_counts(graph: Mapping[Key, Node]) -> dict:
    counts = dict.fromkeys(graph, 0)
    for node in graph.values():
        for d in node.dependencies:
            counts[d] += 1
    return counts


def fuse(graph: Mapping[Key, Node], keys: Iterable[Key] = (), dependencies=None) -> tuple[dict, dict]:
    """Fuse linear chains; return the new graph and its dependency map.

    A node ``p`` joins its single dependent ``c`` when ``c`` has ``p`` as its only
    dependency and ``p`` is not in ``keys`` (the results someone asked for). Literal
    ``DataNode``s stay nodes of their own: running them costs nothing, and a value
    stored there (e.g. a cluster Future after ``persist``) must stay visible.

    >>> from operator import add
    >>> from pardata.core.spec import Task, Ref
    >>> g = {"a": Task("a", add, 1, 1), "b": Task("b", add, Ref("a"), 1),
    ...      "c": Task("c", add, Ref("b"), 1)}
    >>> fused, deps = fuse(g, keys=["c"])
    >>> list(fused), fused["c"]({})
    (['c'], 4)
    """
    keep = set(keys)
    n_dependents = _dependents_counts(graph)
    # child_of[p] = c when p is fused into c.
    child_of: dict = {}
    for key, node in graph.items():
        deps = node.dependencies
        if len(deps) == 1:
            parent = deps[0]
            if n_dependents.get(parent) == 1 and parent not in keep and type(graph[parent]) is not DataNode:
                child_of[parent] = key
    if not child_of:
        deps = dependencies if dependencies is not None else {k: n.dependencies for k, n in graph.items()}
        return dict(graph), dict(deps)

    has_parent = set(child_of.values())
    out: dict = {}
    for key, node in graph.items():
        if key in child_of:
            continue  # not a chain's end: emitted with the chain
        if key not in has_parent:
            out[key] = node
            continue
        chain = [node]
        current = key
        # walk up: the parent of `current` is its only dependency
        while True:
            parent = graph[current].dependencies[0] if graph[current].dependencies else None
            if parent is None or child_of.get(parent) != current:
                break
            chain.append(graph[parent])
            current = parent
        chain.reverse()
        out[key] = Fused(key, tuple(chain))
    return out, {k: n.dependencies for k, n in out.items()}


def inline(
    graph: Mapping[Key, Node],
    keys: Iterable[Key] = (),
    *,
    fast_functions: Iterable = (),
    inline_constants: bool = True,
    output: Iterable[Key] = (),
) -> dict:
    """Move cheap nodes into the tasks that use them.

    A node is inlined when its key is in ``keys``, or it is a ``Task`` whose function is
    in ``fast_functions``, or (``inline_constants``) it is a ``DataNode``. Keys in
    ``output`` are never removed. An inlined task runs once per dependent that uses it.

    >>> from operator import add, neg
    >>> from pardata.core.spec import Task, Ref
    >>> g = {"x": Task("x", neg, 1), "y": Task("y", add, Ref("x"), 10)}
    >>> g2 = inline(g, fast_functions=[neg], output=["y"])
    >>> list(g2), g2["y"]({})
    (['y'], 9)
    """
    keep = set(output)
    wanted = set(keys)
    fast = set(fast_functions)

    def chosen(key: Key, node: Node) -> bool:
        if key in keep:
            return False
        if key in wanted:
            return True
        if type(node) is Task:
            return node.func in fast
        return inline_constants and type(node) is DataNode

    candidates = {k for k, n in graph.items() if chosen(k, n)}
    if not candidates:
        return dict(graph)
    dependents: dict = {k: [] for k in graph}
    for k, node in graph.items():
        for d in node.dependencies:
            dependents[d].append(k)
    # Only inline into Task dependents (Fused/Alias keep their references).
    candidates = {
        c for c in candidates if dependents[c] and all(type(graph[d]) is Task for d in dependents[c])
    }
    out = dict(graph)
    # Visit candidates dependencies-first so nested inlining composes.
    for key in toposort(out):
        if key not in candidates:
            continue
        node = out.pop(key)
        replacement = node.value if type(node) is DataNode else node.with_key(None)
        for d in dependents[key]:
            out[d] = out[d].substitute({key: replacement})
    return out
