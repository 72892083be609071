"""Partition-wise plan nodes: output partition ``i`` needs only partition ``i`` of inputs.

A ``Blockwise`` node describes one partition with ``_task(i)``; its operands are child
expressions (aligned partition by partition, or broadcast when single-valued, like a
reduction's result) and literals. Chains of these are what the fusion rule merges
into one task per partition. Readers are ``Blockwise`` nodes without children.
"""
from __future__ import annotations

import operator
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pandas as pd

from pardata.core.spec import Ref, Task
from pardata.dataframe.expr import ALL, Expr, node
from pardata.dataframe.meta import emulate, make_meta


def _ref(value: Any, i: int) -> Any:
    """``value`` as a task argument for partition ``i``: expressions become references."""
    if isinstance(value, Expr):
        return Ref((value._name, 0 if value._is_broadcast else i))
    if type(value) in (tuple, list):
        return type(value)(_ref(v, i) for v in value)
    if type(value) is dict:
        return {k: _ref(v, i) for k, v in value.items()}
    return value


def _meta_of(value: Any) -> Any:
    if isinstance(value, Expr):
        return value._meta
    if type(value) in (tuple, list):
        return type(value)(_meta_of(v) for v in value)
    if type(value) is dict:
        return {k: _meta_of(v) for k, v in value.items()}
    return value


class Blockwise(Expr):
    """A partition-wise node: ``_func(*args, **kwargs)`` on matching partitions."""

    _func: Callable
    _preserves_partitioning = False  # rows stay where they were (filters, projections)
    _udf = False  # run meta inference on made-up non-empty data
    _own_divisions = False  # divisions are a field, not the inputs' (no partition pushdown)

    def _args(self) -> list:
        raise NotImplementedError(type(self).__name__)

    def _kwargs(self) -> dict:
        return {}

    @property
    def _is_broadcast(self) -> bool:  # type: ignore[override]
        kids = self.children()
        return bool(kids) and all(c._is_broadcast for c in kids)

    def _frames(self) -> list[Expr]:
        """Children read partition by partition (not broadcast)."""
        return [c for c in self.children() if not c._is_broadcast]

    @cached_property
    def _meta(self) -> Any:
        return emulate(type(self)._func, *_meta_of(self._args()), udf=self._udf,
                       **_meta_of(self._kwargs()))

    @cached_property
    def divisions(self) -> tuple:
        frames = self._frames() or self.children()
        return frames[0].divisions

    @property
    def _partitioning(self):
        if not self._preserves_partitioning:
            return None
        frames = self._frames()
        part = frames[0]._partitioning if frames else None
        if part is None:
            return None
        have = set(self.columns) if isinstance(self._meta, pd.DataFrame) else set()
        return part if set(part[1]) <= have else None

    @property
    def _estimated_bytes(self):
        """The input's size for row-preserving/dropping nodes. Column selections and
        filters do not lower it: plan choices made from it (broadcast or not) must not
        change when the optimizer pushes those into the readers."""
        if not self._preserves_partitioning:
            return None
        frames = self._frames()
        return frames[0]._estimated_bytes if frames else None

    def _task(self, i: int) -> Task:
        kwargs = self._kwargs()
        return Task((self._name, i), type(self)._func, *_ref(self._args(), i),
                    **(_ref(kwargs, i) if kwargs else {}))

    def _layer(self) -> dict:
        return {(self._name, i): self._task(i) for i in range(self.npartitions)}


# ------------------------------------------------------------------ selection

def _project(df, key):
    return df[list(key)] if type(key) is tuple else df[key]


@node
class Projection(Blockwise):
    """``frame[key]``: a column (a Series) or a tuple of columns (a DataFrame)."""

    frame: Expr
    key: Any
    _prefix = "getitem"
    _func = staticmethod(_project)
    _preserves_partitioning = True

    def _args(self):
        return [self.frame, self.key]

    def _required_columns(self, needed):
        cols = set(self.key) if type(self.key) is tuple else {self.key}
        return {self.frame._name: cols}

    def _describe(self):
        return f"Projection({list(self.key) if type(self.key) is tuple else self.key!r})"


