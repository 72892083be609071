"""``pardata.delayed``: build task graphs from ordinary Python calls.

A ``Delayed`` is one node of a lazily built DAG of Python objects: it holds its own
graph node and the ``Delayed`` objects it depends on, nothing more. Building is O(1)
per call (no graph dicts are merged); the low-level graph is materialized once, by a
walk from the outputs, when something is computed. This is why building a 40,000-call
graph costs a few microseconds per call.

Keys: ``pure=True`` calls are keyed by a token of the function and arguments, so equal
calls share work; other calls get a unique key from a per-process random prefix and a
counter. ``pardata_key_name=`` sets a call's key explicitly.
"""
from __future__ import annotations

import functools
import itertools
import operator
import os
from typing import Any, Iterator

from pardata.base import CollectionMixin, collections_to_graph, is_collection
from pardata.core.spec import DataNode, Ref, Task
from pardata.core.tokenize import tokenize

_MISSING = object()
_PREFIX = os.urandom(6).hex()
_counter = itertools.count()
_PLAIN = (int, float, str, bytes, bool, type(None), complex)


def _unique() -> str:
    return f"{_PREFIX}{next(_counter):x}"


def funcname(func: Any) -> str:
    """A short readable name for key prefixes."""
    while isinstance(func, functools.partial):
        func = func.func
    if isinstance(func, Delayed):
        return "call"
    name = getattr(func, "__name__", None)
    if name is None or name == "<lambda>":
        name = "lambda" if name else type(func).__name__
    return name.lower()


def _to_arg(obj: Any, parents: list) -> Any:
    """``obj`` as a task argument: Delayed -> Ref, containers walked, collections wrapped."""
    typ = type(obj)
    if typ in _PLAIN:
        return obj
    if isinstance(obj, Delayed):
        parents.append(obj)
        return Ref(obj._key)
    if typ is list:
        return [_to_arg(o, parents) for o in obj]
    if typ is tuple:
        return tuple([_to_arg(o, parents) for o in obj])
    if typ is dict:
        return {k: _to_arg(v, parents) for k, v in obj.items()}
    if typ is set or typ is frozenset:
        n = len(parents)
        items = [_to_arg(o, parents) for o in obj]
        return Task(None, typ, items) if len(parents) > n else obj
    if is_collection(obj):
        d = _from_collection(obj)
        parents.append(d)
        return Ref(d._key)
    return obj


def _from_collection(coll: Any) -> "Delayed":
    """A Delayed computing the finalized value of another collection."""
    graph, keys = collections_to_graph([coll], optimize_graph=False)
    finalize, extra = coll.__pardata_postcompute__()
    nested = coll.__pardata_keys__()

    def as_refs(k):
        return [as_refs(x) for x in k] if type(k) is list else Ref(k)

    key = f"finalize-{tokenize(coll.__pardata_keys__())}"
    return Delayed(key, Task(key, finalize, as_refs(nested), *extra), (), graph)


class Delayed(CollectionMixin):
    """A lazily computed value. Operators, attributes, calls and indexing stay lazy."""

    __slots__ = ("_key", "_node", "_parents", "_graph", "_length")
    __pardata_scheduler__ = "threads"

    def __init__(self, key, node, parents: tuple = (), graph: dict | None = None, length: int | None = None):
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_node", node)
        object.__setattr__(self, "_parents", parents)
        object.__setattr__(self, "_graph", graph)
        object.__setattr__(self, "_length", length)

    # ----------------------------------------------------------- collection protocol
    @property
    def key(self):
        return self._key

    def __pardata_graph__(self) -> dict:
        graph: dict = {}
        stack = [self]
        while stack:
            d = stack.pop()
            if d._key in graph:
                continue
            if d._graph is not None:
                graph.update(d._graph)
            if d._node is not None:
                graph[d._key] = d._node
            stack.extend(d._parents)
        return graph

    def __pardata_keys__(self) -> list:
        return [self._key]

    def __pardata_postcompute__(self):
        return _first, ()

    def __pardata_postpersist__(self):
        return _rebuild, (self._key, self._length)

    def __pardata_tokenize__(self):
        return ("pardata.Delayed", self._key)

    # ----------------------------------------------------------------- behaviour
    def __repr__(self) -> str:
        return f"Delayed({self._key!r})"

    def __hash__(self) -> int:
        return hash(self._key)

    def __dir__(self):
        return sorted(set(dir(type(self))) | {"key"})

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(f"'Delayed' object has no attribute {attr!r}")
        return DelayedAttr(self, attr)

    def __setattr__(self, attr, value):
        raise TypeError("Delayed objects are immutable")

    def __setitem__(self, index, value):
        raise TypeError("Delayed objects are immutable")

    def __iter__(self) -> Iterator["Delayed"]:
        if self._length is None:
            raise TypeError("Delayed objects of unspecified length are not iterable; pass nout=")
        return (self[i] for i in range(self._length))

    def __len__(self) -> int:
        if self._length is None:
            raise TypeError("Delayed objects of unspecified length have no len(); pass nout=")
        return self._length

    def __bool__(self):
        raise TypeError("the truth value of a Delayed object is not known until computed")

    def __call__(self, *args, pure: bool | None = None, pardata_key_name=None, **kwargs):
        return call_function(_apply, (self, *args), kwargs, pure=pure, key_name=pardata_key_name,
                             name="call")

    def __getitem__(self, index):
        return call_function(operator.getitem, (self, index), {}, pure=True)


