"""Immutable expression trees over partitions: the dataframe's logical plan.

Each node is a frozen dataclass whose fields are its operands: child expressions and
plain parameters. A node knows, without computing anything:

- ``_meta``: an empty pandas object (or a scalar) with the output's dtypes;
- ``divisions``: ``npartitions + 1`` index boundaries, ``None`` where unknown;
- ``_name``: a deterministic token of its type and operands, so equal plans share keys.

Nodes are only *lowered* to graph tasks at compute time, after the optimizer
(``pardata.dataframe.optimizer``) rewrote the plan. Lowering asks every node of the
final plan for its ``_layer()``: one task per output partition keyed ``(_name, i)``,
plus any internal tasks the node needs (a shuffle's splits, a tree reduction's
combines). Partition-wise nodes (``Blockwise``) describe one partition with
``_task(i)`` instead, so the fusion rule can put a chain of them into one task.

The optimizer hooks a node may override are plain data about it:
``_required_columns`` (projection pushdown), ``_partitioning`` (shuffle elimination),
``_lower`` (choose a physical plan).
"""
from __future__ import annotations

import dataclasses
from functools import cached_property
from typing import Any, Callable, Iterator

from pardata.core.spec import Task
from pardata.core.tokenize import tokenize

ALL = None  # "every column" in projection bookkeeping


