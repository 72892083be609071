"""The high-level graph of an array: layers, blockwise fusion, and lowering to tasks.

An ``Array`` is one ``Layer`` plus a dtype. A layer knows its output name and chunks,
the layers it reads (``deps``), and how to produce the task of any one of its blocks.
Nothing is turned into tasks until something is computed; then ``materialize`` does, in
one walk from the outputs:

1. Fusion. A ``Blockwise`` layer whose only reader is one other ``Blockwise`` layer, which
   reads each of its blocks at most once (an injective block map, no broadcasting or
   contraction), is not lowered on its own: its block task is built *inside* the
   reader's task as an inline, key-less ``Task``. A chain such as ``(x + 1) * 2 - y``
   thus becomes one task per output block, and no intermediate task is ever created.
2. Demand. Layers are lowered consumers first; each layer builds only the blocks its
   consumers referenced (all of them for the outputs). Slicing a few blocks out of a big
   array therefore never creates tasks for the rest.

``GraphLayer`` covers everything that is not blockwise (reductions' tree levels,
rechunking, concatenation, ...): a function that builds a dict of nodes on demand.
"""
from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np

from pardata.core.spec import Alias, DataNode, Ref, Task


def key_name(key) -> Any:
    return key[0] if type(key) is tuple else key


def block_indices(chunks) -> itertools.product:
    return itertools.product(*(range(len(dim)) for dim in chunks))


class Layer:
    """One node of the high-level graph (abstract)."""

    __slots__ = ("name", "chunks", "deps", "__weakref__")

    name: str
    chunks: tuple
    deps: tuple

    @property
    def numblocks(self) -> tuple:
        return tuple(len(d) for d in self.chunks)

    def names(self) -> set:
        """Key names (``key[0]``, or the key itself for str keys) this layer's tasks use."""
        return {self.name}

    def lower(self, wanted, fused: dict) -> dict:  # pragma: no cover - abstract
        """Nodes for the keys in ``wanted`` (``None``: all output blocks) and what they need."""
        raise NotImplementedError


# ----------------------------------------------------------------------------- blockwise

class BlockMap:
    """Which block of an input a given output block reads.

    ``dims`` has one entry per input axis: ``k`` (output axis ``k``, same block number),
    ``(k, table)`` (output axis ``k`` through ``table[i]``), ``None`` (always block 0:
    broadcasting), ``("at", b)`` (always block ``b``: an axis indexed away) or
    ``("sum", n)`` (a contracted axis: all ``n`` blocks, as a list).
    """

    __slots__ = ("dims", "concatenate")

    def __init__(self, dims: tuple, concatenate: bool = False):
        self.dims = tuple(dims)
        self.concatenate = concatenate

    @property
    def contracted(self) -> list:
        return [a for a, d in enumerate(self.dims) if type(d) is tuple and d[0] == "sum"]

    def __call__(self, out_idx: tuple):
        base = []
        for d in self.dims:
            if d is None:
                base.append(0)
            elif type(d) is int:
                base.append(out_idx[d])
            elif d[0] == "sum":
                base.append(None)
            elif d[0] == "at":
                base.append(d[1])
            else:
                base.append(d[1][out_idx[d[0]]])
        contracted = self.contracted
        if not contracted:
            return tuple(base)

        def nest(level: int, idx: list):
            if level == len(contracted):
                return tuple(idx)
            axis = contracted[level]
            out = []
            for i in range(self.dims[axis][1]):
                idx[axis] = i
                out.append(nest(level + 1, idx))
            return out

        return nest(0, base)

    def injective(self, out_numblocks: tuple) -> bool:
        """Whether distinct output blocks always read distinct input blocks, once each."""
        if self.contracted:
            return False
        seen = set()
        for d in self.dims:
            if type(d) is int:
                seen.add(d)
            elif type(d) is tuple and d[0] != "at":
                if len(set(d[1])) != len(d[1]):
                    return False
                seen.add(d[0])
        return all(n <= 1 or k in seen for k, n in enumerate(out_numblocks))


