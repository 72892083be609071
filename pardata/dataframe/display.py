"""``repr`` and ``_repr_html_``: the structure of a collection (dtypes and divisions)
without computing it, like Dask's preview."""
from __future__ import annotations

import html

import pandas as pd


def _structure(coll) -> pd.DataFrame:
    meta = coll._meta
    divs = coll.divisions
    if coll.known_divisions:
        labels = [str(d) for d in divs]
    else:
        labels = [""] * len(divs)
    if isinstance(meta, pd.DataFrame):
        dtypes = [str(d) for d in meta.dtypes]
        columns = list(meta.columns)
    elif isinstance(meta, pd.Series):
        dtypes, columns = [str(meta.dtype)], [meta.name if meta.name is not None else ""]
    else:
        dtypes, columns = [str(meta.dtype)], [meta.name if meta.name is not None else ""]
    rows = [dtypes] + [["..."] * len(dtypes) for _ in labels[1:]]
    idx = pd.Index(labels, name=f"npartitions={coll.npartitions}")
    return pd.DataFrame(rows, index=idx, columns=columns)


def frame_repr(coll) -> str:
    kind = type(coll).__name__
    body = _structure(coll).to_string()
    return f"pardata {kind} Structure:\n{body}\npardata: {coll._expr._name}"


def frame_repr_html(coll) -> str:
    kind = type(coll).__name__
    table = _structure(coll).to_html()
    name = html.escape(coll._expr._name)
    return f"<div><strong>pardata {kind} Structure:</strong></div>{table}<div>pardata: {name}</div>"
