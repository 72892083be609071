"""Metadata: the empty pandas object that stands for every partition of a collection.

Every expression knows its ``_meta`` without touching data. It is inferred by running
the expression's own pandas operation on its inputs' metas (``emulate``): on empty
frames for pandas' own methods, whose result dtypes do not depend on the values, and
on a two-row frame of made-up values of the right dtypes (``meta_nonempty``) for user
functions, which often misbehave on empty input. ``meta=`` overrides inference.

A scalar's meta is a value of the right type (``np.float64(0)``), not an empty frame.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from pandas.api.types import is_scalar

_PANDAS = (pd.DataFrame, pd.Series, pd.Index)


def is_dataframe_like(x: Any) -> bool:
    return isinstance(x, pd.DataFrame)


def is_series_like(x: Any) -> bool:
    return isinstance(x, pd.Series)


def is_index_like(x: Any) -> bool:
    return isinstance(x, pd.Index)


def is_frame_like(x: Any) -> bool:
    """A pandas DataFrame, Series or Index (a partition, as opposed to a scalar)."""
    return isinstance(x, _PANDAS)


def make_meta(x: Any, index: pd.Index | None = None) -> Any:
    """An empty pandas object shaped like ``x``.

    ``x`` may be a pandas object (emptied), a ``{column: dtype}`` dict or list of
    ``(column, dtype)`` pairs (a DataFrame), a ``(name, dtype)`` tuple (a Series), or a
    scalar or dtype (a scalar meta of that type).

    >>> make_meta({"a": "int64", "b": "float64"}).dtypes.tolist()
    [dtype('int64'), dtype('float64')]
    >>> make_meta(("x", "int32"))
    Series([], Name: x, dtype: int32)
    """
    if isinstance(x, _PANDAS):
        return x[:0] if isinstance(x, pd.Index) else x.iloc[:0]
    index = index[:0] if index is not None else None
    if isinstance(x, dict):
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in x.items()}, index=index)
    if isinstance(x, list) and all(isinstance(p, tuple) and len(p) == 2 for p in x):
        return pd.DataFrame({c: pd.Series([], dtype=d) for c, d in x}, columns=[c for c, _ in x],
                            index=index)
    if isinstance(x, tuple) and len(x) == 2:
        return pd.Series([], dtype=x[1], name=x[0], index=index)
    if isinstance(x, (np.dtype, pd.api.extensions.ExtensionDtype, type)) or isinstance(x, str):
        try:
            dtype = pd.api.types.pandas_dtype(x)
        except TypeError:
            dtype = None
        if dtype is not None:
            if isinstance(dtype, np.dtype):
                return dtype.type(0) if dtype.kind in "biufc" else np.empty(1, dtype)[0]
            return pd.Series([], dtype=dtype).dtype.na_value
    if is_scalar(x) or x is None:
        return x
    raise TypeError(f"cannot make meta from {type(x).__name__}: {x!r}")


def _words(n: int) -> list:
    base = ["foo", "bar", "baz", "qux"]
    return [base[i] if i < len(base) else f"foo{i}" for i in range(n)]


def _fake_values(dtype: Any, n: int = 2) -> Any:
    """``n`` made-up, distinct, non-missing values of ``dtype`` (where it has that many):
    the same ``1, 2, ...`` for every number type, so made-up keys of an int and a
    float column compare equal, as real ones would."""
    if isinstance(dtype, pd.CategoricalDtype):
        cats = dtype.categories
        if len(cats) == 0:
            return pd.Categorical(["a"] * n, ordered=dtype.ordered)
        return pd.Categorical([cats[i % len(cats)] for i in range(n)], dtype=dtype)
    if isinstance(dtype, pd.DatetimeTZDtype):
        return pd.array(pd.date_range("2000-01-01", periods=n, tz=dtype.tz, unit=dtype.unit))
    if isinstance(dtype, np.dtype):
        kind = dtype.kind
        if kind == "b":
            return np.array([True, False] * n, dtype=dtype)[:n]
        if kind in "iu":
            return np.arange(1, n + 1, dtype=dtype)
        if kind in "fc":
            return np.arange(1, n + 1).astype(dtype)  # same values as fake ints
        if kind == "M":
            return pd.date_range("2000-01-01", periods=n).values.astype(dtype)
        if kind == "m":
            return (np.arange(1, n + 1) * np.timedelta64(1, "s")).astype(dtype)
        if kind in "OUST":
            return np.array(_words(n), dtype=object)
    if isinstance(dtype, pd.StringDtype):
        return pd.array(_words(n), dtype=dtype)
    if isinstance(dtype, pd.PeriodDtype):
        return pd.period_range("2000-01-01", periods=n, freq=dtype.freq).array
    if isinstance(dtype, pd.IntervalDtype):
        return pd.arrays.IntervalArray.from_breaks(np.arange(n + 1), closed=dtype.closed)
    kind = getattr(dtype, "kind", "O")
    base = {"b": [True, False], "i": [1, 2], "u": [1, 2], "f": [0.5, 1.5]}.get(kind)
    try:
        return pd.array((base * n)[:n] if base else _words(n), dtype=dtype)
    except (TypeError, ValueError):
        return pd.array([None] * n, dtype=dtype)


def _nonempty_index(idx: pd.Index, n: int = 2) -> pd.Index:
    if isinstance(idx, pd.RangeIndex):
        return pd.RangeIndex(1, n + 1, name=idx.name)  # same values as fake ints
    if isinstance(idx, pd.MultiIndex):
        levels = [_nonempty_index(lvl, n) for lvl in idx.levels]
        return pd.MultiIndex.from_arrays(levels, names=idx.names)
    if isinstance(idx, pd.DatetimeIndex):
        return pd.DatetimeIndex(_fake_values(idx.dtype, n), name=idx.name, freq=None)
    return pd.Index(_fake_values(idx.dtype, n), name=idx.name, dtype=idx.dtype)


def meta_nonempty(x: Any, n: int = 2) -> Any:
    """A small object of made-up data with ``x``'s dtypes, names and index type."""
    if isinstance(x, pd.Index):
        return _nonempty_index(x, n)
    if isinstance(x, pd.Series):
        return pd.Series(_fake_values(x.dtype, n), index=_nonempty_index(x.index, n), name=x.name)
    if isinstance(x, pd.DataFrame):
        index = _nonempty_index(x.index, n)
        data = {i: pd.Series(_fake_values(dt, n), index=index) for i, dt in enumerate(x.dtypes)}
        out = pd.DataFrame(data, index=index)
        out.columns = x.columns
        return out
    return x


