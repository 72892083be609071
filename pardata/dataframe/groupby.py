"""``groupby``: aggregations as tree reductions of per-group partial results.

The partials and their arithmetic are in ``groupby_partials``. With ``split_out=1``
this is a tree reduction; with ``split_out > 1`` the partials are shuffled by group
key into ``split_out`` partitions and finished there. When the input is already partitioned on the keys
(it came out of a shuffle on them), each partition is aggregated on its own, with no
exchange at all.

``apply``/``transform`` shuffle whole groups together, then run pandas per partition.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata.dataframe import reductions as red
from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.expr import Expr, node
from pardata.dataframe.groupby_partials import _PARTIALS, Plan
from pardata.dataframe.meta import emulate


def _chunk(df, plan):
    return plan.chunk(df)


def _combine(parts, plan):
    return plan.combine(parts)


def _finalize(parts, plan, meta):
    return plan.finalize(parts, meta)


def _partials_frame(df, plan):
    return plan.indexed(plan.chunk(df)["p"])


def _finish_partials(part, plan, meta):
    return plan.finalize([{"p": part, "u": {}}], meta)


def _aggregate_whole(df, plan, meta):
    return plan.finalize([plan.chunk(df)], meta)


@node
class PartitionwiseAgg(Blockwise):
    """A groupby aggregation run on each partition alone (``how`` says on what)."""

    frame: Expr
    plan: Plan
    meta: object
    how: str  # "whole": raw rows; "partials": shuffled partial results
    _prefix = "groupby-agg"

    @property
    def _func(self):  # type: ignore[override]
        return _aggregate_whole if self.how == "whole" else _finish_partials

    def _task(self, i):
        from pardata.core.spec import Ref, Task

        return Task((self._name, i), self._func, Ref((self.frame._name, i)), self.plan, self.meta)

    def _args(self):
        return [self.frame, self.plan, self.meta]

    @cached_property
    def _meta(self):
        return self.meta

    @cached_property
    def divisions(self):
        return (None,) * (self.frame.npartitions + 1)


@node
class PartialsFrame(Blockwise):
    """Per-partition partial aggregates, indexed by group keys (input to a shuffle)."""

    frame: Expr
    plan: Plan
    _prefix = "groupby-partials"
    _func = staticmethod(_partials_frame)

    def _args(self):
        return [self.frame, self.plan]

    @cached_property
    def _meta(self):
        return _partials_frame(self.frame._meta, self.plan).iloc[:0]


@node
class GroupbyAgg(Expr):
    """The logical groupby aggregation; lowering picks the physical plan."""

    frame: Expr
    plan: Plan
    meta: object
    split_every: int | None = None
    split_out: int = 1
    shuffle_method: str | None = None

    @cached_property
    def _meta(self):
        return self.meta

    @cached_property
    def divisions(self):
        return (None,) * (self.split_out + 1)

    def _required_columns(self, needed):
        cols = set(self.plan.by) | {c for c, _ in self.plan.outputs if c is not None}
        return {self.frame._name: cols}

    def _lower(self):
        from pardata.dataframe.shuffle import Shuffle

        frame, plan = self.frame, self.plan
        part = frame._partitioning
        if part is not None and set(part[1]) <= set(plan.by):
            # every group lives in one partition: aggregate each where it is; the
            # partition count is still the one asked for (it is part of the plan)
            whole = PartitionwiseAgg(frame, plan, self.meta, "whole")
            if self.split_out == frame.npartitions:
                return whole
            if self.split_out == 1:
                from pardata.dataframe.blockwise import Method
                from pardata.dataframe.repartition import Regroup

                one = Regroup(whole, (tuple((i, 0, 1) for i in range(frame.npartitions)),))
                return Method(one, "sort_index") if plan.sort else one
        if self.split_out == 1:
            return red.Reduction(frame, _chunk, _combine, _finalize, self.meta, {"plan": plan},
                                 {"plan": plan}, {"plan": plan, "meta": self.meta},
                                 self.split_every, prefix="groupby-agg", broadcast=False)
        if plan.uniques:
            shuffled = Shuffle(frame, tuple(plan.by), self.split_out, method=self.shuffle_method)
            return PartitionwiseAgg(shuffled, plan, self.meta, "whole")
        shuffled = Shuffle(PartialsFrame(frame, plan), (), self.split_out,
                           method=self.shuffle_method)
        return PartitionwiseAgg(shuffled, plan, self.meta, "partials")

    def _describe(self):
        aggs = ", ".join(f"{c}:{a}" for c, a in self.plan.outputs)
        return f"GroupbyAgg(by={list(self.plan.by)}, {aggs}, split_out={self.split_out})"


class GroupBy:
    """``frame.groupby(by)``; ``[col]`` selects the columns to aggregate."""

    def __init__(self, obj: FrameBase, by=None, level=None, sort: bool = True,
                 dropna: bool = True, observed: bool = True, group_keys: bool = True,
                 selection=None, _prepared=None):
        self.sort, self.dropna, self.observed, self.group_keys = sort, dropna, observed, group_keys
        if _prepared is not None:
            self.frame, self.by, self.names, self.selection = _prepared
            self._series = selection is not None and not isinstance(selection, list)
            return
        from pardata.dataframe.frame import DataFrame

        frame = obj
        series_sel = None
        if not isinstance(obj, DataFrame):
            series_sel = obj.name if obj.name is not None else "__series__"
            frame = obj.to_frame(name=series_sel)
        keys, names, extra = [], [], {}
        by_list = [] if by is None else (list(by) if isinstance(by, (list, tuple)) else [by])
        if level is not None:
            if level not in (0, obj._meta.index.name) and level != [0]:
                raise NotImplementedError("groupby(level=) supports the (single) index only")
            extra["__index__"] = frame.index
            keys.append("__index__")
            names.append(obj._meta.index.name)
        for i, b in enumerate(by_list):
            if isinstance(b, FrameBase):
                tmp = f"__by{i}__"
                extra[tmp] = b
                keys.append(tmp)
                names.append(b.name)
            elif b in frame.columns:
                keys.append(b)
                names.append(b)
            elif b == obj._meta.index.name:
                extra["__index__"] = frame.index
                keys.append("__index__")
                names.append(b)
            else:
                raise KeyError(b)
        if not keys:
            raise TypeError("groupby needs by= or level=")
        if extra:
            frame = frame.assign(**extra)
        self.frame, self.by, self.names = frame, tuple(keys), tuple(names)
        self.selection = series_sel if series_sel is not None else selection
        self._series = series_sel is not None or (selection is not None and not isinstance(selection, list))

    # ------------------------------------------------------------ selection
    def __getitem__(self, key):
        sel = list(key) if isinstance(key, (list, tuple)) else key
        return GroupBy(None, sort=self.sort, dropna=self.dropna, observed=self.observed,
                       group_keys=self.group_keys, selection=sel,
                       _prepared=(self.frame, self.by, self.names, sel))

    def __getattr__(self, name):
        if name.startswith("_") or name not in self.frame.columns:
            raise AttributeError(name)
        return self[name]

    def _value_columns(self) -> list:
        if self.selection is None:
            return [c for c in self.frame.columns if c not in self.by]
        return [self.selection] if self._series else list(self.selection)

    def _pandas_group(self, df):
        g = df.groupby(list(self.by), sort=self.sort, dropna=self.dropna, observed=self.observed)
        return g[self.selection] if self.selection is not None else g

    # ------------------------------------------------------------ aggregations
    def _aggregate(self, outputs, pandas_call, split_every, split_out, shuffle_method, ddof=1):
        frame_meta = self.frame._meta

        def run(df):
            out = pandas_call(self._pandas_group(df))
            out.index.names = list(self.names)
            return out

        meta = emulate(run, frame_meta)
        plan = Plan(self.by, tuple(outputs), ddof, self.dropna, self.observed, self.sort,
                    self.names)
        cols = list(dict.fromkeys([*self.by, *[c for c, _ in outputs if c is not None]]))
        base = self.frame[cols]._expr
        return new_collection(GroupbyAgg(base, plan, meta, split_every, split_out, shuffle_method))

    def agg(self, arg=None, split_every=None, split_out: int = 1, shuffle_method=None, **named):
        """``agg("sum")``, ``agg(["sum", "mean"])``, ``agg({"x": "sum", "y": ["min", "max"]})``
        or named ``agg(total=("x", "sum"))``."""
        if named and arg is None:
            outputs = [(col, how) for col, how in named.values()]
            call = lambda g: g.agg(**named)  # noqa: E731
        elif isinstance(arg, str):
            return getattr(self, arg)(split_every=split_every, split_out=split_out)
        elif isinstance(arg, (list, tuple)):
            cols = self._value_columns()
            outputs = [(c, how) for c in cols for how in arg]
            call = lambda g: g.agg(list(arg))  # noqa: E731
        elif isinstance(arg, dict):
            outputs = []
            for col, hows in arg.items():
                for how in ([hows] if isinstance(hows, str) else hows):
                    outputs.append((col, how))
            call = lambda g: g.agg(arg)  # noqa: E731
        else:
            raise TypeError(f"agg needs a name, a list, a dict or named aggregations, not {arg!r}")
        bad = sorted({how for _, how in outputs if how not in _PARTIALS})
        if bad:
            hint = ("; use .median() or .quantile() on their own"
                    if set(bad) & {"median", "quantile"} else "")
            raise NotImplementedError(
                f"groupby aggregation(s) {bad} are not supported inside agg(); supported: "
                f"{sorted(_PARTIALS)}{hint}")
        return self._aggregate(outputs, call, split_every, split_out, shuffle_method)

    aggregate = agg

    def _simple(self, how, split_every, split_out, shuffle_method=None, ddof=1, **kw):
        outputs = [(c, how) for c in self._value_columns()]
        call = (lambda g: getattr(g, how)(ddof=ddof, **kw)) if how in ("var", "std") \
            else (lambda g: getattr(g, how)(**kw))
        return self._aggregate(outputs, call, split_every, split_out, shuffle_method, ddof)

    def sum(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("sum", split_every, split_out, shuffle_method)

    def mean(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("mean", split_every, split_out, shuffle_method)

    def min(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("min", split_every, split_out, shuffle_method)

    def max(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("max", split_every, split_out, shuffle_method)

    def prod(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("prod", split_every, split_out, shuffle_method)

    def first(self, split_every=None, split_out=1, shuffle_method=None):
        return self._simple("first", split_every, split_out, shuffle_method)

    def last(self, split_every=None, split_out=1, shuffle_method=None):
        return self._simple("last", split_every, split_out, shuffle_method)

    def count(self, split_every=None, split_out=1, shuffle_method=None):
        return self._simple("count", split_every, split_out, shuffle_method)

    def nunique(self, split_every=None, split_out=1, shuffle_method=None):
        return self._simple("nunique", split_every, split_out, shuffle_method)

    def var(self, ddof=1, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("var", split_every, split_out, shuffle_method,
                                                   ddof=ddof)

    def std(self, ddof=1, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        return self._numeric(numeric_only)._simple("std", split_every, split_out, shuffle_method,
                                                   ddof=ddof)

    def size(self, split_every=None, split_out=1, shuffle_method=None):
        return self._aggregate([(None, "size")], lambda g: g.size(), split_every, split_out,
                               shuffle_method)

    def median(self, split_every=None, split_out=1, shuffle_method=None, numeric_only=False):
        """Exact per-group medians. A median does not decompose into partial results as a
        sum does, so rows are shuffled until each group is whole in one partition (no
        shuffle when the data is already partitioned by the keys)."""
        return self._numeric(numeric_only)._whole_groups("median", (), split_out,
                                                         shuffle_method)

    def quantile(self, q=0.5, split_every=None, split_out=1, shuffle_method=None,
                 numeric_only=False):
        """Exact per-group quantiles (``q`` a number or a list), as ``median``."""
        q = list(q) if isinstance(q, (list, tuple, np.ndarray, pd.Index)) else q
        return self._numeric(numeric_only)._whole_groups("quantile", (q,), split_out,
                                                         shuffle_method)

    def _whole_groups(self, how, args, split_out, shuffle_method):
        from pardata.dataframe.blockwise import MapPartitions, Method
        from pardata.dataframe.repartition import Regroup
        from pardata.dataframe.shuffle import Shuffle

        if not isinstance(split_out, int) or split_out < 1:
            raise ValueError(f"split_out must be a positive integer, not {split_out!r}")
        cols = list(dict.fromkeys([*self.by, *self._value_columns()]))
        frame = self.frame[cols]._expr
        part = frame._partitioning
        n_out = split_out if split_out > 1 else frame.npartitions
        if part is None or not set(part[1]) <= set(self.by) or frame.npartitions != n_out:
            frame = Shuffle(frame, tuple(self.by), n_out, method=shuffle_method)
        group_kw = {"sort": self.sort, "dropna": self.dropna, "observed": self.observed}
        sel = self.selection if self.selection is not None else self._value_columns()

        def run(df, by, how, args, group_kw, sel, names):
            out = getattr(df.groupby(list(by), **group_kw)[sel], how)(*args)
            out.index = out.index.set_names(list(names) + list(out.index.names[len(by):]))
            return out

        extra = (self.by, how, args, group_kw, sel, self.names)
        meta = emulate(run, self.frame._meta[cols], *extra)
        expr = MapPartitions(run, frame, extra, {}, meta, True, f"groupby-{how}")
        if split_out == 1:
            expr = Regroup(expr, (tuple((i, 0, 1) for i in range(expr.npartitions)),))
            if self.sort:
                expr = Method(expr, "sort_index")
        return new_collection(expr)

    def _numeric(self, numeric_only: bool) -> "GroupBy":
        if not numeric_only or self._series:
            return self
        meta = self.frame._meta
        cols = [c for c in self._value_columns()
                if pd.api.types.is_numeric_dtype(meta[c]) or pd.api.types.is_bool_dtype(meta[c])]
        return self[cols]

    # ------------------------------------------------------------ whole groups
    def _by_groups(self, how, func, args, kwargs, meta, shuffle_method):
        from pardata.dataframe.blockwise import MapPartitions
        from pardata.dataframe.shuffle import Shuffle

        frame = self.frame._expr
        part = frame._partitioning
        if part is None or not set(part[1]) <= set(self.by):
            frame = Shuffle(frame, tuple(self.by), frame.npartitions, method=shuffle_method)
        group_kw = {"sort": self.sort, "dropna": self.dropna, "observed": self.observed,
                    "group_keys": self.group_keys}
        sel = self.selection

        def run(df, by, func, args, kwargs, how, group_kw, _sel=sel, _names=self.names,
                _meta=None):
            if _meta is not None and len(df) == 0:
                return _meta
            g = df.groupby(list(by), **group_kw)
            g = g[_sel] if _sel is not None else g
            out = getattr(g, how)(func, *args, **kwargs)
            if how == "apply" and isinstance(out, (pd.Series, pd.DataFrame)):
                rename = dict(zip(by, _names))
                out.index = out.index.set_names([rename.get(n, n) for n in out.index.names])
            return out

        if meta is None:
            meta = emulate(run, self.frame._meta, self.by, func, args, kwargs, how, group_kw,
                           udf=True)
        else:
            from pardata.dataframe.meta import make_meta

            meta = make_meta(meta)
        return new_collection(MapPartitions(run, frame, (self.by, func, args, kwargs, how,
                                                         group_kw), {"_meta": meta}, meta, True,
                                            f"groupby-{how}"))

    def apply(self, func, *args, meta=None, shuffle_method=None, **kwargs):
        """``func`` on each group (a pandas frame); groups are first shuffled together."""
        return self._by_groups("apply", func, args, kwargs, meta, shuffle_method)

    def transform(self, func, *args, meta=None, shuffle_method=None, **kwargs):
        return self._by_groups("transform", func, args, kwargs, meta, shuffle_method)
