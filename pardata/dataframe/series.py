"""``Series``, ``Index`` and ``Scalar`` collections."""
from __future__ import annotations

import pandas as pd

from pardata.dataframe import reductions as red
from pardata.dataframe.blockwise import Filter
from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.frame import _Frame
from pardata.dataframe.meta import emulate


class Series(_Frame):
    """A partitioned pandas Series."""

    @property
    def name(self):
        return self._meta.name

    @property
    def dtype(self):
        return self._meta.dtype

    @property
    def ndim(self) -> int:
        return 1

    def __getitem__(self, key):
        if isinstance(key, FrameBase) and isinstance(key._meta, (pd.Series, pd.Index)):
            from pardata.dataframe.align import align_operands

            frame, predicate = align_operands((self._expr, key._expr))
            return new_collection(Filter(frame, predicate))
        if isinstance(key, slice):
            return self.loc[key]
        raise NotImplementedError("Series[...] takes a boolean Series or a slice of the index")

    @property
    def loc(self):
        from pardata.dataframe.indexing import LocIndexer

        return LocIndexer(self)

    @property
    def str(self):
        from pardata.dataframe.accessors import StringAccessor

        return StringAccessor(self)

    @property
    def dt(self):
        from pardata.dataframe.accessors import DatetimeAccessor

        return DatetimeAccessor(self)

    @property
    def cat(self):
        from pardata.dataframe.accessors import CategoricalAccessor

        return CategoricalAccessor(self)

    def rename(self, index=None):
        if callable(index) or isinstance(index, dict):
            return self._method("rename", index, divisions_unchanged=False)
        return self._method("rename", index)

    def to_frame(self, name=None):
        return self._method("to_frame") if name is None else self._method("to_frame", name=name)

    def between(self, left, right, inclusive="both"):
        return self._method("between", left, right, inclusive=inclusive)

    def map(self, arg, na_action=None, meta=None):
        if isinstance(arg, FrameBase):
            raise NotImplementedError("Series.map with a lazy Series; compute it first")
        kwargs = {"na_action": na_action} if na_action is not None else {}
        if meta is None and callable(arg) and not isinstance(arg, (dict, pd.Series)):
            meta = emulate(lambda s: s.map(arg, **kwargs), self._meta, udf=True)
        return self._method("map", arg, meta=meta, **kwargs)

    def apply(self, func, args=(), meta=None, **kwargs):
        """Element-wise ``func``; ``meta=`` (e.g. ``("x", "f8")``) skips inference."""
        return self.map_partitions(_apply_elements, func, args, kwargs, meta=meta,
                                   token=f"apply-{getattr(func, '__name__', 'func')}")

    def value_counts(self, sort: bool = True, ascending: bool = False, dropna: bool = True,
                     normalize: bool = False, split_every=None, split_out: int = 1):
        meta = emulate(lambda s: s.value_counts(dropna=dropna, normalize=normalize), self._meta)
        if split_out > 1:
            return self.to_frame().groupby(self.name if self.name is not None else 0,
                                           dropna=dropna).size(split_out=split_out)
        return new_collection(red.Reduction(
            self._expr, red.value_counts_chunk, red.value_counts_combine,
            red.value_counts_aggregate, meta, {"dropna": dropna}, {"dropna": dropna},
            {"dropna": dropna, "sort": sort, "ascending": ascending, "normalize": normalize,
             "meta": meta}, split_every, prefix="value-counts", broadcast=False))

    def unique(self, split_every=None):
        """The distinct values, as a Series (in order of first appearance)."""
        meta = pd.Series([], dtype=self.dtype, name=self.name)
        return new_collection(red.Reduction(
            self._expr, red.unique_chunk, red.unique_combine, _unique_series,
            meta, {"dropna": False}, {"dropna": False}, {"name": self.name},
            split_every, prefix="unique", broadcast=False))

    def dropna(self):
        return self._method("dropna")

    def isin(self, values):
        return super().isin(values)

    def to_pandas(self, **kwargs):
        return self.compute(**kwargs)

    def idxmax(self, skipna: bool = True, split_every=None):
        return _arg_reduce(self, "idxmax", skipna, split_every)

    def idxmin(self, skipna: bool = True, split_every=None):
        return _arg_reduce(self, "idxmin", skipna, split_every)


