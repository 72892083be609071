"""Typed wire messages: the ``Message`` base, the ``@message`` decorator, the registry.

A message type is a frozen, keyword-only dataclass whose field annotations are
its schema. At registration each annotation is compiled once into a small
"spec" object that knows how to turn a field value into msgpack-ready data
(``encode``) and how to check and rebuild it from untrusted msgpack data
(``decode``). Decoding therefore costs a few ``type()`` checks per field and
never evaluates annotations at run time.

Supported field types: ``int``, ``float`` (ints accepted), ``str``, ``bool``,
``bytes`` (any bytes-like; large values travel out of band and decode to a
``memoryview``), ``None``, ``list[T]``, ``tuple[T, ...]``/``tuple[A, B]``,
``dict[str|int, T]``, unions such as ``T | None``, ``Serialized`` (an opaque
payload, never unpickled here), a ``Message`` subclass or ``Message`` itself
(any registered message; messages nest one level only, so a hostile peer
cannot make decoding recurse), and ``Any`` (plain msgpack data, depth-limited).

A list of messages (``Batch``) travels in columns: each run of consecutive
messages of one type becomes ``[op, count, column, column, ...]`` with one
column per field, so a batch of thousands of task messages costs a few checks
per column (``set(map(type, column))``) instead of a few calls per value, and
no field name is repeated. A single message may also appear as its own map.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from types import MappingProxyType
from typing import Any, ClassVar, Mapping, Tuple, Union

import msgpack

from pardata.serialize import Serialized

__all__ = ["Message", "message", "registry", "Key", "ANY_MAX_DEPTH", "OUT_OF_BAND_BYTES", "MAX_BATCH_MESSAGES"]

#: Bytes-like values at least this large are sent as separate frames.
OUT_OF_BAND_BYTES = 16 * 1024
#: msgpack ext type code whose 4-byte payload is the index of an out-of-band frame.
FRAME_EXT = 1
#: How deeply ``Any`` fields (and ``Serialized`` headers) may nest.
ANY_MAX_DEPTH = 32
#: Most messages one list of messages (a ``Batch``) may carry.
MAX_BATCH_MESSAGES = 1_000_000

#: A task key on the wire: a string, or a tuple such as ``("x", 0, 1)``.
Key = Union[str, Tuple[Union[str, int, float], ...]]

_REGISTRY: dict[str, type["Message"]] = {}


class Message:
    """Base class of every wire message; subclass it with ``@message("op")``.

    Messages are frozen, keyword-only dataclasses. Only ``__init__`` is generated per
    class, and only when a class is first instantiated; equality, hashing, ``repr`` and
    frozenness are shared methods here. A process imports a hundred message types and
    builds a few: generating six methods for each (what ``@dataclass`` does) cost tens
    of milliseconds of every server's start-up.
    """

    op: ClassVar[str] = ""
    _spec: ClassVar["_MessageSchema"]
    _field_names: ClassVar[tuple[str, ...]] = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self.__dict__ == other.__dict__

    def __hash__(self) -> int:
        values = self.__dict__
        return hash((self.op, *(values[name] for name in self._field_names)))

    def __repr__(self) -> str:
        values = self.__dict__
        shown = ", ".join(f"{name}={values[name]!r}" for name in self._field_names)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")


def message(op: str):
    """Class decorator that makes a frozen dataclass message and registers ``op``.

    >>> @message("ping-example")            # doctest: +SKIP
    ... class PingExample(Message):
    ...     time: float
    """

    def register(cls: type) -> type:
        if not (isinstance(cls, type) and issubclass(cls, Message)):
            raise TypeError(f"{cls!r} must subclass pardata.comm.Message")
        if not op or not isinstance(op, str):
            raise ValueError("a message op must be a non-empty string")
        if op in _REGISTRY:
            raise ValueError(f"op {op!r} is already registered to {_REGISTRY[op].__qualname__}")
        # Fields only (``dataclasses.fields``, ``replace``); the methods come from ``Message``.
        cls = dataclasses.dataclass(init=False, repr=False, eq=False, kw_only=True)(cls)
        cls._field_names = tuple(f.name for f in dataclasses.fields(cls))
        cls.__init__ = _first_init
        cls.op = op
        cls._spec = _MessageSchema(cls)
        _REGISTRY[op] = cls
        return cls

    return register


def _first_init(self, **kwargs) -> None:
    """A message class's first ``__init__``: generate the real one, install it, call it."""
    cls = type(self)
    init = _make_init(cls)
    cls.__init__ = init
    init(self, **kwargs)


