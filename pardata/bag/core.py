"""``Bag`` and ``Item``: the user-facing collections over a layer (see ``layers``).

A Bag is a list of partitions, each a Python list. Methods build new layers and never
compute, except ``take``, ``to_textfiles(compute=True)``, iteration and ``compute``.
Element-wise methods (``map``, ``filter``, ``pluck``, ``flatten``, ``starmap``...) run
as one task per partition whatever their number (``pardata.bag.optimize``); reductions
run as trees of ``split_every`` partials (``pardata.bag.reductions``); ``groupby`` is a
hash shuffle, disk-buffered locally and through tasks on a cluster
(``pardata.bag.shuffle``).

The default scheduler is ``processes``: functions over Python objects hold the GIL, so
threads would run them one at a time. Results are the same on every scheduler.
"""
from __future__ import annotations

import builtins
import json
import warnings
from functools import partial
from itertools import chain, filterfalse, starmap
from operator import itemgetter, methodcaller
from typing import Any, Callable

from pardata import config
from pardata.base import CollectionMixin, _default_client_hook
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize
from pardata.bag import elements as el
from pardata.bag import reductions as red
from pardata.bag.layers import (
    Layer, PartitionOp, PartitionwiseLayer, SourceLayer, TasksLayer, broadcast, graph_of,
)
from pardata.bag.optimize import optimize

NO_VALUE = red.NO_VALUE


def _funcname(func: Any) -> str:
    while isinstance(func, partial):
        func = func.func
    name = getattr(func, "__name__", None) or type(func).__name__
    return "lambda" if name == "<lambda>" else name


def _client_active() -> bool:
    return any(hook() is not None for hook in _default_client_hook)


def _concat(results: list) -> list:
    return list(chain.from_iterable(results))


def _first(results: list) -> Any:
    return results[0]


def _rebuild_bag(graph: dict, name: str, npartitions: int) -> "Bag":
    return Bag(SourceLayer(name, [graph[(name, i)] for i in builtins.range(npartitions)]))


def _rebuild_item(graph: dict, name: str) -> "Item":
    return Item(SourceLayer(name, [graph[(name, 0)]]))


class _Collection(CollectionMixin):
    """What Bag and Item share: a layer, the protocol, ``to_delayed``."""

    __slots__ = ("_layer",)
    __pardata_scheduler__ = "processes"
    __pardata_optimize__ = staticmethod(optimize)

    def __init__(self, layer: Layer):
        self._layer = layer

    @property
    def name(self) -> str:
        return self._layer.name

    def __pardata_graph__(self) -> dict:
        return graph_of(self._layer)

    def __pardata_keys__(self) -> list:
        return self._layer.keys()

    def __pardata_tokenize__(self):
        return (type(self).__name__, self._layer.name)

    def _delayed(self, optimize_graph: bool) -> list:
        from pardata.delayed import Delayed

        graph, keys = self.__pardata_graph__(), self.__pardata_keys__()
        if optimize_graph:
            graph = optimize(graph, keys)
        return [Delayed(k, None, (), graph) for k in keys]


class Item(_Collection):
    """One value computed from a bag (a sum, a count, a fold...)."""

    __slots__ = ()

    @property
    def key(self):
        return (self._layer.name, 0)

    def __pardata_postcompute__(self):
        return _first, ()

    def __pardata_postpersist__(self):
        return _rebuild_item, (self.name,)

    def __repr__(self) -> str:
        return f"pardata.bag.Item<{self.name}>"

    def apply(self, func: Callable) -> "Item":
        """The Item of ``func(value)``."""
        name = f"{_funcname(func)}-{tokenize(self.name, func)}"
        key = (name, 0)
        return Item(TasksLayer(name, 1, {key: Task(key, func, Ref(self.key))}, (self._layer,)))

    def to_delayed(self, optimize_graph: bool = True):
        return self._delayed(optimize_graph)[0]


