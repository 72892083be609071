"""Turning calls and graphs into one ``submit-graph`` message.

Futures found anywhere in a task's arguments become ``Ref``s to their keys (so they
are dependencies and the worker receives their values), a persisted collection's
``DataNode(key, future)`` becomes a dependency on data already on the cluster, each
node is pickled on its own (the scheduler forwards each to one worker without reading
it), and static priorities come from ``pardata.core.order``.

A node that cannot be pickled fails here, at submit time, with an error naming the
task and where the culprit sits (``argument 0 -> attribute 'conn'``), instead of
failing later on a worker.
"""

from __future__ import annotations

import types
import uuid
from typing import Any

from pardata.comm.messages import SubmitGraph
from pardata.core.ordering import order
from pardata.core.spec import Alias, DataNode, Fused, Ref, Task
from pardata.core.tokenize import tokenize, tokenize_calls
from pardata.serialize import SerializationError, Serialized, dumps, serialize

from .future import Future

__all__ = ["call_key", "call_keys", "check_key", "task_for_call", "graph_submission", "describe_unpicklable"]


def check_key(key: Any) -> Any:
    """``key`` if it can travel (a str, or a tuple of str/int/float); else TypeError."""
    if type(key) is str:
        return key
    if type(key) is tuple and key and all(type(p) in (str, int, float) for p in key):
        return key
    raise TypeError(
        f"a task key must be a str or a tuple of str/int/float such as ('x', 0), got {key!r}"
    )


def funcname(fn: Any) -> str:
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return "lambda" if name == "<lambda>" else name


def call_key(fn: Any, args: tuple, kwargs: dict, pure: bool) -> str:
    """``"inc-<token>"``: a content token when ``pure``, else unique."""
    token = tokenize(fn, args, kwargs) if pure else uuid.uuid4().hex
    return f"{funcname(fn)}-{token}"


def call_keys(fn: Any, calls: list, kwargs: dict, pure: bool) -> list:
    """``[call_key(fn, args, kwargs, pure) for args in calls]``, tokenizing ``fn`` once."""
    name = funcname(fn)
    if not pure:
        return [f"{name}-{uuid.uuid4().hex}" for _ in calls]
    return [f"{name}-{token}" for token in tokenize_calls(fn, calls, kwargs)]


def _replace(obj: Any) -> Any:
    """``obj`` with every Future inside replaced by ``Ref(key)`` (itself if none)."""
    typ = type(obj)
    if typ is Future:
        return Ref(obj.key)
    if typ is list or typ is tuple:
        if _MAY_HOLD_FUTURES.isdisjoint(map(type, obj)):
            return obj
        items = [_replace(x) for x in obj]
        if all(a is b for a, b in zip(items, obj)):
            return obj
        return items if typ is list else tuple(items)
    if typ is dict:
        if _MAY_HOLD_FUTURES.isdisjoint(map(type, obj.values())):
            return obj
        items = {k: _replace(v) for k, v in obj.items()}
        if all(items[k] is v for k, v in obj.items()):
            return obj
        return items
    if typ is Task:
        return _replace_task(obj)
    return obj


#: Types ``_replace`` looks into (or replaces): anything else holds no Future it sees.
_MAY_HOLD_FUTURES = frozenset([Future, list, tuple, dict, Task])


def _replace_task(task: Task) -> Task:
    args = _replace(task.args)
    kwargs = _replace(task.kwargs) if task.kwargs else task.kwargs
    if args is task.args and kwargs is task.kwargs:
        return task
    return Task(task.key, task.func, *args, **kwargs)


def task_for_call(key: Any, fn: Any, args: tuple, kwargs: dict) -> Task:
    """The task running ``fn(*args, **kwargs)``; Futures among the arguments become Refs."""
    return Task(check_key(key), fn, *_replace(args), **_replace(kwargs))


def _prepare(key: Any, node: Any):
    """The node to submit for ``key``, or None when a Future already holds it."""
    typ = type(node)
    if typ is Task:
        return _replace_task(node)
    if typ is DataNode:
        value = node.value
        if type(value) is Future:
            return None if value.key == key else Alias(key, value.key)
        replaced = _replace(value)
        if replaced is not value:
            return Task(key, _identity, replaced)
        return node
    if typ is Fused:
        nodes = tuple(_replace_task(n) if type(n) is Task else n for n in node.nodes)
        return node if all(a is b for a, b in zip(nodes, node.nodes)) else Fused(key, nodes)
    return node


