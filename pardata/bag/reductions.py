"""Tree reductions: one partial result per partition, then combined ``split_every`` at a time.

Every reduction here has the same three parts: ``perpartition(iterable) -> partial``
(runs in the partition's own task, streaming its elements), ``combine(list of
partials) -> partial`` (the inner levels of the tree), and ``finalize(partial)`` (the
user's value; a list for reductions that return a one-partition Bag).

Empty partitions: for ``reduction``/``fold`` and ``min``/``max`` an empty partition
yields the ``EMPTY`` marker instead of calling the user's function on nothing, and
markers are dropped before combining; so ``max`` of a bag with empty partitions is the
max of its elements, and of an all-empty bag raises like ``max([])`` does.

Markers are singletons that pickle by reference, so they keep their identity across
the processes scheduler's interpreters.
"""
from __future__ import annotations

import heapq
import math
from collections import Counter
from functools import partial, reduce
from itertools import chain
from operator import itemgetter
from typing import Any, Callable, Iterable

from pardata.core.spec import Ref, Task
from pardata.bag.layers import Layer, PartitionOp, PartitionwiseLayer, TasksLayer

DEFAULT_SPLIT_EVERY = 8


class _Marker:
    __slots__ = ("_name",)

    def __init__(self, name: str):
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self):
        return self._name  # pickled as the module global of that name


NO_VALUE = _Marker("NO_VALUE")  # "argument not given" (e.g. fold without initial)
EMPTY = _Marker("EMPTY")  # the partial result of an empty partition


# ------------------------------------------------------------------ the tree itself

def _combine_level(combine: Callable, partials: list) -> Any:
    return combine(partials)


def _final_level(combine: Callable, finalize: Callable | None, partials: list) -> Any:
    out = combine(partials)
    return out if finalize is None else finalize(out)


def tree_reduce(layer: Layer, name: str, perpartition: Callable, combine: Callable,
                finalize: Callable | None = None, split_every: int | None = None,
                extra_args: tuple = (), extra_parents=()) -> TasksLayer:
    """A one-output layer ``(name, 0)`` reducing every partition of ``layer``.

    ``perpartition(*extra_args, partition)``; ``extra_args`` may hold broadcast refs.
    """
    split_every = DEFAULT_SPLIT_EVERY if split_every is None else int(split_every)
    if split_every < 2:
        raise ValueError(f"split_every must be at least 2, got {split_every}")
    partials = PartitionwiseLayer(f"{name}-partial", PartitionOp(perpartition, "value"),
                                  [layer], extra_args, extra_parents=extra_parents)
    keys = partials.keys()
    graph: dict = {}
    level = 0
    while len(keys) > split_every:
        nxt = []
        for j, start in enumerate(range(0, len(keys), split_every)):
            key = (f"{name}-combine", level, j)
            graph[key] = Task(key, _combine_level, combine,
                              [Ref(k) for k in keys[start:start + split_every]])
            nxt.append(key)
        keys = nxt
        level += 1
    final = (name, 0)
    graph[final] = Task(final, _final_level, combine, finalize, [Ref(k) for k in keys])
    return TasksLayer(name, 1, graph, (partials,))


# ---------------------------------------------- user reductions, safe on empty partitions

def empty_safe(perpartition: Callable, part: Iterable) -> Any:
    """``perpartition(partition)`` streamed, or ``EMPTY`` for an empty partition."""
    it = iter(part)
    for first in it:
        return perpartition(chain((first,), it))
    return EMPTY


def empty_safe_list(perpartition: Callable, part: Iterable) -> Any:
    """``perpartition(partition as a list)``, or ``EMPTY`` for an empty partition."""
    data = part if type(part) is list else list(part)
    return perpartition(data) if data else EMPTY


def drop_empty(aggregate: Callable, partials: list) -> Any:
    """``aggregate`` over the non-empty partials (all empty: ``aggregate([])``)."""
    return aggregate([p for p in partials if p is not EMPTY])


def drop_empty_inner(aggregate: Callable, partials: list) -> Any:
    kept = [p for p in partials if p is not EMPTY]
    return aggregate(kept) if kept else EMPTY


def fold_with(binop: Callable, initial: Any, items: Iterable) -> Any:
    return reduce(binop, items) if initial is NO_VALUE else reduce(binop, items, initial)


def user_reduction(layer: Layer, name: str, perpartition: Callable, aggregate: Callable,
                   split_every: int | None, stream: bool = False) -> TasksLayer:
    """``aggregate`` runs at every level of the tree (as Dask's ``reduction`` does).

    ``perpartition`` gets a list, or with ``stream=True`` (for functions known to
    take any iterable once, like ``sum``) the partition's elements as they are made.
    """
    safe = empty_safe if stream else empty_safe_list
    return tree_reduce(
        layer, name, partial(safe, perpartition), partial(drop_empty_inner, aggregate),
        partial(_finish_user, aggregate), split_every,
    )


