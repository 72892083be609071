"""The one task-graph format every part of pardata speaks.

A graph is a plain ``dict`` mapping a key to a node. A key is a ``str`` or a tuple
``(str, int, ...)``. A node is one of:

- ``Task(key, func, *args, **kwargs)``: call ``func``; arguments may hold ``Ref(key)``
  references to other results, nested anywhere inside lists, tuples and dicts, and may
  hold other (key-less) ``Task`` objects that run inline (this is how fusion and
  inlining express themselves).
- ``DataNode(key, value)``: a literal result.
- ``Alias(key, target)``: the result of another key under a second name.

Every node carries ``dependencies``: the keys it needs, in first-use order, computed
once when the node is built. Nothing downstream re-parses arguments to find them.

Execution: ``node(data)`` returns the node's result, where ``data`` maps at least the
node's dependencies to their values. The common shape (every argument is either a
``Ref`` or a plain literal) takes a fast path with no recursion.

Hand-written Dask-style graphs (``{key: (func, *args)}``) are turned into this format
once, by ``convert_graph``, at the entry points that accept them.
"""
from __future__ import annotations

from typing import Any, Callable, Hashable, Mapping

Key = Hashable  # str or tuple (str, int, ...)

_EMPTY: tuple = ()


class Ref:
    """A reference to the result of another key, placed inside task arguments."""

    __slots__ = ("key",)

    def __init__(self, key: Key):
        self.key = key

    def __repr__(self) -> str:
        return f"Ref({self.key!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Ref and other.key == self.key

    def __hash__(self) -> int:
        return hash(("pardata-ref", self.key))

    def __reduce__(self):
        return (Ref, (self.key,))


class Node:
    """Base of graph nodes: a key and the keys it depends on."""

    __slots__ = ("key", "dependencies")

    key: Key
    dependencies: tuple

    def __call__(self, data: Mapping) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def with_key(self, key: Key) -> "Node":  # pragma: no cover - abstract
        raise NotImplementedError


def _scan(obj: Any, deps: dict) -> bool:
    """Collect references found in ``obj`` into ``deps`` (ordered set).

    Returns whether ``obj`` must be resolved before use (it holds a Ref or a Task).
    """
    typ = type(obj)
    if typ is Ref:
        deps[obj.key] = None
        return True
    if typ is Task:
        for d in obj.dependencies:
            deps[d] = None
        return True
    if typ is DataNode:
        return True
    if typ is list or typ is tuple:
        found = False
        for item in obj:
            if _scan(item, deps):
                found = True
        return found
    if typ is dict:
        found = False
        for item in obj.values():
            if _scan(item, deps):
                found = True
        return found
    return False


def _resolve(obj: Any, data: Mapping) -> Any:
    """Replace references (and inline tasks) inside ``obj`` by their values."""
    typ = type(obj)
    if typ is Ref:
        return data[obj.key]
    if typ is Task:
        return obj(data)
    if typ is DataNode:
        return obj.value
    if typ is list:
        return [_resolve(item, data) for item in obj]
    if typ is tuple:
        return tuple([_resolve(item, data) for item in obj])
    if typ is dict:
        return {k: _resolve(v, data) for k, v in obj.items()}
    return obj


class Task(Node):
    """Call ``func(*args, **kwargs)`` once the referenced keys are available.

    >>> from operator import add
    >>> t = Task("z", add, Ref("x"), 1)
    >>> t.dependencies
    ('x',)
    >>> t({"x": 41})
    42
    """

    __slots__ = ("func", "args", "kwargs", "_mode")

    # _mode: 0 = no argument needs resolving, 1 = only top-level Refs, 2 = nested.

    def __init__(self, key: Key, func: Callable, /, *args: Any, **kwargs: Any):
        if not callable(func):
            raise TypeError(f"Task {key!r}: {func!r} is not callable")
        self.key = key
        self.func = func
        self.args = args
        self.kwargs = kwargs
        deps: dict = {}
        mode = 0
        for a in args:
            if type(a) is Ref:
                deps[a.key] = None
                mode = mode or 1
            elif _scan(a, deps):
                mode = 2
        if kwargs and _scan(kwargs, deps):
            mode = 2
        self.dependencies = tuple(deps) if deps else _EMPTY
        self._mode = mode

    def __call__(self, data: Mapping) -> Any:
        mode = self._mode
        if mode == 0:
            return self.func(*self.args, **self.kwargs)
        if mode == 1:
            args = [data[a.key] if type(a) is Ref else a for a in self.args]
            return self.func(*args, **self.kwargs)
        args = [_resolve(a, data) for a in self.args]
        return self.func(*args, **_resolve(self.kwargs, data))

    def with_key(self, key: Key) -> "Task":
        new = Task.__new__(Task)
        new.key = key
        new.func = self.func
        new.args = self.args
        new.kwargs = self.kwargs
        new.dependencies = self.dependencies
        new._mode = self._mode
        return new

    def substitute(self, subs: Mapping[Key, Any]) -> "Task":
        """A copy with ``Ref(k)`` replaced by ``subs[k]`` (a value, Ref or Task)."""
        if not any(d in subs for d in self.dependencies):
            return self
        args = tuple(_substitute(a, subs) for a in self.args)
        kwargs = _substitute(self.kwargs, subs) if self.kwargs else {}
        return Task(self.key, self.func, *args, **kwargs)

    def __repr__(self) -> str:
        name = getattr(self.func, "__name__", type(self.func).__name__)
        parts = [repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return f"Task({self.key!r}, {name}, {', '.join(parts)})"

    def __eq__(self, other: object) -> bool:
        return (
            type(other) is Task
            and other.key == self.key
            and other.func == self.func
            and other.args == self.args
            and other.kwargs == self.kwargs
        )

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self):
        return (_rebuild_task, (self.key, self.func, self.args, self.kwargs))