class Expr:
    """Base of every plan node; concrete nodes are ``@node`` frozen dataclasses."""

    _prefix: str = ""
    # A single-partition result every partition of a partition-wise operation may
    # read (a reduction's scalar, a broadcast join's small side).
    _is_broadcast: bool = False

    # ------------------------------------------------------------------ identity
    @cached_property
    def _name(self) -> str:
        prefix = self._prefix or type(self).__name__.lower()
        operands = [_by_name(v) for v in self._operands()]
        return f"{prefix}-{tokenize(type(self).__qualname__, *operands)}"

    def __pardata_tokenize__(self):
        return self._name

    def _operands(self) -> list:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def _fields(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]

    # ------------------------------------------------------------------ structure
    def children(self) -> list["Expr"]:
        """Child expressions in operand order (inside tuples too), without duplicates."""
        out: dict = {}
        for value in self._operands():
            for e in _exprs_in(value):
                out.setdefault(e._name, e)
        return list(out.values())

    def replace_children(self, subs: dict) -> "Expr":
        """A copy with children renamed in ``subs`` (old name -> new expr) replaced."""
        changes = {}
        for name in self._fields():
            value = getattr(self, name)
            new = _substitute(value, subs)
            if new is not value:
                changes[name] = new
        return dataclasses.replace(self, **changes) if changes else self

    def replace(self, **changes) -> "Expr":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ metadata
    @cached_property
    def _meta(self) -> Any:
        raise NotImplementedError(type(self).__name__)

    @cached_property
    def divisions(self) -> tuple:
        raise NotImplementedError(type(self).__name__)

    @property
    def npartitions(self) -> int:
        return len(self.divisions) - 1

    @property
    def known_divisions(self) -> bool:
        return len(self.divisions) > 0 and self.divisions[0] is not None

    @property
    def columns(self) -> list:
        return list(getattr(self._meta, "columns", []))

    def _keys(self) -> list:
        return [(self._name, i) for i in range(self.npartitions)]

    # ------------------------------------------------------------------ optimizer hooks
    def _required_columns(self, needed) -> dict:
        """Columns each child must provide, given the columns needed of this node.

        ``needed`` is a set of labels or ``ALL``; returns ``{child name: set | ALL}``.
        The default (every child provides everything) is always correct.
        """
        return {c._name: ALL for c in self.children()}

    @property
    def _partitioning(self) -> tuple | None:
        """``("hash", columns, npartitions)`` when rows are placed by hashing columns."""
        return None

    def _lower(self) -> "Expr | None":
        """A physical plan for this node, or None if it is physical already."""
        return None

    @property
    def _estimated_bytes(self) -> int | None:
        """A rough in-memory size of the whole collection, when cheaply known (readers
        know it from metadata; row-preserving or row-dropping nodes pass it on)."""
        return None

    # ------------------------------------------------------------------ lowering
    def _layer(self) -> dict:
        raise NotImplementedError(type(self).__name__)

    # ------------------------------------------------------------------ display
    def _describe(self) -> str:
        """One line for ``explain()``: the node's type and its non-expression operands."""
        parts = []
        for name in self._fields():
            value = getattr(self, name)
            if _exprs_in(value) or name.startswith("_") or value is None or name in _BULKY:
                continue
            parts.append(f"{name}={_short(value)}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def tree_repr(self) -> str:
        lines: list[str] = []
        seen: set = set()

        def visit(e: Expr, depth: int) -> None:
            pad = "  " * depth
            if e._name in seen:
                lines.append(f"{pad}{type(e).__name__} (see above: {e._name})")
                return
            seen.add(e._name)
            lines.append(f"{pad}{e._describe()}")
            for c in e.children():
                visit(c, depth + 1)

        visit(self, 0)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self._describe()


_BULKY = frozenset({"meta", "data", "source", "graph", "divs", "locations", "blocks", "headers"})


def node(cls):
    """Make ``cls`` a frozen plan node (a dataclass compared by ``_name``)."""
    return dataclasses.dataclass(frozen=True, eq=False, repr=False)(cls)


def _short(value: Any) -> str:
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _by_name(value: Any) -> Any:
    """``value`` with expressions replaced by their names: a node's name depends on its
    inputs' names only, so swapping an input for an equally named one (a fused group
    named after its output) keeps every name downstream."""
    if isinstance(value, Expr):
        return ("<expr>", value._name)
    if type(value) in (tuple, list):
        return type(value)(_by_name(v) for v in value)
    if type(value) is dict:
        return {k: _by_name(v) for k, v in value.items()}
    return value


def _exprs_in(value: Any) -> list:
    if isinstance(value, Expr):
        return [value]
    if type(value) in (tuple, list):
        found = []
        for v in value:
            found.extend(_exprs_in(v))
        return found
    if type(value) is dict:
        found = []
        for v in value.values():
            found.extend(_exprs_in(v))
        return found
    return []


def _substitute(value: Any, subs: dict) -> Any:
    if isinstance(value, Expr):
        return subs.get(value._name, value)
    if type(value) in (tuple, list):
        new = [_substitute(v, subs) for v in value]
        if all(a is b for a, b in zip(new, value)):
            return value
        return type(value)(new)
    if type(value) is dict:
        new = {k: _substitute(v, subs) for k, v in value.items()}
        if all(new[k] is value[k] for k in value):
            return value
        return new
    return value


# ---------------------------------------------------------------------- traversal

def walk(root: Expr) -> Iterator[Expr]:
    """Every distinct node under ``root`` (by name), children before parents."""
    done: set = set()
    stack: list = [(root, False)]
    while stack:
        e, expanded = stack.pop()
        if e._name in done:
            continue
        if expanded:
            done.add(e._name)
            yield e
            continue
        stack.append((e, True))
        for c in reversed(e.children()):
            if c._name not in done:
                stack.append((c, False))


def dependents(root: Expr) -> dict:
    """``{name: [names of parents using it]}`` over the plan under ``root``."""
    out: dict = {}
    for e in walk(root):
        out.setdefault(e._name, [])
        for c in e.children():
            out.setdefault(c._name, []).append(e._name)
    return out


def transform(root: Expr, rewrite: Callable[[Expr], Expr | None]) -> Expr:
    """Rebuild the plan bottom-up, replacing each node by ``rewrite(node)`` when not None.

    Shared sub-plans stay shared: each distinct node is rewritten once.
    """
    new: dict = {}
    for e in walk(root):
        rebuilt = e.replace_children(new) if e.children() else e
        out = rewrite(rebuilt)
        new[e._name] = rebuilt if out is None else out
    return new[root._name]


# ---------------------------------------------------------------------- basic nodes

def partition_task(expr: Expr, i: int, func: Callable, *args: Any, **kwargs: Any) -> Task:
    return Task((expr._name, i), func, *args, **kwargs)


def _combine_frames(parts: list) -> Any:
    import pandas as pd

    if not parts:
        raise ValueError("no partitions")
    first = parts[0]
    if isinstance(first, pd.Index):
        return first.append(list(parts[1:])) if len(parts) > 1 else first
    if isinstance(first, (pd.DataFrame, pd.Series)):
        return pd.concat(parts) if len(parts) > 1 else first
    return first if len(parts) == 1 else parts


@node
class Partitions(Expr):
    """Some partitions of ``frame``, in the order of ``indices``."""

    frame: Expr
    indices: tuple

    @cached_property
    def _meta(self):
        return self.frame._meta

    @cached_property
    def divisions(self):
        divs = self.frame.divisions
        idx = self.indices
        if all(b == a + 1 for a, b in zip(idx, idx[1:])):
            return tuple(divs[i] for i in idx) + (divs[idx[-1] + 1],)
        return (None,) * (len(idx) + 1)

    def _required_columns(self, needed):
        return {self.frame._name: needed}

    def _layer(self):
        from pardata.core.spec import Alias

        return {(self._name, j): Alias((self._name, j), (self.frame._name, i))
                for j, i in enumerate(self.indices)}

    def _describe(self):
        return f"Partitions({list(self.indices)})"


@node
class FromGraph(Expr):
    """Partitions already in a graph (persisted data, ``from_delayed``) under ``name``."""

    graph: dict
    meta: Any
    divs: tuple
    name: str

    @cached_property
    def _name(self):
        return self.name

    @cached_property
    def _meta(self):
        return self.meta

    @cached_property
    def divisions(self):
        return self.divs

    def _layer(self):
        return self.graph

    def _describe(self):
        return f"FromGraph({self.name}, npartitions={self.npartitions})"
