"""Rule: push a selection of partitions (``head``, ``partitions[i]``) toward the readers,
so only the selected input partitions are planned, read and processed; and tell a
reader under ``head(n)`` that ``n`` rows per partition will do (Parquet then reads only
the first row groups)."""
from __future__ import annotations

from pardata.dataframe.blockwise import Blockwise
from pardata.dataframe.expr import Expr, Partitions, transform
from pardata.dataframe.io.base import BlockwiseIO


def _push(e: Expr):
    from pardata.dataframe.blockwise import Head

    if isinstance(e, Head):
        limited = _limit(e.frame, e.n)
        return None if limited is None or limited._name == e.frame._name \
            else e.replace(frame=limited)
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


def _limit(e: Expr, n: int):
    """``e`` with its reader told that ``n`` rows per partition suffice, through nodes
    that keep every row (column selections and assignments), or None."""
    from pardata.dataframe.blockwise import Assign, Projection

    if hasattr(e, "_with_limit"):
        return e._with_limit(n)
    if isinstance(e, (Projection, Assign)):
        from pardata.dataframe.optimizer.predicates import _columns_read

        frame = e.frame
        for c in e.children():  # other inputs must be computed row by row from `frame`
            if c._name != frame._name and not c._is_broadcast and _columns_read(c, frame) is None:
                return None
        inner = _limit(frame, n)
        if inner is None:
            return None
        return e.replace_children({frame._name: inner}) if isinstance(e, Projection) else \
            _replace_frame(e, frame, inner)
    return None


def _replace_frame(assign, old, new):
    from pardata.dataframe.optimizer.predicates import _retarget

    pairs = list(assign.pairs)
    pairs[1::2] = [_retarget(v, old, new) if isinstance(v, Expr) else v for v in pairs[1::2]]
    return assign.replace(frame=new, pairs=tuple(pairs))


def push_partition_selection(root: Expr, max_rounds: int = 50) -> Expr:
    for _ in range(max_rounds):
        new = transform(root, _push)
        if new._name == root._name:
            return new
        root = new
    return root
