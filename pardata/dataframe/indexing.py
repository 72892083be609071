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
            lo, hi = _bounds(obj._meta.index, start, stop)
            first = 0 if lo is None else _partition_of(divs, lo)
            last = n - 1 if hi is None else _partition_of(divs, hi)
            sel = new_collection(Partitions(obj._expr, tuple(range(first, last + 1))))
        key = [start] if exact else slice(start, stop)
        if exact:
            return sel.map_partitions(_loc_labels, key, meta=obj._meta)
        return sel.map_partitions(_loc, key, meta=obj._meta)


def _bounds(index, start, stop):
    """Comparable bounds; a date string on a datetime index covers its whole period
    (``"2024-01-03"`` ends at the day's last instant), as in pandas."""
    if not isinstance(index, pd.DatetimeIndex):
        return start, stop
    tz = index.tz

    def period(value):
        p = pd.Period(value)
        return p.start_time, p.end_time

    lo = period(start)[0] if isinstance(start, str) else start
    hi = period(stop)[1] if isinstance(stop, str) else stop
    if tz is not None:
        lo = lo.tz_localize(tz) if isinstance(lo, pd.Timestamp) and lo.tz is None else lo
        hi = hi.tz_localize(tz) if isinstance(hi, pd.Timestamp) and hi.tz is None else hi
    return lo, hi


def _partition_of(divisions, value) -> int:
    """The partition whose range holds ``value`` (clipped to the first/last one)."""
    import bisect

    n = len(divisions) - 1
    i = bisect.bisect_right(list(divisions), value) - 1
    return min(max(i, 0), n - 1)


class ILocIndexer:
    def __init__(self, obj):
        self.obj = obj

    def __getitem__(self, key):
        if not (isinstance(key, tuple) and len(key) == 2 and key[0] == slice(None)):
            raise NotImplementedError("iloc selects columns only: df.iloc[:, cols]")
        cols = self.obj.columns[key[1]]
        if isinstance(cols, pd.Index):
            return self.obj[list(cols)]
        return self.obj[cols]
