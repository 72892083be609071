"""``.loc``: label-based selection using divisions to skip partitions."""
from __future__ import annotations

import pandas as pd

from pardata.dataframe.collection import FrameBase, new_collection
from pardata.dataframe.expr import Partitions


def _loc(part, key):
    return part.loc[key]


def _loc_labels(part, labels):
    return part[part.index.isin(labels)]


class LocIndexer:
    def __init__(self, obj):
        self.obj = obj

    def __getitem__(self, key):
        obj = self.obj
        if isinstance(key, tuple) and len(key) == 2:
            rows, cols = key
            out = self[rows] if not (isinstance(rows, slice) and rows == slice(None)) else obj
            return out[cols]
        if isinstance(key, FrameBase):
            return obj[key]
        if isinstance(key, slice):
            if key.step is not None:
                raise NotImplementedError("loc with a step")
            return self._slice(key.start, key.stop)
        if isinstance(key, (list, pd.Index)):
            return obj.map_partitions(_loc_labels, list(key), meta=obj._meta)
        return self._slice(key, key, exact=True)

    def _slice(self, start, stop, exact=False):
        obj = self.obj
        sel = obj
        if obj.known_divisions:
            divs = obj.divisions
            n = obj.npartitions
            first = 0 if start is None else _partition_of(divs, start)
            last = n - 1 if stop is None else _partition_of(divs, stop)
            sel = new_collection(Partitions(obj._expr, tuple(range(first, last + 1))))
        key = [start] if exact else slice(start, stop)
        if exact:
            return sel.map_partitions(_loc_labels, key, meta=obj._meta)
        return sel.map_partitions(_loc, key, meta=obj._meta)


def _partition_of(divisions, value) -> int:
    """The partition whose range holds ``value`` (clipped to the first/last one)."""
    import bisect

    n = len(divisions) - 1
    i = bisect.bisect_right(list(divisions), value) - 1
    return min(max(i, 0), n - 1)
