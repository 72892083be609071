"""The user-facing collections: thin, immutable wrappers around a plan expression.

``FrameBase`` holds what DataFrame, Series and Index share: the collection protocol
(the plan is optimized and lowered to tasks only when computed), metadata, operators,
partition-wise methods and reductions. Each method builds a new expression and wraps
it; nothing runs until ``compute``.
"""
from __future__ import annotations

import operator
from typing import Any

import numpy as np
import pandas as pd

from pardata.base import CollectionMixin
from pardata.dataframe import reductions as red
from pardata.dataframe.blockwise import (
    BINARY_OPERATORS, REVERSED_OPERATORS, Elemwise, Head, IndexOf, MapPartitions,
    Method, Tail,
)
from pardata.dataframe.expr import Expr, FromGraph, Partitions
from pardata.dataframe.meta import emulate, make_meta


def new_collection(expr: Expr):
    """The collection class matching ``expr``'s meta."""
    from pardata.dataframe.frame import DataFrame
    from pardata.dataframe.series import Index, Scalar, Series

    meta = expr._meta
    if isinstance(meta, pd.DataFrame):
        return DataFrame(expr)
    if isinstance(meta, pd.Series):
        return Series(expr)
    if isinstance(meta, pd.Index):
        return Index(expr)
    return Scalar(expr)


def as_expr(value: Any) -> Any:
    """A collection's expression; anything else (literals, pandas objects) unchanged."""
    return value._expr if isinstance(value, FrameBase) else value


def _finalize(results):
    """Concatenate computed partitions (empty ones only matter when all are empty)."""
    first = results[0]
    if isinstance(first, pd.Index):
        return first.append(list(results[1:])) if len(results) > 1 else first
    if len(results) == 1:
        return first
    if isinstance(first, (pd.DataFrame, pd.Series)):
        nonempty = [r for r in results if len(r)]
        return pd.concat(nonempty if nonempty else results[:1])
    return list(results)  # one plain value per partition


def _rebuild(graph, name, meta, divisions):
    return new_collection(FromGraph(graph, meta, divisions, name))


