"""``DataFrame``: a lazy, partitioned pandas DataFrame."""
from __future__ import annotations

import numpy as np
import pandas as pd

from pardata.dataframe.blockwise import Assign, Filter, MemoryUsage, Projection
from pardata.dataframe.collection import FrameBase, as_expr, new_collection


def partition_values(coll: FrameBase, scheduler=None) -> list:
    """The computed partitions of ``coll``, as a list (no concatenation)."""
    from pardata.base import collections_to_graph, run_graph

    graph, keys = collections_to_graph([coll])
    results = run_graph(graph, keys, scheduler, [coll])
    return [results[k] for k in keys]


def _is_label_list(key) -> bool:
    return isinstance(key, (list, pd.Index, np.ndarray)) and not isinstance(key, FrameBase)


class _Frame(FrameBase):
    """What DataFrame and Series share beyond FrameBase (row operations)."""

    def dropna(self, **kwargs):
        return self._method("dropna", **kwargs)

    def drop_duplicates(self, subset=None, keep="first", split_out: int = 1,
                        ignore_index: bool = False, split_every=None):
        from pardata.dataframe.dedup import drop_duplicates

        return drop_duplicates(self, subset=subset, keep=keep, split_out=split_out,
                               ignore_index=ignore_index, split_every=split_every)

    def repartition(self, npartitions: int | None = None, divisions=None, partition_size=None):
        """Change the partitioning without a shuffle (``npartitions=``, ``divisions=``,
        or ``partition_size=`` in bytes or a string like ``"100MB"``)."""
        from pardata.dataframe.repartition import Repartition

        given = sum(x is not None for x in (npartitions, divisions, partition_size))
        if given != 1:
            raise ValueError("pass exactly one of npartitions=, divisions=, partition_size=")
        if npartitions is not None and npartitions < 1:
            raise ValueError("npartitions must be at least 1")
        return new_collection(Repartition(self._expr, npartitions,
                                          tuple(divisions) if divisions is not None else None,
                                          partition_size))

    def shuffle(self, on=None, npartitions: int | None = None, ignore_index: bool = False,
                method: str | None = None):
        """Hash-partition rows by ``on`` (column labels, or the index when None): all rows
        with equal keys end up in the same partition."""
        from pardata.dataframe.shuffle import Shuffle

        on = _as_keys(on)
        return new_collection(Shuffle(self._expr, on, npartitions or self.npartitions,
                                      ignore_index, method))

    def set_index(self, other, drop: bool = True, sorted: bool = False, npartitions=None,
                  divisions=None, shuffle_method=None):
        from pardata.dataframe.sort import set_index

        return set_index(self, other, drop=drop, sorted=sorted, npartitions=npartitions,
                         divisions=divisions, shuffle_method=shuffle_method)

    def sort_values(self, by=None, ascending: bool = True, na_position: str = "last",
                    npartitions=None, shuffle_method=None):
        from pardata.dataframe.sort import sort_values

        return sort_values(self, by, ascending=ascending, na_position=na_position,
                           npartitions=npartitions, shuffle_method=shuffle_method)

    def reset_index(self, drop: bool = False):
        """Like pandas, but each partition's new index starts at 0 (as in Dask): the
        positions are not known without counting earlier partitions."""
        return self._method("reset_index", drop=drop, divisions_unchanged=False)

    def rolling(self, window, min_periods=None, center: bool = False, win_type=None):
        from pardata.dataframe.rolling import Rolling

        return Rolling(self, window, min_periods=min_periods, center=center, win_type=win_type)

    def shift(self, periods: int = 1):
        """Rows moved down by ``periods`` (a positive count), across partitions; the
        first rows become missing as in pandas."""
        from pardata.dataframe.rolling import preceded

        return preceded(self, "shift", periods)

    def diff(self, periods: int = 1):
        """Each row minus the row ``periods`` (a positive count) before it."""
        from pardata.dataframe.rolling import preceded

        return preceded(self, "diff", periods)

    def memory_usage_per_partition(self, index: bool = True, deep: bool = True):
        return new_collection(MemoryUsage(self._expr))

    def to_csv(self, path, **kwargs):
        from pardata.dataframe.io.csv import to_csv

        return to_csv(self, path, **kwargs)

    def to_parquet(self, path, **kwargs):
        from pardata.dataframe.io.parquet import to_parquet

        return to_parquet(self, path, **kwargs)

    def describe(self, percentiles=None, split_every=None, include=None, exclude=None):
        """Like pandas' describe; percentiles are approximate (see ``quantile``)."""
        from pardata.dataframe.describe import describe

        return describe(self, percentiles=percentiles, split_every=split_every,
                        include=include, exclude=exclude)

    def nlargest(self, n: int = 5, columns=None, split_every=None):
        from pardata.dataframe.topk import topk

        return topk(self, n, columns, "nlargest", split_every)

    def nsmallest(self, n: int = 5, columns=None, split_every=None):
        from pardata.dataframe.topk import topk

        return topk(self, n, columns, "nsmallest", split_every)

    def cumsum(self, skipna: bool = True):
        from pardata.dataframe.cumulative import cumulative

        return cumulative(self, "cumsum", skipna)

    def cumprod(self, skipna: bool = True):
        from pardata.dataframe.cumulative import cumulative

        return cumulative(self, "cumprod", skipna)

    def cummax(self, skipna: bool = True):
        from pardata.dataframe.cumulative import cumulative

        return cumulative(self, "cummax", skipna)

    def cummin(self, skipna: bool = True):
        from pardata.dataframe.cumulative import cumulative

        return cumulative(self, "cummin", skipna)

    def groupby(self, by=None, level=None, sort: bool = True, dropna: bool = True,
                observed: bool = True, group_keys: bool = True):
        from pardata.dataframe.groupby import GroupBy

        return GroupBy(self, by, level=level, sort=sort, dropna=dropna, observed=observed,
                       group_keys=group_keys)

    def merge(self, right, how: str = "inner", on=None, left_on=None, right_on=None,
              left_index: bool = False, right_index: bool = False, suffixes=("_x", "_y"),
              indicator: bool = False, npartitions=None, broadcast=None, shuffle_method=None):
        from pardata.dataframe.merge import merge

        return merge(self, right, how=how, on=on, left_on=left_on, right_on=right_on,
                     left_index=left_index, right_index=right_index, suffixes=suffixes,
                     indicator=indicator, npartitions=npartitions, broadcast=broadcast,
                     shuffle_method=shuffle_method)

    def pipe(self, func, *args, **kwargs):
        return func(self, *args, **kwargs)

    def sample(self, frac: float, replace: bool = False, random_state=None):
        """A random fraction of each partition's rows (``n=`` would need the length).

        Each partition draws from its own generator, seeded from ``random_state`` and
        its position, so the sample is reproducible and partitions are independent.
        """
        if frac is None or not 0 <= frac <= (10**9 if replace else 1):
            raise ValueError("sample needs frac= between 0 and 1 (any positive with replace)")
        import numpy as np

        seeds = np.random.default_rng(random_state).integers(0, 2**32, self.npartitions)
        parts = [self.partitions[i].map_partitions(_sample, frac, replace, int(seeds[i]),
                                                   meta=self._meta)
                 for i in range(self.npartitions)]
        from pardata.dataframe.concat import concat

        out = concat(parts) if len(parts) > 1 else parts[0]
        return out

    def explode(self, column=None, ignore_index: bool = False):
        if column is None:  # a Series
            return self._method("explode", ignore_index=ignore_index, divisions_unchanged=False)
        return self._method("explode", column, ignore_index=ignore_index,
                            divisions_unchanged=not ignore_index)