def _make_init(cls: type) -> Any:
    """``__init__(self, *, field, field=default, ...)`` storing into ``__dict__``, as the
    frozen dataclass's would (defaults, default factories, ``__post_init__``)."""
    params, body = [], []
    namespace: dict[str, Any] = {"_FACTORY": object()}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            namespace[f"_d_{f.name}"] = f.default
            params.append(f"{f.name}=_d_{f.name}")
            body.append(f"d[{f.name!r}] = {f.name}")
        elif f.default_factory is not dataclasses.MISSING:
            namespace[f"_f_{f.name}"] = f.default_factory
            params.append(f"{f.name}=_FACTORY")
            body.append(f"d[{f.name!r}] = _f_{f.name}() if {f.name} is _FACTORY else {f.name}")
        else:
            params.append(f.name)
            body.append(f"d[{f.name!r}] = {f.name}")
    if hasattr(cls, "__post_init__"):
        body.append("self.__post_init__()")
    signature = f"self, *, {', '.join(params)}" if params else "self"
    lines = "\n    ".join(["d = self.__dict__", *body])
    exec(f"def __init__({signature}):\n    {lines}\n", namespace)  # noqa: S102 - our own field names
    init = namespace["__init__"]
    init.__qualname__ = f"{cls.__qualname__}.__init__"
    return init


def registry() -> Mapping[str, type[Message]]:
    """A read-only view of ``op -> message class`` for every registered message."""
    return MappingProxyType(_REGISTRY)


class Invalid(Exception):
    """A value does not match its schema; ``path`` locates it inside the message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path: list[str] = []

    def located(self) -> str:
        where = "".join(reversed(self.path))
        return f"{where}: {self.reason}" if where else self.reason


def _got(v: Any) -> str:
    return type(v).__name__


# --- specs: one per annotation, compiled at registration --------------------


class _Spec:
    """Encode/decode rules for one field type."""

    __slots__ = ("name", "wire_types", "plain", "identity")

    def __init__(self, name: str, wire_types: frozenset, plain: bool, identity: frozenset = frozenset()) -> None:
        self.name = name
        self.wire_types = wire_types  # Python types msgpack may decode this into
        self.plain = plain  # True when encode is the identity (no walk needed)
        self.identity = identity  # decoded types whose values decode to themselves

    def encode(self, v: Any, frames: list) -> Any:
        return v

    def decode(self, v: Any) -> Any:
        raise NotImplementedError

    def encode_column(self, column: list, frames: list) -> list:
        """``encode`` of every value of a column (a fresh list)."""
        if self.plain:
            return column
        enc = self.encode
        return [enc(v, frames) for v in column]

    def decode_column(self, column: list) -> list:
        """``decode`` of every value of a column; ``Invalid`` locates the bad value."""
        if set(map(type, column)) <= self.identity:
            return column
        dec = self.decode
        try:
            return [dec(v) for v in column]
        except Invalid:
            for i, v in enumerate(column):
                try:
                    dec(v)
                except Invalid as e:
                    e.path.append(f"[{i}]")
                    raise
            raise


class _Exact(_Spec):
    """int, str, bool, None: the decoded type must be exactly this one."""

    __slots__ = ("type",)

    def __init__(self, tp: type) -> None:
        super().__init__(tp.__name__ if tp is not type(None) else "None", frozenset([tp]), True, frozenset([tp]))
        self.type = tp

    def decode(self, v: Any) -> Any:
        if type(v) is not self.type:
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        return v


class _Float(_Spec):
    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("float", frozenset([float, int]), True, frozenset([float]))

    def decode(self, v: Any) -> Any:
        t = type(v)
        if t is float:
            return v
        if t is int:
            return float(v)
        raise Invalid(f"expected float, got {_got(v)}")


def _flat(v: Any) -> memoryview:
    view = v if isinstance(v, memoryview) else memoryview(v)
    if view.ndim == 1 and view.format == "B":
        return view
    if view.c_contiguous:
        return view.cast("B")
    return memoryview(view.tobytes())


class _Bytes(_Spec):
    """Bytes-like; large values become out-of-band frames referenced by index."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("bytes", frozenset([bytes, memoryview]), False, frozenset([bytes, memoryview]))

    def encode(self, v: Any, frames: list) -> Any:
        if type(v) is bytes and len(v) < OUT_OF_BAND_BYTES:
            return v
        try:
            view = _flat(v)
        except TypeError:
            raise Invalid(f"expected bytes-like, got {_got(v)}") from None
        if view.nbytes < OUT_OF_BAND_BYTES:
            return view.tobytes()
        frames.append(view)
        return msgpack.ExtType(FRAME_EXT, (len(frames) - 1).to_bytes(4, "little"))

    def decode(self, v: Any) -> Any:
        t = type(v)
        if t is bytes or t is memoryview:
            return v
        raise Invalid(f"expected bytes, got {_got(v)}")


