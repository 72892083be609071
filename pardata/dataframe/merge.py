"""``merge``/``join``: three physical plans behind one logical ``Merge`` node.

Lowering picks, in order:

1. *aligned*: both sides joined on their indexes, both with known divisions: cut both
   at the union of their divisions and merge partition by partition (no shuffle);
2. *broadcast*: one side is small (known from the readers' metadata to be under
   ``dataframe.merge.broadcast-bytes``, 64 MiB by default; otherwise one partition, or a
   few against many) and the join
   keeps all rows of the other side (``inner``, ``left`` with a small right, ``right``
   with a small left, ``cross``): the small side is concatenated once and merged with
   every partition of the large side;
3. *hash*: both sides shuffled on their keys into the same number of partitions, then
   merged partition by partition. Keys of different dtypes on the two sides (int and
   float) are hashed as a common dtype so equal values meet. A side that is already
   hash-partitioned on its keys is not shuffled again (the partitioning rule).
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata import config
from pardata._units import parse_bytes
from pardata.core.spec import Alias
from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.expr import ALL, Expr, node
from pardata.dataframe.meta import emulate

BROADCAST_MAX_PARTITIONS = 8


@node
class BroadcastOf(Expr):
    """A single-partition collection that every partition of another may read whole."""

    frame: Expr
    _is_broadcast = True

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        return (None, None)

    def _required_columns(self, needed):
        return {self.frame._name: needed}

    def _layer(self):
        return {(self._name, 0): Alias((self._name, 0), (self.frame._name, 0))}


def _merge_parts(left, right, kwargs, widen=None):
    out = pd.merge(left, right, **kwargs)
    if widen:
        index_dtype = widen.get(_INDEX)
        fix = {c: d for c, d in widen.items() if c is not _INDEX and out[c].dtype != d}
        if fix:
            out = out.astype(fix)
        if index_dtype is not None and out.index.dtype != index_dtype:
            out.index = out.index.astype(index_dtype)
    return out


_INDEX = "__pardata_merge_index__"


def merge_meta(left_meta, right_meta, kwargs) -> tuple:
    """The meta of a merge and the columns it widens (``{column: dtype}``).

    In pandas a column from the side that may have no match (the right side of a left
    join, either side of an outer join) turns from int to float (bool to object) when
    some row does not match. Here that dtype is used in every partition, whether or
    not that partition has unmatched rows, so partitions agree with each other.
    """
    from pardata.dataframe.meta import meta_nonempty

    meta = emulate(_merge_parts, left_meta, right_meta, kwargs)
    how = kwargs.get("how")
    probes = []
    if how in ("left", "right", "outer", "left_anti", "right_anti"):
        # made-up keys 1, 2 on the left and 2, 3 on the right: a match, and rows
        # without one on either side
        ln, rn = meta_nonempty(left_meta, 2), meta_nonempty(right_meta, 3)
        probes.append((ln, rn.iloc[1:]))
    widen = {}
    for lm, rm in probes:
        probe = pd.merge(lm, rm, **kwargs)
        for c in meta.columns:
            if probe[c].dtype != meta[c].dtype and c not in widen:
                widen[c] = probe[c].dtype
        if probe.index.dtype != meta.index.dtype and not isinstance(meta.index, pd.MultiIndex):
            widen[_INDEX] = probe.index.dtype
    if widen:
        meta = meta.astype({c: d for c, d in widen.items() if c != _INDEX})
        if _INDEX in widen:
            meta.index = meta.index.astype(widen[_INDEX])
    return meta, widen


@node
class BlockwiseMerge(Blockwise):
    """``pd.merge`` of matching partitions (or of each partition with a broadcast side)."""

    left: Expr
    right: Expr
    kwargs: dict
    keep_divisions: bool = False
    _prefix = "merge"
    _func = staticmethod(_merge_parts)

    def _args(self):
        return [self.left, self.right, self.kwargs, self._widen]

    @cached_property
    def _merge_meta(self):
        return merge_meta(self.left._meta, self.right._meta, self.kwargs)

    @cached_property
    def _meta(self):
        return self._merge_meta[0]

    @property
    def _widen(self):
        return self._merge_meta[1]

    @cached_property
    def divisions(self):
        divs = super().divisions
        return divs if self.keep_divisions else (None,) * len(divs)

    @property
    def _partitioning(self):
        """A hash join's output is hashed on the left keys, where they keep their values
        (inner and left joins, or keys of the same name, which pandas fills in)."""
        left, right, kw = self.left, self.right, self.kwargs
        part, rpart = left._partitioning, right._partitioning
        if part is None or rpart is None or "left_on" not in kw or "right_on" not in kw:
            return None
        if part[2:] != rpart[2:]:  # same partition count and hashed dtypes
            return None
        same_names = kw.get("left_on") == kw.get("right_on")
        if kw.get("how") not in ("inner", "left") and not same_names:
            return None
        if not set(part[1]) <= set(self.columns):
            return None
        return part

    def _describe(self):
        kw = self.kwargs
        on = kw.get("left_on") or ("index" if kw.get("left_index") else "")
        side = "broadcast " if self.left._is_broadcast or self.right._is_broadcast else ""
        return f"BlockwiseMerge({side}{kw.get('how')}, on={on})"


def _common_key_dtypes(left_meta, right_meta, left_keys, right_keys):
    """dtypes to hash the keys as, or None when both sides' keys already agree."""
    def dtypes(meta, keys):
        if not keys:
            idx = meta.index
            return [idx.dtype] if not isinstance(idx, pd.MultiIndex) else list(idx.dtypes)
        return [meta[k].dtype for k in keys]

    ld, rd = dtypes(left_meta, left_keys), dtypes(right_meta, right_keys)
    if all(a == b for a, b in zip(ld, rd)):
        return None
    common = []
    for a, b in zip(ld, rd):
        if a == b:
            common.append(a)
        elif pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b):
            common.append(np.dtype("float64"))
        elif isinstance(a, pd.CategoricalDtype) or isinstance(b, pd.CategoricalDtype):
            other = b if isinstance(a, pd.CategoricalDtype) else a
            common.append(other if not isinstance(other, pd.CategoricalDtype) else object)
        else:
            common.append(object if (a == object or b == object) else a)
    return tuple(common)


