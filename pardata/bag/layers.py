"""The high-level description a Bag holds: layers that emit their tasks on demand.

A Bag (or Item) wraps one ``Layer``: a name, a number of partitions and the layers it
reads. Partition ``i`` of a layer lives under the key ``(name, i)``. Nothing becomes a
task until a graph is asked for (``graph_of``); then each layer emits its own tasks:

- ``SourceLayer``: partitions given as ready nodes (literal lists, file blocks, the
  values of Delayed objects), plus any foreign graph those nodes read;
- ``PartitionwiseLayer``: partition ``i`` is a function of partition ``i`` of each input
  bag and of broadcast arguments (Items, Delayed values, literals);
- ``TasksLayer``: anything else (tree reductions, shuffles, scans), given as tasks.

Every per-partition function runs inside a ``PartitionOp``, which records what it
returns: ``"list"`` (an iterable, made a list when the task ends) or ``"value"`` (a
final value such as a partial sum). Input partitions always come last in the task's
arguments and are only iterated once, so the bag optimizer may hand a function a lazy
iterator instead of a list; that is how a chain of element-wise steps runs as one task
(see ``pardata.bag.optimize``).
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from pardata.base import is_collection
from pardata.core.spec import Node, Ref, Task

_MODES = ("list", "value", "lazy")


class PartitionOp:
    """A per-partition function and the shape of its result.

    ``mode`` is ``"list"`` (the function returns an iterable; the task's result is that
    iterable as a list), ``"value"`` (returned as is), or ``"lazy"`` (an iterable left
    unmaterialized: only ever inside another partition task, placed there by the
    optimizer). The last ``ninputs`` positional arguments are input partitions: only
    those may be handed over as lazy iterators.
    """

    __slots__ = ("func", "mode", "ninputs")

    def __init__(self, func: Callable, mode: str = "list", ninputs: int = 1):
        if mode not in _MODES:
            raise ValueError(f"unknown PartitionOp mode {mode!r}")
        self.func = func
        self.mode = mode
        self.ninputs = ninputs

    def __call__(self, *args, **kwargs):
        out = self.func(*args, **kwargs)
        if self.mode == "list" and type(out) is not list:
            return list(out)
        return out

    def lazy(self) -> "PartitionOp":
        return PartitionOp(self.func, "lazy", self.ninputs)

    @property
    def __name__(self) -> str:
        return getattr(self.func, "__name__", type(self.func).__name__)

    def __repr__(self) -> str:
        return f"PartitionOp({self.__name__}, {self.mode!r})"

    def __eq__(self, other: object) -> bool:
        return (type(other) is PartitionOp and other.func == self.func and other.mode == self.mode
                and other.ninputs == self.ninputs)

    def __hash__(self) -> int:
        return hash((PartitionOp, self.mode))

    def __reduce__(self):
        return (PartitionOp, (self.func, self.mode, self.ninputs))


class Layer:
    """One step of a bag's lineage; partition ``i`` is keyed ``(name, i)``."""

    __slots__ = ("name", "npartitions", "parents", "_tasks")

    def __init__(self, name: str, npartitions: int, parents: Iterable["Layer"] = ()):
        self.name = name
        self.npartitions = npartitions
        self.parents = tuple(parents)
        self._tasks: dict | None = None

    def keys(self) -> list:
        return [(self.name, i) for i in range(self.npartitions)]

    def tasks(self) -> dict:
        """This layer's own nodes (not its parents'), built once."""
        if self._tasks is None:
            self._tasks = self._build()
        return self._tasks

    def _build(self) -> dict:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, npartitions={self.npartitions})"


class SourceLayer(Layer):
    """Partitions given as nodes keyed ``(name, i)``, plus a foreign graph they read."""

    __slots__ = ("nodes", "graph")

    def __init__(self, name: str, nodes: list, graph: dict | None = None, parents=()):
        super().__init__(name, len(nodes), parents)
        for i, node in enumerate(nodes):
            if not isinstance(node, Node) or node.key != (name, i):
                raise ValueError(f"source partition {i} must be a node keyed {(name, i)!r}")
        self.nodes = nodes
        self.graph = graph

    def _build(self) -> dict:
        out = dict(self.graph) if self.graph else {}
        out.update((node.key, node) for node in self.nodes)
        return out


