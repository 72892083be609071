"""Rule: move filters below joins and column assignments, toward the readers.

``df[cond]`` is split into its ``&``-joined terms. A term that reads only columns one
side of a join brings through unchanged, and that side keeps all its matching rows
either way (either side of an inner join; the left side of a left join; the right
side of a right join), is applied to that side before the join instead. A term that
does not read the columns an ``assign`` writes is applied before the ``assign``.
Filters that reach a reader are then taken in by the filter rule (``read_parquet``
skips row groups and rows).
"""
from __future__ import annotations

import operator

from pardata.dataframe.expr import Expr, transform


def _terms(pred: Expr) -> list:
    from pardata.dataframe.blockwise import Elemwise

    if isinstance(pred, Elemwise) and pred.op is operator.and_ and len(pred.operands) == 2 \
            and all(isinstance(o, Expr) for o in pred.operands):
        return _terms(pred.operands[0]) + _terms(pred.operands[1])
    return [pred]


def _conjoin(terms: list) -> Expr:
    from pardata.dataframe.blockwise import Elemwise

    out = terms[0]
    for t in terms[1:]:
        out = Elemwise(operator.and_, (out, t))
    return out


class _ReadsWhole(Exception):
    pass


def _columns_read(term: Expr, frame: Expr) -> set | None:
    """Columns of ``frame`` the term reads row by row, or None if it uses ``frame``
    otherwise (whole, or through a reduction whose value depends on all its rows)."""
    from pardata.dataframe.blockwise import Blockwise, Projection

    cols: set = set()
    memo: dict = {}

    def depends(e: Expr) -> bool:
        if e._name in memo:
            return memo[e._name]
        if e._name == frame._name:
            raise _ReadsWhole
        dep = False
        for child in e.children():
            if child._name == frame._name:
                if isinstance(e, Projection) and type(e.key) is not tuple:
                    cols.add(e.key)
                    dep = True
                    continue
                raise _ReadsWhole
            dep = depends(child) or dep
        if dep and (not isinstance(e, Blockwise) or e._is_broadcast):
            raise _ReadsWhole
        memo[e._name] = dep
        return dep

    try:
        depends(term)
    except _ReadsWhole:
        return None
    return cols if _only_from(term, frame) else None


def _only_from(term: Expr, frame: Expr) -> bool:
    """Whether every partitioned input of ``term`` is ``frame`` (single values aside):
    otherwise moving it onto another frame would misalign its other inputs."""
    seen: set = set()
    stack = [term]
    while stack:
        e = stack.pop()
        if e._name in seen or e._name == frame._name or e._is_broadcast:
            continue
        seen.add(e._name)
        kids = e.children()
        if not kids:
            return False  # a reader of its own
        stack.extend(kids)
    return True


def _retarget(term: Expr, old: Expr, new: Expr) -> Expr:
    return transform(term, lambda e: new if e._name == old._name else None) \
        if term._name != old._name else new


def _push_into_merge(filt, merge):
    left_ok = merge.how in ("inner", "left")
    right_ok = merge.how in ("inner", "right")
    lcols, rcols = set(merge.left.columns), set(merge.right.columns)
    to_left, to_right, stay = [], [], []
    for term in _terms(filt.predicate):
        cols = _columns_read(term, merge)
        if cols is None or not cols:
            stay.append(term)
        elif left_ok and cols <= lcols and not (cols & rcols - set(merge.left_on)):
            if cols & rcols and not all(c in merge.left_on and c in merge.right_on for c in cols & rcols):
                stay.append(term)
            else:
                to_left.append(term)
        elif right_ok and cols <= rcols and not (cols & lcols - set(merge.right_on)):
            if cols & lcols and not all(c in merge.left_on and c in merge.right_on for c in cols & lcols):
                stay.append(term)
            else:
                to_right.append(term)
        else:
            stay.append(term)
    if not to_left and not to_right:
        return None
    from pardata.dataframe.blockwise import Filter

    left, right = merge.left, merge.right
    if to_left:
        left = Filter(left, _retarget(_conjoin(to_left), merge, left))
    if to_right:
        right = Filter(right, _retarget(_conjoin(to_right), merge, right))
    new_merge = merge.replace(left=left, right=right)
    if not stay:
        return new_merge
    return Filter(new_merge, _retarget(_conjoin(stay), merge, new_merge))


def _push_below_assign(filt, assign):
    from pardata.dataframe.blockwise import Filter

    written = set(assign.pairs[0::2])
    values = assign.pairs[1::2]
    for v in values:  # new columns must be computed row by row from the same frame
        if isinstance(v, Expr) and not v._is_broadcast and \
                _columns_read(v, assign.frame) is None:
            return None
    down, stay = [], []
    for term in _terms(filt.predicate):
        cols = _columns_read(term, assign)
        if cols is not None and cols and not (cols & written):
            down.append(term)
        else:
            stay.append(term)
    if not down:
        return None
    inner = Filter(assign.frame, _retarget(_conjoin(down), assign, assign.frame))
    pairs = list(assign.pairs)
    pairs[1::2] = [_retarget(v, assign.frame, inner) if isinstance(v, Expr) and not v._is_broadcast
                   else v for v in values]
    new_assign = assign.replace(frame=inner, pairs=tuple(pairs))
    if not stay:
        return new_assign
    return Filter(new_assign, _retarget(_conjoin(stay), assign, new_assign))


def push_predicates(root: Expr, max_rounds: int = 20) -> Expr:
    from pardata.dataframe.blockwise import Assign, Filter
    from pardata.dataframe.merge import Merge

    def rewrite(e: Expr):
        if not isinstance(e, Filter):
            return None
        if isinstance(e.frame, Merge) and e.frame.how != "cross":
            return _push_into_merge(e, e.frame)
        if isinstance(e.frame, Assign):
            return _push_below_assign(e, e.frame)
        return None

    for _ in range(max_rounds):
        new = transform(root, rewrite)
        if new._name == root._name:
            return new
        root = new
    return root