class ArrayArg:
    """An array input of a ``Blockwise`` layer."""

    __slots__ = ("layer", "blockmap")

    def __init__(self, layer: Layer, blockmap: BlockMap):
        self.layer = layer
        self.blockmap = blockmap


class PerBlock:
    """A literal argument that differs per output block: ``func(out_idx)``."""

    __slots__ = ("func",)

    def __init__(self, func: Callable[[tuple], Any]):
        self.func = func


def _concatenate_nested(nested, axes):
    """Concatenate a nested list of blocks along ``axes`` (outermost list first)."""
    if not axes:
        return nested
    if type(nested) is not list:
        return nested
    parts = [_concatenate_nested(n, axes[1:]) for n in nested]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axes[0])


class Blockwise(Layer):
    """``out[idx] = func(*args_for(idx), **kwargs)`` for every output block ``idx``.

    ``args`` holds ``ArrayArg`` (a block of another layer, chosen by its ``BlockMap``),
    ``PerBlock`` (a literal computed from the block index) or plain literals. ``extra`` is
    a small dict of nodes the literals may reference with ``Ref`` (e.g. the source of
    ``from_array``), emitted once with this layer.
    """

    __slots__ = ("func", "args", "kwargs", "extra")

    def __init__(self, name: str, chunks: tuple, func: Callable, args: list, kwargs: dict | None = None,
                 extra: dict | None = None):
        self.name = name
        self.chunks = tuple(chunks)
        self.func = func
        self.args = tuple(args)
        self.kwargs = kwargs or {}
        self.extra = extra or {}
        deps: dict = {}
        for a in self.args:
            if type(a) is ArrayArg:
                deps[id(a.layer)] = a.layer
        self.deps = tuple(deps.values())

    def names(self) -> set:
        return {self.name, *map(key_name, self.extra)}

    def block_task(self, key, idx: tuple, fused: dict) -> Task:
        args = []
        for a in self.args:
            typ = type(a)
            if typ is ArrayArg:
                src = a.blockmap(idx)
                name = a.layer.name
                if type(src) is tuple:
                    inner = fused.get(name)
                    args.append(inner.block_task(None, src, fused) if inner is not None
                                else Ref((name, *src)))
                else:
                    refs = _refs(name, src)
                    if a.blockmap.concatenate:
                        refs = Task(None, _concatenate_nested, refs, a.blockmap.contracted)
                    args.append(refs)
            elif typ is PerBlock:
                args.append(a.func(idx))
            else:
                args.append(a)
        return Task(key, self.func, *args, **self.kwargs)

    def lower(self, wanted, fused: dict) -> dict:
        name = self.name
        out = dict(self.extra)
        if wanted is None:
            for idx in block_indices(self.chunks):
                key = (name, *idx)
                out[key] = self.block_task(key, idx, fused)
        else:
            for key in wanted:
                if key_name(key) == name and type(key) is tuple:
                    out[key] = self.block_task(key, key[1:], fused)
        return out


def _refs(name, nested):
    if type(nested) is list:
        return [_refs(name, n) for n in nested]
    return Ref((name, *nested))


# ----------------------------------------------------------------------------- any graph

class GraphLayer(Layer):
    """Blocks given by an arbitrary dict of nodes, built on first use by ``build()``.

    ``build`` may create keys under other names (intermediate stages); all of them are
    owned by this layer and lowered only if some wanted key needs them.
    """

    __slots__ = ("_build", "_graph")

    def __init__(self, name: str, chunks: tuple, deps: tuple, build):
        self.name = name
        self.chunks = tuple(chunks)
        self.deps = tuple(deps)
        if isinstance(build, dict):
            self._graph, self._build = build, None
        else:
            self._graph, self._build = None, build

    @property
    def graph(self) -> dict:
        if self._graph is None:
            self._graph = self._build()
            self._build = None
        return self._graph

    def names(self) -> set:
        return {self.name, *map(key_name, self.graph)}

    def lower(self, wanted, fused: dict) -> dict:
        graph = self.graph
        if wanted is None:
            return dict(graph)
        out: dict = {}
        stack = [k for k in wanted if k in graph]
        while stack:
            key = stack.pop()
            if key in out:
                continue
            node = out[key] = graph[key]
            stack.extend(d for d in node.dependencies if d in graph and d not in out)
        return out