class Bag(_Collection):
    """A parallel collection of Python objects, in partitions."""

    __slots__ = ()

    @property
    def npartitions(self) -> int:
        return self._layer.npartitions

    def __pardata_postcompute__(self):
        return _concat, ()

    def __pardata_postpersist__(self):
        return _rebuild_bag, (self.name, self.npartitions)

    def __repr__(self) -> str:
        return f"pardata.bag.Bag<{self.name}, npartitions={self.npartitions}>"

    def __iter__(self):
        return iter(self.compute())

    @property
    def str(self) -> "StringAccessor":
        """String methods per element: ``b.str.lower()``, ``b.str.split(",")``."""
        return StringAccessor(self)

    # ----------------------------------------------------------- element-wise
    def _partitionwise(self, label: str, op: PartitionOp, inputs: list, args: tuple = (),
                       parents=(), token=()) -> "Bag":
        name = f"{label}-{tokenize(*[b.name for b in inputs], token)}"
        return Bag(PartitionwiseLayer(name, op, [b._layer for b in inputs], args,
                                      extra_parents=parents))

    def map(self, func: Callable, *args, **kwargs) -> "Bag":
        """``func(x, *args, **kwargs)`` per element.

        Bags among ``args`` are zipped with this one element by element (same number of
        partitions and elements, else ``ValueError``); Items, Delayed values and other
        arguments are passed whole to every call.
        """
        bags: list = [self]
        template: list = [el.BagSlot(0)]
        parents: list = []
        for a in args:
            if isinstance(a, Bag):
                template.append(el.BagSlot(len(bags)))
                bags.append(a)
            else:
                template.append(broadcast(a, parents))
        kw = {k: broadcast(v, parents) for k, v in kwargs.items()}
        token = (func, args, kwargs)
        label = f"map-{_funcname(func)}"
        if len(template) == len(bags) and not kw:
            if len(bags) == 1:
                if func is json.loads and el.json_loads_available():
                    func = el.json_loads  # same results, a third faster
                return self._partitionwise(label, PartitionOp(map), bags, (func,), token=token)
            return self._partitionwise(label, PartitionOp(el.map_zip), bags, (func,), token=token)
        return self._partitionwise(label, PartitionOp(el.map_template), bags,
                                   (func, tuple(template), kw), parents, token)

    def starmap(self, func: Callable, **kwargs) -> "Bag":
        """``func(*x, **kwargs)`` per element (elements are argument tuples)."""
        parents: list = []
        kw = {k: broadcast(v, parents) for k, v in kwargs.items()}
        label = f"starmap-{_funcname(func)}"
        if not kw:
            return self._partitionwise(label, PartitionOp(starmap), [self], (func,), token=func)
        return self._partitionwise(label, PartitionOp(el.starmap_kwargs), [self], (func, kw),
                                   parents, (func, kwargs))

    def filter(self, predicate: Callable) -> "Bag":
        """The elements for which ``predicate`` is true."""
        return self._partitionwise(f"filter-{_funcname(predicate)}", PartitionOp(filter), [self],
                                   (predicate,), token=predicate)

    def remove(self, predicate: Callable) -> "Bag":
        """The elements for which ``predicate`` is false."""
        return self._partitionwise(f"remove-{_funcname(predicate)}", PartitionOp(filterfalse),
                                   [self], (predicate,), token=predicate)

    def flatten(self) -> "Bag":
        """The elements of the elements (each must be iterable)."""
        return self._partitionwise("flatten", PartitionOp(chain.from_iterable), [self])

    def pluck(self, key: Any, default: Any = NO_VALUE) -> "Bag":
        """``x[key]`` per element; a list of keys gives tuples; ``default`` for missing ones."""
        if default is NO_VALUE:
            return self._partitionwise("pluck", PartitionOp(map), [self], (el.getter(key),),
                                       token=key)
        return self._partitionwise("pluck", PartitionOp(el.pluck_default), [self], (key, default),
                                   token=(key, default))

    def map_partitions(self, func: Callable, *args, **kwargs) -> "Bag":
        """``func(partition_list, *args, **kwargs)`` per partition; it returns an iterable.

        Bags among ``args`` are passed partition by partition, others whole.
        """
        bags: list = [self]
        template: list = [el.BagSlot(0)]
        parents: list = []
        for a in args:
            if isinstance(a, Bag):
                template.append(el.BagSlot(len(bags)))
                bags.append(a)
            else:
                template.append(broadcast(a, parents))
        kw = {k: broadcast(v, parents) for k, v in kwargs.items()}
        return self._partitionwise(f"map_partitions-{_funcname(func)}",
                                   PartitionOp(el.call_partitions), bags,
                                   (func, tuple(template), kw), parents, (func, args, kwargs))

    def join(self, other: Any, on_self: Any, on_other: Any = None) -> "Bag":
        """``(other_element, self_element)`` pairs with equal keys (inner join).

        ``other`` is an in-memory iterable (shipped with every partition's task), an
        Item/Delayed computing one, or a one-partition Bag. ``on_self``/``on_other`` are
        functions or indices/keys; ``on_other`` defaults to ``on_self``.
        """
        on_other = on_self if on_other is None else on_other
        parents: list = []
        if isinstance(other, Bag):
            if other.npartitions != 1:
                raise ValueError("join with a Bag needs a one-partition Bag (or an iterable)")
            parents.append(other._layer)
            ref: Any = Ref((other.name, 0))
        elif isinstance(other, Item) or hasattr(type(other), "__pardata_graph__"):
            ref = broadcast(other, parents)
        else:
            ref = list(other)
        return self._partitionwise("join", PartitionOp(el.join_part), [self],
                                   (ref, on_other, on_self), parents, (ref, on_other, on_self))

    def accumulate(self, binop: Callable, initial: Any = NO_VALUE) -> "Bag":
        """Running ``binop`` over the whole bag, like ``itertools.accumulate`` (sequential)."""
        name = f"accumulate-{tokenize(self.name, binop, initial)}"
        state = f"{name}-state"
        step = PartitionOp(el.accumulate_part, "value")
        take_list = PartitionOp(itemgetter(0))
        graph: dict = {}
        for i in builtins.range(self.npartitions):
            carry = (False, None) if i == 0 else Task(None, itemgetter(1), Ref((state, i - 1)))
            graph[(state, i)] = Task((state, i), step, binop, initial, i == 0, carry,
                                     Ref((self.name, i)))
            graph[(name, i)] = Task((name, i), take_list, Ref((state, i)))
        return Bag(TasksLayer(name, self.npartitions, graph, (self._layer,)))

    # -------------------------------------------------------------- reductions
    def _reduce(self, label: str, perpartition, combine, finalize=None, split_every=None,
                token=(), out=None) -> Any:
        name = f"{label}-{tokenize(self.name, token, split_every)}"
        layer = red.tree_reduce(self._layer, name, perpartition, combine, finalize, split_every)
        return (out or Item)(layer)

    def reduction(self, perpartition: Callable, aggregate: Callable, split_every: int | None = None,
                  out_type: type = None, name: str | None = None, _stream: bool = False) -> Any:
        """``aggregate(list of perpartition(partition))`` as a tree (aggregate at each level).

        ``perpartition`` gets each partition as a list. ``out_type=Bag`` gives a
        one-partition Bag of ``aggregate``'s (iterable) result. Empty partitions are
        skipped, so ``perpartition`` never sees an empty one.
        """
        label = name or f"reduction-{_funcname(perpartition)}"
        token = tokenize(self.name, perpartition, aggregate, split_every)
        layer = red.user_reduction(self._layer, f"{label}-{token}", perpartition, aggregate,
                                   split_every, _stream)
        if out_type is Bag:
            return _as_list_bag(layer)
        return Item(layer)

    def fold(self, binop: Callable, combine: Callable | None = None, initial: Any = NO_VALUE,
             split_every: int | None = None, out_type: type = None) -> Any:
        """``functools.reduce(binop)`` per partition, then ``combine`` (default ``binop``) across.

        ``initial`` must be an identity of ``binop`` and ``combine``: it may be used once
        per partition.
        """
        per = partial(red.fold_with, binop, initial)
        agg = partial(red.fold_with, combine or binop, initial)
        return self.reduction(per, agg, split_every, out_type, f"fold-{_funcname(binop)}", True)

    def sum(self, split_every: int | None = None) -> Item:
        return self.reduction(builtins.sum, builtins.sum, split_every, None, "sum", True)

    def count(self, split_every: int | None = None) -> Item:
        return self._reduce("count", red.count, builtins.sum, None, split_every)

    def min(self, split_every: int | None = None) -> Item:
        return self.reduction(builtins.min, builtins.min, split_every, None, "min", True)

    def max(self, split_every: int | None = None) -> Item:
        return self.reduction(builtins.max, builtins.max, split_every, None, "max", True)

    def any(self, split_every: int | None = None) -> Item:
        return self.reduction(builtins.any, builtins.any, split_every, None, "any", True)

    def all(self, split_every: int | None = None) -> Item:
        return self.reduction(builtins.all, builtins.all, split_every, None, "all", True)

    def mean(self, split_every: int | None = None) -> Item:
        return self._reduce("mean", red.sum_count, red.merge_sum_count, red.finish_mean, split_every)

    def var(self, ddof: int = 0, split_every: int | None = None) -> Item:
        return self._reduce("var", red.moments, red.merge_moments, partial(red.finish_var, ddof),
                            split_every, ddof)

    def std(self, ddof: int = 0, split_every: int | None = None) -> Item:
        return self._reduce("std", red.moments, red.merge_moments, partial(red.finish_std, ddof),
                            split_every, ddof)

    def frequencies(self, sort: bool = False, split_every: int | None = None) -> "Bag":
        """``(element, count)`` pairs; ``sort=True`` orders them by decreasing count."""
        return self._reduce("frequencies", red.Counter, red.merge_counters,
                            partial(red.finish_frequencies, sort), split_every, sort, Bag)

    def topk(self, k: int, key: Any = None, split_every: int | None = None) -> "Bag":
        """The ``k`` largest elements (by ``key``, a function or an index), largest first."""
        return self._reduce("topk", partial(red.topk_partition, k, key),
                            partial(red.topk_merge, k, key), None, split_every, (k, key), Bag)

    def distinct(self, key: Any = None, split_every: int | None = None) -> "Bag":
        """The elements once each (the first per ``key`` if given), in order of first sight."""
        return self._reduce("distinct", partial(red.distinct_partition, key),
                            partial(red.distinct_merge, key), partial(red.finish_distinct, key),
                            split_every, key, Bag)

    def foldby(self, key: Any, binop: Callable, initial: Any = NO_VALUE,
               combine: Callable | None = None, combine_initial: Any = NO_VALUE,
               split_every: int | None = None) -> "Bag":
        """``(k, fold of the elements with key k)`` pairs, without a shuffle.

        Each partition folds its elements per key with ``binop`` (starting from
        ``initial``, called if callable, else from the first element); the per-partition
        folds are merged per key with ``combine`` (default ``binop``) from
        ``combine_initial``. Best when there are few distinct keys; else use ``groupby``.
        """
        combine = combine or binop
        return self._reduce(
            "foldby", partial(red.foldby_partition, key, binop, initial),
            partial(red.foldby_merge, combine, combine_initial), red.items_list, split_every,
            (key, binop, initial, combine, combine_initial), Bag,
        )

    def groupby(self, grouper: Any, npartitions: int | None = None, method: str | None = None) -> "Bag":
        """``(key, [elements with that key])`` pairs, by a hash shuffle.

        ``npartitions`` of output (default: as many as the input). ``method="disk"``
        (the default on local schedulers): each partition spills its groups to files
        under config ``temporary-directory`` and each output partition reads and deletes
        its own. ``method="p2p"`` (the default while a distributed Client is active):
        workers send groups straight to the worker grouping them, which buffers them on
        its disk. ``method="tasks"`` (the default on a cluster for tiny shuffles): groups
        move as task results, worker to worker. Keys must be hashable; see
        ``pardata.bag.shuffle`` for which key types hash alike in every process.
        """
        from pardata.bag import shuffle

        nout = npartitions or self.npartitions
        if method is None and _client_active():
            method = "tasks" if self.npartitions * nout <= shuffle.TASK_SHUFFLE_MAX_EDGES else "p2p"
        method = method or "disk"
        if method == "p2p":
            if not _client_active():
                raise ValueError("groupby method 'p2p' needs a distributed Client (workers send each "
                                 "other the groups); use 'disk' or 'tasks' on the local schedulers")
            name = f"groupby-{tokenize(self.name, grouper, nout, method)}"
            return Bag(shuffle.groupby_p2p_layer(self._layer, name, grouper, nout))
        if method == "tasks":
            name = f"groupby-{tokenize(self.name, grouper, nout, method)}"
            return Bag(shuffle.groupby_tasks_layer(self._layer, name, grouper, nout))
        if method != "disk":
            raise ValueError(f"groupby method must be 'disk', 'tasks' or 'p2p', not {method!r}")
        base = config.get("temporary-directory", None)
        name = f"groupby-{tokenize(self.name, grouper, nout, base)}"
        return Bag(shuffle.groupby_layer(self._layer, name, grouper, nout, base))

    # ------------------------------------------------------------ getting data
    def take(self, k: int, npartitions: int = 1, compute: bool = True, warn: bool = True, **kwargs):
        """The first ``k`` elements, as a tuple, from the first ``npartitions`` partitions.

        Only those partitions are computed, and each only up to its ``k``-th element of
        the element-wise steps. ``npartitions=-1`` looks at all of them.
        """
        n = self.npartitions if npartitions == -1 else npartitions
        if not 1 <= n <= self.npartitions:
            raise ValueError(f"npartitions={npartitions} but the bag has {self.npartitions}")
        name = f"take-{tokenize(self.name, k, n)}"
        heads = Bag(PartitionwiseLayer(name, PartitionOp(el.head), [self._layer], (k,),
                                       partitions=list(builtins.range(n))))
        if not compute:
            return heads
        out = tuple(heads.compute(**kwargs)[:k])
        if warn and len(out) < k and n < self.npartitions:
            warnings.warn(f"take({k}) found only {len(out)} elements in the first {n} "
                          "partition(s); pass npartitions=-1 to look in all of them", UserWarning,
                          stacklevel=2)
        return out

    def to_delayed(self, optimize_graph: bool = True) -> list:
        """One Delayed per partition (each computing that partition's list)."""
        return self._delayed(optimize_graph)

    def to_dataframe(self, meta: Any = None, columns=None, optimize_graph: bool = True):
        """A ``pardata.dataframe.DataFrame`` of the records, one partition per partition.

        ``meta``: an empty pandas DataFrame or ``{column: dtype}`` giving the schema
        (without it the first partition is computed to infer it). ``columns`` names the
        fields of tuple records. See ``pardata.bag.frame``.
        """
        from pardata.bag.frame import to_dataframe

        return to_dataframe(self, meta, columns, optimize_graph)

    def to_textfiles(self, path, name_function: Callable[[int], str] | None = None,
                     compression: str | None = "infer", encoding: str = "utf-8",
                     compute: bool = True, last_endline: bool = False, **kwargs):
        """Write one text file per partition, one element (a ``str``) per line.

        ``path``: a pattern with one ``*`` (replaced by ``name_function(i)``, default
        ``str(i)``), a directory, or a list of paths. Compression is inferred from the
        suffix. Returns the paths written, or with ``compute=False`` one Delayed each.
        """
        from pardata.bag.text import output_paths, write_lines

        paths = output_paths(path, self.npartitions, name_function)
        name = f"to_textfiles-{tokenize(self.name, paths, compression, encoding, last_endline)}"
        op = PartitionOp(write_lines, "value")
        graph = {
            (name, i): Task((name, i), op, p, compression, encoding, last_endline, Ref((self.name, i)))
            for i, p in enumerate(paths)
        }
        writers = Bag(TasksLayer(name, self.npartitions, graph, (self._layer,)))
        if not compute:
            return writers.to_delayed()
        return writers.compute(**kwargs)


