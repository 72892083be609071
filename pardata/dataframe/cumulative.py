"""``cumsum``/``cumprod``/``cummax``/``cummin``: each partition's own running result,
then a carry (the running result at the end of all earlier partitions) folded in.

The carries form a chain of small tasks (one value per column), so the partitions
themselves are processed in parallel.
"""
from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from pardata.core.spec import Ref, Task
from pardata.dataframe.expr import ALL, Expr, node

_NEUTRAL = {"cumsum": 0, "cumprod": 1, "cummax": -np.inf, "cummin": np.inf}


def _cum(part, how, skipna):
    return getattr(part, how)(skipna=skipna)


def _last_valid(cum, how):
    """The running value after the partition (a Series per column, or a scalar)."""
    if isinstance(cum, pd.DataFrame):
        return cum.ffill().iloc[-1] if len(cum) else None
    valid = cum.dropna()
    return valid.iloc[-1] if len(valid) else None


def _fold(how, a, b):
    if a is None:
        return b
    if b is None:
        return a
    if how == "cumsum":
        return a + b
    if how == "cumprod":
        return a * b
    if how == "cummax":
        return np.maximum(a, b) if not isinstance(a, pd.Series) else a.combine(b, max)
    return np.minimum(a, b) if not isinstance(a, pd.Series) else a.combine(b, min)


def _next_carry(carry, cum, how):
    with np.errstate(over="ignore"):  # integers wrap around, as in pandas' own cumprod
        return _fold(how, carry, _last_valid(cum, how))


def _apply_carry(cum, carry, how):
    if carry is None or len(cum) == 0:
        return cum
    with np.errstate(over="ignore"):
        return _apply(cum, carry, how)


def _apply(cum, carry, how):
    if isinstance(cum, pd.DataFrame):
        carry = carry.reindex(cum.columns)
        out = cum.copy()
        for c in cum.columns:
            v = carry[c]
            if pd.isna(v):
                continue
            folded = _fold_series(cum[c], v, how)
            if folded.dtype != cum[c].dtype and cum[c].dtype.kind in "iu":
                folded = folded.astype(cum[c].dtype)  # the carry came through a float row
            out[c] = folded
        return out
    return _fold_series(cum, carry, how)


def _fold_series(s, v, how):
    if how == "cumsum":
        out = s + v
    elif how == "cumprod":
        out = s * v
    elif how == "cummax":
        out = s.where(s >= v, v)
    else:
        out = s.where(s <= v, v)
    return out.where(s.notna()) if out.dtype.kind == "f" else out


@node
class Cumulative(Expr):
    frame: Expr
    how: str
    skipna: bool = True

    @cached_property
    def _meta(self):
        return _cum(self.frame._meta, self.how, self.skipna)

    @cached_property
    def divisions(self):
        return self.frame.divisions

    def _required_columns(self, needed):
        return {self.frame._name: needed if isinstance(self._meta, pd.DataFrame) else ALL}

    def _layer(self):
        graph = {}
        carry = None
        for i in range(self.frame.npartitions):
            part_key = (f"{self._name}-part", i)
            graph[part_key] = Task(part_key, _cum, Ref((self.frame._name, i)), self.how,
                                   self.skipna)
            key = (self._name, i)
            graph[key] = Task(key, _apply_carry, Ref(part_key), carry, self.how)
            carry_key = (f"{self._name}-carry", i)
            graph[carry_key] = Task(carry_key, _next_carry, carry, Ref(part_key), self.how)
            carry = Ref(carry_key)
        return graph


def cumulative(coll, how, skipna=True):
    from pardata.dataframe.collection import new_collection

    return new_collection(Cumulative(coll._expr, how, skipna))