def _as_keys(on) -> tuple:
    if on is None:
        return ()
    if isinstance(on, (list, tuple, pd.Index)):
        return tuple(on)
    return (on,)


class DataFrame(_Frame):
    """A partitioned pandas DataFrame: ``npartitions`` pandas frames along the index."""

    @property
    def columns(self) -> pd.Index:
        return self._meta.columns

    @columns.setter
    def columns(self, names):
        renamed = self.rename(columns=dict(zip(self.columns, names)))
        self._expr = renamed._expr
        self._optimized_cache = None

    @property
    def dtypes(self) -> pd.Series:
        return self._meta.dtypes

    @property
    def ndim(self) -> int:
        return 2

    def __dir__(self):
        cols = [c for c in self.columns if isinstance(c, str) and c.isidentifier()]
        return sorted(set(dir(type(self))) | set(self.__dict__) | set(cols))

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            cols = self._meta.columns
        except AttributeError:
            raise AttributeError(name) from None
        if name in cols:
            return self[name]
        raise AttributeError(f"'DataFrame' object has no attribute {name!r}")

    def __iter__(self):
        return iter(self._meta.columns)

    def keys(self):
        return self.columns

    def items(self):
        for c in self.columns:
            yield c, self[c]

    def __getitem__(self, key):
        if isinstance(key, FrameBase):
            from pardata.dataframe.align import align_operands

            if isinstance(key._meta, (pd.Series, pd.Index)):
                frame, predicate = align_operands((self._expr, key._expr))
                return new_collection(Filter(frame, predicate))
            if isinstance(key._meta, pd.DataFrame):
                return self.where(key)
            raise TypeError(f"cannot index a DataFrame with a {type(key).__name__}")
        if isinstance(key, slice):
            return self.loc[key]
        if _is_label_list(key):
            key = list(key)
            missing = [k for k in key if k not in self._meta.columns]
            if missing:
                raise KeyError(f"columns not found: {missing}")
            return new_collection(Projection(self._expr, tuple(key)))
        if key not in self._meta.columns:
            raise KeyError(key)
        return new_collection(Projection(self._expr, key))

    def __setitem__(self, key, value):
        if _is_label_list(key):
            new = self.assign(**{k: value[k] for k in key}) if isinstance(value, DataFrame) \
                else self.assign(**{k: value for k in key})
        elif isinstance(value, FrameBase) and isinstance(value._meta, pd.DataFrame):
            raise TypeError("assign a Series (one column) at a time")
        else:
            new = self._assign_pairs([(key, value)])
        self._expr = new._expr
        self._optimized_cache = None

    def __delitem__(self, key):
        new = self.drop(columns=[key])
        self._expr = new._expr
        self._optimized_cache = None

    @property
    def loc(self):
        from pardata.dataframe.indexing import LocIndexer

        return LocIndexer(self)

    @property
    def iloc(self):
        """Positional column selection, ``df.iloc[:, [0, 2]]`` (rows have no global
        positions without counting every partition first)."""
        from pardata.dataframe.indexing import ILocIndexer

        return ILocIndexer(self)

    def assign(self, **kwargs):
        """New columns: scalars, aligned Series, Scalars, or callables of the frame."""
        return self._assign_pairs(list(kwargs.items()))

    def _assign_pairs(self, pairs):
        from pardata.dataframe.align import align_operands

        flat: list = []
        frame = self
        for name, value in pairs:
            if callable(value) and not isinstance(value, FrameBase):
                value = value(frame)
            if isinstance(value, (pd.Series, pd.DataFrame, pd.Index)):
                raise TypeError(
                    f"assigning a pandas {type(value).__name__} to column {name!r}: "
                    "convert it with from_pandas (matching divisions) first"
                )
            flat.extend([name, as_expr(value)])
        exprs = align_operands((self._expr, *[v for v in flat[1::2]]))
        flat[1::2] = exprs[1:]
        return new_collection(Assign(exprs[0], tuple(flat)))

    def rename(self, columns=None, index=None, **kwargs):
        if index is not None:
            return self._method("rename", index=index, divisions_unchanged=False)
        if callable(columns):
            columns = {c: columns(c) for c in self.columns}
        return self._method("rename", columns=dict(columns or {}), **kwargs)

    def drop(self, labels=None, axis=0, columns=None, errors="raise"):
        if labels is not None:
            if axis not in (1, "columns"):
                raise NotImplementedError("dropping rows by label; filter with a mask instead")
            columns = labels
        if columns is None:
            raise TypeError("drop needs columns=")
        cols = list(columns) if _is_label_list(columns) or isinstance(columns, tuple) else [columns]
        if errors == "raise":
            missing = [c for c in cols if c not in self.columns]
            if missing:
                raise KeyError(f"{missing} not found in columns")
        return self._method("drop", columns=cols, errors="ignore")

    def select_dtypes(self, include=None, exclude=None):
        cols = list(self._meta.select_dtypes(include=include, exclude=exclude).columns)
        return self[cols]

    def astype(self, dtype):
        return self._method("astype", dtype)

    def dropna(self, how=None, subset=None, thresh=None):
        kwargs: dict = {}
        if how is not None:
            kwargs["how"] = how
        if subset is not None:
            kwargs["subset"] = subset
        if thresh is not None:
            kwargs["thresh"] = thresh
        return self._method("dropna", **kwargs)

    def isin(self, values):
        if isinstance(values, dict):
            return self._method("isin", {k: list(v) for k, v in values.items()})
        return super().isin(values)

    def apply(self, func, axis=1, args=(), meta=None, **kwargs):
        """Row-wise ``apply`` (``axis=1``); column-wise would need whole columns."""
        if axis not in (1, "columns"):
            raise NotImplementedError("DataFrame.apply(axis=0) needs whole columns; use "
                                      "map_partitions or a reduction")
        return self.map_partitions(_apply_rows, func, args, kwargs, meta=meta,
                                   token=f"apply-{getattr(func, '__name__', 'func')}")

    def query(self, expr: str, **kwargs):
        return self._method("query", expr, **kwargs)

    def eval(self, expr: str, **kwargs):
        return self._method("eval", expr, **kwargs)

    def join(self, other, on=None, how: str = "left", lsuffix: str = "", rsuffix: str = "",
             suffixes=None, npartitions=None, shuffle_method=None):
        from pardata.dataframe.merge import join

        return join(self, other, on=on, how=how, lsuffix=lsuffix, rsuffix=rsuffix,
                    suffixes=suffixes, npartitions=npartitions, shuffle_method=shuffle_method)

    def to_pandas(self, **kwargs) -> pd.DataFrame:
        return self.compute(**kwargs)

    def memory_usage(self, deep: bool = True):
        parts = partition_values(new_collection(MemoryUsage(self._expr)))
        return int(sum(parts))

    @property
    def shape(self):
        return (len(self), len(self.columns))

    @property
    def size(self):
        return len(self) * len(self.columns)


def _sample(part, frac, replace, seed):
    return part.sample(frac=frac, replace=replace, random_state=seed)


def _apply_rows(df, func, args, kwargs):
    return df.apply(func, axis=1, args=args, **kwargs)
