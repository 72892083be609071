"""``from_pandas``: split an in-memory pandas object into partitions."""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np
import pandas as pd

from pardata.core.spec import Task
from pardata.dataframe.expr import node
from pardata.dataframe.io.base import BlockwiseIO
from pardata.dataframe.meta import make_meta


def _slice(data, start, stop, projection):
    part = data.iloc[start:stop]
    if projection is not None and isinstance(part, pd.DataFrame):
        part = part[list(projection)]
    return part


@node
class FromPandas(BlockwiseIO):
    """Partitions are row ranges ``locations[i]:locations[i+1]`` of ``data``."""

    data: object
    locations: tuple
    divs: tuple
    projection: tuple | None = None
    _prefix = "from-pandas"
    _func = staticmethod(_slice)

    @cached_property
    def _meta(self):
        return self._project_meta(make_meta(self.data))

    @cached_property
    def divisions(self):
        return self.divs

    def _task(self, i):
        start, stop = self.locations[i], self.locations[i + 1]
        return Task((self._name, i), _slice, self.data, start, stop, self.projection)

    def _total_bytes(self):
        return int(self.data.memory_usage(index=True, deep=False).sum()) \
            if isinstance(self.data, pd.DataFrame) else int(self.data.memory_usage(deep=False))

    def _select_partitions(self, indices):
        locs = [(self.locations[i], self.locations[i + 1]) for i in indices]
        if all(b[0] == a[1] for a, b in zip(locs, locs[1:])):
            divs = self.divs
            new_divs = tuple(divs[i] for i in indices) + (divs[indices[-1] + 1],)
            return self.replace(locations=tuple(a for a, _ in locs) + (locs[-1][1],), divs=new_divs)
        return None

    def _describe(self):
        cols = "" if self.projection is None else f"columns={list(self.projection)}, "
        return f"FromPandas({cols}npartitions={self.npartitions})"


def _sorted_locations(index: pd.Index, npartitions: int) -> tuple[list, list]:
    """Split points of a sorted index into about ``npartitions`` pieces, never
    splitting runs of equal values, and the matching divisions."""
    n = len(index)
    if n == 0:
        return [0, 0], [None, None]
    step = n / npartitions
    raw = sorted({int(round(step * k)) for k in range(npartitions)})
    values = index.to_numpy() if not isinstance(index.dtype, pd.CategoricalDtype) else index
    locations = []
    for loc in raw:
        # move each split to the first row of its value, so equal values stay together
        loc = int(index.searchsorted(values[loc], side="left"))
        if not locations or loc > locations[-1]:
            locations.append(loc)
    if locations[0] != 0:
        locations.insert(0, 0)
    locations.append(n)
    divisions = [index[loc] for loc in locations[:-1]] + [index[n - 1]]
    return locations, divisions


def from_pandas(data, npartitions: int | None = None, chunksize: int | None = None,
                sort: bool = True):
    """A pardata DataFrame/Series cut from a pandas one.

    With ``sort=True`` the index is sorted first and the divisions are known (equal
    index values never straddle partitions); with ``sort=False`` rows keep their order
    and divisions are unknown.
    """
    from pardata.dataframe.collection import new_collection

    if not isinstance(data, (pd.DataFrame, pd.Series)):
        raise TypeError(f"from_pandas needs a pandas DataFrame or Series, not {type(data).__name__}")
    if (npartitions is None) == (chunksize is None):
        if npartitions is None:
            npartitions = 1
        else:
            raise ValueError("pass exactly one of npartitions= and chunksize=")
    n = len(data)
    if chunksize is not None:
        if chunksize <= 0:
            raise ValueError("chunksize must be positive")
        npartitions = max(1, math.ceil(n / chunksize))
    if npartitions <= 0:
        raise ValueError("npartitions must be positive")
    npartitions = max(1, min(npartitions, n)) if n else 1
    if sort:
        if not data.index.is_monotonic_increasing:
            data = data.sort_index()
        if data.index.hasnans:
            sort = False
    if sort:
        locations, divisions = _sorted_locations(data.index, npartitions)
    else:
        locations = [int(x) for x in np.linspace(0, n, npartitions + 1).round()]
        divisions = [None] * len(locations)
    expr = FromPandas(data, tuple(locations), tuple(divisions))
    return new_collection(expr)
