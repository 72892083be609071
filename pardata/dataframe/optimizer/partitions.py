"""Rule: push a selection of partitions (``head``, ``partitions[i]``) toward the readers,
so only the selected input partitions are planned, read and processed."""
from __future__ import annotations

from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.expr import Expr, Partitions, transform
from pardata.dataframe.io.base import BlockwiseIO


def _push(e: Expr):
    if not isinstance(e, Partitions):
        return None
    inner = e.frame
    if isinstance(inner, Partitions):
        return Partitions(inner.frame, tuple(inner.indices[i] for i in e.indices))
    if isinstance(inner, BlockwiseIO):
        return inner._select_partitions(e.indices)
    if isinstance(inner, Blockwise) and not inner._is_broadcast and not inner._own_divisions:
        subs = {c._name: Partitions(c, e.indices) for c in inner._frames()}
        return inner.replace_children(subs)
    return None


def push_partition_selection(root: Expr, max_rounds: int = 50) -> Expr:
    for _ in range(max_rounds):
        new = transform(root, _push)
        if new._name == root._name:
            return new
        root = new
    return root