class _List(_Spec):
    __slots__ = ("item", "as_tuple")

    def __init__(self, item: _Spec, as_tuple: bool) -> None:
        name = f"tuple[{item.name}, ...]" if as_tuple else f"list[{item.name}]"
        # msgpack packs tuples as arrays, so a tuple of plain items needs no walk either
        super().__init__(name, frozenset([list]), item.plain)
        self.item = item
        self.as_tuple = as_tuple

    def encode(self, v: Any, frames: list) -> Any:
        enc = self.item.encode
        return [enc(x, frames) for x in v]

    def decode(self, v: Any) -> Any:
        if type(v) is not list:
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        if set(map(type, v)) <= self.item.identity:  # also when empty
            return tuple(v) if self.as_tuple else v
        dec = self.item.decode
        out = []
        for i, x in enumerate(v):
            try:
                out.append(dec(x))
            except Invalid as e:
                e.path.append(f"[{i}]")
                raise
        return tuple(out) if self.as_tuple else out


class _FixedTuple(_Spec):
    __slots__ = ("items",)

    def __init__(self, items: list[_Spec]) -> None:
        super().__init__(f"tuple[{', '.join(s.name for s in items)}]", frozenset([list]), False)
        self.items = items

    def encode(self, v: Any, frames: list) -> Any:
        return [s.encode(x, frames) for s, x in zip(self.items, v)]

    def decode(self, v: Any) -> Any:
        if type(v) is not list or len(v) != len(self.items):
            raise Invalid(f"expected {self.name}, got {_got(v)} of length {_len(v)}")
        out = []
        for i, (s, x) in enumerate(zip(self.items, v)):
            try:
                out.append(s.decode(x))
            except Invalid as e:
                e.path.append(f"[{i}]")
                raise
        return tuple(out)


def _len(v: Any) -> Any:
    return len(v) if isinstance(v, (list, dict, str, bytes)) else "-"


