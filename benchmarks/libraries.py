"""The two libraries under test behind one small interface.

Benchmarks write their workload once against a ``Library`` so pardata and Dask run the
same construction code on the same data. Dask is imported only when asked for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

LIBRARY_NAMES = ("pardata", "dask")


@dataclass(frozen=True)
class Library:
    """What a benchmark may use of a library.

    ``to_graph(collection)`` returns ``(plain dict graph, keys)`` after the library's
    own default optimization; ``get(graph, keys)`` runs such a graph synchronously.
    """

    name: str
    version: str
    delayed: Callable
    compute: Callable
    to_graph: Callable[[Any], tuple]
    get: Callable[[dict, list], Any]


def _pardata() -> Library:
    import pardata
    from pardata.base import collections_to_graph

    return Library(
        name="pardata",
        version=pardata.__version__,
        delayed=pardata.delayed,
        compute=pardata.compute,
        # Materialize the merged graph, cull, fuse linear chains.
        to_graph=lambda coll: collections_to_graph([coll]),
        get=lambda graph, keys: list(pardata.get(graph, keys, scheduler="sync")),
    )


def _dask() -> Library:
    import dask

    def to_graph(coll):
        # Dask's default optimization for Delayed (cull; it does not fuse delayed graphs
        # by default), then materialize the result into a plain dict of tasks.
        (optimized,) = dask.optimize(coll)
        return dict(optimized.__dask_graph__()), optimized.__dask_keys__()

    return Library(
        name="dask",
        version=dask.__version__,
        delayed=dask.delayed,
        compute=dask.compute,
        to_graph=to_graph,
        get=lambda graph, keys: list(dask.get(graph, keys)),
    )


def load_library(name: str) -> Library:
    """The ``Library`` called ``name``; imports it on first use."""
    loaders = {"pardata": _pardata, "dask": _dask}
    if name not in loaders:
        raise ValueError(f"unknown library {name!r}; expected one of {LIBRARY_NAMES}")
    return loaders[name]()
