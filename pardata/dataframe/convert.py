"""Module-level conversions applied partition by partition: ``to_datetime``, ``to_numeric``."""
from __future__ import annotations

import pandas as pd

from pardata.dataframe.collection import FrameBase


def _to_datetime(part, kwargs, dtype=None):
    out = pd.to_datetime(part, **kwargs)
    if dtype is not None and isinstance(out, pd.Series) and out.dtype != dtype:
        out = out.astype(dtype)  # pandas picks a resolution per input; keep partitions alike
    return out


def _to_numeric(part, kwargs, dtype=None):
    out = pd.to_numeric(part, **kwargs)
    if dtype is not None and isinstance(out, pd.Series) and out.dtype != dtype:
        out = out.astype(dtype)
    return out


def to_datetime(arg, meta=None, **kwargs):
    """``pd.to_datetime`` of a Series (or a DataFrame of year/month/day columns)."""
    if not isinstance(arg, FrameBase):
        return pd.to_datetime(arg, **kwargs)
    if meta is None:
        meta = _datetime_meta(arg._meta, kwargs)
    dtype = getattr(meta, "dtype", None)
    return arg.map_partitions(_to_datetime, kwargs, dtype, meta=meta, token="to-datetime")


def _datetime_meta(meta, kwargs):
    """The result dtype for typical input: a date string gives microseconds, numbers
    nanoseconds (pandas infers a resolution from the values themselves)."""
    if isinstance(meta, pd.Series) and (meta.dtype == object or isinstance(meta.dtype, pd.StringDtype)):
        probe = pd.Series(["2000-01-01"], dtype=meta.dtype, name=meta.name)
        return pd.to_datetime(probe, **kwargs).iloc[:0]
    return pd.to_datetime(meta, **kwargs)


def to_numeric(arg, errors="raise", downcast=None, meta=None):
    """``pd.to_numeric`` of a Series. Text becomes float64 in every partition (pandas
    would pick int64 for a partition of whole numbers); pass ``meta=`` for another dtype."""
    kwargs = {"errors": errors}
    if downcast is not None:
        kwargs["downcast"] = downcast
    if not isinstance(arg, FrameBase):
        return pd.to_numeric(arg, **kwargs)
    if meta is None:
        m = arg._meta
        text = m.dtype == object or isinstance(m.dtype, pd.StringDtype)
        meta = pd.Series([], dtype="float64", name=m.name) if text else pd.to_numeric(m, **kwargs)
    dtype = getattr(meta, "dtype", None)
    return arg.map_partitions(_to_numeric, kwargs, dtype, meta=meta, token="to-numeric")
