"""Deterministic content tokens: ``tokenize(*args, **kwargs) -> 32 hex chars``.

Keys of pure tasks (``delayed(pure=True)``, array and dataframe layers) are derived from
their inputs, so equal inputs must give equal tokens in *any* process -- the client, a
worker, tomorrow's rerun -- and different inputs must not collide. Python's ``hash`` is
salted per process and ``id`` is an address, so neither can be used; instead each object is
*normalized* to a tree of tuples and primitives whose ``repr`` is deterministic, and that
text is hashed with BLAKE2b. Large buffers (NumPy data, pickle out-of-band frames) are hashed
in place and only their digest enters the tree.

Every normalized non-primitive is ``(type tag, payload)`` where the tag is the object's
``module.qualname``, so ``(1,)`` and ``[1]`` differ and a handler only has to make its
payload unambiguous. Dicts and sets are sorted after normalization, so insertion order does
not matter. A mutable container met again while it is being normalized (a list that holds
itself) becomes a back-reference counted in levels, so self-referencing data terminates.

Handlers live in ``normalize_token``'s registry, looked up along the type's MRO. NumPy and
pandas handlers are registered lazily, the first time a type from those packages is seen,
so importing this module imports neither. Objects nobody registered are pickled (then
cloudpickled); an object that cannot be pickled gets a fresh random token that equals
nothing else -- correct but uncacheable -- or, with config
``tokenize.ensure-deterministic: True``, raises :class:`TokenizeError`.

Known limits: functions defined in a module are identified by module and qualname (not by
their code) unless they live in ``__main__``; a lambda's token covers its code, defaults
and closure but names the globals it reads without hashing their values; pickled fallbacks
are only as deterministic as the object's pickle.
"""

from __future__ import annotations

import dataclasses
import datetime
import decimal
import enum
import functools
import hashlib
import pathlib
import pickle
import sys
import threading
import types
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["TokenizeError", "normalize_token", "tokenize", "tokenize_calls"]


class TokenizeError(TypeError):
    """Raised for an object with no deterministic token when determinism is required."""


# Types whose ``repr`` is already deterministic and unambiguous: returned as they are.
_PRIMITIVES = frozenset({int, float, str, bool, type(None), complex})

# Buffers shorter than this enter the tree as bytes; longer ones as their digest.
_INLINE_BYTES = 4096
# Non-contiguous arrays are copied to C order at most this many bytes at a time.
_COPY_CHUNK = 1 << 24


def _hasher() -> Any:
    return hashlib.blake2b(digest_size=16)