class FrameBase(CollectionMixin):
    """Shared by DataFrame, Series, Index and Scalar."""

    __pardata_scheduler__ = "threads"

    def __init__(self, expr: Expr):
        if not isinstance(expr, Expr):
            raise TypeError(f"{type(self).__name__} wraps a plan expression, not {type(expr).__name__}")
        self._expr = expr
        self._optimized_cache: Expr | None = None

    # ----------------------------------------------------------- collection protocol
    def _optimized(self) -> Expr:
        if self._optimized_cache is None:
            from pardata.dataframe.optimizer import optimize

            self._optimized_cache = optimize(self._expr)
        return self._optimized_cache

    def __pardata_graph__(self) -> dict:
        from pardata.dataframe.optimizer import to_graph

        return to_graph(self._optimized())

    def __pardata_keys__(self) -> list:
        return self._optimized()._keys()

    def __pardata_postcompute__(self):
        return _finalize, ()

    def __pardata_postpersist__(self):
        e = self._optimized()
        return _rebuild, (e._name, self._meta, e.divisions)

    def __pardata_tokenize__(self):
        return self._expr._name

    # ----------------------------------------------------------- plan
    @property
    def expr(self) -> Expr:
        return self._expr

    @property
    def _name(self) -> str:
        return self._expr._name

    def optimize(self, fuse: bool = True):
        """The same collection over its optimized plan."""
        from pardata.dataframe.optimizer import optimize

        return new_collection(optimize(self._expr, fuse=fuse))

    def explain(self, optimized: bool = True, file=None) -> str:
        """Print (and return) the plan as an indented tree, optimized by default."""
        plan = self._optimized() if optimized else self._expr
        text = plan.tree_repr()
        print(text, file=file)
        return text

    # ----------------------------------------------------------- metadata
    @property
    def _meta(self):
        return self._expr._meta

    @property
    def divisions(self) -> tuple:
        return self._expr.divisions

    @property
    def npartitions(self) -> int:
        return self._expr.npartitions

    @property
    def known_divisions(self) -> bool:
        return self._expr.known_divisions

    @property
    def index(self):
        return new_collection(IndexOf(self._expr))

    @property
    def partitions(self):
        return _PartitionSelector(self)

    def get_partition(self, n: int):
        if not 0 <= n < self.npartitions:
            raise IndexError(f"partition {n} out of range for {self.npartitions} partitions")
        return self.partitions[n]

    def __len__(self) -> int:
        return int(new_collection(red.Reduction(
            self._expr, len, _sum_list, _sum_list, 0, prefix="len", required=set(),
        )).compute())

    def __bool__(self):
        raise ValueError(f"the truth value of a {type(self).__name__} is ambiguous until computed")

    # ----------------------------------------------------------- partition-wise
    def map_partitions(self, func, *args, meta=None, clear_divisions: bool = False,
                       token: str | None = None, **kwargs):
        """``func(partition, *args, **kwargs)`` on every partition.

        Collections in ``args``/``kwargs`` are passed partition by partition (or whole,
        for single values such as reductions). ``meta=`` describes the output; without
        it the function is run once on a tiny made-up partition to find out.
        """
        return map_partitions(func, self, *args, meta=meta, clear_divisions=clear_divisions,
                              token=token, **kwargs)

    def _method(self, method: str, /, *args, meta=None, divisions_unchanged: bool = True,
                **kwargs):
        args = tuple(as_expr(a) for a in args)
        kwargs = {k: as_expr(v) for k, v in kwargs.items()}
        return new_collection(Method(self._expr, method, args, kwargs or None, meta,
                                     divisions_unchanged))

    def head(self, n: int = 5, npartitions: int = 1, compute: bool = True):
        """The first ``n`` rows, computing only the leading partitions that hold them.

        Unlike Dask (which warns and returns fewer rows), when the first partition is
        short the following ones are read, one at a time, until ``n`` rows are found.
        """
        if npartitions == -1:
            npartitions = self.npartitions
        selected = self.partitions[:npartitions] if npartitions < self.npartitions else self
        lazy = new_collection(Head(_concat_partitions(selected._expr), n)) if npartitions > 1 \
            else new_collection(Head(selected._expr, n))
        if not compute:
            return lazy
        result = lazy.compute()
        k = npartitions
        while len(result) < n and k < self.npartitions:
            more = new_collection(Head(Partitions(self._expr, (k,)), n - len(result))).compute()
            result = pd.concat([result, more]) if len(more) else result
            k += 1
        return result

    def tail(self, n: int = 5, compute: bool = True):
        """The last ``n`` rows (from the last partitions)."""
        last = new_collection(Tail(Partitions(self._expr, (self.npartitions - 1,)), n))
        if not compute:
            return last
        result = last.compute()
        k = self.npartitions - 2
        while len(result) < n and k >= 0:
            more = new_collection(Tail(Partitions(self._expr, (k,)), n - len(result))).compute()
            result = pd.concat([more, result]) if len(more) else result
            k -= 1
        return result

    # ----------------------------------------------------------- element-wise
    def _binary(self, op, other, reverse=False):
        operands = (as_expr(other), self._expr) if reverse else (self._expr, as_expr(other))
        from pardata.dataframe.align import align_operands

        return new_collection(Elemwise(op, align_operands(operands)))

    def __neg__(self):
        return new_collection(Elemwise(operator.neg, (self._expr,)))

    def __pos__(self):
        return self

    def __invert__(self):
        return new_collection(Elemwise(operator.invert, (self._expr,)))

    def __abs__(self):
        return self.abs()

    def abs(self):
        return self._method("abs")

    def astype(self, dtype):
        return self._method("astype", dtype)

    def isna(self):
        return self._method("isna")

    isnull = isna

    def notna(self):
        return self._method("notna")

    notnull = notna

    def isin(self, values):
        if isinstance(values, FrameBase):
            raise NotImplementedError("isin with a lazy collection; compute it first")
        return self._method("isin", list(values) if isinstance(values, (set, frozenset)) else values)

    def fillna(self, value=None, axis=None, **kwargs):
        if isinstance(value, FrameBase) and isinstance(value._meta, (pd.Series, pd.DataFrame)) \
                and not value._expr._is_broadcast:
            from pardata.dataframe.align import align_operands

            left, right = align_operands((self._expr, value._expr))
            return new_collection(Method(left, "fillna", (right,), kwargs or None))
        if axis is not None:
            kwargs["axis"] = axis
        return self._method("fillna", value, **kwargs)

    def ffill(self):
        raise NotImplementedError("ffill needs values from earlier partitions; not supported yet")

    def round(self, decimals=0):
        return self._method("round", decimals)

    def clip(self, lower=None, upper=None):
        return self._method("clip", lower, upper)

    def where(self, cond, other=np.nan):
        return self._aligned_method("where", cond, other)

    def mask(self, cond, other=np.nan):
        return self._aligned_method("mask", cond, other)

    def _aligned_method(self, name, *args):
        from pardata.dataframe.align import align_operands

        exprs = align_operands((self._expr, *[as_expr(a) for a in args]))
        return new_collection(Method(exprs[0], name, tuple(exprs[1:]), None))

    def replace(self, to_replace=None, value=None, **kwargs):
        return self._method("replace", to_replace, value, **kwargs)

    def copy(self, deep: bool = False):
        return new_collection(self._expr)

    # ----------------------------------------------------------- reductions
    def _reduce(self, method: str, split_every=None, chunk_kwargs=None, aggregate_kwargs=None,
                meta=None):
        chunk_kwargs = chunk_kwargs or {}
        agg = dict(aggregate_kwargs if aggregate_kwargs is not None else chunk_kwargs)
        if meta is None:
            meta = emulate(red.method_chunk, self._meta, method, chunk_kwargs, udf=True,
                           reduction=True)
        combine_method = "sum" if method == "count" else method
        combine_kwargs = {k: v for k, v in agg.items() if k != "numeric_only"}
        return new_collection(red.Reduction(
            self._expr, red.method_chunk, red.method_combine, red.method_aggregate, meta,
            {"method": method, "kwargs": chunk_kwargs},
            {"method": combine_method, "kwargs": combine_kwargs},
            {"method": combine_method, "kwargs": combine_kwargs, "meta": meta},
            split_every, prefix=method,
        ))

    def sum(self, skipna: bool = True, numeric_only: bool = False, split_every=None):
        return self._reduce("sum", split_every, self._kw(skipna=skipna, numeric_only=numeric_only))

    def prod(self, skipna: bool = True, numeric_only: bool = False, split_every=None):
        return self._reduce("prod", split_every, self._kw(skipna=skipna, numeric_only=numeric_only))

    product = prod

    def min(self, skipna: bool = True, numeric_only: bool = False, split_every=None):
        return self._reduce("min", split_every, self._kw(skipna=skipna, numeric_only=numeric_only))

    def max(self, skipna: bool = True, numeric_only: bool = False, split_every=None):
        return self._reduce("max", split_every, self._kw(skipna=skipna, numeric_only=numeric_only))

    def any(self, skipna: bool = True, split_every=None):
        return self._reduce("any", split_every, {"skipna": skipna})

    def all(self, skipna: bool = True, split_every=None):
        return self._reduce("all", split_every, {"skipna": skipna})

    def count(self, numeric_only: bool = False, split_every=None):
        return self._reduce("count", split_every, self._kw(numeric_only=numeric_only), {})

    def _kw(self, numeric_only=False, **kwargs):
        if isinstance(self._meta, pd.DataFrame):
            kwargs["numeric_only"] = numeric_only
        return kwargs

    def _numeric_frame(self, numeric_only: bool):
        if isinstance(self._meta, pd.DataFrame) and numeric_only:
            cols = list(self._meta.select_dtypes(include=["number", "bool"]).columns)
            return self[cols]
        return self

    def mean(self, skipna: bool = True, numeric_only: bool = False, split_every=None):
        base = self._numeric_frame(numeric_only)
        meta = emulate(lambda m: m.mean(skipna=skipna), base._meta, reduction=True)
        return new_collection(red.Reduction(
            base._expr, red.mean_chunk, red.mean_combine, red.mean_aggregate, meta,
            {"skipna": skipna}, {}, {"meta": meta}, split_every, prefix="mean"))

    def var(self, ddof: int = 1, skipna: bool = True, numeric_only: bool = False,
            split_every=None):
        return self._moments("var", ddof, skipna, numeric_only, split_every)

    def std(self, ddof: int = 1, skipna: bool = True, numeric_only: bool = False,
            split_every=None):
        return self._moments("std", ddof, skipna, numeric_only, split_every)

    def _moments(self, how, ddof, skipna, numeric_only, split_every):
        base = self._numeric_frame(numeric_only)
        meta = emulate(lambda m: getattr(m, how)(ddof=ddof, skipna=skipna), base._meta,
                       reduction=True)
        if isinstance(meta, pd.Series):
            meta = pd.Series(np.zeros(len(meta)), index=meta.index, dtype="float64")
        return new_collection(red.Reduction(
            base._expr, red.moments_chunk, red.moments_combine, red.var_aggregate, meta,
            {"skipna": skipna}, {}, {"ddof": ddof, "sqrt": how == "std", "meta": meta},
            split_every, prefix=how))

    def nunique(self, dropna: bool = True, split_every=None):
        meta = emulate(lambda m: m.nunique(dropna=dropna), self._meta, reduction=True)
        return new_collection(red.Reduction(
            self._expr, red.unique_chunk, red.unique_combine, red.nunique_aggregate, meta,
            {"dropna": dropna}, {"dropna": dropna}, {"dropna": dropna, "meta": meta},
            split_every, prefix="nunique"))

    def quantile(self, q=0.5, numeric_only: bool = True, split_every=None):
        """Approximate quantiles: exact while partitions hold at most 1,000 values each,
        otherwise interpolated from a 1,000-point sketch per partition."""
        base = self._numeric_frame(numeric_only)
        meta = emulate(lambda m: m.quantile(q), base._meta, reduction=True)
        dtype = getattr(base._meta, "dtype", None)
        if isinstance(q, (list, tuple, np.ndarray)):
            q = tuple(q)
        return new_collection(red.Reduction(
            base._expr, red.quantile_chunk, red.quantile_combine, red.quantile_aggregate,
            meta, {}, {}, {"q": q, "meta": meta, "dtype": dtype}, split_every, prefix="quantile"))

    def median_approximate(self, numeric_only: bool = True, split_every=None):
        """The approximate median: ``quantile(0.5)``."""
        out = self.quantile(0.5, numeric_only=numeric_only, split_every=split_every)
        return out.rename(None) if isinstance(self._meta, pd.DataFrame) else out

    def median(self, numeric_only: bool = True, split_every=None):
        """The median, approximate as ``quantile`` is (exact for partitions of at most
        1,000 values). Dask refuses a median of several partitions; this computes the
        same sketch as its ``median_approximate`` and says so here."""
        return self.median_approximate(numeric_only=numeric_only, split_every=split_every)

    # ----------------------------------------------------------- conversion
    def to_delayed(self, optimize_graph: bool = True) -> list:
        """One Delayed per partition."""
        from pardata.delayed import Delayed

        expr = self._optimized() if optimize_graph else self._expr
        from pardata.base import default_optimize
        from pardata.dataframe.optimizer import to_graph

        keys = expr._keys()
        graph = default_optimize(to_graph(expr), keys) if optimize_graph else to_graph(expr)
        return [Delayed(k, None, (), graph) for k in keys]

    def __repr__(self) -> str:
        from pardata.dataframe.display import frame_repr

        return frame_repr(self)

    def _repr_html_(self) -> str:
        from pardata.dataframe.display import frame_repr_html

        return frame_repr_html(self)