def _first(results):
    return results[0]


def _apply(func, *args, **kwargs):
    return func(*args, **kwargs)


def _call_method(obj, method: str, *args, **kwargs):
    return getattr(obj, method)(*args, **kwargs)


def _rebuild(graph: dict, key, length):
    return Delayed(key, graph[key], (), None, length)


class DelayedAttr(Delayed):
    """``d.attr``: lazy attribute access that turns into a method call when called."""

    __slots__ = ("_obj", "_attr")

    def __init__(self, obj: Delayed, attr: str):
        key = f"getattr-{tokenize(obj._key, attr)}"
        super().__init__(key, Task(key, getattr, Ref(obj._key), attr), (obj,))
        object.__setattr__(self, "_obj", obj)
        object.__setattr__(self, "_attr", attr)

    def __call__(self, *args, pure: bool | None = None, pardata_key_name=None, **kwargs):
        return call_function(
            _call_method, (self._obj, self._attr, *args), kwargs, pure=pure,
            key_name=pardata_key_name, name=self._attr,
        )


class DelayedLeaf(Delayed):
    """``delayed(func)``: calling it adds a task; it is also a Delayed of ``func``."""

    __slots__ = ("_func", "_pure", "_nout")

    def __init__(self, func, key, pure: bool | None, nout: int | None):
        super().__init__(key, DataNode(key, func))
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_pure", pure)
        object.__setattr__(self, "_nout", nout)

    def __call__(self, *args, pure: bool | None = None, pardata_key_name=None, **kwargs):
        return call_function(
            self._func, args, kwargs, pure=self._pure if pure is None else pure,
            nout=self._nout, key_name=pardata_key_name,
        )

    @property
    def __name__(self):
        return getattr(self._func, "__name__", funcname(self._func))

    @property
    def __doc__(self):
        return getattr(self._func, "__doc__", None)

    @property
    def __wrapped__(self):
        return self._func


def call_function(func, args, kwargs, *, pure=None, nout=None, key_name=None, name=None) -> Delayed:
    """The Delayed result of ``func(*args, **kwargs)``."""
    if key_name is not None:
        key = key_name
    elif pure:
        key = f"{name or funcname(func)}-{tokenize(func, args, kwargs)}"
    else:
        key = f"{name or funcname(func)}-{_unique()}"
    parents: list = []
    targs = [_to_arg(a, parents) for a in args]
    tkwargs = {k: _to_arg(v, parents) for k, v in kwargs.items()} if kwargs else {}
    node = Task(key, func, *targs, **tkwargs)
    return Delayed(key, node, tuple(parents), None, nout)


def delayed(obj=_MISSING, *, pure: bool | None = None, name: str | None = None,
            nout: int | None = None, traverse: bool = True):
    """Wrap a function or value so that operations on it build a task graph.

    - ``delayed(func)`` / ``@delayed`` / ``@delayed(pure=True, nout=2)``: calls return
      ``Delayed`` results; ``pardata_key_name=`` on a call sets its key.
    - ``delayed(value)``: a ``Delayed`` of the value; Delayed objects nested inside
      lists, tuples, dicts and sets become dependencies (unless ``traverse=False``).
    - ``nout``: the number of outputs of a call, so its result can be unpacked.

    Unlike Dask, iterating a Delayed with unknown length fails at once with a message
    that names ``nout=`` instead of building an endless graph.
    """
    if obj is _MISSING:
        return lambda o: delayed(o, pure=pure, name=name, nout=nout, traverse=traverse)
    if isinstance(obj, Delayed):
        return obj
    if is_collection(obj):
        return _from_collection(obj)
    if callable(obj):
        key = name or f"{funcname(obj)}-{tokenize(obj)}"
        return DelayedLeaf(obj, key, pure, nout)
    parents: list = []
    arg = _to_arg(obj, parents) if traverse else obj
    if parents:
        key = name or f"{type(obj).__name__}-{tokenize(arg)}"
        return Delayed(key, Task(key, _identity, arg), tuple(parents), None, nout)
    key = name or f"{type(obj).__name__}-{tokenize(obj)}"
    return Delayed(key, DataNode(key, obj), (), None, nout)


def _identity(x):
    return x


def _bind_operator(op, reverse: bool = False):
    if reverse:
        def method(self, other):
            return call_function(op, (other, self), {}, pure=True, name=op.__name__)
    else:
        def method(self, other):
            return call_function(op, (self, other), {}, pure=True, name=op.__name__)
    return method


def _bind_unary(op):
    def method(self):
        return call_function(op, (self,), {}, pure=True, name=op.__name__)
    return method


for _name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul",
              "and", "or", "xor", "lshift", "rshift"):
    _op = getattr(operator, _name if _name not in ("and", "or") else _name + "_")
    setattr(Delayed, f"__{_name}__", _bind_operator(_op))
    setattr(Delayed, f"__r{_name}__", _bind_operator(_op, reverse=True))
for _name in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(Delayed, f"__{_name}__", _bind_operator(getattr(operator, _name)))
for _name in ("neg", "pos", "invert", "abs"):
    setattr(Delayed, f"__{_name}__", _bind_unary(getattr(operator, _name)))
setattr(Delayed, "__divmod__", _bind_operator(divmod))
setattr(Delayed, "__rdivmod__", _bind_operator(divmod, reverse=True))
Delayed.__hash__ = lambda self: hash(self._key)  # __eq__ is lazy; keep hashable