class _Dict(_Spec):
    __slots__ = ("key", "value")

    def __init__(self, key: _Spec, value: _Spec) -> None:
        super().__init__(f"dict[{key.name}, {value.name}]", frozenset([dict]), value.plain)
        self.key = key
        self.value = value

    def encode(self, v: Any, frames: list) -> Any:
        enc = self.value.encode
        return {k: enc(x, frames) for k, x in v.items()}

    def decode(self, v: Any) -> Any:
        if type(v) is not dict:
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        kdec, vdec = self.key.decode, self.value.decode
        out = {}
        for k, x in v.items():
            try:
                out[kdec(k)] = vdec(x)
            except Invalid as e:
                e.path.append(f"[{k!r}]")
                raise
        return out


class _Union(_Spec):
    """Picks the alternative by the decoded value's type; tries each if ambiguous."""

    __slots__ = ("alts", "by_type")

    def __init__(self, alts: list[_Spec]) -> None:
        wire = frozenset().union(*(a.wire_types for a in alts))
        super().__init__(" | ".join(a.name for a in alts), wire, all(a.plain for a in alts))
        self.alts = alts
        self.by_type: dict[type, list[_Spec]] = {}
        for a in alts:
            for t in a.wire_types:
                self.by_type.setdefault(t, []).append(a)
        # A value decodes to itself when the first alternative of its type, which decoding
        # tries first, keeps every value of that type as it is.
        self.identity = frozenset(t for t, cands in self.by_type.items() if t in cands[0].identity)

    def encode(self, v: Any, frames: list) -> Any:
        for a in self.alts:  # the first alternative the value can be encoded as
            if _python_match(a, v):
                return a.encode(v, frames)
        raise Invalid(f"expected {self.name}, got {_got(v)}")


    def decode(self, v: Any) -> Any:
        candidates = self.by_type.get(type(v), ())
        if len(candidates) == 1:
            return candidates[0].decode(v)
        for a in candidates:
            try:
                return a.decode(v)
            except Invalid:
                continue
        raise Invalid(f"expected {self.name}, got {_got(v)}")


_PY_TYPES = {
    "bytes": (bytes, bytearray, memoryview),
    "float": (float, int),
    "bool": (bool,),
}


def _python_match(spec: _Spec, v: Any) -> bool:
    """Whether a Python value (before encoding) belongs to this alternative."""
    if isinstance(spec, _Exact):
        return type(v) is spec.type or (spec.type is int and isinstance(v, int) and type(v) is not bool)
    if isinstance(spec, (_Float, _Bytes)):
        return isinstance(v, _PY_TYPES[spec.name]) and type(v) is not bool
    if isinstance(spec, (_List, _FixedTuple)):
        return isinstance(v, (list, tuple))
    if isinstance(spec, _Dict):
        return isinstance(v, dict)
    if isinstance(spec, _SerializedSpec):
        return isinstance(v, Serialized)
    if isinstance(spec, _MessageRef):
        return isinstance(v, spec.cls)
    return True


def _check_any(v: Any, depth: int) -> None:
    t = type(v)
    if t in (str, int, float, bool, bytes) or v is None:
        return
    if depth >= ANY_MAX_DEPTH:
        raise Invalid(f"data nested deeper than {ANY_MAX_DEPTH} levels")
    if t is list:
        for x in v:
            _check_any(x, depth + 1)
    elif t is dict:
        for k, x in v.items():
            if type(k) not in (str, int):
                raise Invalid(f"map key of type {_got(k)}")
            _check_any(x, depth + 1)
    else:
        raise Invalid(f"unexpected {_got(v)} in plain data")


class _AnySpec(_Spec):
    """Plain msgpack data: scalars, lists and str/int-keyed maps, depth-limited."""

    __slots__ = ()

    def __init__(self) -> None:
        scalars = frozenset([str, int, float, bool, bytes, type(None)])
        super().__init__("Any", scalars | {list, dict}, True, scalars)

    def decode(self, v: Any) -> Any:
        _check_any(v, 0)
        return v