def _sum_list(parts):
    return sum(parts)


class _PartitionSelector:
    def __init__(self, coll: FrameBase):
        self._coll = coll

    def __getitem__(self, index):
        n = self._coll.npartitions
        idx = np.arange(n)[index]
        indices = tuple(int(i) for i in np.atleast_1d(idx))
        if not indices:
            raise IndexError("no partitions selected")
        return new_collection(Partitions(self._coll._expr, indices))


def _concat_partitions(expr: Expr) -> Expr:
    from pardata.dataframe.repartition import Repartition

    return Repartition(expr, 1)


def map_partitions(func, *args, meta=None, clear_divisions: bool = False, token=None,
                   align: bool = True, **kwargs):
    """``func`` on matching partitions of the collections in ``args`` (the first one
    leads); other arguments are passed as they are."""
    from pardata.dataframe.align import align_operands

    exprs = [as_expr(a) for a in args]
    kw = {k: as_expr(v) for k, v in kwargs.items()}
    frames = [i for i, a in enumerate(exprs) if isinstance(a, Expr)]
    if not frames or frames[0] != 0:
        raise TypeError("map_partitions needs a collection as its first argument")
    if align and len(frames) > 1:
        aligned = align_operands(tuple(exprs[i] for i in frames))
        for i, a in zip(frames, aligned):
            exprs[i] = a
    if meta is not None and not isinstance(meta, (pd.DataFrame, pd.Series, pd.Index)):
        meta = make_meta(meta)
    expr = MapPartitions(func, exprs[0], tuple(exprs[1:]), kw or None, meta, clear_divisions,
                         token)
    out_meta = expr._meta
    if not isinstance(out_meta, (pd.DataFrame, pd.Series, pd.Index)) and exprs[0].npartitions:
        # one value per partition (``map_partitions(len)``): a Series of them, as in Dask
        series_meta = pd.Series([], dtype=np.asarray(out_meta).dtype if out_meta is not None
                                else object)
        expr = MapPartitions(_as_series, exprs[0], (func, *exprs[1:]), kw or None, series_meta,
                             True, token or getattr(func, "__name__", None))
    return new_collection(expr)


def _as_series(part, func, *args, **kwargs):
    return pd.Series([func(part, *args, **kwargs)])


def _bind_operators(cls):
    for name, op in BINARY_OPERATORS.items():
        dunder = f"__{name.rstrip('_')}__"
        setattr(cls, dunder, lambda self, other, _op=op: self._binary(_op, other))
        if name in REVERSED_OPERATORS:
            rev = REVERSED_OPERATORS[name]
            setattr(cls, f"__r{name.rstrip('_')}__",
                    lambda self, other, _op=op: self._binary(_op, other, reverse=True))
    return cls


_bind_operators(FrameBase)
