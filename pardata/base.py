"""What every collection shares: the collection protocol and compute/persist/visualize.

A collection is any object with these methods (Dask's protocol under our names):

- ``__pardata_graph__()`` -> the low-level graph (``dict[key, Node]``);
- ``__pardata_keys__()`` -> its output keys, possibly nested lists;
- ``__pardata_postcompute__()`` -> ``(finalize, extra_args)``: turns the results of the
  keys (same nesting) into the user-facing value;
- ``__pardata_postpersist__()`` -> ``(rebuild, extra_args)``: ``rebuild(graph, *extra)``
  gives the same collection backed by already computed data;
- ``__pardata_optimize__(graph, keys)`` (optional, static) -> optimized graph;
- ``__pardata_graph_many__(collections)`` (optional, static) -> one graph for several
  collections of this type computed together (shared high-level work lowered once);
- ``__pardata_scheduler__`` (optional) -> the default local scheduler's name.

``compute`` merges the graphs of all its arguments, so work they share runs once.
"""
from __future__ import annotations

from typing import Any, Callable

from pardata import config
from pardata.core.graph import cull, ensure_graph, flatten_keys, pack_results
from pardata.core.optimize import fuse
from pardata.core.spec import DataNode

# Set by pardata.distributed when a Client becomes the default; returns it or None.
_default_client_hook: list[Callable[[], Any]] = []


def is_collection(obj: Any) -> bool:
    return hasattr(type(obj), "__pardata_graph__") and not isinstance(obj, type)


def default_optimize(graph: dict, keys: list) -> dict:
    """Cull to ``keys``, then fuse linear chains (if ``optimization.fuse.active``)."""
    graph, _ = cull(graph, keys)
    if config.get("optimization.fuse.active", True):
        graph, _ = fuse(graph, keys)
    return graph


def collections_to_graph(collections, optimize_graph: bool = True) -> tuple[dict, list]:
    """One merged graph for all ``collections`` and their flat output keys.

    Collections of a type that defines ``__pardata_graph_many__(collections)`` are
    lowered together by it (so e.g. arrays sharing layers lower them once); the others
    contribute their own ``__pardata_graph__()``. Each group is then optimized by its
    type's ``__pardata_optimize__`` (default: cull + fuse).
    """
    groups: dict = {}
    flat_keys: list = []
    for coll in collections:
        typ = type(coll)
        opt = getattr(typ, "__pardata_optimize__", None) or default_optimize
        joint = getattr(typ, "__pardata_graph_many__", None)
        groups.setdefault((opt, joint), []).append(coll)
    merged: dict = {}
    for (opt, joint), colls in groups.items():
        keys: list = []
        for coll in colls:
            keys.extend(flatten_keys(coll.__pardata_keys__()))
        if joint is not None:
            graph = joint(colls)
        else:
            graph = {}
            for coll in colls:
                graph.update(coll.__pardata_graph__())
        graph = ensure_graph(graph)
        merged.update(opt(graph, keys) if optimize_graph else cull(graph, keys)[0])
    for coll in collections:
        flat_keys.extend(flatten_keys(coll.__pardata_keys__()))
    return merged, flat_keys


def _unpack_args(args, traverse: bool):
    """Find collections in ``args`` (inside lists/tuples/dicts if ``traverse``).

    Returns the collections and a function rebuilding ``args`` from their results.
    """
    found: list = []

    def scan(obj):
        if is_collection(obj):
            found.append(obj)
            return ("__coll__", len(found) - 1)
        if traverse and type(obj) in (list, tuple, set, frozenset):
            return (type(obj), [scan(o) for o in obj])
        if traverse and type(obj) is dict:
            return (dict, [(k, scan(v)) for k, v in obj.items()])
        return ("__lit__", obj)

    plans = [scan(a) for a in args]

    def rebuild(results):
        def build(plan):
            tag, payload = plan
            if tag == "__coll__":
                return results[payload]
            if tag == "__lit__":
                return payload
            if tag is dict:
                return {k: build(v) for k, v in payload}
            return tag(build(p) for p in payload)

        return [build(p) for p in plans]

    return found, rebuild