_ANY = _AnySpec()
_FRAME_LIST = _List(_Bytes(), as_tuple=False)
_FRAME_TYPES = {bytes, memoryview}
#: Payload headers are never modified, so decoded ones are shared (see pardata.serialize).
_SHARED_HEADERS = {name: {"serializer": name} for name in ("pickle", "cloudpickle")}


class _SerializedSpec(_Spec):
    """An opaque payload: ``[header, [frame, ...]]``, carried without unpickling."""

    __slots__ = ()

    def __init__(self) -> None:
        super().__init__("Serialized", frozenset([list]), False)

    def encode(self, v: Any, frames: list) -> Any:
        if type(v) is not Serialized and not isinstance(v, Serialized):
            raise Invalid(f"expected Serialized, got {_got(v)}")
        out = v.frames
        for f in out:
            if type(f) is not bytes or len(f) >= OUT_OF_BAND_BYTES:
                out = _FRAME_LIST.encode(out, frames)
                break
        return [v.header, out]

    def decode(self, v: Any) -> Any:
        if type(v) is not list or len(v) != 2 or type(v[0]) is not dict:
            raise Invalid(f"expected Serialized [header, frames], got {_got(v)}")
        header, frames = v
        if len(header) != 1 or set(map(type, header.values())) != {str}:
            _check_any(header, 1)  # anything but the usual {"serializer": name}
        else:  # a scheduler holding a million payloads keeps one copy of that header
            header = _SHARED_HEADERS.get(next(iter(header.values())), header) if "serializer" in header else header
        if type(frames) is not list or not set(map(type, frames)) <= _FRAME_TYPES:
            frames = _FRAME_LIST.decode(frames)
        return Serialized(header, frames)


class _MessageRef(_Spec):
    """A nested message (one level deep): of class ``cls``, or any if ``Message``."""

    __slots__ = ("cls",)

    def __init__(self, cls: type[Message]) -> None:
        super().__init__(cls.__name__, frozenset([dict]), False)
        self.cls = cls

    def encode(self, v: Any, frames: list) -> Any:
        if not isinstance(v, self.cls) or v.op == "":
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        if v._spec.nests:
            raise Invalid(f"{type(v).__name__} contains messages and cannot be nested")
        return v._spec.encode(v, frames)

    def decode(self, v: Any) -> Any:
        msg = decode_message(v, nested=True)
        if not isinstance(msg, self.cls):
            raise Invalid(f"expected {self.name}, got {type(msg).__name__}")
        return msg