def _apply_elements(s, func, args, kwargs):
    return s.apply(func, args=args, **kwargs)


def _unique_series(parts, name=None):
    out = red.unique_combine(parts, dropna=False)
    out = out.reset_index(drop=True)
    out.name = name
    return out


def _arg_chunk(s, how, skipna):
    s = s.dropna() if skipna else s
    if len(s) == 0:
        return pd.Series([], dtype=s.dtype)
    i = getattr(s, how)()
    return pd.Series([s.loc[i] if not s.index.has_duplicates else s[s.index == i].iloc[0]],
                     index=pd.Index([i], dtype=s.index.dtype))


def _arg_combine(parts, how, skipna):
    return _arg_chunk(pd.concat(parts), how, skipna)


def _arg_aggregate(parts, how, skipna):
    out = _arg_combine(parts, how, skipna)
    return out.index[0]


def _arg_reduce(s: Series, how, skipna, split_every):
    meta = s._meta.index.dtype.type(0) if s._meta.index.dtype.kind in "iuf" else None
    return new_collection(red.Reduction(
        s._expr, _arg_chunk, _arg_combine, _arg_aggregate, meta, {"how": how, "skipna": skipna},
        {"how": how, "skipna": skipna}, {"how": how, "skipna": skipna}, split_every, prefix=how))


class Index(FrameBase):
    """The index of a partitioned collection."""

    @property
    def name(self):
        return self._meta.name

    @property
    def dtype(self):
        return self._meta.dtype

    @property
    def index(self):
        raise AttributeError("an Index has no index")

    def to_series(self):
        return self.map_partitions(_index_to_series, meta=self._meta.to_series())

    def to_frame(self, name=None):
        return self.map_partitions(_index_to_frame, name, meta=self._meta.to_frame(name=name))

    def min(self, skipna: bool = True, split_every=None):
        return self._reduce("min", split_every, {"skipna": skipna})

    def max(self, skipna: bool = True, split_every=None):
        return self._reduce("max", split_every, {"skipna": skipna})

    def to_pandas(self, **kwargs):
        return self.compute(**kwargs)

    def __getattr__(self, name):
        """The fields of a datetime index (``idx.hour``, ``idx.day_of_week``...), lazily."""
        if name in _DATETIME_FIELDS:
            meta = self._meta
            if isinstance(meta, pd.DatetimeIndex):
                return self.map_partitions(_index_attr, name, meta=getattr(meta, name),
                                           clear_divisions=True)
            raise AttributeError(f"{name} needs a datetime index, not {meta.dtype}")
        raise AttributeError(name)


_DATETIME_FIELDS = frozenset({
    "year", "month", "day", "hour", "minute", "second", "microsecond", "nanosecond",
    "day_of_week", "day_of_year", "weekday", "quarter", "days_in_month", "is_month_start",
    "is_month_end", "is_quarter_start", "is_quarter_end", "is_year_start", "is_year_end",
    "is_leap_year", "date", "time"})


def _index_attr(idx, name):
    return getattr(idx, name)


def _index_to_series(idx):
    return idx.to_series()


def _index_to_frame(idx, name):
    return idx.to_frame(name=name) if name is not None else idx.to_frame()


class Scalar(FrameBase):
    """A single lazily computed value (the result of a reduction)."""

    @property
    def dtype(self):
        return getattr(self._meta, "dtype", type(self._meta))

    @property
    def divisions(self):
        return self._expr.divisions

    def __repr__(self) -> str:
        return f"pardata.Scalar<{self._expr._name}, type={type(self._meta).__name__}>"

    def _repr_html_(self) -> str:
        return repr(self).replace("<", "&lt;").replace(">", "&gt;")

    def __len__(self):
        raise TypeError("a Scalar has no len()")

    def to_delayed(self, optimize_graph: bool = True):
        return super().to_delayed(optimize_graph)[0]
