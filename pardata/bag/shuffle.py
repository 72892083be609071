"""``groupby`` as a hash shuffle: disk-buffered locally, peer-to-peer on a cluster.

The disk-buffered shuffle (the default on the local schedulers) has three kinds of
tasks, all plain graph nodes:

1. ``(name-dir, 0)`` makes a fresh temporary directory for this run and returns its path
   (so two runs of the same graph never share files);
2. one *split* task per input partition groups its elements by a stable hash of the
   key into ``nout`` buckets and writes each non-empty bucket to ``i-j.pkl``; it
   returns only the list of buckets it wrote, so no data travels through the scheduler;
3. one *collect* task per output partition reads bucket ``j`` of every split, in
   partition order, builds ``[(key, [elements...]), ...]``, deletes what it read and
   tries to remove the directory (the last collector succeeds).

After culling the optimizer tells the splits which outputs survived
(``restrict_shuffles``), so ``groupby(...).take(1)`` writes only the buckets it reads and
every file is removed. The directory is made under config ``temporary-directory``
(default: the system's temporary directory, as seen by the task that makes it); files
of a run that fails midway stay there, in ``pardata-shuffle-*``.

On a cluster (a ``Client`` active when ``groupby`` is called) workers may not share a
disk: ``groupby_p2p_layer`` sends each bucket straight to the worker that owns its output,
which buffers it on its own disk (``pardata.shuffle``); ``method="tasks"`` (the default
there for tiny shuffles) moves the buckets as task results instead.

Hashing: Python's ``hash`` of ``str``/``bytes`` differs between interpreters, and the
processes scheduler runs splits in several, so keys are hashed by ``stable_hash``
(CRC32 of text and bytes, recursively for tuples and frozensets, Python's own
unsalted hash for numbers). Keys of other types fall back to ``hash``; if such a type
hashes strings (a dataclass with ``str`` fields, say) set ``PYTHONHASHSEED``.
Equal keys must hash equally: ``1``, ``1.0`` and ``True`` do, as in a ``dict``.
"""
from __future__ import annotations

import os
import pickle
import tempfile
import zlib
from functools import partial
from typing import Any, Callable, Iterable

import cloudpickle

from pardata.core.spec import Ref, Task
from pardata.shuffle import ShuffleSpec, p2p_graph, shuffle_transfer
from pardata.bag.layers import Layer, PartitionOp, TasksLayer
from pardata.bag.reductions import keyfunc

_NUMBERS = (int, float, complex, bool)
#: On a cluster, groupbys of at most this many (input, output) pairs go through tasks.
TASK_SHUFFLE_MAX_EDGES = 64


def stable_hash(key: Any) -> int:
    """A hash that is equal in every interpreter for equal keys of common types."""
    typ = type(key)
    if typ is str:
        return zlib.crc32(key.encode("utf-8", "surrogatepass"))
    if typ in _NUMBERS:
        return hash(key)
    if typ is bytes:
        return zlib.crc32(key)
    if key is None:
        return 0
    if typ is tuple:
        h = 0x345678
        for item in key:
            h = (h * 1000003) ^ stable_hash(item)
            h &= 0xFFFFFFFFFFFF
        return h ^ len(key)
    if typ is frozenset:
        h = 0
        for item in key:
            h ^= stable_hash(item)
        return h
    return hash(key)


def make_shuffle_dir(base: str | None) -> str:
    if base:
        os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix="pardata-shuffle-", dir=base)


def _dump(obj: Any) -> bytes:
    try:
        return pickle.dumps(obj, protocol=5)
    except Exception:  # noqa: BLE001 - lambdas and other objects only cloudpickle knows
        return cloudpickle.dumps(obj, protocol=5)


def _buckets(key: Callable, nout: int, wanted, part: Iterable) -> dict:
    """``{j: [elements whose key hashes to bucket j]}``, only for ``j`` in ``wanted``."""
    buckets: dict = {}
    for x in part:
        j = stable_hash(key(x)) % nout
        if wanted is None or j in wanted:
            bucket = buckets.get(j)
            if bucket is None:
                buckets[j] = [x]
            else:
                bucket.append(x)
    return buckets


def _group_into(groups: dict, key: Callable, elements: Iterable) -> None:
    for x in elements:
        k = key(x)
        group = groups.get(k)
        if group is None:
            groups[k] = [x]
        else:
            group.append(x)


def shuffle_split(key: Any, nout: int, index: int, wanted, directory: str, part: Iterable) -> list:
    """Write partition ``index``'s elements, bucketed by key, to ``directory``."""
    buckets = _buckets(keyfunc(key), nout, wanted, part)
    for j, bucket in buckets.items():
        with open(os.path.join(directory, f"{index}-{j}.pkl"), "wb") as f:
            f.write(_dump(bucket))
    return sorted(buckets)


