"""``assert_eq`` for pardata dataframes: compare with pandas, and check what pandas cannot.

For each pardata argument it computes every partition separately and checks:

- the meta (known before computing) matches each partition: columns, dtypes, name,
  index dtype — the promise metadata inference makes;
- known divisions hold: every partition's index lies within its division range and
  partitions do not overlap;

then compares the concatenated result with the other side using pandas' testing
functions (values, dtypes, index). ``sort_results`` orders both sides first, for
operations whose row order is not defined (shuffles, joins, groupby with split_out).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd


def _is_collection(x: Any) -> bool:
    from pardata.dataframe.collection import FrameBase

    return isinstance(x, FrameBase)


def _partitions(coll, scheduler) -> list:
    from pardata.dataframe.frame import partition_values

    return partition_values(coll, scheduler=scheduler)


def assert_meta_matches(meta: Any, part: Any, where: str = "") -> None:
    """``part`` (a computed partition) has the columns/dtypes/name ``meta`` promised."""
    prefix = f"{where}: " if where else ""
    if isinstance(meta, pd.DataFrame):
        assert isinstance(part, pd.DataFrame), f"{prefix}meta is a DataFrame, got {type(part)}"
        assert list(meta.columns) == list(part.columns), (
            f"{prefix}columns differ: meta {list(meta.columns)} vs {list(part.columns)}")
        bad = {c: (str(meta.dtypes.iloc[i]), str(part.dtypes.iloc[i]))
               for i, c in enumerate(meta.columns) if meta.dtypes.iloc[i] != part.dtypes.iloc[i]}
        assert not bad, f"{prefix}dtypes differ from meta (meta, result): {bad}"
    elif isinstance(meta, pd.Series):
        assert isinstance(part, pd.Series), f"{prefix}meta is a Series, got {type(part)}"
        assert meta.dtype == part.dtype, f"{prefix}dtype: meta {meta.dtype} vs {part.dtype}"
        assert meta.name == part.name or (pd.isna(meta.name) and pd.isna(part.name)), (
            f"{prefix}name: meta {meta.name!r} vs {part.name!r}")
    elif isinstance(meta, pd.Index):
        assert isinstance(part, pd.Index), f"{prefix}meta is an Index, got {type(part)}"
        assert meta.dtype == part.dtype, f"{prefix}index dtype: meta {meta.dtype} vs {part.dtype}"
        return
    else:
        if isinstance(meta, np.generic) and isinstance(part, np.generic):
            assert meta.dtype.kind == part.dtype.kind, (
                f"{prefix}scalar type: meta {type(meta).__name__} vs {type(part).__name__}")
        return
    mi, pi = meta.index, part.index
    if len(pi) and not (isinstance(mi, pd.RangeIndex) and pi.dtype == np.int64):
        assert mi.dtype == pi.dtype, f"{prefix}index dtype: meta {mi.dtype} vs {pi.dtype}"


def assert_divisions(divisions: tuple, parts: list) -> None:
    """Each partition's index lies in its division range (last one inclusive)."""
    if divisions[0] is None:
        return
    n = len(parts)
    assert len(divisions) == n + 1, f"{len(divisions)} divisions for {n} partitions"
    for i, part in enumerate(parts):
        idx = part if isinstance(part, pd.Index) else part.index
        if len(idx) == 0:
            continue
        lo, hi = divisions[i], divisions[i + 1]
        assert idx.min() >= lo, f"partition {i}: index min {idx.min()!r} < division {lo!r}"
        if i == n - 1:
            assert idx.max() <= hi, f"partition {i}: index max {idx.max()!r} > division {hi!r}"
        else:
            assert idx.max() < hi or (idx.max() == hi and lo == hi), (
                f"partition {i}: index max {idx.max()!r} >= next division {hi!r}")


