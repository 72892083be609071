"""The notebook view of an Array: a table of shape, dtype, chunks, bytes and task count."""
from __future__ import annotations

import html
import math

from pardata.array.chunks import is_unknown


def format_bytes(n) -> str:
    if n is None or is_unknown(n):
        return "unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("kiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{int(n)} B"


def array_html(x) -> str:
    """An HTML table describing ``x`` (the task count lowers its graph once)."""
    from pardata.array.layers import materialize

    chunk_bytes = (math.prod(x.chunksize) * x.itemsize) if x.ndim else x.itemsize
    n_tasks = len(materialize([x._layer]))
    rows = [
        ("Bytes", format_bytes(x.nbytes), format_bytes(chunk_bytes)),
        ("Shape", str(x.shape), str(x.chunksize)),
        ("Dtype", str(x.dtype), "numpy.ndarray"),
        ("Count", f"{n_tasks} tasks", f"{x.npartitions} chunks"),
    ]
    body = "".join(
        f"<tr><th>{html.escape(a)}</th><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
        for a, b, c in rows
    )
    return (
        f"<div class='pardata-array'><b>pardata.array</b> <code>{html.escape(x.name)}</code>"
        "<table><thead><tr><td></td><th>Array</th><th>Chunk</th></tr></thead>"
        f"<tbody>{body}</tbody></table>"
        f"<div>chunks: {html.escape(str(x.chunks) if len(str(x.chunks)) < 300 else str(x.chunks)[:300] + '...')}"
        "</div></div>"
    )