def shuffle_collect(key: Any, j: int, directory: str, written: list) -> list:
    """Group bucket ``j`` of every split (in split order); remove the files read."""
    key = keyfunc(key)
    groups: dict = {}
    for index, buckets in enumerate(written):
        if j not in buckets:
            continue
        path = os.path.join(directory, f"{index}-{j}.pkl")
        with open(path, "rb") as f:
            bucket = pickle.load(f)
        os.remove(path)
        _group_into(groups, key, bucket)
    try:
        os.rmdir(directory)  # succeeds for the last collector only
    except OSError:
        pass
    return list(groups.items())


# ------------------------------------------------------- in-memory ("tasks") variant

def split_in_memory(key: Any, nout: int, part: Iterable) -> dict:
    return _buckets(keyfunc(key), nout, None, part)


def bucket_of(buckets: dict, j: int) -> list:
    return buckets.get(j, [])


def group_buckets(key: Any, pieces: list) -> list:
    key = keyfunc(key)
    groups: dict = {}
    for piece in pieces:
        _group_into(groups, key, piece)
    return list(groups.items())


def groupby_tasks_layer(layer: Layer, name: str, key: Any, nout: int) -> TasksLayer:
    """The same groups through ordinary tasks: split, one piece per (split, output), collect.

    On a cluster each piece is cut where its split ran and travels straight to the
    worker collecting it (worker-to-worker transfers); nothing touches a shared disk.
    """
    graph: dict = {}
    split = PartitionOp(split_in_memory, "value")
    for i in range(layer.npartitions):
        k = (f"{name}-split", i)
        graph[k] = Task(k, split, key, nout, Ref((layer.name, i)))
        for j in range(nout):
            piece = (f"{name}-piece", i, j)
            graph[piece] = Task(piece, bucket_of, Ref(k), j)
    for j in range(nout):
        k = (name, j)
        pieces = [Ref((f"{name}-piece", i, j)) for i in range(layer.npartitions)]
        graph[k] = Task(k, group_buckets, key, pieces)
    return TasksLayer(name, nout, graph, (layer,))


# ------------------------------------------------------------- peer-to-peer variant

def _p2p_split(key: Any, part: Iterable, nout: int) -> dict:
    return _buckets(keyfunc(key), nout, None, part)


def _p2p_group(key: Any, pieces: list, j: int) -> list:
    return group_buckets(key, pieces)


def _p2p_heaviest(key: Any, bucket: list) -> str:
    from collections import Counter

    if not bucket:
        return "none (no elements)"
    k, n = Counter(keyfunc(key)(x) for x in bucket).most_common(1)[0]
    return f"{k!r}, on {n} of {len(bucket)} elements ({n / len(bucket):.0%})"


def groupby_p2p_layer(layer: Layer, name: str, key: Any, nout: int) -> TasksLayer:
    """The same groups by the peer-to-peer shuffle: buckets go straight from the worker
    that cut them to the disk of the worker that groups them."""
    spec = ShuffleSpec(name, nout, f"{name}-barrier", partial(_p2p_split, key), partial(_p2p_group, key),
                       partial(_p2p_heaviest, key))
    inputs = [(layer.name, i) for i in range(layer.npartitions)]
    # a partition task: the element-wise steps before it stream into it
    graph = p2p_graph(spec, name, inputs, f"{name}-transfer", PartitionOp(shuffle_transfer, "value"))
    return TasksLayer(name, nout, graph, (layer,))


def _is_split(node) -> bool:
    return type(node) is Task and type(node.func) is PartitionOp and node.func.func is shuffle_split


def groupby_layer(layer: Layer, name: str, key: Any, nout: int, base: str | None) -> TasksLayer:
    """``nout`` partitions of ``(key, [elements])``, every key in exactly one of them.

    Files go to a fresh directory under ``base`` (None: the system's temporary one).
    """
    if nout < 1:
        raise ValueError(f"groupby needs at least one output partition, got {nout}")
    dir_key = (f"{name}-dir", 0)
    graph: dict = {dir_key: Task(dir_key, make_shuffle_dir, base)}
    split_keys = []
    for i in range(layer.npartitions):
        k = (f"{name}-split", i)
        # A partition task: the element-wise steps before it stream into it.
        graph[k] = Task(k, PartitionOp(shuffle_split, "value"), key, nout, i, None, Ref(dir_key), Ref((layer.name, i)))
        split_keys.append(k)
    refs = [Ref(k) for k in split_keys]
    for j in range(nout):
        k = (name, j)
        graph[k] = Task(k, shuffle_collect, key, j, Ref(dir_key), refs)
    return TasksLayer(name, nout, graph, (layer,))


def restrict_shuffles(graph: dict) -> dict:
    """Tell each split which buckets a surviving collector will read."""
    wanted: dict = {}
    for node in graph.values():
        if type(node) is Task and node.func is shuffle_collect:
            dir_key = node.args[2].key
            wanted.setdefault(dir_key, set()).add(node.args[1])
    if not wanted:
        return graph
    out = dict(graph)
    for k, node in graph.items():
        if _is_split(node) and node.args[3] is None:
            dir_key = node.args[4].key
            survivors = frozenset(wanted.get(dir_key, ()))
            if len(survivors) < node.args[1]:
                args = list(node.args)
                args[3] = survivors
                out[k] = Task(k, node.func, *args, **node.kwargs)
    return out

