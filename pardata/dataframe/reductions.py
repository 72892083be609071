"""Tree reductions: a chunk step per partition, combines of ``split_every`` results, one
aggregate.

``Reduction`` is the logical node; lowering turns it into a partition-wise ``Chunk``
(which the fusion rule merges into the task that makes the partition) feeding a
``TreeCombine``. Empty partitions are skipped by the combine step, so a minimum over
an int column with an empty partition stays an int, as in pandas.
"""
from __future__ import annotations

from functools import cached_property
from typing import Any, Callable

import numpy as np
import pandas as pd

from pardata.core.spec import Ref, Task
from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.expr import ALL, Expr, node

SPLIT_EVERY = 8


class _Empty:
    """The chunk result of an empty partition; ``value`` is what pandas gives for it."""

    __slots__ = ("value",)

    def __init__(self, value):
        self.value = value

    def __reduce__(self):
        return (_Empty, (self.value,))


_PANDAS = (pd.DataFrame, pd.Series, pd.Index)


def _apply_chunk(func, part, kwargs):
    result = func(part, **kwargs)
    return _Empty(result) if isinstance(part, _PANDAS) and len(part) == 0 else result


@node
class Chunk(Blockwise):
    """``func(partition, **kwargs)``: the per-partition step of a reduction."""

    frame: Expr
    func: Callable
    kwargs: dict
    _prefix = "chunk"
    _func = staticmethod(_apply_chunk)

    def _args(self):
        return [self.func, self.frame, self.kwargs]

    @cached_property
    def _meta(self):
        return None

    @property
    def _is_broadcast(self):  # type: ignore[override]
        return False

    def _required_columns(self, needed):
        return {self.frame._name: ALL}

    def _describe(self):
        return f"Chunk({getattr(self.func, '__name__', self.func)})"


def _non_empty(parts: list, skip_empty: bool) -> list:
    if not skip_empty:
        return [p.value if isinstance(p, _Empty) else p for p in parts]
    return [p for p in parts if not isinstance(p, _Empty)]


def _combine_step(func, kwargs, parts, skip_empty=True):
    kept = _non_empty(parts, skip_empty)
    if not kept:
        return parts[0]
    return func(kept, **kwargs)


def _aggregate_step(func, kwargs, meta, parts, skip_empty=True):
    kept = _non_empty(parts, skip_empty)
    if not kept:  # every partition was empty: aggregate the first one's chunk result
        kept = [parts[0].value]
    return func(kept, **kwargs)


