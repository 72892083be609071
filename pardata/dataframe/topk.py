"""``nlargest``/``nsmallest`` as tree reductions (each partition's top ``n`` suffice)."""
from __future__ import annotations

import pandas as pd

from pardata.dataframe import reductions as red
from pardata.dataframe.collection import new_collection


def _top(part, n, columns, how):
    return getattr(part, how)(n, columns) if columns is not None else getattr(part, how)(n)


def _top_combine(parts, n, columns, how):
    return _top(pd.concat(parts), n, columns, how)


def topk(coll, n, columns, how, split_every=None):
    meta = _top(coll._meta, n, columns, how)
    kw = {"n": n, "columns": columns, "how": how}
    return new_collection(red.Reduction(coll._expr, _top, _top_combine, _top_combine, meta, kw,
                                        kw, kw, split_every, prefix=how, broadcast=False))
