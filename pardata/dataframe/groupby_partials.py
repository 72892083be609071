"""The arithmetic of groupby aggregations: per-group partial results and their merge.

Each requested aggregation is split into *partials* computed per partition and per
group (``mean`` -> sum and count; ``var``/``std`` -> count, mean and the sum of squared
deviations, combined with Chan's parallel formula, which stays accurate when values
are large; ``nunique`` -> the distinct (key, value) pairs). Partials combine by
regrouping on the group keys; ``finalize`` turns them into pandas' result.

Partials of plain numeric, string and datetime data are computed by pyarrow's hash
aggregation (several times faster than pandas on string keys); everything else by
pandas. Both give the same numbers.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata import config
from pardata.dataframe import reductions as red

_PARTIALS = {
    "sum": ("sum",), "count": ("count",), "size": ("size",), "min": ("min",), "max": ("max",),
    "first": ("first",), "last": ("last",), "prod": ("prod",), "mean": ("sum", "count"),
    "var": ("count", "mean", "m2"), "std": ("count", "mean", "m2"), "nunique": (),
}
_COMBINE = {"sum": "sum", "count": "sum", "size": "sum", "min": "min", "max": "max",
            "first": "first", "last": "last", "prod": "prod"}


class Plan:
    """What to compute: ``outputs`` are ``(column, agg)`` pairs in result order; the
    partials they need are numbered in ``partials``."""

    def __init__(self, by: tuple, outputs: tuple, ddof: int, dropna: bool, observed: bool,
                 sort: bool, names: tuple):
        self.by, self.outputs, self.ddof = by, outputs, ddof
        self.dropna, self.observed, self.sort, self.names = dropna, observed, sort, names
        partials: dict = {}
        for col, agg in outputs:
            for kind in _PARTIALS[agg]:
                partials.setdefault((col, kind), len(partials))
        self.partials = partials
        self.uniques = tuple(dict.fromkeys(col for col, agg in outputs if agg == "nunique"))

    def __reduce__(self):
        return (Plan, (self.by, self.outputs, self.ddof, self.dropna, self.observed, self.sort,
                       self.names))

    def __repr__(self) -> str:
        aggs = ", ".join(f"{c}:{a}" if c is not None else a for c, a in self.outputs)
        return f"Plan(by={list(self.by)}, {aggs})"

    def __pardata_tokenize__(self):
        return (self.by, self.outputs, self.ddof, self.dropna, self.observed, self.sort,
                self.names)

    def _group(self, df, level=False):
        keys = list(range(len(self.by))) if level else list(self.by)
        kw = {"level": keys} if level else {"by": keys}
        # sorted groups are cheaper to find than groups in order of appearance
        return df.groupby(dropna=self.dropna, observed=self.observed, sort=self._sortable, **kw)

    @cached_property
    def _sortable(self) -> bool:
        return True

    # -- per partition ---------------------------------------------------------------
    def chunk(self, df) -> dict:
        if self._arrow_ok(df):
            return {"p": _arrow_partials(df, self), "u": {}}
        try:
            return self._chunk(df)
        except TypeError:  # keys that cannot be sorted (mixed types): group in order seen
            self._sortable = False
            return self._chunk(df)

    def _arrow_ok(self, df) -> bool:
        """Whether pyarrow's hash aggregation can make the partials (it is several times
        faster than pandas on string keys): plain numeric/string/datetime keys, numeric
        values, the kinds it computes the way pandas does."""
        if self.uniques or not self.partials:
            return False
        if len(df) < config.get("dataframe.groupby.arrow-min-rows", 10_000):
            return False
        for col in self.by:
            dt = df[col].dtype
            if not (dt.kind in "iufbM" or isinstance(dt, pd.StringDtype)):
                return False
        for col, kind in self.partials:
            if kind not in _ARROW_KINDS:
                return False
            if col is None:
                continue
            dt = df[col].dtype
            if not isinstance(dt, np.dtype) or dt.kind not in ("iuf" if kind in _ARROW_NUMERIC
                                                               else "iufM"):
                return False
        return True

    def _chunk(self, df) -> dict:
        g = self._group(df)
        by_kind: dict = {}
        for (col, kind), i in self.partials.items():
            by_kind.setdefault(kind, []).append((col, i))
        pieces = []
        for kind, items in by_kind.items():
            cols = [c for c, _ in items]
            ids = [i for _, i in items]
            if kind == "size":
                frame = g.size().to_frame()
            elif kind == "m2":
                sub = g[cols]
                frame = (sub.var(ddof=0) * sub.count()).fillna(0.0)
            elif kind == "mean":
                frame = g[cols].mean().fillna(0.0)
            else:
                frame = getattr(g[cols], kind)()
            frame.columns = ids
            pieces.append(frame)
        partial = None
        if pieces:
            partial = pieces[0] if len(pieces) == 1 else pd.concat(pieces, axis=1)
            partial = partial[sorted(partial.columns)]
        uniques = {c: df[[*self.by, c]].drop_duplicates() for c in self.uniques}
        return {"p": partial, "u": uniques}

    # -- across partitions ------------------------------------------------------------
    def combine(self, parts: list) -> dict:
        out: dict = {"p": None, "u": {}}
        if self.partials:
            p = pd.concat([x["p"] for x in parts])
            g = self._group(p, level=True)
            cols = {}
            by_op: dict = {}
            for (col, kind), i in self.partials.items():
                if kind in _COMBINE:
                    by_op.setdefault(_COMBINE[kind], []).append(i)
            for op, ids in by_op.items():
                frame = getattr(g[ids], op)()
                for i in ids:
                    cols[i] = frame[i]
            for col in {c for (c, k) in self.partials if k == "m2"}:
                i_n, i_mean, i_m2 = (self.partials[(col, k)] for k in ("count", "mean", "m2"))
                n = g[i_n].sum()
                total = (p[i_n] * p[i_mean]).groupby(level=list(range(len(self.by))),
                                                    dropna=self.dropna, observed=self.observed,
                                                    sort=self._sortable).sum()
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = (total / n).fillna(0.0)
                delta = p[i_mean].to_numpy() - mean.reindex(p.index).to_numpy()
                m2 = (p[i_m2] + p[i_n] * delta ** 2).groupby(
                    level=list(range(len(self.by))), dropna=self.dropna,
                    observed=self.observed, sort=self._sortable).sum()
                cols[i_n], cols[i_mean], cols[i_m2] = n, mean, m2
            out["p"] = pd.DataFrame({i: cols[i] for i in sorted(cols)})
        for c in self.uniques:
            out["u"][c] = pd.concat([x["u"][c] for x in parts]).drop_duplicates()
        return out

    def finalize(self, parts: list, meta) -> pd.DataFrame | pd.Series:
        combined = self.combine(parts)
        p = combined["p"]
        columns = []
        for col, agg in self.outputs:
            if agg in _COMBINE:
                s = p[self.partials[(col, agg)]]
            elif agg == "mean":
                s = p[self.partials[(col, "sum")]] / p[self.partials[(col, "count")]]
            elif agg in ("var", "std"):
                n = p[self.partials[(col, "count")]]
                m2 = p[self.partials[(col, "m2")]]
                with np.errstate(invalid="ignore", divide="ignore"):
                    s = (m2 / (n - self.ddof)).where(n - self.ddof > 0)
                s = np.sqrt(s) if agg == "std" else s
            else:  # nunique
                u = combined["u"][col]
                s = u.groupby(list(self.by), dropna=self.dropna, observed=self.observed,
                              sort=False)[col].nunique()
            columns.append(s)
        index = columns[0].index
        data = {i: (s if s.index.equals(index) else s.reindex(index)) for i, s in enumerate(columns)}
        result = pd.DataFrame(data, index=index)
        if self.sort:
            result = result.sort_index()
        result.index.names = list(self.names)
        return _shape_like(result, meta)


_ARROW_KINDS = {"sum": "sum", "count": "count", "size": "count_all", "min": "min", "max": "max",
                "mean": "mean", "m2": "variance"}
_ARROW_NUMERIC = {"sum", "mean", "m2"}


def _arrow_partials(df, plan: Plan) -> pd.DataFrame:
    """The partial aggregates of one partition, computed by pyarrow's hash aggregation."""
    import pyarrow as pa
    import pyarrow.compute as pc

    cols = list(dict.fromkeys([*plan.by, *[c for c, _ in plan.partials if c is not None]]))
    table = pa.Table.from_pandas(df[cols], preserve_index=False)
    specs, names = [], []
    for (col, kind), i in plan.partials.items():
        func = _ARROW_KINDS[kind]
        if kind == "size":
            specs.append(([], func))
        elif kind == "sum":
            specs.append((col, func, pc.ScalarAggregateOptions(min_count=0)))
        elif kind == "m2":
            specs.append((col, func, pc.VarianceOptions(ddof=0)))
        else:
            specs.append((col, func))
        names.append(i)
    result = table.group_by(list(plan.by), use_threads=False).aggregate(specs)
    out = result.to_pandas()
    keys = out[list(plan.by)]
    values = out.drop(columns=list(plan.by))
    values.columns = names
    if plan.dropna:
        keep = keys.notna().all(axis=1).to_numpy()
        keys, values = keys[keep], values[keep]
    values.index = pd.MultiIndex.from_frame(keys) if len(plan.by) > 1 else pd.Index(keys.iloc[:, 0])
    for (col, kind), i in plan.partials.items():
        if kind == "m2":  # variance * count, as the pandas path stores it
            n = values[plan.partials[(col, "count")]]
            values[i] = (values[i] * n).fillna(0.0)
        elif kind == "mean":
            values[i] = values[i].fillna(0.0)
        elif kind in ("min", "max") and df[col].dtype.kind == "M" and values[i].dtype != df[col].dtype:
            values[i] = values[i].astype(df[col].dtype)
    return values[sorted(values.columns)]


def _shape_like(result: pd.DataFrame, meta):
    """``result`` (one column per output) with ``meta``'s labels, kind and dtypes."""
    if isinstance(meta, pd.Series):
        out = result.iloc[:, 0]
        out.name = meta.name
        return red.cast_like(out, meta) if out.dtype != meta.dtype else out
    result.columns = meta.columns
    for i, dtype in enumerate(meta.dtypes):
        if result.dtypes.iloc[i] != dtype:
            try:
                result.isetitem(i, result.iloc[:, i].astype(dtype))
            except (TypeError, ValueError):
                pass
    return result
