"""``reshape`` and ``ravel`` in C order, block by block.

The old and new shapes are split into groups of axes with equal products (e.g.
``(6, 4) -> (2, 3, 4)`` gives ``[6] -> [2, 3]`` and ``[4] -> [4]``). Within a group every
axis but the first is made one chunk, and the first axis is chunked in multiples of
what the new group's trailing axes need, so each old block becomes exactly one new
block by a plain ``block.reshape``. The only data movement is that rechunk.
"""
from __future__ import annotations

import math

from pardata.array.chunks import has_unknown
from pardata.array.core import Array
from pardata.array.layers import GraphLayer, block_indices
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize


def _groups(old: tuple, new: tuple) -> list:
    """Pairs ``(old axes, new axes)`` of consecutive axes whose lengths multiply equally."""
    groups = []
    i = j = 0
    while i < len(old) or j < len(new):
        gi, gj = [i] if i < len(old) else [], [j] if j < len(new) else []
        po = old[i] if i < len(old) else 1
        pn = new[j] if j < len(new) else 1
        i, j = i + bool(gi), j + bool(gj)
        while po != pn:
            if po < pn and i < len(old):
                po *= old[i]
                gi.append(i)
                i += 1
            elif j < len(new):
                pn *= new[j]
                gj.append(j)
                j += 1
            else:
                gi.append(i)
                po *= old[i]
                i += 1
        # absorb trailing length-1 axes so groups stay as small as possible
        groups.append((gi, gj))
    return groups


def _multiple_chunks(dim: tuple, m: int, total: int) -> tuple:
    """Chunks along one axis, close to ``dim``, each a multiple of ``m`` (last may be short)."""
    if m <= 1:
        return dim
    target = max(m, int(round(max(dim) / m)) * m)
    full, rest = divmod(total, target)
    return (target,) * full + ((rest,) if rest else ()) or (0,)


def _reshape_block(block, shape):
    return block.reshape(shape)


def reshape(x, shape, merge_chunks=True, limit=None) -> Array:
    """The same data in a new shape (C order); one ``-1`` is inferred."""
    from pardata.array.creation import asarray

    x = asarray(x)
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if has_unknown(x.chunks):
        raise ValueError("cannot reshape an array of unknown chunk sizes; call compute_chunk_sizes()")
    size = math.prod(x.shape)
    if -1 in shape:
        rest = math.prod(s for s in shape if s != -1)
        if rest == 0 or size % rest:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // rest if s == -1 else s for s in shape)
    if math.prod(shape) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    if shape == x.shape:
        return x
    name = f"reshape-{tokenize(x.name, shape)}"
    if size == 0 or x.ndim == 0 or len(shape) == 0:
        single = x.rechunk(tuple((s,) for s in x.shape)) if x.ndim else x
        chunks = tuple((s,) for s in shape)
        key = (name,) + (0,) * len(shape)
        src = (single.name,) + (0,) * x.ndim
        graph = {key: Task(key, _reshape_block, Ref(src), shape)}
        return Array(GraphLayer(name, chunks, (single._layer,), graph), x.dtype)
    old_shape = tuple(int(s) for s in x.shape)
    groups = _groups(old_shape, shape)
    in_chunks = list(x.chunks)
    out_chunks: list = [None] * len(shape)
    for gi, gj in groups:
        if not gi:
            for j in gj:
                out_chunks[j] = (1,)
            continue
        if not gj:
            continue
        if len(gi) == 1 and len(gj) == 1:
            out_chunks[gj[0]] = in_chunks[gi[0]]
            continue
        for i in gi[1:]:
            in_chunks[i] = (old_shape[i],)
        tail_old = math.prod(old_shape[i] for i in gi[1:])
        tail_new = math.prod(shape[j] for j in gj[1:])
        m = tail_new // math.gcd(tail_old, tail_new)
        first = gi[0]
        in_chunks[first] = _multiple_chunks(x.chunks[first], m, old_shape[first])
        out_chunks[gj[0]] = tuple(c * tail_old // tail_new for c in in_chunks[first])
        for j in gj[1:]:
            out_chunks[j] = (shape[j],)
    src = x.rechunk(tuple(in_chunks))
    # map each old block index to the new one
    new_axis_of_old = {}
    for gi, gj in groups:
        if gi and gj:
            new_axis_of_old[gi[0]] = gj[0]
    out_chunks = tuple(out_chunks)
    src_name, src_chunks = src.name, src.chunks  # bound now: ``x[...] = v`` later rebinds x

    def build() -> dict:
        graph = {}
        for idx in block_indices(src_chunks):
            new_idx = [0] * len(shape)
            for a, i in enumerate(idx):
                if a in new_axis_of_old:
                    new_idx[new_axis_of_old[a]] = i
            bshape = tuple(out_chunks[j][new_idx[j]] for j in range(len(shape)))
            key = (name, *new_idx)
            graph[key] = Task(key, _reshape_block, Ref((src_name, *idx)), bshape)
        return graph

    return Array(GraphLayer(name, out_chunks, (src._layer,), build), x.dtype)


def ravel(x) -> Array:
    from pardata.array.creation import asarray

    x = asarray(x)
    return x if x.ndim == 1 else reshape(x, (-1,))