@node
class Merge(Expr):
    """The logical join; see the module docstring for the physical choices."""

    left: Expr
    right: Expr
    how: str
    left_on: tuple
    right_on: tuple
    left_index: bool
    right_index: bool
    suffixes: tuple
    indicator: bool
    npartitions_out: int | None = None
    broadcast: bool | None = None
    shuffle_method: str | None = None

    def _pandas_kwargs(self) -> dict:
        kw = {"how": self.how, "suffixes": self.suffixes, "indicator": self.indicator}
        if self.how == "cross":
            return kw
        if self.left_index:
            kw["left_index"] = True
        else:
            kw["left_on"] = list(self.left_on)
        if self.right_index:
            kw["right_index"] = True
        else:
            kw["right_on"] = list(self.right_on)
        return kw

    @cached_property
    def _meta(self):
        return merge_meta(self.left._meta, self.right._meta, self._pandas_kwargs())[0]

    @cached_property
    def divisions(self):
        return self._lower().divisions

    def _required_columns(self, needed):
        if needed is ALL:
            return {self.left._name: ALL, self.right._name: ALL}
        lcols, rcols = set(self.left.columns), set(self.right.columns)
        sl, sr = self.suffixes
        want_l, want_r = set(self.left_on), set(self.right_on)
        for c in needed:
            for side_cols, want, suffix in ((lcols, want_l, sl), (rcols, want_r, sr)):
                if c in side_cols:
                    want.add(c)
                if suffix and isinstance(c, str) and c.endswith(suffix) and c[:-len(suffix)] in side_cols:
                    want.add(c[:-len(suffix)])
        return {self.left._name: want_l, self.right._name: want_r}

    def _broadcast_side(self) -> str | None:
        nl, nr = self.left.npartitions, self.right.npartitions
        if self.how == "cross":
            return "right" if nr <= nl else "left"
        can_right = self.how in ("inner", "left", "left_anti")
        can_left = self.how in ("inner", "right", "right_anti")
        if self.broadcast is True:
            if can_right and nr <= nl:
                return "right"
            if can_left:
                return "left"
            return "right" if can_right else None
        if self.broadcast is False:
            return None
        limit = parse_bytes(config.get("dataframe.merge.broadcast-bytes", "64MiB"))

        def small(side, n, other_side, other):
            size = side._estimated_bytes
            if size is not None:
                other_size = other_side._estimated_bytes
                return size <= limit and (other_size is None or size <= other_size)
            return n == 1 or (n <= BROADCAST_MAX_PARTITIONS and 5 * n <= other)

        if can_right and small(self.right, nr, self.left, nl) and (nl > 1 or nr == 1):
            return "right"
        if can_left and small(self.left, nl, self.right, nr) and nr > 1:
            return "left"
        return None

    def _lower(self):
        from pardata.dataframe.align import align_operands
        from pardata.dataframe.repartition import Repartition
        from pardata.dataframe.shuffle import Partitioner, Shuffle

        left, right, kw = self.left, self.right, self._pandas_kwargs()
        if self.left_index and self.right_index and left.known_divisions \
                and right.known_divisions and self.how != "cross":
            left, right = align_operands((left, right))
            return BlockwiseMerge(left, right, kw, keep_divisions=True)
        side = self._broadcast_side()
        if side == "right":
            small = Repartition(right, 1) if right.npartitions > 1 else right
            keep = self.left_index and self.right_index
            return BlockwiseMerge(left, BroadcastOf(small), kw, keep_divisions=keep)
        if side == "left":
            small = Repartition(left, 1) if left.npartitions > 1 else left
            keep = self.left_index and self.right_index
            return BlockwiseMerge(BroadcastOf(small), right, kw, keep_divisions=keep)
        n = self.npartitions_out or max(left.npartitions, right.npartitions)
        lkeys = () if self.left_index else tuple(self.left_on)
        rkeys = () if self.right_index else tuple(self.right_on)
        cast = _common_key_dtypes(left._meta, right._meta, lkeys, rkeys)
        lshuf = Shuffle(left, lkeys, n, method=self.shuffle_method,
                        partitioner=Partitioner("hash", lkeys, cast))
        rshuf = Shuffle(right, rkeys, n, method=self.shuffle_method,
                        partitioner=Partitioner("hash", rkeys, cast))
        return BlockwiseMerge(lshuf, rshuf, kw)

    def _describe(self):
        on = list(self.left_on) or "index"
        return f"Merge({self.how}, on={on})"