def _finish_user(aggregate: Callable, partial_result: Any) -> Any:
    # The last level already combined the partials; an all-empty bag arrives as EMPTY.
    return aggregate([]) if partial_result is EMPTY else partial_result


# ----------------------------------------------------------------- numeric summaries

def count(part: Iterable) -> int:
    if type(part) is list:
        return len(part)
    n = 0
    for n, _ in enumerate(part, 1):
        pass
    return n


def moments(part: Iterable) -> tuple:
    """``(n, mean, sum of squared deviations)`` of one partition (two passes, in memory)."""
    data = part if type(part) is list else list(part)
    n = len(data)
    if not n:
        return (0, 0.0, 0.0)
    total = sum(data)
    if type(total) is float:
        total = math.fsum(data)
    mean = total / n
    squares = [(x - mean) ** 2 for x in data]
    return (n, mean, math.fsum(squares) if type(mean) is float else sum(squares))


def merge_moments(parts: list) -> tuple:
    """Chan et al.'s pairwise update: exact in exact arithmetic, stable in floating point."""
    n, mean, m2 = 0, 0.0, 0.0
    for nb, mb, m2b in parts:
        if not nb:
            continue
        if not n:
            n, mean, m2 = nb, mb, m2b
            continue
        total = n + nb
        delta = mb - mean
        mean = mean + delta * nb / total
        m2 = m2 + m2b + delta * delta * n * nb / total
        n = total
    return (n, mean, m2)


def sum_count(part: Iterable) -> tuple:
    data = part if type(part) is list else list(part)
    return (sum(data), len(data))


def merge_sum_count(parts: list) -> tuple:
    return (sum(p[0] for p in parts), sum(p[1] for p in parts))


def finish_mean(pair: tuple) -> float:
    total, n = pair
    if not n:
        raise ZeroDivisionError("mean of an empty bag")
    return total / n


def finish_var(ddof: int, stats: tuple) -> float:
    n, _, m2 = stats
    if n - ddof <= 0:
        raise ZeroDivisionError(f"variance of {n} element(s) with ddof={ddof}")
    return m2 / (n - ddof)


def finish_std(ddof: int, stats: tuple) -> float:
    return math.sqrt(finish_var(ddof, stats))


# ------------------------------------------------- reductions returning a small Bag

def merge_counters(parts: list) -> Counter:
    total = Counter()
    for p in parts:
        if total:
            total.update(p)
        else:
            total = Counter(p)
    return total


def finish_frequencies(sort: bool, counts: Counter) -> list:
    return counts.most_common() if sort else list(counts.items())


def keyfunc(key: Any) -> Callable | None:
    """A key function: ``None`` stays ``None``, a non-callable becomes an item getter."""
    if key is None or callable(key):
        return key
    return itemgetter(key)


def topk_partition(k: int, key: Any, part: Iterable) -> list:
    return heapq.nlargest(k, part, key=keyfunc(key))


def topk_merge(k: int, key: Any, parts: list) -> list:
    return heapq.nlargest(k, chain.from_iterable(parts), key=keyfunc(key))


def distinct_partition(key: Any, part: Iterable) -> dict:
    if key is None:
        return dict.fromkeys(part)
    key = keyfunc(key)
    seen: dict = {}
    for x in part:
        seen.setdefault(key(x), x)
    return seen


def distinct_merge(key: Any, parts: list) -> dict:
    if key is None:
        return dict.fromkeys(chain.from_iterable(parts))
    merged: dict = {}
    for p in parts:
        for k, x in p.items():
            merged.setdefault(k, x)
    return merged


def finish_distinct(key: Any, seen: dict) -> list:
    return list(seen) if key is None else list(seen.values())


def _start(initial: Any) -> Any:
    return initial() if callable(initial) else initial


def foldby_partition(key: Any, binop: Callable, initial: Any, part: Iterable) -> dict:
    """``{key(x): binop(...binop(initial, x1)..., xn)}`` over one partition."""
    key = keyfunc(key)
    acc: dict = {}
    get = acc.get
    missing = NO_VALUE
    if initial is NO_VALUE:
        for x in part:
            k = key(x)
            a = get(k, missing)
            acc[k] = x if a is missing else binop(a, x)
    else:
        for x in part:
            k = key(x)
            a = get(k, missing)
            acc[k] = binop(_start(initial) if a is missing else a, x)
    return acc


def foldby_merge(combine: Callable, combine_initial: Any, parts: list) -> dict:
    """Combine per-partition folds key by key, in partition order."""
    out: dict = {}
    get = out.get
    missing = NO_VALUE
    for p in parts:
        for k, v in p.items():
            a = get(k, missing)
            if a is missing:
                out[k] = v if combine_initial is NO_VALUE else combine(_start(combine_initial), v)
            else:
                out[k] = combine(a, v)
    return out


def items_list(d: dict) -> list:
    return list(d.items())
