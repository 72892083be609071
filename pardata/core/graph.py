"""Plain functions over graphs: dependencies, dependents, toposort, cull.

Graphs are ``dict[key, Node]`` (see ``pardata.core.spec``). Passes that compute the
dependency map return it, so the next pass can reuse it instead of recomputing.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from pardata.core.spec import Key, Node, convert_graph, is_graph_converted


class CycleError(ValueError):
    """The graph has a cycle; ``keys`` lists it in order (first == last)."""

    def __init__(self, keys: list):
        self.keys = keys
        super().__init__("cycle in task graph: " + " -> ".join(map(repr, keys)))


class MissingDependencyError(KeyError):
    """A task references a key that is not in the graph."""

    def __init__(self, key: Key, missing: Key):
        self.key = key
        self.missing = missing
        super().__init__(f"task {key!r} depends on {missing!r}, which is not in the graph")

    def __str__(self) -> str:
        return self.args[0]


def ensure_graph(graph: Mapping) -> dict:
    """The graph in pardata's format: converted once if it is Dask-style."""
    if type(graph) is dict and is_graph_converted(graph):
        return graph
    return convert_graph(graph)


def get_dependencies(graph: Mapping, key: Key | None = None):
    """Dependencies of ``key`` (a set), or of every key (a dict of sets).

    >>> from operator import add
    >>> sorted(get_dependencies({"a": 1, "b": (add, "a", "a"), "c": (add, "a", "b")}, "c"))
    ['a', 'b']
    """
    graph = ensure_graph(graph)
    if key is not None:
        return set(graph[key].dependencies)
    return {k: set(node.dependencies) for k, node in graph.items()}


def get_dependents(graph: Mapping[Key, Node]) -> dict:
    """Map each key to the list of keys that depend on it (graph must be converted)."""
    dependents: dict = {k: [] for k in graph}
    for k, node in graph.items():
        for d in node.dependencies:
            try:
                dependents[d].append(k)
            except KeyError:
                raise MissingDependencyError(k, d) from None
    return dependents


def _find_cycle(graph: Mapping[Key, Node], candidates: Iterable[Key]) -> list:
    """Return one cycle among ``candidates`` (keys that toposort could not place)."""
    candidates = set(candidates)
    state: dict = {}  # 1 = on the DFS stack, 2 = done
    for start in candidates:
        if start in state:
            continue
        stack = [(start, iter(graph[start].dependencies))]
        path = [start]
        state[start] = 1
        while stack:
            key, it = stack[-1]
            for dep in it:
                if dep not in candidates:
                    continue
                if state.get(dep) == 1:
                    return path[path.index(dep):] + [dep]
                if dep not in state:
                    state[dep] = 1
                    path.append(dep)
                    stack.append((dep, iter(graph[dep].dependencies)))
                    break
            else:
                state[key] = 2
                stack.pop()
                path.pop()
    raise AssertionError("no cycle found among unplaced keys")  # pragma: no cover


def toposort(graph: Mapping, dependencies: Mapping | None = None) -> list:
    """Keys in an order where every key comes after its dependencies.

    Raises ``CycleError`` naming the keys of a cycle, ``MissingDependencyError`` for a
    reference to a key that does not exist.

    >>> from operator import add
    >>> toposort({"c": (add, "a", "b"), "a": 1, "b": (add, "a", 1)})
    ['a', 'b', 'c']
    """
    graph = ensure_graph(graph)
    deps = dependencies if dependencies is not None else {k: n.dependencies for k, n in graph.items()}
    dependents = get_dependents(graph)
    remaining = {k: len(set(deps[k])) for k in graph}
    stack = [k for k, n in remaining.items() if n == 0]
    stack.reverse()
    out = []
    while stack:
        key = stack.pop()
        out.append(key)
        for child in reversed(dependents[key]):
            remaining[child] -= 1
            if remaining[child] == 0:
                stack.append(child)
    if len(out) != len(graph):
        placed = set(out)
        raise CycleError(_find_cycle(graph, (k for k in graph if k not in placed)))
    return out


def cull(graph: Mapping, keys) -> tuple[dict, dict]:
    """Only the tasks needed to compute ``keys``, and their dependency map.

    >>> from operator import add
    >>> g, deps = cull({"a": 1, "b": (add, "a", 1), "unused": 2}, ["b"])
    >>> sorted(g), deps["b"]
    (['a', 'b'], ('a',))
    """
    graph = ensure_graph(graph)
    if not isinstance(keys, (list, set, tuple, frozenset)):
        keys = [keys]
    out: dict = {}
    deps: dict = {}
    stack = list(keys)
    while stack:
        key = stack.pop()
        if key in out:
            continue
        try:
            node = graph[key]
        except KeyError:
            raise KeyError(f"key {key!r} is not in the graph") from None
        out[key] = node
        node_deps = node.dependencies
        deps[key] = node_deps
        for d in node_deps:
            if d not in out:
                if d not in graph:
                    raise MissingDependencyError(key, d)
                stack.append(d)
    return out, deps


def flatten_keys(keys) -> list:
    """Flatten nested lists of keys into one list (tuples are keys, not containers)."""
    if type(keys) is not list:
        return [keys]
    out: list = []
    stack = [iter(keys)]
    while stack:
        for item in stack[-1]:
            if type(item) is list:
                stack.append(iter(item))
                break
            out.append(item)
        else:
            stack.pop()
    return out


def pack_results(keys, results: Mapping):
    """Rebuild the nested-list structure of ``keys`` with their results."""
    if type(keys) is list:
        return [pack_results(k, results) for k in keys]
    return results[keys]
