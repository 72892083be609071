"""``.str``, ``.dt`` and ``.cat``: pandas accessors applied partition by partition.

Every accessor attribute pandas offers is available: the attribute is looked up on the
meta's accessor first (so a typo fails at once, with pandas' own message), and the
result's meta comes from running the same call on the empty meta.
"""
from __future__ import annotations

from functools import cached_property

import pandas as pd

from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.collection import as_expr, new_collection
from pardata.dataframe.expr import Expr, node
from pardata.dataframe.meta import emulate, make_meta, series_with_missing


def _accessor_call(s, accessor, attr, is_call, args, kwargs, dtype=None):
    value = getattr(getattr(s, accessor), attr)
    out = value(*args, **kwargs) if is_call else value
    if dtype is not None and isinstance(out, pd.Series) and out.dtype != dtype:
        out = out.astype(dtype)  # e.g. str.len without missing values: int -> float
    return out


@node
class AccessorCall(Blockwise):
    """``partition.<accessor>.<attr>`` (called with ``args`` when ``is_call``)."""

    frame: Expr
    accessor: str
    attr: str
    is_call: bool
    args: tuple = ()
    kwargs: dict = None  # type: ignore[assignment]
    meta: object = None
    _func = staticmethod(_accessor_call)

    @property
    def _prefix(self):  # type: ignore[override]
        return f"{self.accessor}-{self.attr}".lower()

    def _args(self):
        meta = self._meta
        dtype = meta.dtype if isinstance(meta, pd.Series) and self.meta is None else None
        return [self.frame, self.accessor, self.attr, self.is_call, self.args, self.kwargs or {},
                dtype]

    @cached_property
    def _meta(self):
        if self.meta is not None:
            return make_meta(self.meta)
        empty = emulate(_accessor_call, self.frame._meta, self.accessor, self.attr, self.is_call,
                        self.args, self.kwargs or {})
        if not isinstance(empty, pd.Series) or self.accessor != "str":
            return empty
        # The dtype some string methods return depends on whether a value is missing
        # (str.len of strings with a NaN is float); strings are often missing, so use
        # that dtype, in every partition.
        probe = _accessor_call(series_with_missing(self.frame._meta), self.accessor, self.attr,
                               self.is_call, self.args, self.kwargs or {})
        if isinstance(probe, pd.Series) and probe.dtype != empty.dtype and probe.dtype.kind in "fO":
            return probe.iloc[:0]
        return empty

    def _describe(self):
        return f"Accessor({self.accessor}.{self.attr})"


class _Accessor:
    _name = ""
    # methods whose result depends on values across partitions
    _unsupported: frozenset = frozenset()

    def __init__(self, series):
        getattr(series._meta, self._name)  # raises pandas' AttributeError for wrong dtypes
        self._series = series

    def __dir__(self):
        return sorted(set(dir(getattr(self._series._meta, self._name))) - self._unsupported)

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        if attr in self._unsupported:
            raise NotImplementedError(f".{self._name}.{attr} is not supported on partitions")
        value = getattr(getattr(self._series._meta, self._name), attr)
        if callable(value):
            def method(*args, meta=None, **kwargs):
                args = tuple(as_expr(a) for a in args)
                return new_collection(AccessorCall(self._series._expr, self._name, attr, True,
                                                   args, kwargs or None, meta))

            method.__name__ = attr
            method.__doc__ = getattr(value, "__doc__", None)
            return method
        return new_collection(AccessorCall(self._series._expr, self._name, attr, False))


class StringAccessor(_Accessor):
    _name = "str"

    def __getitem__(self, key):
        """``s.str[0]``, ``s.str[1:3]``: elements of each string (or list, after split)."""
        getattr(self._series._meta, "str")[key]  # pandas' error for a bad key, at once
        return new_collection(AccessorCall(self._series._expr, "str", "__getitem__", True,
                                           (key,)))

    def split(self, pat=None, n=-1, expand=False, regex=None):
        """With ``expand=True`` the number of columns must be known: pass ``n=``."""
        if expand and n in (-1, None, 0):
            raise NotImplementedError("str.split(expand=True) needs n= (the number of columns "
                                      "is not known until computed)")
        kwargs = {"pat": pat, "n": n, "expand": expand}
        if regex is not None:
            kwargs["regex"] = regex
        meta = None
        if expand:
            probe = emulate(lambda s: s.str.split(**kwargs), self._series._meta, udf=True)
            meta = probe.reindex(columns=range(n + 1)).astype(self._series._meta.dtype)
        return new_collection(AccessorCall(self._series._expr, "str", "split", True, (),
                                           kwargs, meta))


class DatetimeAccessor(_Accessor):
    _name = "dt"


class CategoricalAccessor(_Accessor):
    _name = "cat"
    _unsupported = frozenset({"set_categories", "add_categories", "remove_unused_categories"})