def _compute(x: Any, scheduler: str, check_divisions: bool, check_meta: bool) -> Any:
    if not _is_collection(x):
        return x
    from pardata.dataframe.series import Scalar

    if isinstance(x, Scalar):
        result = x.compute(scheduler=scheduler)
        if check_meta:
            assert_meta_matches(x._meta, result, "scalar")
        return result
    parts = _partitions(x, scheduler)
    assert len(parts) == x.npartitions, f"{len(parts)} partitions, npartitions={x.npartitions}"
    if check_meta:
        for i, part in enumerate(parts):
            assert_meta_matches(x._meta, part, f"partition {i}")
    if check_divisions:
        assert_divisions(x.divisions, parts)
    from pardata.dataframe.collection import _finalize

    return _finalize(parts)


def _sort(x: Any, check_index: bool) -> Any:
    if isinstance(x, pd.Index):
        return x.sort_values()
    if isinstance(x, pd.DataFrame):
        by = list(x.columns)
        names = list(x.index.names)
        x = x.rename_axis([None] * len(names))  # a column may share the index's name
        try:
            x = x.sort_values(by=by, kind="mergesort") if by else x
        except TypeError:
            pass
        x.index.names = names
    elif isinstance(x, pd.Series):
        try:
            x = x.sort_values(kind="mergesort")
        except TypeError:
            pass
    else:
        return x
    if check_index:
        return x.sort_index(kind="mergesort")
    return x.reset_index(drop=True)


def assert_eq(a: Any, b: Any, check_names: bool = True, check_dtype: bool = True,
              check_divisions: bool = True, check_index: bool = True, check_meta: bool = True,
              sort_results: bool = True, scheduler: str = "sync", **kwargs: Any) -> bool:
    """Assert two dataframe-like values (pardata or pandas) are equal; see module doc."""
    a = _compute(a, scheduler, check_divisions, check_meta)
    b = _compute(b, scheduler, check_divisions, check_meta)
    if isinstance(a, (pd.DataFrame, pd.Series, pd.Index)):
        if sort_results:
            a, b = _sort(a, check_index), _sort(b, check_index)
        elif not check_index:
            a = a.reset_index(drop=True) if not isinstance(a, pd.Index) else a
            b = b.reset_index(drop=True) if not isinstance(b, pd.Index) else b
    if isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, check_names=check_names, check_dtype=check_dtype,
                                      **kwargs)
    elif isinstance(a, pd.Series):
        pd.testing.assert_series_equal(a, b, check_names=check_names, check_dtype=check_dtype,
                                       **kwargs)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, check_names=check_names, exact=check_dtype, **kwargs)
    else:
        if np.ndim(a) == 0 and np.ndim(b) == 0 and (a is b or (pd.isna(a) and pd.isna(b))):
            return True
        if isinstance(a, (float, np.floating)) or isinstance(b, (float, np.floating)):
            assert np.isclose(a, b, rtol=kwargs.get("rtol", 1e-7), equal_nan=True), f"{a!r} != {b!r}"
        else:
            assert a == b, f"{a!r} != {b!r}"
        if check_dtype and isinstance(a, np.generic) and isinstance(b, np.generic):
            assert a.dtype == b.dtype, f"scalar dtypes differ: {a.dtype} vs {b.dtype}"
    return True


def random_frame(n: int = 200, seed: int = 0, nulls: bool = True) -> pd.DataFrame:
    """A frame of mixed dtypes for tests: ints, floats (with NaN), strings (with
    missing), a small-cardinality key, a categorical, booleans and timestamps."""
    rng = np.random.default_rng(seed)
    words = np.array(["apple", "banana", "cherry", "date", "elder", "fig", "grape"])
    f = rng.normal(size=n)
    s = words[rng.integers(0, len(words), n)].astype(object)
    if nulls and n:
        f[rng.random(n) < 0.1] = np.nan
        s[rng.random(n) < 0.1] = None
    return pd.DataFrame({
        "i": rng.integers(-50, 50, n),
        "f": f,
        "s": pd.array(s, dtype="str"),
        "k": rng.integers(0, 7, n),
        "c": pd.Categorical(words[rng.integers(0, 3, n)], categories=words[:3]),
        "b": rng.random(n) < 0.5,
        "t": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
    })
