"""Rule: replace logical nodes by physical plans (``Expr._lower``) until none is left.

A reduction becomes a partition-wise chunk step plus a tree of combines; a join
chooses broadcast, aligned or hash-partitioned; ``set_index``/``sort_values`` find
their divisions and become a range-partitioning shuffle.
"""
from __future__ import annotations

from pardata.dataframe.expr import Expr, transform


def lower(root: Expr, max_rounds: int = 50) -> Expr:
    for _ in range(max_rounds):
        new = transform(root, lambda e: e._lower())
        if new._name == root._name:
            return new
        root = new
    raise RuntimeError("lowering did not converge")  # pragma: no cover
