"""Graph builders for tests and benchmarks."""
from __future__ import annotations

import operator
import random

from pardata.core.spec import Ref, Task


def binary_tree_sum(n_leaves: int, prefix: str = "tree") -> tuple[dict, tuple]:
    """A pairwise sum over ``leaf_i = i``; returns ``(graph, root_key)``.

    The root's value is ``sum(range(n_leaves))``.
    """
    graph: dict = {}
    level = []
    for i in range(n_leaves):
        key = (f"{prefix}-leaf", i)
        graph[key] = Task(key, int, i)
        level.append(key)
    depth = 0
    while len(level) > 1:
        nxt = []
        for j in range(0, len(level), 2):
            key = (f"{prefix}-add-{depth}", j // 2)
            if j + 1 < len(level):
                graph[key] = Task(key, operator.add, Ref(level[j]), Ref(level[j + 1]))
            else:
                graph[key] = Task(key, operator.pos, Ref(level[j]))
            nxt.append(key)
        level = nxt
        depth += 1
    return graph, level[0]


def _sum_args(*xs):
    return sum(xs) + 1


def random_dag(n: int, max_deps: int = 3, seed: int = 0, nested: bool = True) -> dict:
    """A random DAG of ``n`` tasks; each task is ``1 + sum(its dependencies)``.

    With ``nested``, some references sit inside lists and dicts.
    """
    rng = random.Random(seed)
    graph: dict = {}
    for i in range(n):
        key = ("node", i)
        k = rng.randint(0, min(i, max_deps))
        deps = rng.sample(range(i), k) if k else []
        refs = [Ref(("node", d)) for d in deps]
        if nested and len(refs) >= 2 and rng.random() < 0.5:
            graph[key] = Task(key, _nested_sum, [refs[0]], {"rest": refs[1:]})
        else:
            graph[key] = Task(key, _sum_args, *refs)
    return graph


def _nested_sum(first: list, rest: dict) -> int:
    return sum(first) + sum(rest["rest"]) + 1


def evaluate(graph: dict) -> dict:
    """Reference evaluation: every key's value, in topological order, no scheduler."""
    from pardata.core.graph import toposort

    values: dict = {}
    for key in toposort(graph):
        values[key] = graph[key](values)
    return values