def get_scheduler(scheduler=None, collections=()) -> tuple[str, Any]:
    """Resolve ``scheduler=`` to ``("local", name)`` or ``("client", client)``."""
    from pardata.local.schedulers import SCHEDULER_ALIASES

    if scheduler is None:
        scheduler = config.get("scheduler", None)
    if scheduler is None:
        for hook in _default_client_hook:
            client = hook()
            if client is not None:
                return "client", client
        names = {getattr(type(c), "__pardata_scheduler__", "threads") for c in collections}
        scheduler = names.pop() if len(names) == 1 else "threads"
    if isinstance(scheduler, str):
        if scheduler in ("distributed", "dask.distributed"):
            for hook in _default_client_hook:
                client = hook()
                if client is not None:
                    return "client", client
            raise ValueError('scheduler="distributed" needs an active pardata.distributed.Client')
        if scheduler not in SCHEDULER_ALIASES:
            raise ValueError(
                f"unknown scheduler {scheduler!r}; expected one of "
                f"{sorted(SCHEDULER_ALIASES) + ['distributed']} or a Client"
            )
        return "local", SCHEDULER_ALIASES[scheduler]
    if hasattr(scheduler, "get") and callable(scheduler.get):
        return "client", scheduler
    raise TypeError(f"scheduler= must be a name or a Client, not {type(scheduler).__name__}")


def run_graph(graph: dict, keys: list, scheduler=None, collections=(), **kwargs) -> dict:
    """Compute flat ``keys`` of a pardata graph; return ``{key: result}``."""
    kind, target = get_scheduler(scheduler, collections)
    if kind == "client":
        values = target.get(graph, keys, **kwargs)
        return dict(zip(keys, values))
    from pardata.local.schedulers import execute

    execution = execute(graph, keys, target, kwargs.get("num_workers"))
    return execution.results


def compute(*args, scheduler=None, optimize_graph: bool = True, traverse: bool = True, **kwargs):
    """Compute several collections at once, sharing their common work.

    Non-collection arguments are returned unchanged; collections inside lists, tuples
    and dicts are computed too unless ``traverse=False``. Returns a tuple.
    """
    collections, rebuild = _unpack_args(args, traverse)
    if not collections:
        return tuple(args)
    graph, flat = collections_to_graph(collections, optimize_graph)
    results = run_graph(graph, flat, scheduler, collections, **kwargs)
    values = []
    for coll in collections:
        finalize, extra = coll.__pardata_postcompute__()
        values.append(finalize(pack_results(coll.__pardata_keys__(), results), *extra))
    return tuple(rebuild(values))


def persist(*args, scheduler=None, optimize_graph: bool = True, **kwargs):
    """Compute collections and return equivalent collections backed by the results.

    With a distributed Client the results stay on the cluster (the Client's own
    ``persist``); locally they are held in memory inside the returned collections.
    """
    collections, rebuild = _unpack_args(args, traverse=False)
    if not collections:
        return tuple(args)
    kind, target = get_scheduler(scheduler, collections)
    if kind == "client" and hasattr(target, "persist"):
        out = target.persist(collections, optimize_graph=optimize_graph, **kwargs)
        return tuple(rebuild(list(out)))
    graph, flat = collections_to_graph(collections, optimize_graph)
    results = run_graph(graph, flat, scheduler, collections, **kwargs)
    out = []
    for coll in collections:
        ks = flatten_keys(coll.__pardata_keys__())
        new_graph = {k: DataNode(k, results[k]) for k in ks}
        rebuild_coll, extra = coll.__pardata_postpersist__()
        out.append(rebuild_coll(new_graph, *extra))
    return tuple(rebuild(out))


def visualize(*args, filename: str | None = None, optimize_graph: bool = False, **kwargs):
    """Draw the graph of one or more collections; see ``pardata.drawing.draw``."""
    from pardata.drawing import draw

    collections, _ = _unpack_args(args, traverse=True)
    if not collections:
        raise ValueError("visualize() needs at least one collection")
    graph, keys = collections_to_graph(collections, optimize_graph)
    return draw(graph, keys, filename=filename, **kwargs)


def get(graph, keys, scheduler=None, **kwargs):
    """Run a raw graph (pardata or Dask-style) and return results shaped like ``keys``."""
    flat = flatten_keys(keys)
    graph, _ = cull(ensure_graph(graph), flat)
    results = run_graph(graph, flat, scheduler, (), **kwargs)
    return pack_results(keys, results)


class CollectionMixin:
    """``compute``/``persist``/``visualize`` methods for collection classes."""

    __slots__ = ()

    def compute(self, **kwargs):
        return compute(self, traverse=False, **kwargs)[0]

    def persist(self, **kwargs):
        return persist(self, **kwargs)[0]

    def visualize(self, filename: str | None = None, **kwargs):
        return visualize(self, filename=filename, **kwargs)
