"""``describe``: one pass over the data for all statistics.

Numeric and datetime columns: count, mean and std (parallel moments), min, max and
percentiles (approximate: see ``FrameBase.quantile``), laid out as pandas lays them out
(taken from pandas' own describe of the empty meta). A Series of other values:
count, unique, top and freq, from value counts.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from pardata.dataframe import reductions as red
from pardata.dataframe.collection import new_collection


def _as_numbers(s: pd.Series) -> pd.Series:
    if s.dtype.kind in "Mm":
        return s.dropna().astype("int64").astype("float64")
    return s.astype("float64") if s.dtype.kind == "b" else s


def _exact_sum(s: pd.Series) -> int:
    """The sum of datetime values as an exact Python int (no int64 overflow)."""
    v = s.dropna().astype("int64").to_numpy()
    hi, lo = np.divmod(v, 2 ** 32)
    return int(hi.sum()) * 2 ** 32 + int(lo.sum())


def _describe_chunk(part):
    frame = part.to_frame() if isinstance(part, pd.Series) else part
    stats = {}
    for i, col in enumerate(frame.columns):
        s = frame.iloc[:, i]
        num = _as_numbers(s)
        stats[i] = {
            "moments": red.moments_chunk(num),
            "min": s.min() if len(s.dropna()) else None,
            "max": s.max() if len(s.dropna()) else None,
            "sketch": red.quantile_chunk(num.dropna() if s.dtype.kind in "Mm" else num),
            "sum": _exact_sum(s) if s.dtype.kind in "Mm" else None,
        }
    return stats


def _pick(values, how):
    values = [v for v in values if v is not None]
    return (min(values) if how == "min" else max(values)) if values else None


def _describe_combine(parts):
    out = {}
    for i in parts[0]:
        cols = [p[i] for p in parts]
        sums = [c["sum"] for c in cols]
        out[i] = {
            "moments": red.moments_combine([c["moments"] for c in cols]),
            "min": _pick([c["min"] for c in cols], "min"),
            "max": _pick([c["max"] for c in cols], "max"),
            "sketch": red.quantile_combine([c["sketch"] for c in cols]),
            "sum": None if sums[0] is None else sum(sums),
        }
    return out


def _column_stats(st, dtype, percentiles) -> dict:
    n, mean, m2 = (x[0] for x in st["moments"])
    values, weights = st["sketch"]
    quant = {_label(q): red.weighted_quantile(values, weights, q) for q in percentiles}
    if dtype.kind in "Mm":
        unit = np.datetime_data(dtype)[0] if isinstance(dtype, np.dtype) else dtype.unit
        make = (lambda x: pd.Timestamp(int(round(x)), unit=unit).as_unit(unit)) if dtype.kind == "M" \
            else (lambda x: pd.Timedelta(int(round(x)), unit=unit).as_unit(unit))
        tz = getattr(dtype, "tz", None)
        if tz is not None:
            base = make

            def make(x):
                return base(x).tz_localize("UTC").tz_convert(tz)
        # as pandas does it: the sum as a float, divided, truncated
        out = {"count": int(n), "mean": make(int(np.float64(st["sum"]) / n)) if n else pd.NaT,
               "min": st["min"], "max": st["max"], "std": np.nan}
        out.update({k: make(v) if n else pd.NaT for k, v in quant.items()})
        return out
    with np.errstate(invalid="ignore", divide="ignore"):
        std = float(np.sqrt(m2 / (n - 1))) if n > 1 else np.nan
    out = {"count": float(n), "mean": float(mean) if n else np.nan, "std": std,
           "min": float(st["min"]) if st["min"] is not None else np.nan,
           "max": float(st["max"]) if st["max"] is not None else np.nan}
    out.update({k: float(v) for k, v in quant.items()})
    return out


def _describe_aggregate(parts, percentiles, meta):
    stats = _describe_combine(parts) if len(parts) > 1 else parts[0]
    frame_meta = meta.to_frame() if isinstance(meta, pd.Series) else meta
    dtypes = _source_dtypes(frame_meta)
    columns = {}
    for i, col in enumerate(frame_meta.columns):
        st = _column_stats(stats[i], dtypes[i], percentiles)
        values = [st.get(row, np.nan) for row in frame_meta.index]
        columns[i] = pd.Series(values, index=frame_meta.index,
                               dtype=frame_meta.dtypes.iloc[i])
    out = pd.DataFrame(columns, index=frame_meta.index)
    out.columns = frame_meta.columns
    if isinstance(meta, pd.Series):
        s = out.iloc[:, 0]
        s.name = meta.name
        return s
    return out


def _source_dtypes(frame_meta):
    return frame_meta.attrs.get("pardata_source_dtypes")


def _label(q) -> str:
    return f"{q * 100:.10g}%"


def _object_aggregate(parts, meta):
    counts = red.value_counts_combine(parts, dropna=True)
    counts = counts[counts > 0]  # categories no row has are not values
    counts = counts.sort_values(ascending=False, kind="stable")
    total = int(counts.sum())
    return pd.Series([total, len(counts), counts.index[0] if len(counts) else np.nan,
                      int(counts.iloc[0]) if len(counts) else np.nan],
                     index=["count", "unique", "top", "freq"], name=meta.name, dtype=object)


def _assemble(columns, meta):
    out = pd.concat(columns, axis=1).reindex(meta.index)
    out.columns = meta.columns
    return out.astype(dict(meta.dtypes))


def _describe_selected(coll, percentiles, include, exclude, split_every):
    """``describe(include=, exclude=)``: each selected column described as a Series
    would be, laid out in one frame as pandas lays it out."""
    from pardata.delayed import delayed
    from pardata.dataframe.io.maps import from_delayed

    meta = coll._meta.describe(percentiles=percentiles, include=include, exclude=exclude)
    columns = [describe(coll[c], percentiles, split_every) for c in meta.columns]
    return from_delayed([delayed(_assemble, pure=True)(columns, meta)], meta=meta,
                        verify_meta=False)


def describe(coll, percentiles=None, split_every=None, include=None, exclude=None):
    from pardata.dataframe.frame import DataFrame

    percentiles = [0.25, 0.5, 0.75] if percentiles is None else sorted(set(percentiles))
    if include is not None or exclude is not None:
        if not isinstance(coll, DataFrame):
            raise ValueError("include= and exclude= apply to a DataFrame's describe only")
        return _describe_selected(coll, percentiles, include, exclude, split_every)
    meta_full = coll._meta
    if isinstance(coll, DataFrame):
        cols = [c for c in meta_full.columns
                if meta_full[c].dtype.kind in "iufcMm" or isinstance(meta_full[c].dtype,
                                                                     pd.DatetimeTZDtype)]
        if not cols:
            raise NotImplementedError("describe of a DataFrame without numeric or datetime columns")
        coll = coll[cols]
    elif not (meta_full.dtype.kind in "iufcMmb" or isinstance(meta_full.dtype, pd.DatetimeTZDtype)):
        meta = meta_full.describe()
        return new_collection(red.Reduction(
            coll._expr, red.value_counts_chunk, red.value_counts_combine, _object_aggregate,
            meta, {"dropna": True}, {"dropna": True}, {"meta": meta}, split_every,
            prefix="describe", broadcast=False))
    meta = coll._meta.describe(percentiles=percentiles)
    frame = coll._meta.to_frame() if not isinstance(coll, DataFrame) else coll._meta
    meta.attrs["pardata_source_dtypes"] = list(frame.dtypes)
    return new_collection(red.Reduction(
        coll._expr, _describe_chunk, _describe_combine, _describe_aggregate, meta, {}, {},
        {"percentiles": tuple(percentiles), "meta": meta}, split_every, prefix="describe",
        broadcast=False))