def _rebuild_task(key, func, args, kwargs):
    return Task(key, func, *args, **kwargs)


def _substitute(obj: Any, subs: Mapping) -> Any:
    typ = type(obj)
    if typ is Ref:
        return subs.get(obj.key, obj)
    if typ is Task:
        return obj.substitute(subs)
    if typ is list:
        return [_substitute(o, subs) for o in obj]
    if typ is tuple:
        return tuple(_substitute(o, subs) for o in obj)
    if typ is dict:
        return {k: _substitute(v, subs) for k, v in obj.items()}
    return obj


class DataNode(Node):
    """A literal value stored in the graph under a key."""

    __slots__ = ("value",)

    def __init__(self, key: Key, value: Any):
        self.key = key
        self.value = value
        self.dependencies = _EMPTY

    def __call__(self, data: Mapping) -> Any:
        return self.value

    def with_key(self, key: Key) -> "DataNode":
        return DataNode(key, self.value)

    def __repr__(self) -> str:
        return f"DataNode({self.key!r}, {type(self.value).__name__})"

    def __reduce__(self):
        return (DataNode, (self.key, self.value))


class Alias(Node):
    """The result of ``target`` under the name ``key``."""

    __slots__ = ("target",)

    def __init__(self, key: Key, target: Key):
        self.key = key
        self.target = target
        self.dependencies = (target,)

    def __call__(self, data: Mapping) -> Any:
        return data[self.target]

    def with_key(self, key: Key) -> "Alias":
        return Alias(key, self.target)

    def __repr__(self) -> str:
        return f"Alias({self.key!r} -> {self.target!r})"

    def __reduce__(self):
        return (Alias, (self.key, self.target))


class Fused(Node):
    """Several nodes run back to back as one; the last one's result is the key's.

    Inner nodes are in dependency order; their intermediate results live only for the
    duration of the call. Running them in a loop (not nested calls) keeps arbitrarily
    long fused chains free of recursion limits.
    """

    __slots__ = ("nodes",)

    def __init__(self, key: Key, nodes: tuple):
        self.key = key
        self.nodes = tuple(nodes)
        inner = {n.key for n in self.nodes}
        deps: dict = {}
        for n in self.nodes:
            for d in n.dependencies:
                if d not in inner:
                    deps[d] = None
        self.dependencies = tuple(deps)

    def __call__(self, data: Mapping) -> Any:
        local = {d: data[d] for d in self.dependencies}
        result = None
        for node in self.nodes:
            result = node(local)
            local[node.key] = result
        return result

    def with_key(self, key: Key) -> "Fused":
        *head, last = self.nodes
        return Fused(key, (*head, last.with_key(key)))

    def __repr__(self) -> str:
        return f"Fused({self.key!r}, {[n.key for n in self.nodes]!r})"

    def __reduce__(self):
        return (Fused, (self.key, self.nodes))


# --------------------------------------------------------------------------------------
# Dask-style ("legacy") graphs: {key: (func, *args)} with keys referenced by value.
# --------------------------------------------------------------------------------------

def _identity_cast(*items, typ):
    return typ(items)


def _as_ref(obj: Any, keys) -> Ref | None:
    try:
        if obj in keys:
            return Ref(obj)
    except TypeError:  # unhashable
        pass
    return None


def _convert_arg(obj: Any, keys) -> Any:
    typ = type(obj)
    if typ is tuple and obj and callable(obj[0]):
        return Task(None, obj[0], *[_convert_arg(a, keys) for a in obj[1:]])
    if typ is str or typ is tuple or typ is int:
        ref = _as_ref(obj, keys)
        if ref is not None:
            return ref
    if typ is list:
        return [_convert_arg(a, keys) for a in obj]
    if typ is tuple:
        return tuple(_convert_arg(a, keys) for a in obj)
    if typ is dict:
        return {k: _convert_arg(v, keys) for k, v in obj.items()}
    if isinstance(obj, Node):
        raise TypeError(f"a graph node {obj!r} cannot be nested inside a legacy task")
    return obj


def convert_node(key: Key, value: Any, keys) -> Node:
    """Turn one value of a Dask-style graph into a node."""
    if isinstance(value, Node):
        if value.key != key:
            raise ValueError(f"graph key {key!r} holds a node keyed {value.key!r}")
        return value
    typ = type(value)
    if typ is tuple and value and callable(value[0]):
        return Task(key, value[0], *[_convert_arg(a, keys) for a in value[1:]])
    if typ is str or typ is tuple or typ is int:
        ref = _as_ref(value, keys)
        if ref is not None and value != key:
            return Alias(key, value)
    if typ in (list, tuple, dict):
        converted = _convert_arg(value, keys)
        deps: dict = {}
        if _scan(converted, deps):
            return Task(key, _identity, converted)
        return DataNode(key, value)
    return DataNode(key, value)


def _identity(x):
    return x


def convert_graph(graph: Mapping) -> dict:
    """Return ``graph`` in pardata's format; nodes already in it are kept as they are.

    >>> from operator import add
    >>> g = convert_graph({"x": 1, "y": (add, "x", 10), "z": ["x", "y"]})
    >>> g["y"].dependencies, g["z"].dependencies
    (('x',), ('x', 'y'))
    """
    out = {}
    keys = graph.keys()
    for key, value in graph.items():
        if isinstance(value, Node) and value.key == key:
            out[key] = value
        else:
            out[key] = convert_node(key, value, keys)
    return out


def is_graph_converted(graph: Mapping) -> bool:
    return all(isinstance(v, Node) for v in graph.values())