def data_layer(name: str, chunks: tuple, blocks: dict) -> GraphLayer:
    """A layer whose blocks are already computed values (after ``persist``)."""
    return GraphLayer(name, chunks, (), {k: DataNode(k, v) for k, v in blocks.items()})


# ----------------------------------------------------------------------------- lowering

def _walk(outputs) -> list:
    """Layers reachable from ``outputs``, dependencies before dependents."""
    seen: dict = {}
    order: list = []
    for root in outputs:
        stack = [(root, iter(root.deps))]
        if id(root) in seen:
            continue
        seen[id(root)] = root
        while stack:
            layer, it = stack[-1]
            for dep in it:
                if id(dep) not in seen:
                    seen[id(dep)] = dep
                    stack.append((dep, iter(dep.deps)))
                    break
            else:
                stack.pop()
                order.append(layer)
    return order


def fusable(layers: list, outputs) -> dict:
    """Name -> Blockwise layer for every layer that will be built inside its reader."""
    out_names = {layer.name for layer in outputs}
    readers: dict = {}
    for layer in layers:
        if type(layer) is Blockwise:
            for a in layer.args:
                if type(a) is ArrayArg:
                    readers.setdefault(a.layer.name, []).append((layer, a))
        else:
            for dep in layer.deps:
                readers.setdefault(dep.name, []).append((layer, None))
    fused = {}
    for layer in layers:
        if type(layer) is not Blockwise or layer.name in out_names:
            continue
        rs = readers.get(layer.name, [])
        if len(rs) != 1:
            continue
        reader, arg = rs[0]
        if arg is not None and arg.blockmap.injective(reader.numblocks):
            fused[layer.name] = layer
    return fused


def materialize(outputs, fuse: bool = True) -> dict:
    """Lower the layers behind ``outputs`` into one task graph (see the module docstring)."""
    layers = _walk(outputs)
    by_name: dict = {}
    owner: dict = {}
    for layer in layers:
        by_name.setdefault(layer.name, layer)
    fused = fusable(layers, outputs) if fuse else {}
    for layer in layers:
        if layer.name not in fused:
            for n in layer.names():
                owner.setdefault(n, layer.name)
    wanted: dict = {layer.name: None for layer in outputs}
    graph: dict = {}
    done = set()
    for layer in reversed(layers):
        name = layer.name
        if name in fused or name in done or name not in wanted:
            continue
        done.add(name)
        nodes = layer.lower(wanted[name], fused)
        graph.update(nodes)
        for node in nodes.values():
            for d in node.dependencies:
                if d in nodes:
                    continue
                o = owner.get(key_name(d))
                if o is None or o == name:
                    continue
                want = wanted.get(o, ())
                if want is None:
                    continue
                if want == ():
                    want = wanted[o] = set()
                want.add(d)
    for layer in fused.values():
        graph.update(layer.extra)  # e.g. the source of from_array, read by inline tasks
    return _drop_aliases(graph, {layer.name for layer in outputs})


def _drop_aliases(graph: dict, out_names: set) -> dict:
    """Point references to an ``Alias`` straight at its target (outputs keep theirs)."""
    aliases = {k: n.target for k, n in graph.items()
               if type(n) is Alias and key_name(k) not in out_names}
    if not aliases:
        return graph
    for k, t in list(aliases.items()):
        seen = {k}
        while t in aliases and t not in seen:
            seen.add(t)
            t = aliases[t]
        aliases[k] = t
    subs = {k: Ref(t) for k, t in aliases.items()}
    out = {}
    for k, node in graph.items():
        if k in aliases:
            continue
        if type(node) is Task and any(d in subs for d in node.dependencies):
            node = node.substitute(subs)
        elif type(node) is Alias and node.target in aliases:
            node = Alias(k, aliases[node.target])
        out[k] = node
    return out