def _as_list_bag(layer: Layer) -> Bag:
    name = f"{layer.name}-list"
    key = (name, 0)
    task = Task(key, PartitionOp(list), Ref((layer.name, 0)))
    return Bag(TasksLayer(name, 1, {key: task}, (layer,)))


class StringAccessor:
    """``b.str.<method>(...)`` maps that ``str`` method over the elements."""

    __slots__ = ("_bag",)

    def __init__(self, bag: Bag):
        self._bag = bag

    def __dir__(self):
        return sorted(set(dir(str)) - {n for n in dir(str) if n.startswith("_")})

    def __getattr__(self, attr: str):
        if attr.startswith("_") or not hasattr(str, attr):
            raise AttributeError(f"str has no method {attr!r}")

        def method(*args, **kwargs):
            return self._bag.map(methodcaller(attr, *args, **kwargs))

        method.__name__ = attr
        return method

    def match(self, pattern: str) -> Bag:
        """The elements matching a shell-style wildcard ``pattern`` (``fnmatch``)."""
        from fnmatch import fnmatch

        return self._bag.filter(partial(_swapped_fnmatch, fnmatch, pattern))


def _swapped_fnmatch(fnmatch: Callable, pattern: str, text: str) -> bool:
    return fnmatch(text, pattern)

