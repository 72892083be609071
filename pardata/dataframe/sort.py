"""``set_index`` and ``sort_values``: range partitioning with divisions from a sample.

Both first compute, per partition, the column's minimum, maximum, whether it is
sorted, and an evenly spaced sample of its sorted values. From these:

- if the partitions are already in order (each sorted, each maximum below the next
  minimum), no data moves: each partition is processed where it is, and the
  divisions are the partitions' minima (plus the last maximum);
- otherwise the divisions are weighted quantiles of the samples, taken from actual
  sampled values (so they have the column's dtype), and a range shuffle sends every
  row to the partition whose range holds its value; each partition is then sorted.

Missing values go to the last partition (``na_position="first"``: the first); the
divisions describe the non-missing values.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata.dataframe import reductions as red
from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.expr import ALL, Expr, node

SAMPLES_PER_PARTITION = 100


def _column(df, column):
    return df.index if column is None else df[column]


def _stats_chunk(df, column):
    values = _column(df, column)
    clean = values.dropna() if not isinstance(values, pd.Index) else values[~values.isna()]
    n = len(clean)
    if n == 0:
        return [{"n": 0, "nan": len(values) > 0}]
    is_sorted = bool(clean.is_monotonic_increasing)
    ordered = np.sort(clean.to_numpy()) if not is_sorted else clean.to_numpy()
    k = min(n, SAMPLES_PER_PARTITION)
    pos = np.linspace(0, n - 1, k).round().astype(int)
    return [{"n": n, "nan": len(clean) < len(values), "min": ordered[0], "max": ordered[-1],
             "sorted": is_sorted, "sample": ordered[pos], "weight": n / k}]


def _stats_combine(parts):
    return [x for p in parts for x in p]


def partition_stats(frame: Expr, column) -> list:
    """Per-partition statistics of ``column`` (None: the index), computed now."""
    expr = red.Reduction(frame, _stats_chunk, _stats_combine, _stats_combine, [],
                         {"column": column}, split_every=32, prefix="sort-sample",
                         required={column} if column is not None else set(),
                         broadcast=False, skip_empty=False)
    return new_collection(expr).compute()


def _scalars(values) -> tuple:
    """Division values as pandas/Python scalars (Timestamps, not numpy datetime64)."""
    return tuple(pd.Index(np.asarray(list(values))).tolist())


def _already_sorted(stats: list) -> bool:
    prev = None
    for s in stats:
        if s["n"] == 0:
            continue
        if not s["sorted"] or (prev is not None and not prev < s["min"]):
            return False
        prev = s["max"]
    return True


def _presorted_divisions(stats: list) -> tuple:
    """Divisions for partitions that are already in order (empty ones borrow a bound)."""
    filled = [s for s in stats if s["n"]]
    if not filled:
        return (None,) * (len(stats) + 1)
    mins, last = [], filled[-1]["max"]
    nxt = last
    for s in reversed(stats):  # an empty partition takes the next partition's minimum
        nxt = s["min"] if s["n"] else nxt
        mins.append(nxt)
    mins.reverse()
    return _scalars(mins + [last])


def _quantile_divisions(stats: list, n_out: int) -> tuple:
    filled = [s for s in stats if s["n"]]
    if not filled:
        return (None, None)
    values = np.concatenate([s["sample"] for s in filled])
    weights = np.concatenate([np.full(len(s["sample"]), s["weight"]) for s in filled])
    order = np.argsort(values, kind="stable")
    values, weights = values[order], weights[order]
    cum = np.cumsum(weights)
    targets = np.linspace(0, cum[-1], n_out + 1)[1:-1]
    picks = np.searchsorted(cum, targets, side="left").clip(0, len(values) - 1)
    inner = [values[i] for i in picks]
    lo = min(s["min"] for s in filled)
    hi = max(s["max"] for s in filled)
    divs = [lo]
    for v in inner:
        if v > divs[-1]:
            divs.append(v)
    if hi > divs[-1] or len(divs) == 1:
        divs.append(hi)
    return _scalars(divs)


def _set_index_part(df, column, drop, sort, name):
    out = df.set_index(column, drop=drop)
    if sort:
        out = out.sort_index()
    if name is not None:
        out.index.name = name[0]
    return out


@node
class SetIndexPartitions(Blockwise):
    """``set_index`` (and sort) in each partition, with divisions known from the plan."""

    frame: Expr
    column: object
    drop: bool
    sort: bool
    divs: tuple
    name: tuple | None = None
    _prefix = "set-index"
    _func = staticmethod(_set_index_part)
    _own_divisions = True

    def _args(self):
        return [self.frame, self.column, self.drop, self.sort, self.name]

    @cached_property
    def divisions(self):
        return self.divs


@node
class SetIndex(Expr):
    """The logical ``set_index``; divisions are computed (once) from a sample."""

    frame: Expr
    column: object
    drop: bool = True
    npartitions_out: int | None = None
    user_divisions: tuple | None = None
    presorted: bool = False
    shuffle_method: str | None = None
    name: tuple | None = None

    @cached_property
    def _meta(self):
        return _set_index_part(self.frame._meta, self.column, self.drop, False, self.name)

    @cached_property
    def _plan(self):
        if self.user_divisions is not None:
            return tuple(self.user_divisions), False
        stats = partition_stats(self.frame, self.column)
        if self.presorted or _already_sorted(stats):
            if self.npartitions_out is None or self.npartitions_out == self.frame.npartitions:
                return _presorted_divisions(stats), True
        n_out = self.npartitions_out or self.frame.npartitions
        return _quantile_divisions(stats, n_out), False

    @cached_property
    def divisions(self):
        return self._plan[0]

    def _required_columns(self, needed):
        if needed is ALL:
            return {self.frame._name: ALL}
        return {self.frame._name: set(needed) | {self.column}}

    def _lower(self):
        from pardata.dataframe.shuffle import Partitioner, Shuffle

        divisions, in_place = self._plan
        if in_place:
            return SetIndexPartitions(self.frame, self.column, self.drop, False, divisions,
                                      self.name)
        if divisions[0] is None:  # nothing but missing values
            return SetIndexPartitions(self.frame, self.column, self.drop, True, divisions,
                                      self.name)
        p = Partitioner("range", (self.column,), boundaries=tuple(divisions[1:-1]))
        shuffled = Shuffle(self.frame, (self.column,), len(divisions) - 1,
                           method=self.shuffle_method, partitioner=p)
        return SetIndexPartitions(shuffled, self.column, self.drop, True, divisions, self.name)

    def _describe(self):
        return f"SetIndex({self.column!r})"


def set_index(df, other, drop=True, sorted=False, npartitions=None, divisions=None,
              shuffle_method=None):
    """The frame indexed (and sorted) by a column or an aligned Series.

    ``sorted=True`` promises the column is already in order across partitions (no
    shuffle); ``divisions=`` skips the sampling pass.
    """
    name = None
    if isinstance(other, FrameBase):
        name = (other.name,)
        df = df.assign(__set_index__=other)
        other = "__set_index__"
    elif isinstance(other, (list, tuple)):
        raise NotImplementedError("set_index with several columns (a MultiIndex)")
    if other not in df.columns:
        raise KeyError(other)
    if npartitions == "auto":
        npartitions = None
    expr = SetIndex(df._expr, other, drop, npartitions,
                    tuple(divisions) if divisions is not None else None, sorted,
                    shuffle_method, name)
    return new_collection(expr)


def _sort_part(df, by, ascending, na_position):
    return df.sort_values(by=list(by), ascending=ascending, na_position=na_position)


@node
class SortPartitions(Blockwise):
    frame: Expr
    by: tuple
    ascending: object
    na_position: str
    _prefix = "sort-values"
    _func = staticmethod(_sort_part)

    def _args(self):
        return [self.frame, self.by, self.ascending, self.na_position]

    def _required_columns(self, needed):
        return {self.frame._name: needed if needed is ALL else set(needed) | set(self.by)}


@node
class SortValues(Expr):
    frame: Expr
    by: tuple
    ascending: object = True
    na_position: str = "last"
    npartitions_out: int | None = None
    shuffle_method: str | None = None

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        return (None,) * (self._lower().npartitions + 1)

    def _required_columns(self, needed):
        return {self.frame._name: needed if needed is ALL else set(needed) | set(self.by)}

    @cached_property
    def _lowered(self):
        from pardata.dataframe.shuffle import Partitioner, Shuffle

        first_up = self.ascending if isinstance(self.ascending, bool) else self.ascending[0]
        column = self.by[0] if self.by[0] is not None else None
        stats = partition_stats(self.frame, column)
        same_n = self.npartitions_out in (None, self.frame.npartitions)
        if first_up and same_n and _already_sorted(stats) and \
                not any(s.get("nan") for s in stats[:-1]):
            return SortPartitions(self.frame, self.by, self.ascending, self.na_position)
        n_out = self.npartitions_out or self.frame.npartitions
        divisions = _quantile_divisions(stats, n_out)
        if divisions[0] is None:
            bounds: tuple = ()
            n_out = 1
        else:
            bounds = tuple(divisions[1:-1])
            n_out = len(divisions) - 1
        p = Partitioner("range", (column,) if column is not None else (), boundaries=bounds,
                        ascending=first_up, na_last=self.na_position == "last")
        shuffled = Shuffle(self.frame, (), n_out, method=self.shuffle_method, partitioner=p)
        return SortPartitions(shuffled, self.by, self.ascending, self.na_position)

    def _lower(self):
        return self._lowered

    def _describe(self):
        return f"SortValues(by={list(self.by)}, ascending={self.ascending})"


def sort_values(df, by, ascending=True, na_position="last", npartitions=None,
                shuffle_method=None):
    """Rows ordered by ``by`` across partitions (partition ``i`` before ``i + 1``)."""
    from pardata.dataframe.series import Series

    if isinstance(df, Series):
        name = df.name if df.name is not None else "__series__"
        frame = df.to_frame(name=name)
        out = sort_values(frame, name, ascending, na_position, npartitions, shuffle_method)
        return out[name] if df.name is not None else out[name].rename(None)
    by = tuple(by) if isinstance(by, (list, tuple)) else (by,)
    if isinstance(ascending, (list, tuple)):
        ascending = list(ascending)
    return new_collection(SortValues(df._expr, by, ascending, na_position, npartitions,
                                     shuffle_method))