def _as_frame(obj):
    if isinstance(obj, FrameBase):
        if isinstance(obj._meta, pd.Series):
            return obj.to_frame()
        return obj
    if isinstance(obj, pd.Series):
        obj = obj.to_frame()
    if isinstance(obj, pd.DataFrame):
        from pardata.dataframe.io.pandas import from_pandas

        return from_pandas(obj, npartitions=1)
    raise TypeError(f"cannot merge with {type(obj).__name__}")


def _keys(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (list, tuple)) else (value,)


_HOWS = ("inner", "left", "right", "outer", "cross", "left_anti", "right_anti")


def merge(left, right, how: str = "inner", on=None, left_on=None, right_on=None,
          left_index: bool = False, right_index: bool = False, suffixes=("_x", "_y"),
          indicator: bool = False, npartitions=None, broadcast=None, shuffle_method=None):
    """Database-style join of two collections (or a collection and a pandas frame).

    Row order within the result is not pandas' (rows come out partition by partition);
    a merge on columns gives each partition its own 0-based index, as Dask does.
    ``how="left_anti"``/``"right_anti"`` (pandas 3) keep the rows of one side that have
    no match on the other (the other side's columns all missing).
    """
    if how not in _HOWS:
        raise ValueError(f"how must be one of {', '.join(_HOWS)}, not {how!r}")
    left, right = _as_frame(left), _as_frame(right)
    if on is not None:
        left_on = right_on = on
    if how != "cross" and not (left_on or left_index):
        if right_on or right_index:
            raise ValueError("give left_on= or left_index=True too")
        common = [c for c in left.columns if c in set(right.columns)]
        if not common:
            raise ValueError("no common columns to merge on; pass on=, left_on=/right_on=")
        left_on = right_on = common
    lkeys, rkeys = _keys(left_on), _keys(right_on)
    expr = Merge(left._expr, right._expr, how, lkeys, rkeys, bool(left_index), bool(right_index),
                 tuple(suffixes), indicator, npartitions, broadcast, shuffle_method)
    return new_collection(expr)


def join(left, other, on=None, how: str = "left", lsuffix: str = "", rsuffix: str = "",
         suffixes=None, npartitions=None, shuffle_method=None):
    """``left.join(other)``: merge on ``other``'s index (and ``left``'s index or ``on``).
    ``suffixes=(l, r)`` is the current pandas spelling of ``lsuffix``/``rsuffix``."""
    other = _as_frame(other)
    if suffixes is not None:
        lsuffix, rsuffix = suffixes
    if on is not None:
        return merge(left, other, how=how, left_on=on, right_index=True,
                     suffixes=(lsuffix, rsuffix), npartitions=npartitions,
                     shuffle_method=shuffle_method)
    return merge(left, other, how=how, left_index=True, right_index=True,
                 suffixes=(lsuffix, rsuffix), npartitions=npartitions,
                 shuffle_method=shuffle_method)
