"""Rule: push row filters into readers that can skip data (``read_parquet``).

``Filter(reader, predicate)`` where the predicate compares the reader's own columns
with literals (``==, <, <=, >, >=, isin``, joined by ``&`` and ``|``) becomes a reader
with those filters: it skips row groups whose statistics rule them out, and filters
the rows it reads, so the Filter node goes away. Predicates it cannot translate
(``!=``, whose null semantics differ, or anything computed) stay where they are.
"""
from __future__ import annotations

from pardata.dataframe.expr import Expr, transform


def push_filters(root: Expr) -> Expr:
    from pardata.dataframe.blockwise import Filter

    def rewrite(e: Expr):
        if not isinstance(e, Filter):
            return None
        reader = e.frame
        accept = getattr(reader, "_with_filters", None)
        if accept is None:
            return None
        dnf = predicate_to_dnf(e.predicate, reader)
        if dnf is None:
            return None
        return accept(dnf)

    return transform(root, rewrite)


def predicate_to_dnf(pred: Expr, reader: Expr):
    """``pred`` as disjunctive normal form ``[[(col, op, value), ...], ...]`` over
    ``reader``'s columns, or None if it is not such a predicate."""
    import operator

    from pardata.dataframe.blockwise import Elemwise, Method, Projection

    comparisons = {operator.eq: "==", operator.lt: "<", operator.le: "<=", operator.gt: ">",
                   operator.ge: ">="}
    flipped = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "=="}

    def column_of(e):
        if isinstance(e, Projection) and type(e.key) is not tuple and _same_source(e.frame, reader):
            return e.key
        return None

    def visit(e):
        if isinstance(e, Elemwise) and len(e.operands) == 2:
            a, b = e.operands
            if e.op in comparisons:
                op = comparisons[e.op]
                if isinstance(a, Expr) and not isinstance(b, Expr) and column_of(a) is not None:
                    return [[(column_of(a), op, b)]]
                if isinstance(b, Expr) and not isinstance(a, Expr) and column_of(b) is not None:
                    return [[(column_of(b), flipped[op], a)]]
                return None
            if e.op is operator.and_ and isinstance(a, Expr) and isinstance(b, Expr):
                left, right = visit(a), visit(b)
                if left is None or right is None:
                    return None
                return [x + y for x in left for y in right]
            if e.op is operator.or_ and isinstance(a, Expr) and isinstance(b, Expr):
                left, right = visit(a), visit(b)
                if left is None or right is None:
                    return None
                return left + right
            return None
        if isinstance(e, Method) and e.name == "isin" and not e.kwargs and len(e.args) == 1:
            col = column_of(e.frame)
            values = e.args[0]
            if col is not None and isinstance(values, (list, tuple)) and len(values) <= 1000:
                return [[(col, "in", list(values))]]
        return None

    dnf = visit(pred)
    if dnf is not None and len(dnf) > 64:
        return None
    return dnf


def _same_source(a: Expr, b: Expr) -> bool:
    return a._name == b._name
