"""``drop_duplicates``: a tree reduction keeping first (or last) occurrences, or a
shuffle on the subset when ``split_out > 1`` or ``keep=False`` (a row must then be
compared with every other row of the same key, which only a shuffle brings together).
"""
from __future__ import annotations

from pardata.dataframe import reductions as red
from pardata.dataframe.collection import new_collection


def _dedup(part, subset, keep):
    return part.drop_duplicates(subset=subset, keep=keep) if subset is not None \
        else part.drop_duplicates(keep=keep)


def _dedup_chunk(part, subset, keep):
    return _dedup(part, subset, keep)


def _dedup_combine(parts, subset, keep):
    import pandas as pd

    return _dedup(pd.concat(parts), subset, keep)


def _dedup_aggregate(parts, subset, keep, ignore_index):
    out = _dedup_combine(parts, subset, keep)
    return out.reset_index(drop=True) if ignore_index else out


def drop_duplicates(coll, subset=None, keep="first", split_out: int = 1,
                    ignore_index: bool = False, split_every=None):
    """Rows (or values) with duplicates removed, keeping pandas' order for
    ``keep="first"``/``"last"`` with ``split_out=1``."""
    if keep not in ("first", "last", False):
        raise ValueError("keep must be 'first', 'last' or False")
    if subset is not None and not isinstance(subset, (list, tuple)):
        subset = [subset]
    meta = coll._meta.drop_duplicates(subset=subset) if subset is not None \
        else coll._meta.drop_duplicates()
    if ignore_index:
        meta = meta.reset_index(drop=True)
    if split_out > 1 or keep is False:
        from pardata.dataframe.frame import DataFrame

        on = subset if subset is not None else (list(coll.columns) if isinstance(coll, DataFrame) else None)
        if on is None:  # a Series: shuffle on its values
            frame = coll.to_frame(name="__values__")
            out = frame.shuffle("__values__", npartitions=max(split_out, 1))["__values__"]
            out = out.rename(coll.name)
        else:
            out = coll.shuffle(on, npartitions=max(split_out, 1))
        out = out.map_partitions(_dedup, subset, keep, meta=meta.reset_index(drop=True)
                                 if ignore_index else meta, clear_divisions=True)
        return out.reset_index(drop=True) if ignore_index else out
    kw = {"subset": subset, "keep": keep}
    return new_collection(red.Reduction(
        coll._expr, _dedup_chunk, _dedup_combine, _dedup_aggregate, meta, kw, kw,
        {**kw, "ignore_index": ignore_index}, split_every, prefix="drop-duplicates",
        broadcast=False))
