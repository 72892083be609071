"""Line up the partitions of several collections before a partition-wise operation."""
from __future__ import annotations

from pardata.dataframe.expr import Expr


def _frames(operands) -> list:
    return [o for o in operands if isinstance(o, Expr) and not o._is_broadcast]


def are_aligned(operands) -> bool:
    frames = _frames(operands)
    if len(frames) <= 1:
        return True
    first = frames[0]
    for f in frames[1:]:
        if f.npartitions != first.npartitions:
            return False
        if f.known_divisions and first.known_divisions and f.divisions != first.divisions:
            return False
    return True


def union_divisions(divisions_list) -> tuple:
    values = sorted({d for divs in divisions_list for d in divs})
    return tuple(values)


def align_operands(operands: tuple) -> tuple:
    """``operands`` with their partitioned collections repartitioned to common divisions.

    Aligned operands (same number of partitions, equal or unknown divisions) are
    returned as they are. Collections with known but different divisions are cut at
    the union of their divisions; with unknown divisions and different partition
    counts there is no way to pair rows up, and that is an error saying what to do.
    """
    if are_aligned(operands):
        return tuple(operands)
    frames = _frames(operands)
    if not all(f.known_divisions for f in frames):
        counts = sorted({f.npartitions for f in frames})
        raise ValueError(
            f"cannot line up partitions: the collections have {counts} partitions and not "
            "all of them have known divisions; use set_index() or repartition() so they "
            "share divisions, or from_pandas(sort=True)"
        )
    from pardata.dataframe.repartition import RepartitionDivisions

    divisions = union_divisions([f.divisions for f in frames])
    out = []
    for o in operands:
        if isinstance(o, Expr) and not o._is_broadcast and o.divisions != divisions:
            o = RepartitionDivisions(o, divisions)
        out.append(o)
    return tuple(out)