def _identity(x):
    return x


def graph_submission(
    graph: dict,
    wanted: list,
    *,
    user_priority: int = 0,
    retries: int = 0,
    workers=None,
    resources=None,
) -> SubmitGraph:
    """One ``submit-graph`` message for ``graph`` wanting ``wanted``."""
    nodes: dict = {}
    for key, node in graph.items():
        check_key(key)
        prepared = _prepare(key, node)
        if prepared is not None:
            nodes[key] = prepared
    for key in wanted:
        check_key(key)
    deps = {k: [d for d in n.dependencies if d in nodes] for k, n in nodes.items()}
    priorities = order(nodes, deps) if nodes else {}
    keys = list(nodes)
    return SubmitGraph(
        keys=keys,
        payloads=[serialize_node(k, nodes[k]) for k in keys],
        dependencies=[list(nodes[k].dependencies) for k in keys],
        priorities=[priorities[k] for k in keys],
        wanted=list(wanted),
        user_priority=int(user_priority or 0),
        retries=int(retries or 0),
        workers=_workers(workers),
        resources={str(k): float(v) for k, v in resources.items()} if resources else None,
    )


def _workers(workers) -> list[str] | None:
    if workers is None:
        return None
    if isinstance(workers, str):
        return [workers]
    return [str(w) for w in workers]


def serialize_node(key: Any, node: Any) -> Serialized:
    """Pickle one node; on failure, say which part of it cannot be pickled."""
    try:
        return serialize(node)
    except SerializationError as exc:
        where = describe_unpicklable(node)
        raise SerializationError(
            f"cannot submit task {key!r}: {where} cannot be serialized "
            f"({exc.__cause__ or exc}). Tasks travel to other processes, so everything they "
            "use must pickle: create such objects inside the task instead."
        ) from None


# --- finding the culprit ---------------------------------------------------------------


def _pickles(obj: Any) -> bool:
    try:
        dumps(obj)
        return True
    except SerializationError:
        return False


def _parts(obj: Any) -> list[tuple[str, Any]]:
    """Named pieces of ``obj`` that pickling it pickles too."""
    typ = type(obj)
    if typ is Task:
        parts = [("the function", obj.func)]
        parts += [(f"argument {i}", a) for i, a in enumerate(obj.args)]
        parts += [(f"keyword argument {k!r}", v) for k, v in obj.kwargs.items()]
        return parts
    if typ is DataNode:
        return [("the data", obj.value)]
    if typ is Fused:
        return [(f"fused task {n.key!r}", n) for n in obj.nodes]
    if typ in (list, tuple, set, frozenset):
        return [(f"item {i}", x) for i, x in enumerate(obj)]
    if typ is dict:
        return [(f"item {k!r}", v) for k, v in obj.items()]
    if isinstance(obj, types.FunctionType):
        name = obj.__qualname__
        parts = []
        for var, cell in zip(obj.__code__.co_freevars, obj.__closure__ or ()):
            try:
                parts.append((f"closure variable {var!r} of {name}", cell.cell_contents))
            except ValueError:  # an empty cell
                pass
        for var in obj.__code__.co_names:
            if var in obj.__globals__:
                value = obj.__globals__[var]
                if not isinstance(value, types.ModuleType):
                    parts.append((f"global {var!r} used by {name}", value))
        parts += [(f"default argument {i} of {name}", d) for i, d in enumerate(obj.__defaults__ or ())]
        return parts
    attrs = getattr(obj, "__dict__", None)
    if isinstance(attrs, dict):
        return [(f"attribute {k!r}", v) for k, v in attrs.items()]
    return []


def describe_unpicklable(obj: Any, depth: int = 0) -> str:
    """A path to the culprit, such as ``argument 0 -> attribute 'lock' -> a _thread.lock``."""
    if depth < 6:
        for name, part in _parts(obj):
            if not _pickles(part):
                return f"{name} -> {describe_unpicklable(part, depth + 1)}"
    cls = type(obj)
    name = cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    return f"a {name}"
