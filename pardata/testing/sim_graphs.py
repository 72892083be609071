"""Graphs for `Simulation.submit`: ``{key: (dependencies, duration, nbytes)}``."""

from __future__ import annotations

import random


def tree_reduction(n_leaves: int, leaf: tuple = (0.1, 10**6), node: tuple = (0.05, 10**6)) -> tuple[dict, tuple]:
    """A pairwise reduction over `n_leaves` leaves; returns ``(graph, root)``.

    Leaves are ``("load", i)``, inner nodes ``("sum-<depth>", j)``; `leaf` and `node` are
    their ``(duration, nbytes)``.

    >>> graph, root = tree_reduction(4)
    >>> len(graph), root, graph[root][0]
    (7, ('sum-1', 0), (('sum-0', 0), ('sum-0', 1)))
    """
    graph: dict = {}
    level = [("load", i) for i in range(n_leaves)]
    for key in level:
        graph[key] = ((), *leaf)
    depth = 0
    while len(level) > 1:
        parents = []
        for j in range(0, len(level), 2):
            key = (f"sum-{depth}", j // 2)
            graph[key] = (tuple(level[j : j + 2]), *node)
            parents.append(key)
        level = parents
        depth += 1
    return graph, level[0]


def random_graph(n: int, seed: int = 0, max_deps: int = 3) -> dict:
    """A random DAG of `n` tasks in five prefixes, with mixed durations and sizes.

    >>> g = random_graph(10, seed=1)
    >>> all(dep in g for deps, _, _ in g.values() for dep in deps)
    True
    """
    rng = random.Random(seed)
    graph: dict = {}
    keys: list = []
    for i in range(n):
        key = f"t{i % 5}-{i}"
        k = rng.randint(0, min(max_deps, i))
        deps = tuple(rng.sample(keys, k)) if k else ()
        graph[key] = (deps, rng.choice([0.01, 0.1, 0.5, 1.0]), rng.choice([10, 1_000, 10**6, 10**8]))
        keys.append(key)
    return graph