class GraphLayer(Layer):
    """A foreign graph (a Delayed's, say) that bag tasks reference by key."""

    __slots__ = ("graph",)

    def __init__(self, name: str, graph: dict):
        super().__init__(name, 0)
        self.graph = graph

    def _build(self) -> dict:
        return self.graph


class PartitionwiseLayer(Layer):
    """Partition ``i`` = ``op(*args, *[input[i] for input in inputs], **kwargs)``.

    ``args`` and ``kwargs`` may hold ``Ref`` objects to broadcast keys (the layers that
    own them are listed in ``extra_parents``). All inputs must have ``npartitions``
    partitions, unless ``partitions`` selects which input partitions to read.
    """

    __slots__ = ("op", "inputs", "args", "kwargs", "partitions")

    def __init__(self, name: str, op: PartitionOp, inputs: list, args: tuple = (),
                 kwargs: dict | None = None, extra_parents=(), partitions: list | None = None):
        counts = {layer.npartitions for layer in inputs}
        if len(counts) > 1:
            raise ValueError(
                "bags combined partition-wise must have the same number of partitions, got "
                + ", ".join(str(layer.npartitions) for layer in inputs)
            )
        n = len(partitions) if partitions is not None else counts.pop()
        super().__init__(name, n, (*inputs, *extra_parents))
        if op.ninputs != len(inputs):
            op = PartitionOp(op.func, op.mode, len(inputs))
        self.op = op
        self.inputs = tuple(inputs)
        self.args = tuple(args)
        self.kwargs = kwargs or {}
        self.partitions = partitions

    def _build(self) -> dict:
        op, args, kwargs, name = self.op, self.args, self.kwargs, self.name
        sources = self.partitions if self.partitions is not None else range(self.npartitions)
        out = {}
        for i, j in enumerate(sources):
            key = (name, i)
            refs = [Ref((layer.name, j)) for layer in self.inputs]
            out[key] = Task(key, op, *args, *refs, **kwargs)
        return out


class TasksLayer(Layer):
    """Arbitrary tasks; ``npartitions`` of them are the outputs ``(name, i)``."""

    __slots__ = ("graph",)

    def __init__(self, name: str, npartitions: int, graph: dict, parents=()):
        super().__init__(name, npartitions, parents)
        self.graph = graph

    def _build(self) -> dict:
        return self.graph


def graph_of(layer: Layer) -> dict:
    """The low-level graph of ``layer`` and everything it reads."""
    graph: dict = {}
    seen: set = set()
    stack = [layer]
    while stack:
        current = stack.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        graph.update(current.tasks())
        stack.extend(current.parents)
    return graph


def broadcast(obj: Any, parents: list) -> Any:
    """``obj`` as a task argument usable by every partition.

    Items and other collections with one output become a ``Ref`` to that output (their
    layer or graph is appended to ``parents``); containers are walked; anything else is
    a literal. Bags are rejected: they are combined partition-wise, not broadcast.
    """
    from pardata.bag.core import Bag, Item

    typ = type(obj)
    if isinstance(obj, Item):
        parents.append(obj._layer)
        return Ref(obj.key)
    if isinstance(obj, Bag):
        raise TypeError("a Bag cannot be broadcast to every partition; pass it as a bag argument")
    if typ is list or typ is tuple:
        return typ(broadcast(o, parents) for o in obj)
    if typ is dict:
        return {k: broadcast(v, parents) for k, v in obj.items()}
    if is_collection(obj):
        from pardata.delayed import delayed

        d = delayed(obj)
        parents.append(GraphLayer(f"graph-{d.key}", d.__pardata_graph__()))
        return Ref(d.key)
    return obj