class _MessageList(_Spec):
    """A list of messages (one level deep), sent as columnar runs (module docstring).

    On the wire each item is either a message map (as ``_MessageRef`` has it) or a run
    ``[op, count, column...]`` holding ``count`` consecutive messages of type ``op``, one
    column per field in declaration order. Encoding emits runs; decoding accepts both.
    """

    __slots__ = ("ref",)

    def __init__(self, ref: _MessageRef) -> None:
        super().__init__(f"list[{ref.name}]", frozenset([list]), False)
        self.ref = ref

    def encode(self, v: Any, frames: list) -> Any:
        if not isinstance(v, (list, tuple)):
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        out: list = []
        n = len(v)
        i = 0
        while i < n:
            cls = type(v[i])
            j = i + 1
            while j < n and type(v[j]) is cls:
                j += 1
            if not isinstance(v[i], self.ref.cls) or not getattr(v[i], "op", ""):
                e = Invalid(f"expected {self.ref.name}, got {_got(v[i])}")
                e.path.append(f"[{i}]")
                raise e
            spec = cls._spec
            if spec.nests:
                e = Invalid(f"{cls.__name__} contains messages and cannot be nested")
                e.path.append(f"[{i}]")
                raise e
            run = v[i:j]
            row: list = [cls.op, j - i]
            for name, fspec, _ in spec.fields:
                try:
                    row.append(fspec.encode_column([msg.__dict__[name] for msg in run], frames))
                except Invalid as e:
                    e.path.append(f"[{i}:{j}].{name}")
                    raise
            out.append(row)
            i = j
        return out

    def decode(self, v: Any) -> Any:
        if type(v) is not list:
            raise Invalid(f"expected {self.name}, got {_got(v)}")
        out: list = []
        for i, item in enumerate(v):
            try:
                if type(item) is dict:
                    out.append(self.ref.decode(item))
                else:
                    out.extend(self._decode_run(item))
            except Invalid as e:
                e.path.append(f"[{i}]")
                raise
            if len(out) > MAX_BATCH_MESSAGES:
                raise Invalid(f"more than {MAX_BATCH_MESSAGES} messages")
        return out

    def _decode_run(self, run: Any) -> list:
        if type(run) is not list or len(run) < 2:
            raise Invalid(f"expected a message or a run [op, count, columns...], got {_got(run)}")
        op, n = run[0], run[1]
        cls = _REGISTRY.get(op) if type(op) is str else None
        if cls is None:
            raise Invalid(f"unknown op {op!r}" if type(op) is str else "run has no string op")
        spec = cls._spec
        if spec.nests:
            raise Invalid(f"{op} contains messages and cannot be nested")
        if not issubclass(cls, self.ref.cls):
            raise Invalid(f"expected {self.ref.name}, got {cls.__name__}")
        if type(n) is not int or not 0 < n <= MAX_BATCH_MESSAGES:
            raise Invalid(f"run of {op} declares {n!r} messages")
        if len(run) != 2 + len(spec.fields):
            raise Invalid(f"run of {op} has {len(run) - 2} columns, expected {len(spec.fields)}")
        columns = []
        for (name, fspec, _), column in zip(spec.fields, run[2:]):
            if type(column) is not list or len(column) != n:
                raise Invalid(f"{op}.{name}: expected a column of {n} values, got {_got(column)} of length {_len(column)}")
            try:
                columns.append(fspec.decode_column(column))
            except Invalid as e:
                e.path.append(f".{op}.{name}")
                raise
        names = [name for name, _, _ in spec.fields]
        if not spec.fast_build:
            return [cls(**dict(zip(names, row))) for row in zip(*columns)]
        new = object.__new__
        msgs = []
        for row in zip(*columns):
            msg = new(cls)
            msg.__dict__.update(zip(names, row))
            msgs.append(msg)
        return msgs


_SIMPLE: dict[Any, _Spec] = {
    int: _Exact(int),
    str: _Exact(str),
    bool: _Exact(bool),
    type(None): _Exact(type(None)),
    None: _Exact(type(None)),
    float: _Float(),
    bytes: _Bytes(),
    Any: _ANY,
    Serialized: _SerializedSpec(),
}