def _filter(df, mask):
    if isinstance(mask, pd.Index) or (isinstance(mask, pd.Series) and mask.dtype == bool):
        return df[mask.to_numpy()]
    return df[mask]


@node
class Filter(Blockwise):
    """``frame[predicate]`` with a boolean Series aligned partition by partition."""

    frame: Expr
    predicate: Expr
    _func = staticmethod(_filter)
    _preserves_partitioning = True

    def _args(self):
        return [self.frame, self.predicate]

    def _required_columns(self, needed):
        return {self.frame._name: needed, self.predicate._name: ALL}

    def _describe(self):
        return "Filter"


def _assign(df, *pairs):
    df = df.copy(deep=False)
    for k in range(0, len(pairs), 2):
        value = pairs[k + 1]
        if isinstance(value, pd.Series) and not value.index.equals(df.index):
            value = value.to_numpy() if len(value) == len(df) else value
        df[pairs[k]] = value
    return df


@node
class Assign(Blockwise):
    """``frame.assign(**columns)``; ``pairs`` is ``(name, value, name, value, ...)``."""

    frame: Expr
    pairs: tuple
    _func = staticmethod(_assign)
    _preserves_partitioning = True

    def _args(self):
        return [self.frame, *self.pairs]

    def _required_columns(self, needed):
        names = set(self.pairs[0::2])
        out = {c._name: ALL for c in self.children()}
        out[self.frame._name] = ALL if needed is ALL else (set(needed) - names)
        return out

    @property
    def _partitioning(self):
        part = super()._partitioning
        if part is not None and set(part[1]) & set(self.pairs[0::2]):
            return None
        return part

    def _describe(self):
        return f"Assign({', '.join(map(str, self.pairs[0::2]))})"


# ------------------------------------------------------------------ elementwise

_REVERSED = {}


def _rop(op):
    def rev(a, b):
        return op(b, a)

    rev.__name__ = f"r{op.__name__}"
    rev.__qualname__ = rev.__name__
    _REVERSED[op] = rev
    return rev


BINARY_OPERATORS = {
    name: getattr(operator, name)
    for name in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "and_", "or_", "xor",
                 "eq", "ne", "lt", "le", "gt", "ge")
}
REVERSED_OPERATORS = {name: _rop(op) for name, op in BINARY_OPERATORS.items()
                      if name not in ("eq", "ne", "lt", "le", "gt", "ge")}


def _call(op, *args):
    out = op(*args)
    if type(out) is np.ndarray and any(isinstance(a, pd.Index) for a in args):
        out = pd.Index(out)  # an Index compared with something stays an Index
    return out


@node
class Elemwise(Blockwise):
    """An element-wise operator (``+``, ``<``, ``~``, ...) over aligned partitions."""

    op: Callable
    operands: tuple
    _func = staticmethod(_call)

    @property
    def _prefix(self):  # type: ignore[override]
        return getattr(self.op, "__name__", "elemwise").strip("_")

    def _args(self):
        return [self.op, *self.operands]

    def _required_columns(self, needed):
        frames = [o for o in self.operands if isinstance(o, Expr)]
        if all(isinstance(o._meta, pd.DataFrame) for o in frames):
            return {o._name: needed for o in frames}
        return {o._name: ALL for o in frames}

    def _describe(self):
        return f"Elemwise({self._prefix})"


def _method(obj, method, /, *args, **kwargs):
    return getattr(obj, method)(*args, **kwargs)


# Methods that treat each column independently: projection passes straight through.
COLUMNWISE_METHODS = frozenset({
    "abs", "astype", "fillna", "isna", "notna", "isnull", "notnull", "isin", "round", "clip",
    "where", "mask", "ffill", "bfill", "replace", "copy", "between", "map",
})


