"""The bag optimizer: one task per partition for chains of element-wise steps.

``optimize(graph, keys)`` culls, then *streams* partitions into their consumers: a
partition task whose function yields an iterable (a ``PartitionOp`` in ``"list"`` mode),
that nobody asked for, and that exactly one other partition task reads, exactly once,
is moved inside that task as a lazy inline call. ``b.map(f).filter(g).frequencies()``
so becomes, per partition, one task computing ``Counter(filter(g, map(f, part)))``: no
intermediate list is built, pickled or shipped to another process. A result someone
asked for, or read by two tasks, stays a task of its own and is made a list.

Literal partitions are then moved into the tasks that read them (``inline_data``),
groupby shuffles are told which of their outputs survived culling (so they write
no files nobody reads, see ``pardata.bag.shuffle``), and finally pardata's generic
linear fusion merges whatever chains remain (tree-reduction levels, for instance).
"""
from __future__ import annotations

from pardata import config
from pardata.core.graph import cull, get_dependents, toposort
from pardata.core.optimize import fuse
from pardata.core.spec import DataNode, Ref, Task
from pardata.bag.layers import PartitionOp


def _count_refs(obj, key) -> int:
    """How many times ``Ref(key)`` occurs in a task's arguments (inline tasks included)."""
    typ = type(obj)
    if typ is Ref:
        return 1 if obj.key == key else 0
    if typ is Task:
        return sum(_count_refs(a, key) for a in obj.args) + _count_refs(obj.kwargs, key)
    if typ is list or typ is tuple:
        return sum(_count_refs(a, key) for a in obj)
    if typ is dict:
        return sum(_count_refs(a, key) for a in obj.values())
    return 0


def _is_partition_task(node) -> bool:
    return type(node) is Task and type(node.func) is PartitionOp


def _stream_into(task: Task, key, inline: Task):
    """``task`` with its partition input ``Ref(key)`` replaced by ``inline`` (None: none)."""
    op = task.func
    args = list(task.args)
    for pos in range(len(args) - op.ninputs, len(args)):
        arg = args[pos]
        if type(arg) is Ref and arg.key == key:
            args[pos] = inline
        elif _is_partition_task(arg):
            arg = _stream_into(arg, key, inline)
            if arg is None:
                continue
            args[pos] = arg
        else:
            continue
        return Task(task.key, op, *args, **task.kwargs)
    return None


def stream_partitions(graph: dict, keys) -> dict:
    """Inline single-use iterable-producing partition tasks into their consumers.

    Only a reference in an input-partition position moves: the same key passed as a
    broadcast argument (a Delayed of a bag partition, say) stays a list.
    """
    keep = set(keys)
    dependents = get_dependents(graph)
    out = dict(graph)
    for key in toposort(graph):
        node = out[key]
        if key in keep or not _is_partition_task(node) or node.func.mode != "list":
            continue
        users = dependents[key]
        if len(users) != 1:
            continue
        user = out[users[0]]
        if not _is_partition_task(user) or _count_refs(user, key) != 1:
            continue
        streamed = _stream_into(user, key, Task(None, node.func.lazy(), *node.args, **node.kwargs))
        if streamed is not None:
            out[user.key] = streamed
            del out[key]
    return out


def inline_data(graph: dict, keys) -> dict:
    """Move literal partitions (``DataNode``s) into the tasks that read them.

    A literal run as a task of its own would, on the processes scheduler, travel to a
    child and back before its first use. Containers are wrapped in a key-less
    ``DataNode`` so that nothing walks them element by element; other values (a
    persisted partition's ``Future`` on a cluster, say) go in as they are, where the
    client recognizes them.
    """
    keep = set(keys)
    dependents = get_dependents(graph)
    out = dict(graph)
    for key, node in graph.items():
        if type(node) is not DataNode or key in keep:
            continue
        users = dependents[key]
        if not users or any(type(out[u]) is not Task for u in users):
            continue
        value = node.value
        replacement = DataNode(None, value) if type(value) in (list, tuple, dict) else value
        for u in users:
            out[u] = out[u].substitute({key: replacement})
        del out[key]
    return out


def optimize(graph: dict, keys) -> dict:
    """Cull, stream partition chains into single tasks, inline literal partitions,
    restrict shuffles, then fuse what remains."""
    from pardata.bag.shuffle import restrict_shuffles

    graph, _ = cull(graph, keys)
    graph = stream_partitions(graph, keys)
    graph = inline_data(graph, keys)
    graph = restrict_shuffles(graph)
    if config.get("optimization.fuse.active", True):
        graph, _ = fuse(graph, keys)
    return graph