def compile_type(tp: Any) -> _Spec:
    """Compile an annotation into a spec; raises ``TypeError`` if unsupported."""
    if tp in _SIMPLE:
        return _SIMPLE[tp]
    if isinstance(tp, type) and issubclass(tp, Message):
        return _MessageRef(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is Union or origin is types.UnionType:
        return _Union([compile_type(a) for a in args])
    if origin is list and len(args) == 1:
        item = compile_type(args[0])
        if isinstance(item, _MessageRef):
            return _MessageList(item)
        return _List(item, as_tuple=False)
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return _List(compile_type(args[0]), as_tuple=True)
    if origin is tuple and args:
        return _FixedTuple([compile_type(a) for a in args])
    if origin is dict and len(args) == 2 and args[0] in (str, int):
        return _Dict(_SIMPLE[args[0]], compile_type(args[1]))
    raise TypeError(f"unsupported message field type {tp!r}")


def _contains_message(spec: _Spec) -> bool:
    if isinstance(spec, (_MessageRef, _MessageList)):
        return True
    if isinstance(spec, _List):
        return _contains_message(spec.item)
    if isinstance(spec, _FixedTuple):
        return any(_contains_message(s) for s in spec.items)
    if isinstance(spec, _Dict):
        return _contains_message(spec.value)
    if isinstance(spec, _Union):
        return any(_contains_message(s) for s in spec.alts)
    return False


#: (module, annotation text) -> the type it names: most fields share a few annotations.
_ANNOTATIONS: dict[tuple[str, str], Any] = {}


def _field_types(cls: type) -> dict[str, Any]:
    """Each dataclass field's annotation, evaluated (``from __future__ import annotations``
    makes them strings). Like ``typing.get_type_hints``, which builds and compiles a
    ``ForwardRef`` per annotation, but each distinct text is evaluated once per module."""
    out = {}
    for f in dataclasses.fields(cls):
        if not isinstance(f.type, str):
            out[f.name] = f.type
            continue
        owner = next(c for c in cls.__mro__ if f.name in c.__dict__.get("__annotations__", {}))
        cache_key = (owner.__module__, f.type)
        if cache_key not in _ANNOTATIONS:
            try:
                _ANNOTATIONS[cache_key] = eval(f.type, vars(sys.modules[owner.__module__]))  # noqa: S307
            except Exception:  # noqa: BLE001 - names only the class body knows: the slow way
                return typing.get_type_hints(cls)
        out[f.name] = _ANNOTATIONS[cache_key]
    return out


class _MessageSchema:
    """The compiled schema of one message class."""

    def __init__(self, cls: type[Message]) -> None:
        hints = _field_types(cls)
        self.cls = cls
        self.fields: list[tuple[str, _Spec, bool]] = []  # (name, spec, required)
        for f in dataclasses.fields(cls):
            if f.name == "op":
                raise TypeError(f"{cls.__qualname__}: 'op' is reserved and cannot be a field")
            required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            self.fields.append((f.name, compile_type(hints[f.name]), required))
        self.plain = all(spec.plain for _, spec, _ in self.fields)
        self.nests = any(_contains_message(spec) for _, spec, _ in self.fields)
        self.fast_build = not hasattr(cls, "__post_init__")

    def encode(self, msg: Message, frames: list) -> dict:
        out = {"op": msg.op}
        if self.plain:
            out.update(msg.__dict__)
            return out
        for name, spec, _ in self.fields:
            v = getattr(msg, name)
            try:
                out[name] = v if spec.plain else spec.encode(v, frames)
            except Invalid as e:
                e.path.append(f".{name}")
                raise
        return out

    def decode(self, data: dict) -> Message:
        values = {}
        found = 0
        for name, spec, required in self.fields:
            try:
                v = data[name]
            except KeyError:
                if required:
                    raise Invalid(f"missing required field {name!r} of {self.cls.op}") from None
                continue
            found += 1
            try:
                values[name] = spec.decode(v)
            except Invalid as e:
                e.path.append(f".{name}")
                raise
        if found + 1 != len(data):
            known = {name for name, _, _ in self.fields} | {"op"}
            extra = sorted(map(repr, set(data) - known))
            raise Invalid(f"unknown field(s) {', '.join(extra)} in {self.cls.op}")
        if self.fast_build and found == len(self.fields):
            msg = object.__new__(self.cls)
            msg.__dict__.update(values)
            return msg
        return self.cls(**values)


def decode_message(data: Any, nested: bool = False) -> Message:
    """Validate msgpack-decoded ``data`` and build the message; raises ``Invalid``."""
    if type(data) is not dict:
        raise Invalid(f"a message must be a map, got {_got(data)}")
    op = data.get("op")
    cls = _REGISTRY.get(op) if type(op) is str else None
    if cls is None:
        raise Invalid(f"unknown op {op!r}" if type(op) is str else "message has no string 'op'")
    if nested:
        if cls._spec.nests:
            raise Invalid(f"{op} contains messages and cannot be nested")
        return cls._spec.decode(data)
    try:
        return cls._spec.decode(data)
    except Invalid as e:
        e.path.append(op)
        raise
