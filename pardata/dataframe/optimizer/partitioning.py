"""Rule: no shuffle where the partitioning already fits.

A hash shuffle on columns ``on`` into ``n`` partitions is the identity when its input
is already hash-partitioned on ``on`` into ``n`` partitions (it came out of such a
shuffle, and only row-preserving, column-keeping operations ran since). This is what
makes a merge after a groupby on the same key, or two joins on the same key, cost one
shuffle instead of two or three.
"""
from __future__ import annotations

from pardata.dataframe.expr import Expr, transform


def remove_redundant_shuffles(root: Expr) -> Expr:
    from pardata.dataframe.shuffle import Shuffle

    def rewrite(e: Expr):
        if isinstance(e, Shuffle) and e.is_hash:
            part = e.frame._partitioning
            if part is not None and part == e._partitioning:
                return e.frame
        return None

    return transform(root, rewrite)
