"""``Bag.to_dataframe``: a ``pardata.dataframe.DataFrame`` with one partition per bag partition.

Records may be dicts (keys become columns), tuples or lists (positional, named by
``columns=``), or scalars (one column). Every partition is built with the columns and
dtypes of ``meta``, so an empty partition or one whose values happen to look like
another dtype still matches the declared schema. Without ``meta`` the first partition
is computed to infer it (as Dask does); pass ``meta`` to avoid that extra work.
"""
from __future__ import annotations

from typing import Any, Iterable


def partition_frame(columns: list, dtypes: dict, part: Iterable) -> Any:
    """One partition's records as a pandas DataFrame with the given columns and dtypes."""
    import pandas as pd

    rows = part if type(part) is list else list(part)
    if rows and isinstance(rows[0], dict):
        frame = pd.DataFrame.from_records(rows, columns=columns)
    else:
        frame = pd.DataFrame(rows, columns=columns)
    return frame.astype(dtypes) if dtypes else frame


def infer_meta(first_partition: list, columns) -> Any:
    import pandas as pd

    if not first_partition:
        raise ValueError("to_dataframe cannot infer columns from an empty first partition; pass meta=")
    sample = partition_frame(list(columns) if columns is not None else None, {}, first_partition[:1])
    if columns is None and not isinstance(first_partition[0], (dict, list, tuple)):
        sample.columns = pd.RangeIndex(1)
    return sample.iloc[:0]


def to_dataframe(bag, meta: Any = None, columns=None, optimize_graph: bool = True):
    """The DataFrame of ``bag``'s records (see the module docstring)."""
    import pardata.dataframe as pdd
    from pardata.dataframe.meta import make_meta
    from pardata.delayed import delayed

    parts = bag.to_delayed(optimize_graph=optimize_graph)
    if meta is None:
        meta = infer_meta(parts[0].compute(scheduler="sync"), columns)
    else:
        meta = make_meta(meta)
        if columns is not None and list(columns) != list(meta.columns):
            raise ValueError(f"columns={list(columns)} disagree with meta's {list(meta.columns)}")
    names = list(meta.columns)
    dtypes = {c: meta.dtypes[c] for c in names}
    build = delayed(partition_frame, pure=True)
    frames = [build(names, dtypes, p) for p in parts]
    return pdd.from_delayed(frames, meta=meta)
