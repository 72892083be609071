"""``map_overlap``: apply a function to blocks extended by a halo from their neighbours.

Each block is grown by ``depth`` elements per side along each axis, taken from the
neighbouring blocks (up to 3**ndim of them) or, at the array's edges, made by the
``boundary`` rule: ``"reflect"`` (mirror, edge included), ``"periodic"`` (wrap around),
``"nearest"`` (repeat the edge), ``"none"`` (no halo at the edge) or a constant. Then
``func`` runs on the grown block and the halo is trimmed away again; those two steps
are one blockwise layer, so they share one task per block.
"""
from __future__ import annotations

from numbers import Number

import numpy as np

from pardata.array.chunks import blocks_from_blocksize
from pardata.array.core import Array
from pardata.array.layers import ArrayArg, BlockMap, Blockwise, GraphLayer, PerBlock, block_indices
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize


def _normalize_depth(depth, ndim) -> tuple:
    if isinstance(depth, dict):
        return tuple(int(depth.get(a, depth.get(a - ndim, 0))) for a in range(ndim))
    if isinstance(depth, (tuple, list)):
        return tuple(int(d) for d in depth)
    return (int(depth),) * ndim


def _normalize_boundary(boundary, ndim) -> tuple:
    if isinstance(boundary, dict):
        return tuple(boundary.get(a, boundary.get(a - ndim, "none")) for a in range(ndim))
    if isinstance(boundary, (tuple, list)):
        return tuple(boundary)
    return (boundary if boundary is not None else "reflect",) * ndim


_PAD_MODES = {"reflect": "symmetric", "nearest": "edge"}


def _grow(nested, sides, depths, modes, axis=0):
    """Assemble one grown block from its neighbour grid (outermost axis first)."""
    if axis == len(depths):
        return nested
    parts = [_grow(n, sides, depths, modes, axis + 1) for n in nested]
    has_prev, has_next = sides[axis]
    d = depths[axis]
    pieces = []
    k = 0
    if has_prev:
        pieces.append(np.take(parts[0], range(parts[0].shape[axis] - d, parts[0].shape[axis]), axis=axis))
        k = 1
    pieces.append(parts[k])
    if has_next:
        pieces.append(np.take(parts[k + 1], range(d), axis=axis))
    block = np.concatenate(pieces, axis=axis) if len(pieces) > 1 else pieces[0]
    mode = modes[axis]
    pad = [(0, 0)] * block.ndim
    pad[axis] = (0 if has_prev else d, 0 if has_next else d)
    if d and mode != "none" and pad[axis] != (0, 0):
        if isinstance(mode, Number):
            block = np.pad(block, pad, mode="constant", constant_values=mode)
        else:
            block = np.pad(block, pad, mode=_PAD_MODES[mode])
    return block


def _deep_enough(dim: tuple, depth: int) -> tuple:
    sizes = blocks_from_blocksize(sum(dim), max(max(dim), depth))
    if len(sizes) > 1 and sizes[-1] < depth:
        sizes = sizes[:-2] + (sizes[-2] + sizes[-1],)
    return sizes


def overlap(x: Array, depth, boundary="reflect") -> Array:
    """The array of grown blocks (each block plus its halo); used by ``map_overlap``."""
    depths = _normalize_depth(depth, x.ndim)
    modes = _normalize_boundary(boundary, x.ndim)
    for m in modes:
        if not (isinstance(m, Number) or m in ("reflect", "periodic", "nearest", "none")):
            raise ValueError(f"unknown boundary {m!r}")
    # every block must be at least as deep as the halo it lends its neighbours
    target = tuple(d if len(d) == 1 or min(d) >= dep else _deep_enough(d, dep)
                   for d, dep in zip(x.chunks, depths))
    if target != x.chunks:
        x = x.rechunk(target)
    nb = x.numblocks
    periodic = [m == "periodic" for m in modes]
    grown_chunks = []
    for a, dim in enumerate(x.chunks):
        d = depths[a]
        grown = []
        for i, c in enumerate(dim):
            lo = d if (i > 0 or modes[a] != "none") else 0
            hi = d if (i < nb[a] - 1 or modes[a] != "none") else 0
            grown.append(c + (lo + hi if d else 0))
        grown_chunks.append(tuple(grown))
    name = f"overlap-{tokenize(x.name, depths, modes)}"

    xname, xchunks = x.name, x.chunks  # bound now: a later ``x[...] = v`` rebinds x

    def build() -> dict:
        graph = {}
        for idx in block_indices(xchunks):
            neighbours, sides = [], []
            for a, i in enumerate(idx):
                if depths[a] == 0:
                    neighbours.append([i])
                    sides.append((False, False))
                    continue
                prev = i - 1 if i > 0 else (nb[a] - 1 if periodic[a] else None)
                nxt = i + 1 if i < nb[a] - 1 else (0 if periodic[a] else None)
                neighbours.append([b for b in (prev, i, nxt) if b is not None])
                sides.append((prev is not None, nxt is not None))
            key = (name, *idx)
            graph[key] = Task(key, _grow, _grid(xname, neighbours), tuple(sides), depths, modes)
        return graph

    return Array(GraphLayer(name, tuple(grown_chunks), (x._layer,), build), x.dtype)


def _grid(name, neighbours, prefix=()):
    if len(prefix) == len(neighbours):
        return Ref((name, *prefix))
    return [_grid(name, neighbours, (*prefix, b)) for b in neighbours[len(prefix)]]


def _trim_block(block, index):
    return block[index]


def map_overlap(func, x, depth, boundary="reflect", trim=True, dtype=None, **kwargs) -> Array:
    """``func`` on each block grown by ``depth`` (see the module docstring)."""
    from pardata.array.blockwise import map_blocks
    from pardata.array.creation import asarray

    x = asarray(x)
    depths = _normalize_depth(depth, x.ndim)
    modes = _normalize_boundary(boundary, x.ndim)
    grown = overlap(x, depths, modes)
    applied = map_blocks(func, grown, dtype=dtype if dtype is not None else x.dtype, **kwargs)
    if not trim:
        return applied
    base = grown._layer.deps[0]  # the (possibly rechunked) input
    nb = tuple(len(d) for d in base.chunks)

    def local(idx):
        out = []
        for a, i in enumerate(idx):
            d = depths[a]
            lo = d if d and (i > 0 or modes[a] != "none") else 0
            hi = d if d and (i < nb[a] - 1 or modes[a] != "none") else 0
            out.append(slice(lo, base.chunks[a][i] + lo))
            _ = hi
        return tuple(out)

    name = f"trim-{tokenize(applied.name, depths, modes)}"
    layer = Blockwise(name, base.chunks, _trim_block,
                      [ArrayArg(applied._layer, BlockMap(range(x.ndim))), PerBlock(local)])
    return Array(layer, applied.dtype)