@node
class TreeCombine(Expr):
    """Combine chunk results ``split_every`` at a time, then aggregate into one value."""

    chunks: Expr
    combine: Callable
    combine_kwargs: dict
    aggregate: Callable
    aggregate_kwargs: dict
    meta: Any
    split_every: int
    prefix: str = "reduce"
    broadcast: bool = True
    skip_empty: bool = True

    @property
    def _prefix(self):  # type: ignore[override]
        return self.prefix

    @property
    def _is_broadcast(self):  # type: ignore[override]
        return self.broadcast

    @cached_property
    def _meta(self):
        return self.meta

    @cached_property
    def divisions(self):
        return (None, None)

    def _layer(self):
        graph = {}
        level = [Ref((self.chunks._name, i)) for i in range(self.chunks.npartitions)]
        depth = 0
        every = max(2, self.split_every)
        while len(level) > every:
            nxt = []
            for j in range(0, len(level), every):
                key = (f"{self._name}-combine", depth, j // every)
                graph[key] = Task(key, _combine_step, self.combine, self.combine_kwargs,
                                  level[j:j + every], self.skip_empty)
                nxt.append(Ref(key))
            level = nxt
            depth += 1
        key = (self._name, 0)
        graph[key] = Task(key, _aggregate_step, self.aggregate, self.aggregate_kwargs,
                          self.meta, level, self.skip_empty)
        return graph

    def _describe(self):
        return f"TreeCombine({self.prefix}, split_every={self.split_every})"


@node
class Reduction(Expr):
    """``aggregate(combine(... chunk(partition) ...))``: one value from all partitions.

    ``combine`` takes and returns a list-combinable value (default: ``aggregate``'s
    inputs are combined by ``combine`` when there are many partitions).
    """

    frame: Expr
    chunk: Callable
    combine: Callable
    aggregate: Callable
    meta: Any
    chunk_kwargs: dict = None  # type: ignore[assignment]
    combine_kwargs: dict = None  # type: ignore[assignment]
    aggregate_kwargs: dict = None  # type: ignore[assignment]
    split_every: int | None = None
    prefix: str = "reduce"
    required: Any = ALL
    broadcast: bool = True  # a single value every partition may use (not a frame of rows)
    skip_empty: bool = True  # leave empty partitions' chunks out of the combine

    @property
    def _is_broadcast(self):  # type: ignore[override]
        return self.broadcast

    @property
    def _prefix(self):  # type: ignore[override]
        return self.prefix

    @cached_property
    def _meta(self):
        return self.meta

    @cached_property
    def divisions(self):
        return (None, None)

    def _required_columns(self, needed):
        return {self.frame._name: self.required}

    def _lower(self):
        chunks = Chunk(self.frame, self.chunk, self.chunk_kwargs or {})
        return TreeCombine(chunks, self.combine, self.combine_kwargs or {}, self.aggregate,
                           self.aggregate_kwargs or {}, self.meta,
                           self.split_every or SPLIT_EVERY, self.prefix, self.broadcast,
                           self.skip_empty)

    def _describe(self):
        return f"Reduction({self.prefix})"


# ---------------------------------------------------------------------- building blocks

def _stack(parts: list):
    """Chunk results of one kind stacked: Series results become a frame's rows."""
    first = parts[0]
    if isinstance(first, pd.Series):
        frame = pd.concat(parts, axis=1).T
        frame.index = range(len(parts))
        return frame
    if isinstance(first, pd.DataFrame):
        return pd.concat(parts)
    return pd.Series(parts)


def method_chunk(part, method, kwargs):
    return getattr(part, method)(**kwargs)


def method_combine(parts, method, kwargs):
    """Apply the same reduction across the stacked results of several chunks."""
    return getattr(_stack(parts), method)(**kwargs)


def cast_like(result, meta):
    """``result`` with ``meta``'s dtype where pandas would have produced it."""
    try:
        if isinstance(result, pd.Series) and isinstance(meta, pd.Series):
            if result.dtype != meta.dtype and meta.dtype != object:
                return result.astype(meta.dtype)
            return result
        if isinstance(meta, np.generic) and not isinstance(result, type(meta)):
            if isinstance(result, (int, float, bool, np.generic)) and not pd.isna(result):
                return type(meta)(result)
    except (TypeError, ValueError):
        pass
    return result


def method_aggregate(parts, method, kwargs, meta=None):
    return cast_like(method_combine(parts, method, kwargs), meta)


# --- mean -------------------------------------------------------------------------------

def mean_chunk(part, skipna=True, numeric_only=False):
    kw = {"numeric_only": numeric_only} if isinstance(part, pd.DataFrame) else {}
    return (part.sum(skipna=skipna, **kw), part.count(**kw) if skipna else _len_like(part, kw))


def _len_like(part, kw):
    if isinstance(part, pd.DataFrame):
        cols = part.select_dtypes("number").columns if kw.get("numeric_only") else part.columns
        return pd.Series(len(part), index=cols)
    return len(part)


def _sum_pairs(parts):
    sums = _stack([p[0] for p in parts]).sum()
    counts = _stack([p[1] for p in parts]).sum()
    return sums, counts


def mean_combine(parts):
    return _sum_pairs(parts)


def mean_aggregate(parts, meta=None):
    sums, counts = _sum_pairs(parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(sums, pd.Series):
            out = sums.astype("float64") / counts.astype("float64")
            return cast_like(out, meta)
        return cast_like(np.float64(sums) / counts if counts else np.float64("nan"), meta)


# --- var / std (parallel moments, Chan et al.) --------------------------------------------

def _as_float_matrix(part):
    if isinstance(part, pd.Series):
        return part.to_numpy(dtype="float64", na_value=np.nan).reshape(-1, 1)
    return part.to_numpy(dtype="float64", na_value=np.nan)


def moments_chunk(part, skipna=True):
    x = _as_float_matrix(part)
    if skipna:
        n = (~np.isnan(x)).sum(axis=0).astype("float64")
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nansum(x, axis=0) / n
            m2 = np.nansum((x - mean) ** 2, axis=0)
    else:
        n = np.full(x.shape[1], float(x.shape[0]))
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = x.sum(axis=0) / n
            m2 = ((x - mean) ** 2).sum(axis=0)
    return n, np.where(n > 0, mean, 0.0), np.where(n > 0, m2, 0.0)


def moments_combine(parts):
    n, mean, m2 = parts[0]
    for nb, meanb, m2b in parts[1:]:
        total = n + nb
        with np.errstate(invalid="ignore", divide="ignore"):
            delta = meanb - mean
            new_mean = np.where(total > 0, mean + delta * nb / total, 0.0)
            m2 = np.where(total > 0, m2 + m2b + delta ** 2 * n * nb / total, 0.0)
        n, mean = total, new_mean
    return n, mean, m2


def var_aggregate(parts, ddof=1, sqrt=False, meta=None):
    n, _, m2 = moments_combine(parts)
    with np.errstate(invalid="ignore", divide="ignore"):
        var = np.where(n - ddof > 0, m2 / (n - ddof), np.nan)
    if sqrt:
        var = np.sqrt(var)
    if isinstance(meta, pd.Series):
        return pd.Series(var, index=meta.index if len(meta.index) else None, dtype="float64",
                         name=meta.name)
    return np.float64(var[0])


# --- nunique ----------------------------------------------------------------------------

def unique_chunk(part, dropna=True):
    if isinstance(part, pd.DataFrame):
        return {c: _uniq(part[c], dropna) for c in part.columns}
    return _uniq(part, dropna)


def _uniq(s, dropna):
    s = s.dropna() if dropna else s
    return pd.Series(s.unique(), dtype=s.dtype) if not isinstance(s.dtype, pd.CategoricalDtype) \
        else pd.Series(s.unique())


def unique_combine(parts, dropna=True):
    if isinstance(parts[0], dict):
        return {c: _uniq(pd.concat([p[c] for p in parts]), dropna) for c in parts[0]}
    return _uniq(pd.concat(parts), dropna)


def nunique_aggregate(parts, dropna=True, meta=None):
    u = unique_combine(parts, dropna)
    if isinstance(u, dict):
        return pd.Series({c: len(v) for c, v in u.items()}, dtype="int64")
    return len(u)


# --- value_counts -----------------------------------------------------------------------

def value_counts_chunk(part, dropna=True):
    return part.value_counts(dropna=dropna, sort=False)


def value_counts_combine(parts, dropna=True):
    merged = pd.concat(parts)
    observed = not isinstance(merged.index.dtype, pd.CategoricalDtype)
    out = merged.groupby(level=0, sort=False, dropna=dropna, observed=observed).sum()
    out.name = merged.name
    return out


def value_counts_aggregate(parts, dropna=True, sort=True, ascending=False, normalize=False,
                           meta=None):
    out = value_counts_combine(parts, dropna)
    out.index.name = meta.index.name
    if normalize:
        out = out / out.sum()
    out.name = meta.name
    if sort:
        out = out.sort_values(ascending=ascending, kind="stable")
    return out


# --- quantile (approximate) ---------------------------------------------------------------

_SKETCH = 1000


def quantile_chunk(part):
    """Sorted non-null values (small partitions) or a 1000-point quantile sketch."""
    if isinstance(part, pd.DataFrame):
        return {c: quantile_chunk(part[c]) for c in part.columns}
    values = part.dropna().to_numpy()
    if values.dtype.kind == "M" or values.dtype.kind == "m":
        values = values.view("i8")
    values = np.sort(values.astype("float64"))
    n = len(values)
    if n <= _SKETCH:
        return values, np.ones(n)
    grid = np.linspace(0, 1, _SKETCH)
    return np.quantile(values, grid), np.full(_SKETCH, n / _SKETCH)


def quantile_combine(parts):
    if isinstance(parts[0], dict):
        return {c: quantile_combine([p[c] for p in parts]) for c in parts[0]}
    values = np.concatenate([p[0] for p in parts])
    weights = np.concatenate([p[1] for p in parts])
    order = np.argsort(values, kind="stable")
    return values[order], weights[order]


def weighted_quantile(values, weights, q):
    """Quantile ``q`` of weighted points (pandas' linear rule when all weights are 1)."""
    if len(values) == 0:
        return np.full(np.shape(q), np.nan)
    if np.all(weights == 1):
        return np.quantile(values, q)
    cum = np.cumsum(weights) - weights / 2
    cum = (cum - cum[0]) / max(cum[-1] - cum[0], 1e-300)
    return np.interp(q, cum, values)


def quantile_aggregate(parts, q, meta=None, dtype=None):
    merged = quantile_combine(parts)
    scalar_q = np.ndim(q) == 0
    if isinstance(merged, dict):
        data = {c: weighted_quantile(*merged[c], q) for c in merged}
        if scalar_q:
            return pd.Series(data, dtype="float64", name=q)
        return pd.DataFrame(data, index=list(q))
    result = weighted_quantile(*merged, q)
    if dtype is not None and np.dtype(dtype).kind in "Mm":
        result = np.asarray(result).round().astype("i8").view(dtype)
    if scalar_q:
        return result[()] if isinstance(result, np.ndarray) else result
    return pd.Series(result, index=list(q), name=getattr(meta, "name", None))
