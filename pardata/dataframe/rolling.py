"""``rolling`` windows across partition boundaries.

Each partition is computed together with the rows before it that its windows reach:
for an integer window ``w``, the last ``w - 1`` rows seen so far; for a time window
(``"2h"`` on a sorted datetime index), the rows within that time of the previous
partition's end. Those rows come from a chain of small "tail" tasks, each built from
the previous tail and one partition, so a short partition passes rows through from
further back instead of failing (as Dask does when a window spans more than one
neighbouring partition).
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata.core.spec import Ref, Task
from pardata.dataframe.collection import new_collection
from pardata.dataframe.expr import Expr, node
from pardata.dataframe.meta import emulate


def _tail(prev, part, window):
    both = part if prev is None else pd.concat([prev, part])
    if isinstance(window, int):
        return both.iloc[max(len(both) - (window - 1), 0):] if window > 1 else both.iloc[:0]
    if len(both) == 0:
        return both
    end = both.index.max()
    return both[both.index > end - pd.Timedelta(window)]


def _rolled(prev, part, window, kwargs, method, args, mkwargs):
    both = part if prev is None or len(prev) == 0 else pd.concat([prev, part])
    result = getattr(both.rolling(window, **kwargs), method)(*args, **mkwargs)
    return result.iloc[len(both) - len(part):]


def _preceded(prev, part, how, args, meta):
    both = part if prev is None or len(prev) == 0 else pd.concat([prev, part])
    out = getattr(both, how)(*args).iloc[len(both) - len(part):]
    if isinstance(out, pd.Series):
        return out if out.dtype == meta.dtype else out.astype(meta.dtype)
    fix = {c: d for c, d in meta.dtypes.items() if out[c].dtype != d}
    return out.astype(fix) if fix else out


@node
class PrecededExpr(Expr):
    """``partition.<how>(*args)`` computed with the ``rows`` rows before the partition
    (``shift``/``diff`` by a positive count), through the same chain of tails."""

    frame: Expr
    rows: int
    how: str
    args: tuple = ()

    @cached_property
    def _meta(self):
        # the dtype of a partition whose first rows have nothing before them (ints
        # become floats), used by every partition so that they agree
        from pardata.dataframe.meta import meta_nonempty

        probe = meta_nonempty(self.frame._meta, 1)
        return getattr(probe, self.how)(*self.args).iloc[:0]

    @cached_property
    def divisions(self):
        return self.frame.divisions

    def _layer(self):
        graph, prev = {}, None
        for i in range(self.frame.npartitions):
            part = Ref((self.frame._name, i))
            key = (self._name, i)
            graph[key] = Task(key, _preceded, prev, part, self.how, self.args, self._meta)
            if i < self.frame.npartitions - 1:
                tkey = (f"{self._name}-tail", i)
                graph[tkey] = Task(tkey, _tail, prev, part, self.rows + 1)
                prev = Ref(tkey)
        return graph

    def _describe(self):
        return f"Preceded({self.how}{self.args}, rows={self.rows})"


def preceded(coll, how: str, periods):
    """``coll.shift(periods)`` or ``coll.diff(periods)`` across partition boundaries."""
    if not isinstance(periods, (int, np.integer)) or isinstance(periods, bool):
        raise TypeError(f"{how}(periods=) must be an integer, not {periods!r}")
    if periods < 0:
        raise NotImplementedError(f"{how}(periods={periods}): negative periods (rows from "
                                  "later partitions) are not supported yet")
    return new_collection(PrecededExpr(coll._expr, int(periods), how, (int(periods),)))


@node
class RollingExpr(Expr):
    frame: Expr
    window: object
    kwargs: dict
    method: str
    args: tuple = ()
    method_kwargs: dict = None  # type: ignore[assignment]

    @cached_property
    def _meta(self):
        return emulate(lambda m: getattr(m.rolling(self.window, **self.kwargs), self.method)(
            *self.args, **(self.method_kwargs or {})), self.frame._meta, udf=self.method == "apply")

    @cached_property
    def divisions(self):
        return self.frame.divisions

    def _layer(self):
        graph = {}
        prev = None
        mk = self.method_kwargs or {}
        for i in range(self.frame.npartitions):
            part = Ref((self.frame._name, i))
            key = (self._name, i)
            graph[key] = Task(key, _rolled, prev, part, self.window, self.kwargs, self.method,
                              self.args, mk)
            if i < self.frame.npartitions - 1:
                tkey = (f"{self._name}-tail", i)
                graph[tkey] = Task(tkey, _tail, prev, part, self.window)
                prev = Ref(tkey)
        return graph

    def _describe(self):
        return f"Rolling({self.window!r}, {self.method})"


class Rolling:
    """``obj.rolling(window)``; aggregate with ``.sum()``, ``.mean()``, ``.apply(f)``..."""

    def __init__(self, obj, window, min_periods=None, center=False, win_type=None):
        if center:
            raise NotImplementedError("rolling(center=True) is not supported yet")
        if isinstance(window, int) and window < 1:
            raise ValueError("window must be positive")
        if not isinstance(window, int):
            if not obj.known_divisions and not isinstance(obj._meta.index, pd.DatetimeIndex):
                raise ValueError("a time window needs a sorted datetime index")
        self.obj, self.window = obj, window
        self.kwargs = {k: v for k, v in (("min_periods", min_periods), ("win_type", win_type))
                       if v is not None}

    def _call(self, method, *args, **kwargs):
        return new_collection(RollingExpr(self.obj._expr, self.window, self.kwargs, method, args,
                                          kwargs or None))

    def sum(self):
        return self._call("sum")

    def mean(self):
        return self._call("mean")

    def min(self):
        return self._call("min")

    def max(self):
        return self._call("max")

    def count(self):
        return self._call("count")

    def median(self):
        return self._call("median")

    def std(self, ddof=1):
        return self._call("std", ddof=ddof)

    def var(self, ddof=1):
        return self._call("var", ddof=ddof)

    def quantile(self, q):
        return self._call("quantile", q)

    def apply(self, func, raw=False, args=(), kwargs=None):
        return self._call("apply", func, raw, None, None, args, kwargs or {})

    def agg(self, how):
        return self._call("agg", how)