def series_with_missing(meta: pd.Series) -> pd.Series:
    """Made-up values plus a missing one, for operations whose result dtype changes
    when a value is missing (``str.len`` of strings with a NaN is float)."""
    s = meta_nonempty(meta, 2)
    if s.dtype.kind in "iub":  # cannot hold a missing value: nothing to learn
        return s
    return pd.concat([s, pd.Series([None], dtype=s.dtype, index=s.index[:1], name=s.name)])


def emulate(func: Any, *args: Any, udf: bool = False, reduction: bool = False,
            **kwargs: Any) -> Any:
    """The meta of ``func(*args, **kwargs)`` where ``args`` hold metas of partitions.

    With ``udf=True`` the function sees made-up non-empty data, and the result is
    emptied again: user functions often fail or change dtype on empty input. With
    ``reduction=True`` the result is kept whole: a reduction of a DataFrame is a
    Series indexed by the column labels, and those labels are part of its meta.
    """
    if udf:
        args = tuple(meta_nonempty(a) if is_frame_like(a) else a for a in args)
        kwargs = {k: meta_nonempty(v) if is_frame_like(v) else v for k, v in kwargs.items()}
    try:
        with warnings.catch_warnings():  # made-up data: its warnings are not the user's
            warnings.simplefilter("ignore")
            result = func(*args, **kwargs)
    except Exception as exc:
        name = getattr(func, "__name__", repr(func))
        raise ValueError(
            f"metadata inference failed in {name!r}: {type(exc).__name__}: {exc}. "
            "Running the operation on empty data of the right dtypes did not work; "
            "pass meta= (an empty pandas object, {column: dtype}, or (name, dtype)) "
            "describing the output"
        ) from exc
    if reduction:
        return result
    return make_meta(result) if is_frame_like(result) else result


def scalar_meta(value: Any) -> Any:
    """The meta of a scalar result: a value of the same type."""
    return value


def dtypes_of(meta: Any) -> Any:
    if isinstance(meta, pd.DataFrame):
        return meta.dtypes
    return getattr(meta, "dtype", type(meta))


def index_of(meta: Any) -> pd.Index:
    return meta if isinstance(meta, pd.Index) else meta.index
