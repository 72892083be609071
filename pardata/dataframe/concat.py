"""``concat``: partitions of several collections one after another (``axis=0``), or
side by side when they are aligned (``axis=1``)."""
from __future__ import annotations

from functools import cached_property

import pandas as pd

from pardata.core.spec import Alias, Ref, Task
from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.expr import Expr, node
from pardata.dataframe.meta import make_meta


def _conform(part, meta):
    """``part`` with ``meta``'s columns (missing ones added as nulls) and dtypes."""
    if isinstance(meta, pd.DataFrame):
        if not isinstance(part, pd.DataFrame):
            part = part.to_frame()
        if list(part.columns) != list(meta.columns):
            part = part.reindex(columns=meta.columns)
        wrong = {c: meta[c].dtype for c in meta.columns if part[c].dtype != meta[c].dtype}
        return part.astype(wrong) if wrong else part
    if part.dtype != meta.dtype:
        part = part.astype(meta.dtype)
    return part


@node
class Concat(Expr):
    frames: tuple
    join: str = "outer"

    @cached_property
    def _meta(self):
        metas = [f._meta for f in self.frames]
        return make_meta(pd.concat(metas, join=self.join))

    @cached_property
    def divisions(self):
        frames = self.frames
        if all(f.known_divisions for f in frames) and all(
                a.divisions[-1] < b.divisions[0] for a, b in zip(frames, frames[1:])):
            return tuple(self._merge_divisions())
        return (None,) * (sum(f.npartitions for f in frames) + 1)

    def _merge_divisions(self):
        # partition boundaries: each frame's divisions; the last division of one frame
        # is replaced by the next frame's first (its upper bound was inclusive)
        out = []
        for f in self.frames:
            out.extend(f.divisions[:-1])
        out.append(self.frames[-1].divisions[-1])
        return out

    def _layer(self):
        graph = {}
        j = 0
        meta = self._meta
        for f in self.frames:
            same = isinstance(meta, pd.DataFrame) and isinstance(f._meta, pd.DataFrame) and \
                list(f._meta.columns) == list(meta.columns) and (f._meta.dtypes == meta.dtypes).all()
            for i in range(f.npartitions):
                key = (self._name, j)
                if same:
                    graph[key] = Alias(key, (f._name, i))
                else:
                    graph[key] = Task(key, _conform, Ref((f._name, i)), meta)
                j += 1
        return graph

    def _describe(self):
        return f"Concat({len(self.frames)} collections)"


def _concat_columns(*parts, join="outer"):
    return pd.concat(parts, axis=1, join=join)


def concat(dfs, axis=0, join: str = "outer", ignore_unknown_divisions: bool = False,
           ignore_index: bool = False):
    """Concatenate collections: rows (``axis=0``) or columns (``axis=1``, aligned)."""
    from pardata.dataframe.io.pandas import from_pandas

    dfs = [from_pandas(d, npartitions=1) if isinstance(d, (pd.DataFrame, pd.Series)) else d
           for d in dfs]
    if not dfs:
        raise ValueError("no collections to concatenate")
    if not all(isinstance(d, FrameBase) for d in dfs):
        raise TypeError("concat takes pardata (or pandas) DataFrames and Series")
    if len(dfs) == 1:
        return dfs[0]
    if axis in (1, "columns"):
        from pardata.dataframe.align import align_operands
        from pardata.dataframe.collection import map_partitions

        exprs = align_operands(tuple(d._expr for d in dfs))
        return map_partitions(_concat_columns, *[new_collection(e) for e in exprs], join=join,
                              align=False)
    out = new_collection(Concat(tuple(d._expr for d in dfs), join))
    if ignore_index:
        out = out.reset_index(drop=True)
    return out
