"""``from_map``, ``from_delayed`` and ``from_array``: partitions made by user code."""
from __future__ import annotations

from functools import cached_property

import pandas as pd

from pardata.core.spec import Alias, Task
from pardata.dataframe.expr import FromGraph, node
from pardata.dataframe.io.base import BlockwiseIO
from pardata.dataframe.meta import make_meta


def _call_map(func, item, args, kwargs, projection):
    out = func(item, *args, **kwargs)
    if projection is not None and isinstance(out, pd.DataFrame):
        out = out[list(projection)]
    return out


@node
class FromMap(BlockwiseIO):
    """Partition ``i`` is ``func(items[i], *args, **kwargs)``."""

    func: object
    items: tuple
    args: tuple
    kwargs: dict
    meta: object
    divs: tuple | None = None
    projection: tuple | None = None
    label: str | None = None

    @property
    def _prefix(self):  # type: ignore[override]
        return self.label or getattr(self.func, "__name__", "from-map").lower()

    @cached_property
    def _meta(self):
        return self._project_meta(self.meta)

    @cached_property
    def divisions(self):
        return tuple(self.divs) if self.divs is not None else (None,) * (len(self.items) + 1)

    def _task(self, i):
        return Task((self._name, i), _call_map, self.func, self.items[i], self.args,
                    self.kwargs, self.projection)

    def _select_partitions(self, indices):
        divs = None
        if self.divs is not None and all(b == a + 1 for a, b in zip(indices, indices[1:])):
            divs = tuple(self.divs[i] for i in indices) + (self.divs[indices[-1] + 1],)
        return self.replace(items=tuple(self.items[i] for i in indices), divs=divs)


def from_map(func, *iterables, args=(), meta=None, divisions=None, label=None,
             enforce_metadata=False, **kwargs):
    """A collection whose partition ``i`` is ``func(item_i, *args, **kwargs)``.

    With several iterables, ``item_i`` is the tuple of their ``i``-th elements, passed
    as separate arguments. ``meta=`` skips calling ``func`` on the first item to find
    the output's columns and dtypes (which is what happens otherwise).
    """
    from pardata.dataframe.collection import new_collection

    if not iterables:
        raise TypeError("from_map needs at least one iterable")
    if len(iterables) > 1:
        items = tuple(zip(*iterables))
        target = _Star(func)
    else:
        items = tuple(iterables[0])
        target = func
    if not items:
        raise ValueError("from_map needs at least one item")
    if meta is None:
        meta = make_meta(target(items[0], *args, **kwargs))
    else:
        meta = make_meta(meta)
    expr = FromMap(target, items, tuple(args), dict(kwargs), meta,
                   tuple(divisions) if divisions is not None else None, None, label)
    return new_collection(expr)


class _Star:
    """Call ``func(*item, ...)``: several iterables zipped into one item."""

    def __init__(self, func):
        self.func = func
        self.__name__ = getattr(func, "__name__", "from-map")

    def __call__(self, item, *args, **kwargs):
        return self.func(*item, *args, **kwargs)

    def __pardata_tokenize__(self):
        from pardata.core.tokenize import normalize_token

        return ("star", normalize_token(self.func))


def from_delayed(dfs, meta=None, divisions=None, verify_meta: bool = True):
    """A collection whose partitions are the results of Delayed objects."""
    from pardata.base import collections_to_graph
    from pardata.core.tokenize import tokenize
    from pardata.dataframe.collection import new_collection
    from pardata.delayed import Delayed

    dfs = [dfs] if isinstance(dfs, Delayed) else list(dfs)
    if not dfs:
        raise ValueError("from_delayed needs at least one Delayed")
    if not all(isinstance(d, Delayed) for d in dfs):
        raise TypeError("from_delayed takes Delayed objects")
    if meta is None:
        meta = make_meta(dfs[0].compute())
    else:
        meta = make_meta(meta)
    graph, _ = collections_to_graph(dfs, optimize_graph=False)
    name = f"from-delayed-{tokenize(*[d.key for d in dfs])}"
    for i, d in enumerate(dfs):
        graph[(name, i)] = Alias((name, i), d.key)
    divs = tuple(divisions) if divisions is not None else (None,) * (len(dfs) + 1)
    return new_collection(FromGraph(graph, meta, divs, name))


def from_array(x, columns=None, meta=None):
    """A DataFrame (2-d) or Series (1-d) over a pardata Array's row blocks."""
    import numpy as np

    try:
        import pardata.array as pa  # noqa: F401
    except ImportError as exc:  # pragma: no cover - depends on pardata.array
        raise ImportError("from_array needs pardata.array") from exc
    if not hasattr(x, "to_delayed") or not hasattr(x, "chunks"):
        if isinstance(x, np.ndarray):
            from pardata.dataframe.io.pandas import from_pandas

            frame = pd.DataFrame(x, columns=columns) if x.ndim == 2 else pd.Series(x, name=columns)
            return from_pandas(frame, npartitions=1)
        raise TypeError(f"from_array needs an Array, not {type(x).__name__}")
    if x.ndim not in (1, 2):
        raise ValueError("from_array needs a 1-d or 2-d array")
    blocks = x.to_delayed()
    if x.ndim == 2:
        if len(x.chunks[1]) != 1:
            x = x.rechunk({1: x.shape[1]})
            blocks = x.to_delayed()
        blocks = [row[0] for row in blocks]
    else:
        blocks = list(blocks)
    starts = [0]
    for c in x.chunks[0]:
        starts.append(starts[-1] + c)
    cols = list(columns) if columns is not None and x.ndim == 2 else columns
    items = tuple(zip(range(len(blocks)), starts[:-1]))
    if meta is None:
        empty = _block_to_frame(np.empty((0,) + x.shape[1:], dtype=x.dtype), 0, cols)
        meta = make_meta(empty)
    divisions = tuple(starts[:-1]) + (starts[-1] - 1,) if starts[-1] > 0 else None
    parts = [_delayed_block(b, s, cols) for b, (_, s) in zip(blocks, items)]
    return from_delayed(parts, meta=meta, divisions=divisions)


def _block_to_frame(block, start, columns):
    import numpy as np

    index = pd.RangeIndex(start, start + len(block))
    block = np.asarray(block)
    if block.ndim == 2:
        return pd.DataFrame(block, index=index, columns=columns)
    return pd.Series(block, index=index, name=columns)


def _delayed_block(block, start, columns):
    from pardata.delayed import delayed

    return delayed(_block_to_frame, pure=True)(block, start, columns)
