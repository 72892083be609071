"""Changing the number or the boundaries of partitions without a shuffle.

``Repartition`` is the logical request (a partition count, a target size in bytes,
or new divisions). Lowering picks a physical node:

- ``Regroup``: each output partition is a concatenation of row ranges of consecutive
  input partitions (merging neighbours, or splitting one partition into pieces);
- ``RepartitionDivisions``: each output partition gathers the rows of the inputs that
  fall between two new division values (inputs need known divisions).
"""
from __future__ import annotations

from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from pardata.core.spec import Ref, Task
from pardata.dataframe.expr import Expr, node


def _concat(parts):
    first = parts[0]
    if len(parts) == 1:
        return first
    if isinstance(first, pd.Index):
        return first.append(list(parts[1:]))
    return pd.concat(parts)


def _piece(part, k, count):
    if count == 1:
        return part
    n = len(part)
    start, stop = (n * k) // count, (n * (k + 1)) // count
    return part[start:stop] if isinstance(part, pd.Index) else part.iloc[start:stop]


def _regroup(pieces):
    return _concat([_piece(p, k, c) for p, k, c in pieces])


@node
class Regroup(Expr):
    """Output ``j`` is the concatenation of ``plan[j]``: pieces ``(input, k, count)``,
    the ``k``-th of ``count`` equal row ranges of input partition ``input``."""

    frame: Expr
    plan: tuple

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        divs = self.frame.divisions
        if divs[0] is None or any(c != 1 for out in self.plan for _, _, c in out):
            return (None,) * (len(self.plan) + 1)
        starts = [divs[out[0][0]] for out in self.plan]
        return tuple(starts) + (divs[-1],)

    def _required_columns(self, needed):
        return {self.frame._name: needed}

    def _layer(self):
        graph = {}
        for j, pieces in enumerate(self.plan):
            key = (self._name, j)
            args = [(Ref((self.frame._name, i)), k, c) for i, k, c in pieces]
            graph[key] = Task(key, _regroup, args)
        return graph

    def _describe(self):
        return f"Regroup({self.frame.npartitions} -> {len(self.plan)})"


def _between(part, lo, hi, last):
    idx = part.index if not isinstance(part, pd.Index) else part
    mask = np.ones(len(idx), dtype=bool)
    if lo is not None:
        mask &= np.asarray(idx >= lo)
    if hi is not None:
        mask &= np.asarray(idx <= hi) if last else np.asarray(idx < hi)
    return part[mask]


def _gather(pieces):
    return _concat([_between(p, lo, hi, last) for p, lo, hi, last in pieces])


@node
class RepartitionDivisions(Expr):
    """Cut a collection with known divisions at new division values."""

    frame: Expr
    new_divisions: tuple

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        return tuple(self.new_divisions)

    def _required_columns(self, needed):
        return {self.frame._name: needed}

    def _layer(self):
        old = self.frame.divisions
        new = self.new_divisions
        n_old, n_new = len(old) - 1, len(new) - 1
        graph = {}
        for j in range(n_new):
            lo, hi = new[j], new[j + 1]
            last = j == n_new - 1
            pieces = []
            for i in range(n_old):
                a, b = old[i], old[i + 1]
                old_last = i == n_old - 1
                # input i holds [a, b) (or [a, b] if last); output j wants [lo, hi) / [lo, hi]
                if b < lo or (b == lo and not old_last):
                    continue
                if a > hi or (a == hi and not last):
                    continue
                pieces.append((Ref((self.frame._name, i)), lo, hi, last))
            key = (self._name, j)
            if not pieces:  # nothing overlaps: an empty partition of the right shape
                pieces = [(Ref((self.frame._name, 0)), lo, lo, False)]
            graph[key] = Task(key, _gather, pieces)
        return graph

    def _describe(self):
        return f"RepartitionDivisions({self.frame.npartitions} -> {len(self.new_divisions) - 1})"


def _balanced_groups(n_in: int, n_out: int) -> tuple:
    bounds = np.linspace(0, n_in, n_out + 1).round().astype(int)
    return tuple(tuple((i, 0, 1) for i in range(bounds[j], bounds[j + 1])) for j in range(n_out))


def _split_plan(n_in: int, n_out: int) -> tuple:
    per = [n_out // n_in + (1 if i < n_out % n_in else 0) for i in range(n_in)]
    return tuple(((i, k, per[i]),) for i in range(n_in) for k in range(per[i]))


def _interpolate_divisions(divs: tuple, n_out: int) -> tuple | None:
    """Evenly spaced divisions over a numeric or datetime range, or None."""
    lo, hi = divs[0], divs[-1]
    try:
        if isinstance(lo, (pd.Timestamp, np.datetime64)):
            return tuple(pd.date_range(lo, hi, periods=n_out + 1))
        if isinstance(lo, (int, np.integer)) and isinstance(hi, (int, np.integer)):
            values = np.unique(np.linspace(lo, hi, n_out + 1).round().astype("int64"))
            return tuple(values.tolist()) if len(values) > 2 else None
        if isinstance(lo, (float, np.floating)):
            return tuple(np.linspace(lo, hi, n_out + 1).tolist())
    except (TypeError, ValueError):
        return None
    return None


@node
class Repartition(Expr):
    """The logical repartition request; see the module docstring."""

    frame: Expr
    npartitions_: int | None = None
    new_divisions: tuple | None = None
    partition_size: Any = None

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        return self._lower_now().divisions

    def _required_columns(self, needed):
        return {self.frame._name: needed}

    def _lower(self):
        return self._lower_now()

    def _lower_now(self) -> Expr:
        frame = self.frame
        if self.new_divisions is not None:
            if tuple(self.new_divisions) == tuple(frame.divisions):
                return frame
            if not frame.known_divisions:
                raise ValueError("repartition(divisions=) needs known divisions; use set_index first")
            return RepartitionDivisions(frame, tuple(self.new_divisions))
        if self.partition_size is not None:
            return self._by_size()
        n_in, n_out = frame.npartitions, self.npartitions_
        if n_out == n_in:
            return frame
        if n_out < n_in:
            return Regroup(frame, _balanced_groups(n_in, n_out))
        if frame.known_divisions:
            divs = _interpolate_divisions(frame.divisions, n_out)
            if divs is not None:
                return RepartitionDivisions(frame, divs)
        return Regroup(frame, _split_plan(n_in, n_out))

    def _by_size(self) -> Expr:
        from pardata._units import parse_bytes
        from pardata.dataframe.blockwise import MemoryUsage
        from pardata.dataframe.collection import new_collection
        from pardata.dataframe.frame import partition_values

        limit = parse_bytes(self.partition_size) if isinstance(self.partition_size, str) \
            else int(self.partition_size)
        sizes = partition_values(new_collection(MemoryUsage(self.frame)))
        plan: list = []
        current: list = []
        total = 0
        for i, size in enumerate(sizes):
            if size > limit:
                if current:
                    plan.append(tuple(current))
                    current, total = [], 0
                count = int(np.ceil(size / limit))
                plan.extend(((i, k, count),) for k in range(count))
                continue
            if current and total + size > limit:
                plan.append(tuple(current))
                current, total = [], 0
            current.append((i, 0, 1))
            total += size
        if current:
            plan.append(tuple(current))
        return Regroup(self.frame, tuple(plan))

    def _describe(self):
        what = self.npartitions_ or self.partition_size or f"{len(self.new_divisions) - 1} divisions"
        return f"Repartition({what})"
