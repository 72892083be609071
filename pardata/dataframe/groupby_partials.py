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
        if not all(isinstance(c, str) for c in [*self.by, *(c for c, _ in self.partials)]
                   if c is not None):
            return False  # pyarrow names columns by strings only
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
            if kind == "size":  # one column per output that asked for it
                size = g.size()
                frame = pd.concat([size] * len(ids), axis=1)
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
            fast = self._arrow_combine(parts)
            if fast is not None:
                out["p"] = fast
                return out
            p = pd.concat([self.indexed(x["p"]) for x in parts])
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

    def _arrow_combine(self, parts: list):
        """Regroup partials with pyarrow's hash aggregation, as tables (several times
        faster than pandas on many or string keys, and no MultiIndex is built); None
        where pandas must do it (some partials of other kinds, or all in pandas)."""
        if not any(isinstance(x["p"], _pa_table()) for x in parts):
            return None
        if any(_COMBINE[kind] not in ("sum", "min", "max") for _, kind in self.partials
               if kind in _COMBINE) or any(k not in _COMBINE for _, k in self.partials):
            return None
        import pyarrow as pa
        import pyarrow.compute as pc

        tables = [x["p"] if isinstance(x["p"], pa.Table) else _flat_table(x["p"], self)
                  for x in parts]
        table = pa.concat_tables(tables, promote_options="permissive")
        specs = []
        for (_, kind), i in self.partials.items():
            op = _COMBINE[kind]
            opts = pc.ScalarAggregateOptions(min_count=0) if op == "sum" else None
            specs.append((f"p{i}", op, opts) if opts else (f"p{i}", op))
        keys = [f"k{j}" for j in range(len(self.by))]
        out = table.group_by(keys, use_threads=False).aggregate(specs)
        names = [f"{f'p{i}'}_{_COMBINE[kind]}" for (_, kind), i in self.partials.items()]
        return out.select([*names, *keys]).rename_columns(
            [f"p{i}" for i in self.partials.values()] + keys)

    def indexed(self, partial) -> pd.DataFrame:
        """A partial as a pandas frame indexed by the group keys (tables from pyarrow
        have the keys as columns ``k0, k1, ...`` and partial ``i`` as column ``p<i>``)."""
        if not isinstance(partial, _pa_table()):
            return partial
        out = partial.to_pandas()
        keys = out[[f"k{j}" for j in range(len(self.by))]]
        keys.columns = list(self.by)
        ids = sorted(self.partials.values())
        values = out[[f"p{i}" for i in ids]]
        values.columns = ids
        values.index = (pd.MultiIndex.from_frame(keys) if len(self.by) > 1
                        else pd.Index(keys.iloc[:, 0]))
        return values

    def finalize(self, parts: list, meta) -> pd.DataFrame | pd.Series:
        combined = self.combine(parts)
        p = self.indexed(combined["p"])
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


def _pa_table():
    import pyarrow as pa

    return pa.Table


def _arrow_partials(df, plan: Plan):
    """The partial aggregates of one partition, computed by pyarrow's hash aggregation,
    as a table: group keys ``k0, k1, ...`` and partial ``i`` in column ``p<i>``."""
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
    # the keys keep their names, the aggregates are the other columns, in order
    at = {name: j for j, name in enumerate(result.column_names)}
    key_pos = [at[b] for b in plan.by]
    agg_pos = [j for j in range(result.num_columns) if j not in set(key_pos)]
    columns = {f"p{i}": result.column(j) for j, i in zip(agg_pos, names)}
    keys = [result.column(j) for j in key_pos]
    for (col, kind), i in plan.partials.items():
        if kind == "m2":  # variance * count, as the pandas path stores it
            n = columns[f"p{plan.partials[(col, 'count')]}"]
            columns[f"p{i}"] = pc.fill_null(pc.multiply(columns[f"p{i}"], pc.cast(n, pa.float64())), 0.0)
        elif kind == "mean":
            columns[f"p{i}"] = pc.fill_null(columns[f"p{i}"], 0.0)
    out = pa.table({**{f"p{i}": columns[f"p{i}"] for i in sorted(names)},
                    **{f"k{j}": k for j, k in enumerate(keys)}})
    if plan.dropna and len(plan.by):
        valid = pc.is_valid(keys[0])
        for k in keys[1:]:
            valid = pc.and_(valid, pc.is_valid(k))
        out = out.filter(valid)
    return out


def _flat_table(partial: pd.DataFrame, plan: Plan):
    """A pandas partial (indexed by the keys) as the table ``_arrow_partials`` makes."""
    import pyarrow as pa

    flat = partial.reset_index()
    flat.columns = [*(f"k{j}" for j in range(len(plan.by))), *(f"p{i}" for i in partial.columns)]
    return pa.Table.from_pandas(flat, preserve_index=False)


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