@node
class Method(Blockwise):
    """``partition.<name>(*args, **kwargs)`` on every partition (args may be aligned frames)."""

    frame: Expr
    name: str
    args: tuple = ()
    kwargs: dict = None  # type: ignore[assignment]
    meta: Any = None
    divisions_unchanged: bool = True
    _func = staticmethod(_method)

    @property
    def _prefix(self):  # type: ignore[override]
        return self.name.lower()

    def _args(self):
        return [self.frame, self.name, *self.args]

    def _kwargs(self):
        return self.kwargs or {}

    @cached_property
    def _meta(self):
        if self.meta is not None:
            return make_meta(self.meta)
        return super()._meta

    @cached_property
    def divisions(self):
        divs = super().divisions
        return divs if self.divisions_unchanged else (None,) * len(divs)

    def _required_columns(self, needed):
        out = {c._name: ALL for c in self.children()}
        if self.name in COLUMNWISE_METHODS and isinstance(self.frame._meta, pd.DataFrame):
            if self.name == "astype" and isinstance(self.args[0] if self.args else None, dict):
                return out
            out[self.frame._name] = needed
        if self.name in ("rename",) and needed is not ALL and isinstance(self.frame._meta, pd.DataFrame):
            mapping = (self.kwargs or {}).get("columns")
            if isinstance(mapping, dict):
                back = {v: k for k, v in mapping.items()}
                out[self.frame._name] = {back.get(c, c) for c in needed} & set(self.frame.columns)
        if self.name == "drop" and needed is not ALL:
            out[self.frame._name] = set(needed)
        return out

    def _describe(self):
        return f"Method({self.name})"


def _map_partition(func, part, *args, **kwargs):
    return func(part, *args, **kwargs)


@node
class MapPartitions(Blockwise):
    """``func(partition, *args, **kwargs)`` on each partition; ``meta=`` skips inference."""

    func: Callable
    frame: Expr
    args: tuple = ()
    kwargs: dict = None  # type: ignore[assignment]
    meta: Any = None
    clear_divisions: bool = False
    token: str | None = None
    _func = staticmethod(_map_partition)
    _udf = True

    @property
    def _prefix(self):  # type: ignore[override]
        if self.token:
            return self.token
        return getattr(self.func, "__name__", "map-partitions").strip("<>").lower()

    def _args(self):
        return [self.func, self.frame, *self.args]

    def _kwargs(self):
        return self.kwargs or {}

    @cached_property
    def _meta(self):
        if self.meta is not None:
            return make_meta(self.meta)
        return super()._meta

    @cached_property
    def divisions(self):
        divs = super().divisions
        return (None,) * len(divs) if self.clear_divisions else divs

    def _describe(self):
        return f"MapPartitions({self._prefix})"


def _index_of(df):
    return df.index


@node
class IndexOf(Blockwise):
    """The index of every partition."""

    frame: Expr
    _prefix = "index"
    _func = staticmethod(_index_of)

    def _args(self):
        return [self.frame]

    def _required_columns(self, needed):
        return {self.frame._name: set()}


def _head(df, n):
    return df.head(n)


@node
class Head(Blockwise):
    frame: Expr
    n: int
    _func = staticmethod(_head)

    def _args(self):
        return [self.frame, self.n]

    def _required_columns(self, needed):
        return {self.frame._name: needed}


def _tail(df, n):
    return df.tail(n)


@node
class Tail(Head):
    _func = staticmethod(_tail)


def _to_frame(s, name):
    return s.to_frame() if name is None else s.to_frame(name=name)


def _rename_series(s, name):
    return s.rename(name)


def _len(df):
    return len(df)


@node
class Lengths(Blockwise):
    """The number of rows of each partition (an int per partition)."""

    frame: Expr
    _prefix = "len"
    _func = staticmethod(_len)

    def _args(self):
        return [self.frame]

    @cached_property
    def _meta(self):
        return 0

    def _required_columns(self, needed):
        return {self.frame._name: set()}


def _memory_usage(df):
    return int(df.memory_usage(deep=True, index=True).sum()) if isinstance(df, pd.DataFrame) \
        else int(df.memory_usage(deep=True, index=True))


@node
class MemoryUsage(Blockwise):
    frame: Expr
    _func = staticmethod(_memory_usage)

    def _args(self):
        return [self.frame]

    @cached_property
    def _meta(self):
        return 0

