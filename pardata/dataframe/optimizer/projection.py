"""Rule: read only the columns the query uses.

Walk the plan from the output down, asking each node which columns it needs of each
child given the columns needed of it (``Expr._required_columns``); a child used by
several parents needs the union. Readers that are asked for fewer columns than they
produce are replaced by readers of just those columns.
"""
from __future__ import annotations

import pandas as pd

from pardata.dataframe.expr import ALL, Expr, transform, walk
from pardata.dataframe.io.base import BlockwiseIO


def _union(a, b):
    if a is ALL or b is ALL:
        return ALL
    return set(a) | set(b)


def needed_columns(root: Expr) -> dict:
    """``{name: set of columns | ALL}`` that each node must produce."""
    order = list(walk(root))
    needed: dict = {root._name: ALL}
    for e in reversed(order):  # parents before children
        want = needed.get(e._name, ALL)
        required = e._required_columns(want)
        for child in e.children():
            need = required.get(child._name, ALL)
            if child._name in needed:
                needed[child._name] = _union(needed[child._name], need)
            else:
                needed[child._name] = ALL if need is ALL else set(need)
    return needed


def push_projections(root: Expr) -> Expr:
    needed = needed_columns(root)

    def rewrite(e: Expr):
        if not isinstance(e, BlockwiseIO) or not isinstance(e._meta, pd.DataFrame):
            return None
        want = needed.get(e._name, ALL)
        if want is ALL:
            return None
        have = list(e._meta.columns)
        keep = [c for c in have if c in want]
        if len(keep) == len(have):
            return None
        return e._with_columns(keep)

    # Readers have no children, so ``rewrite`` sees them under the names ``needed`` uses.
    return transform(root, rewrite)