def _digest_text(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def tokenize(*args: Any, **kwargs: Any) -> str:
    """Return a 32-hex-char token of the content of ``args`` and ``kwargs``.

    >>> tokenize(1, "a") == tokenize(1, "a")
    True
    >>> tokenize({"x": 1, "y": 2}) == tokenize({"y": 2, "x": 1})
    True
    >>> tokenize((1,)) == tokenize([1])
    False
    """
    parts = list(map(normalize_token, args))
    if kwargs:
        named = sorted([(k, normalize_token(v)) for k, v in kwargs.items()])
        parts.append(("<kwargs>", tuple(named)))
    return _digest_text(_safe_repr(parts))


def tokenize_calls(func: Any, calls: Iterable[tuple], kwargs: dict) -> list[str]:
    """``[tokenize(func, args, kwargs) for args in calls]``, normalizing ``func`` and
    ``kwargs`` once: what ``Client.map`` needs for many calls of one function.

    >>> tokenize_calls(len, [("a",), ("b",)], {}) == [tokenize(len, ("a",), {}), tokenize(len, ("b",), {})]
    True
    """
    fn = normalize_token(func)
    kw = normalize_token(kwargs)
    return [_digest_text(_safe_repr([fn, normalize_token(args), kw])) for args in calls]


# --- the normalized tree's text -------------------------------------------------------------

def _safe_repr(tree: Any) -> str:
    """``repr(tree)``; ints past ``sys.int_max_str_digits`` are spelled in hex instead."""
    try:
        return repr(tree)
    except ValueError:
        return repr(_hex_big_ints(tree))


def _hex_big_ints(tree: Any) -> Any:
    if type(tree) is tuple or type(tree) is list:
        return tuple(map(_hex_big_ints, tree))
    if type(tree) is int:
        return ("<int>", hex(tree))
    return tree


def _sorted(items: list) -> tuple:
    """Sort normalized values into an order that depends only on their content."""
    if items:
        first = type(items[0])
        if (first is str or first is int) and all(type(x) is first for x in items):
            return tuple(sorted(items))
    return tuple(sorted(items, key=_safe_repr))


def _sorted_pairs(pairs: list) -> tuple:
    """Sort normalized ``(key, value)`` pairs; keys are unique, so sorting on them suffices
    when they are all str or all int."""
    if pairs:
        first = type(pairs[0][0])
        if (first is str or first is int) and all(type(k) is first for k, _ in pairs):
            return tuple(sorted(pairs, key=_first))
    return tuple(sorted(pairs, key=_safe_repr))


def _first(pair: tuple) -> Any:
    return pair[0]


# --- the registry -----------------------------------------------------------------------------

_state = threading.local()


def _path() -> dict[int, int]:
    """Ids of the guarded objects being normalized on this thread -> their depth."""
    try:
        return _state.path
    except AttributeError:
        _state.path = path = {}
        return path


class _Registry:
    """Type -> handler, resolved along the MRO and cached per concrete type."""

    def __init__(self) -> None:
        # type -> (handler, guard)
        self.handlers: dict[type, tuple[Callable, bool]] = {}
        # top-level module name -> function registering that package's handlers
        self.lazy: dict[str, Callable[[], None]] = {}
        # concrete type -> (tag, handler, guard)
        self.cache: dict[type, tuple[str, Callable, bool]] = {}
        self.lock = threading.RLock()

    def add(self, types_: type | tuple[type, ...], func: Callable, guard: bool,
            renormalize: bool) -> None:
        if renormalize:
            func = _renormalizing(func)
        with self.lock:
            for cls in types_ if isinstance(types_, tuple) else (types_,):
                self._load_lazy(cls)
                self.handlers[cls] = (func, guard)
            self.cache.clear()

    def _load_lazy(self, cls: type) -> None:
        module = getattr(cls, "__module__", None) or ""
        loader = self.lazy.pop(module.partition(".")[0], None)
        if loader is not None:
            loader()

    def resolve(self, cls: type) -> tuple[str, Callable, bool]:
        with self.lock:
            found = self.cache.get(cls)
            if found is not None:
                return found
            for base in cls.__mro__:
                self._load_lazy(base)
            handler = self._handler_for(cls)
            found = self.cache[cls] = (_type_name(cls), *handler)
            return found

    def _handler_for(self, cls: type) -> tuple[Callable, bool]:
        if callable(getattr(cls, "__pardata_tokenize__", None)):
            return _normalize_by_method, True
        if issubclass(cls, enum.Enum):  # before a mixed-in int or str base
            return _enum, False
        for base in cls.__mro__[:-1]:  # never ``object``: that is the fallback below
            entry = self.handlers.get(base)
            if entry is not None:
                return entry
        if dataclasses.is_dataclass(cls):
            return _dataclass_handler(cls), True
        return _normalize_object, False


def _renormalizing(func: Callable) -> Callable:
    """Wrap a user handler so whatever it returns is normalized in turn."""

    @functools.wraps(func)
    def handler(obj: Any) -> Any:
        return normalize_token(func(obj))

    return handler


_registry = _Registry()


def _type_name(cls: type) -> str:
    return f"{getattr(cls, '__module__', None)}.{getattr(cls, '__qualname__', cls.__name__)}"


def normalize_token(obj: Any) -> Any:
    """Return ``obj`` as a tree of tuples and primitives with a deterministic ``repr``.

    Primitives come back unchanged, anything else as ``(type tag, payload)``. Extend with
    ``normalize_token.register(MyType)(func)``; ``func(obj)`` may return any value
    ``tokenize`` accepts (it is normalized in turn) and is looked up along the MRO.
    """
    cls = type(obj)
    if cls in _PRIMITIVES:
        return obj
    try:
        tag, func, guard = _registry.cache[cls]
    except KeyError:
        tag, func, guard = _registry.resolve(cls)
    if not guard:
        return (tag, func(obj))
    path = _path()
    key = id(obj)
    depth = path.get(key)
    if depth is not None:
        return ("<cycle>", len(path) - depth)
    path[key] = len(path)
    try:
        return (tag, func(obj))
    finally:
        del path[key]


def register(types_: type | tuple[type, ...], func: Callable | None = None) -> Callable:
    """Register ``func(obj)`` as the normalizer of ``types_`` (a type or tuple of types).

    Usable as a decorator: ``@normalize_token.register(MyType)``. The returned value is
    normalized in turn, so ``return (obj.a, obj.b)`` is enough.
    """
    def decorate(f: Callable) -> Callable:
        _registry.add(types_, f, guard=True, renormalize=True)
        return f

    return decorate(func) if func is not None else decorate


def register_lazy(toplevel: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    """Decorate a function that registers handlers for package ``toplevel``.

    It runs once, the first time a type defined in that package is normalized, so the
    package is never imported on our account.
    """
    def decorate(loader: Callable[[], None]) -> Callable[[], None]:
        with _registry.lock:
            _registry.lazy[toplevel] = loader
            _registry.cache.clear()
        return loader

    return decorate


def _dispatch(cls: type) -> Callable:
    """The handler ``normalize_token`` uses for instances of ``cls``."""
    return _registry.resolve(cls)[1]


normalize_token.register = register  # type: ignore[attr-defined]
normalize_token.register_lazy = register_lazy  # type: ignore[attr-defined]
normalize_token.dispatch = _dispatch  # type: ignore[attr-defined]


def _builtin(types_: type | tuple[type, ...], guard: bool = False) -> Callable:
    """Register a handler whose payload is already normalized (no second pass)."""
    def decorate(func: Callable) -> Callable:
        _registry.add(types_, func, guard=guard, renormalize=False)
        return func

    return decorate


# --- builtins -------------------------------------------------------------------------------

@_builtin(int)
def _int_subclass(x: int) -> Any:
    return (int.__int__(x), _instance_dict(x))


@_builtin(float)
def _float_subclass(x: float) -> Any:
    return (float.__float__(x), _instance_dict(x))


@_builtin(complex)
def _complex_subclass(x: complex) -> Any:
    return (complex.__complex__(x), _instance_dict(x))


@_builtin(str)
def _str_subclass(x: str) -> Any:
    return (str.__str__(x), _instance_dict(x))


def _instance_dict(x: Any) -> Any:
    attrs = getattr(x, "__dict__", None)
    return normalize_token(attrs) if attrs else None


@_builtin((bytes, bytearray))
def _bytes(x: bytes | bytearray) -> Any:
    if len(x) <= _INLINE_BYTES:
        return bytes(x)
    h = _hasher()
    h.update(x)
    return h.hexdigest()


@_builtin(memoryview)
def _memoryview(m: memoryview) -> Any:
    data = m.cast("B") if m.c_contiguous else m.tobytes()
    return (m.format, m.shape, _bytes(data))


@_builtin(tuple)
def _tuple(x: tuple) -> Any:
    return tuple(map(normalize_token, x))


@_builtin(list, guard=True)
def _list(x: list) -> Any:
    return tuple(map(normalize_token, x))


@_builtin((set, frozenset))
def _set(x: set | frozenset) -> Any:
    return _sorted(list(map(normalize_token, x)))


@_builtin(dict, guard=True)
def _dict(x: dict) -> Any:
    return _sorted_pairs([(normalize_token(k), normalize_token(v)) for k, v in x.items()])


@_builtin(OrderedDict, guard=True)
def _ordered_dict(x: OrderedDict) -> Any:
    # Order is part of an OrderedDict's equality, so it is part of its token.
    return tuple([(normalize_token(k), normalize_token(v)) for k, v in x.items()])


@_builtin(defaultdict, guard=True)
def _defaultdict(x: defaultdict) -> Any:
    return (normalize_token(x.default_factory), _dict(x))


@_builtin(range)
def _range(x: range) -> Any:
    return (x.start, x.stop, x.step)


@_builtin(slice)
def _slice(x: slice) -> Any:
    return (normalize_token(x.start), normalize_token(x.stop), normalize_token(x.step))


@_builtin((type(Ellipsis), type(NotImplemented)))
def _singleton(x: Any) -> Any:
    return None


@_builtin(type)
def _type(cls: type) -> Any:
    return _type_name(cls)


@_builtin(types.ModuleType)
def _module(m: types.ModuleType) -> Any:
    return m.__name__


def _enum(x: enum.Enum) -> Any:
    return normalize_token(x._value_)


@_builtin((datetime.date, datetime.time))  # datetime.datetime is a date
def _datetime(x: Any) -> Any:
    # Protocol 4's reduce gives the exact packed state (including ``fold``) and the tzinfo.
    state = x.__reduce_ex__(4)[1]
    return tuple(map(normalize_token, state))


@_builtin(datetime.timedelta)
def _timedelta(x: datetime.timedelta) -> Any:
    return (x.days, x.seconds, x.microseconds)


@_builtin(decimal.Decimal)
def _decimal(x: decimal.Decimal) -> Any:
    return str(x)  # exact: keeps sign of zero, exponent, NaN kinds


@_builtin(pathlib.PurePath)
def _path_like(x: pathlib.PurePath) -> Any:
    return str(x)


# --- functions and other callables ------------------------------------------------------------

def _is_importable(func: Any, module: str | None, qualname: str) -> bool:
    """True if ``module.qualname`` names ``func`` itself, so the name identifies it."""
    if not module or module == "__main__" or "<" in qualname:
        return False
    obj = sys.modules.get(module)
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj is func or getattr(obj, "__func__", None) is func


@_builtin(types.FunctionType)
def _function(f: types.FunctionType) -> Any:
    module = f.__module__
    qualname = f.__qualname__
    if _is_importable(f, module, qualname):
        return (module, qualname)
    # Lambdas, local functions and __main__ functions (redefined at will in a notebook) are
    # identified by what they do, not by where they were defined.
    path = _path()
    key = id(f)
    depth = path.get(key)
    if depth is not None:
        return ("<cycle>", len(path) - depth)
    path[key] = len(path)
    try:
        closure = f.__closure__
        return (
            normalize_token(f.__code__),
            normalize_token(f.__defaults__),
            normalize_token(f.__kwdefaults__),
            tuple(map(normalize_token, closure)) if closure else None,
        )
    finally:
        del path[key]


# Code flags that change what a code object does (varargs, generator, coroutine, ...). Left
# out: CO_NESTED (defined inside another function) and the __future__ flags, which only
# steer compilation -- their effect, if any, is already in the bytecode.
_CO_BEHAVIOR = 0x3FF & ~0x10


@_builtin(types.CodeType)
def _code(c: types.CodeType) -> Any:
    return (
        c.co_argcount,
        c.co_posonlyargcount,
        c.co_kwonlyargcount,
        c.co_flags & _CO_BEHAVIOR,
        c.co_code,  # de-specialized bytecode, stable while the function runs
        tuple(map(normalize_token, c.co_consts)),
        c.co_names,
        c.co_varnames,
        c.co_freevars,
        c.co_cellvars,
        getattr(c, "co_exceptiontable", b""),
    )


@_builtin(types.CellType)
def _cell(cell: types.CellType) -> Any:
    try:
        return normalize_token(cell.cell_contents)
    except ValueError:  # empty cell
        return "<empty>"


@_builtin(functools.partial, guard=True)
def _partial(p: functools.partial) -> Any:
    return (normalize_token(p.func), _tuple(p.args), _dict(p.keywords))


@_builtin(types.MethodType, guard=True)
def _method(m: types.MethodType) -> Any:
    return (normalize_token(m.__self__), normalize_token(m.__func__))


@_builtin(types.BuiltinFunctionType)  # builtin functions and methods of builtin objects
def _builtin_function(f: Any) -> Any:
    owner = f.__self__
    if owner is None or isinstance(owner, types.ModuleType):
        return (getattr(f, "__module__", None), f.__qualname__)
    return (normalize_token(owner), f.__name__)


@_builtin(types.MethodWrapperType)  # e.g. (1).__add__
def _method_wrapper(f: Any) -> Any:
    return (normalize_token(f.__self__), f.__name__)


@_builtin((types.WrapperDescriptorType, types.MethodDescriptorType,
           types.ClassMethodDescriptorType))
def _descriptor(f: Any) -> Any:
    return (_type_name(f.__objclass__), f.__name__)


# --- user objects -----------------------------------------------------------------------------

def _normalize_by_method(obj: Any) -> Any:
    return normalize_token(obj.__pardata_tokenize__())


def _dataclass_handler(cls: type) -> Callable:
    names = tuple(f.name for f in dataclasses.fields(cls))

    def handler(obj: Any) -> Any:
        return tuple([(name, normalize_token(getattr(obj, name))) for name in names])

    return handler


def _normalize_object(obj: Any) -> Any:
    """Pickle ``obj`` (then cloudpickle it); out-of-band buffers are hashed in place."""
    buffers: list[pickle.PickleBuffer] = []
    try:
        data = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
    except Exception:
        buffers.clear()
        try:
            import cloudpickle

            data = cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        except Exception:
            return _unique_token(obj)
    if not buffers and len(data) <= _INLINE_BYTES:
        return data
    h = _hasher()
    h.update(data)
    for buf in buffers:
        try:
            raw = buf.raw()
        except BufferError:  # not contiguous
            raw = memoryview(buf).tobytes()
        h.update(len(raw).to_bytes(8, "little"))
        h.update(raw)
    return h.hexdigest()


def _unique_token(obj: Any) -> Any:
    """A token equal to nothing else: the object has no reproducible content we can read."""
    try:
        from pardata import config
    except ImportError:  # loaded outside the package
        strict = False
    else:
        strict = config.get("tokenize.ensure-deterministic", False)
    if strict:
        raise TokenizeError(
            f"cannot deterministically tokenize {type(obj).__qualname__} object: it cannot be "
            "pickled and has no normalize_token handler or __pardata_tokenize__ method"
        )
    return ("<unique>", uuid.uuid4().hex)


# --- NumPy (registered on first sight of a NumPy type) -----------------------------------------

@register_lazy("numpy")
def _register_numpy() -> None:
    import numpy as np

    def dtype_token(dt: Any) -> Any:
        return (dt.str, repr(dt))  # repr spells out fields, offsets, units, byte order

    def by_element(x: Any) -> bool:
        # Object and variable-width string arrays hold pointers: hash elements, not bytes.
        return x.dtype.hasobject or x.dtype.kind == "T"

    def data_digest(x: Any) -> str:
        h = _hasher()
        if x.size == 0 or x.itemsize == 0:
            pass
        elif x.flags.c_contiguous:
            h.update(x.reshape(-1).view(np.uint8))  # no copy
        elif x.nbytes <= _COPY_CHUNK or x.ndim < 2:
            h.update(np.ascontiguousarray(x).reshape(-1).view(np.uint8))
        else:
            step = max(1, _COPY_CHUNK // max(1, x[0].nbytes))
            for start in range(0, x.shape[0], step):
                h.update(np.ascontiguousarray(x[start:start + step]).reshape(-1).view(np.uint8))
        return h.hexdigest()

    @_builtin(np.ndarray, guard=True)
    def _ndarray(x: Any) -> Any:
        if by_element(x):
            data: Any = tuple(map(normalize_token, x.ravel().tolist()))
        else:
            data = data_digest(x)
        extra = None
        if type(x) is not np.ndarray and not isinstance(x, np.memmap):
            extra = _instance_dict(x)  # e.g. a unit stored on a subclass
        return (dtype_token(x.dtype), x.shape, data, extra)

    @_builtin(np.ma.MaskedArray, guard=True)
    def _masked(x: Any) -> Any:
        return (_ndarray(x.data), _ndarray(np.ma.getmaskarray(x)), normalize_token(x.fill_value))

    @_builtin(np.generic)
    def _scalar(x: Any) -> Any:
        if by_element(x):
            return (dtype_token(x.dtype), normalize_token(x.item()))
        return (dtype_token(x.dtype), x.tobytes())

    @_builtin(np.dtype)
    def _dtype(dt: Any) -> Any:
        return dtype_token(dt)


# --- pandas (registered on first sight of a pandas type) ---------------------------------------

@register_lazy("pandas")
def _register_pandas() -> None:
    import numpy as np
    import pandas as pd
    from pandas.api.extensions import ExtensionArray, ExtensionDtype

    def names(idx: Any) -> Any:
        return tuple(map(normalize_token, idx.names))

    @_builtin(pd.Index, guard=True)
    def _index(idx: Any) -> Any:
        return (names(idx), normalize_token(idx.dtype), normalize_token(idx.array))

    @_builtin(pd.RangeIndex)
    def _range_index(idx: Any) -> Any:
        return (names(idx), idx.start, idx.stop, idx.step)

    @_builtin(pd.MultiIndex, guard=True)
    def _multi_index(idx: Any) -> Any:
        return (
            names(idx),
            tuple(map(normalize_token, idx.levels)),
            tuple(map(normalize_token, idx.codes)),
        )

    @_builtin(pd.Series, guard=True)
    def _series(s: Any) -> Any:
        return (normalize_token(s.name), normalize_token(s.index), normalize_token(s.array))

    @_builtin(pd.DataFrame, guard=True)
    def _frame(df: Any) -> Any:
        columns = tuple([normalize_token(col.array) for _, col in df.items()])
        return (normalize_token(df.index), normalize_token(df.columns), columns)

    @_builtin(ExtensionArray, guard=True)
    def _extension_array(arr: Any) -> Any:
        # Use the backing numpy arrays where pandas keeps them, else the values as objects.
        if hasattr(arr, "_ndarray"):  # datetime, timedelta, period, numpy-backed, python str
            values: Any = normalize_token(arr._ndarray)
        elif hasattr(arr, "_data") and hasattr(arr, "_mask"):  # nullable int/float/bool
            values = (normalize_token(arr._data), normalize_token(arr._mask))
        else:
            values = normalize_token(np.asarray(arr, dtype=object))
        return (normalize_token(arr.dtype), values)

    @_builtin(pd.Categorical, guard=True)
    def _categorical(cat: Any) -> Any:
        return (normalize_token(cat.codes), normalize_token(cat.categories), cat.ordered)

    @_builtin(ExtensionDtype)
    def _extension_dtype(dt: Any) -> Any:
        return str(dt)

    @_builtin(pd.CategoricalDtype)
    def _categorical_dtype(dt: Any) -> Any:
        return (normalize_token(dt.categories), dt.ordered)

    @_builtin(pd.Timestamp)
    def _timestamp(ts: Any) -> Any:
        return (ts.isoformat(), ts.unit, normalize_token(ts.tz))

    @_builtin(type(pd.NaT))  # a datetime subclass, but without a date
    def _nat(x: Any) -> Any:
        return None

    @_builtin(pd.Timedelta)
    def _pd_timedelta(td: Any) -> Any:
        return (td.isoformat(), td.unit)
