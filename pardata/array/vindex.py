"""Point-wise indexing: ``x.vindex[rows, cols]`` picks the points ``x[rows[k], cols[k]]``.

Dask's semantics (NEP 21 ``vindex``): the integer arrays are broadcast together and
select points; the broadcast dimensions always come first in the result, followed by
the axes indexed with slices. Integers index their axis away first (as ``x[...]``
does); boolean arrays and ``None`` are refused with an error saying what to use instead.

The points are split into output chunks of about one input block's worth of data. For
each output chunk the points are grouped by the input block they fall in, and one task
gathers from just those blocks, so a handful of points out of a huge array reads a
handful of blocks.
"""
from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from pardata.array.chunks import has_unknown, offsets
from pardata.array.core import Array
from pardata.array.layers import GraphLayer, block_indices
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize


class VIndex:
    """``x.vindex``: index with ``[...]`` to pick points (see the module docstring)."""

    __slots__ = ("x",)

    def __init__(self, x: Array):
        self.x = x

    def __getitem__(self, key) -> Array:
        return vindex(self.x, key)


def _expand(key: tuple, ndim: int) -> tuple:
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    used = sum(k is not Ellipsis for k in key)
    if used > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {used} were indexed")
    if any(k is Ellipsis for k in key):
        pos = next(i for i, k in enumerate(key) if k is Ellipsis)
        return key[:pos] + (slice(None),) * (ndim - used) + key[pos + 1:]
    return key + (slice(None),) * (ndim - used)


def vindex(x: Array, key) -> Array:
    """The points of ``x`` selected by broadcasting integer arrays (``x.vindex[...]``)."""
    key = key if isinstance(key, tuple) else (key,)
    if any(k is None for k in key):
        raise IndexError("vindex does not support None (np.newaxis); add axes to the result instead")
    if any(isinstance(k, Array) for k in key):
        raise NotImplementedError("vindex takes NumPy integer arrays or lists; "
                                  "a pardata array index must be computed first")
    key = _expand(key, x.ndim)
    if all(isinstance(k, slice) for k in key):
        if all(k == slice(None) for k in key):
            return x
        raise IndexError("vindex needs at least one integer array; for pure slicing use x[...]")
    basic, arrays = [], []
    for k in key:
        if isinstance(k, slice):
            basic.append(k)
        elif isinstance(k, Integral) or isinstance(k, np.ndarray) and k.ndim == 0 and k.dtype.kind in "iu":
            basic.append(int(k))
            continue
        else:
            a = np.asarray(k)
            if a.dtype == bool:
                raise IndexError("vindex does not support boolean arrays; use x[mask] or np.nonzero(mask)")
            if a.size == 0 and a.dtype.kind == "f":
                a = a.astype(np.intp)
            if a.dtype.kind not in "iu":
                raise IndexError(f"vindex takes integer arrays, not {a.dtype}")
            basic.append(slice(None))
        arrays.append(None if isinstance(k, slice) else a)
    y = x[tuple(basic)]
    axes = [i for i, a in enumerate(arrays) if a is not None]
    if not axes:
        return y
    if has_unknown(tuple(y.chunks[a] for a in axes)):
        raise ValueError("cannot vindex an axis of unknown chunk sizes; call compute_chunk_sizes()")
    bcast = np.broadcast_arrays(*(arrays[a] for a in axes))
    out_shape = bcast[0].shape
    coords = np.stack([b.ravel().astype(np.intp) for b in bcast], axis=1) if bcast[0].size else \
        np.empty((0, len(axes)), dtype=np.intp)
    for j, a in enumerate(axes):
        n = y.shape[a]
        bad = (coords[:, j] >= n) | (coords[:, j] < -n)
        if bad.any():
            raise IndexError(f"index {int(coords[bad, j][0])} is out of bounds for axis {a} with size {n}")
        coords[:, j] %= max(n, 1)
    flat = _gather_points(y, axes, coords)
    if len(out_shape) == 1:
        return flat
    from pardata.array.reshape import reshape

    rest = tuple(s for i, s in enumerate(y.shape) if i not in axes)
    return reshape(flat, out_shape + rest)


def _gather(axes, shape, dtype, plan, *blocks):
    out = np.empty(shape, dtype=dtype)
    front = tuple(range(len(axes)))
    for (where, local), block in zip(plan, blocks):
        out[where] = np.moveaxis(block, axes, front)[tuple(local.T)]
    return out


def _gather_points(y: Array, axes: list, coords: np.ndarray) -> Array:
    """``(P,) + rest``: the P points ``coords`` (one column per axis in ``axes``) of ``y``."""
    rest_axes = [i for i in range(y.ndim) if i not in axes]
    rest_chunks = tuple(y.chunks[i] for i in rest_axes)
    rest_elems = math.prod(max(max(d), 1) for d in rest_chunks)
    block_elems = math.prod(max(max(d), 1) for d in y.chunks)
    target = max(1, block_elems // rest_elems)
    npoints = len(coords)
    point_chunks = tuple(min(target, npoints - s) for s in range(0, npoints, target)) or (0,)
    starts = [np.asarray(offsets(y.chunks[a])) for a in axes]
    nb = tuple(len(y.chunks[a]) for a in axes)
    block_ids = np.stack([np.searchsorted(s, coords[:, j], side="right") - 1 for j, s in enumerate(starts)],
                         axis=1) if npoints else np.empty((0, len(axes)), dtype=np.intp)
    flat_ids = np.ravel_multi_index(tuple(block_ids.T), nb) if npoints else np.empty(0, dtype=np.intp)
    plans = []
    s = 0
    for size in point_chunks:
        ids = flat_ids[s:s + size]
        plan = []
        for g in np.unique(ids):
            where = np.flatnonzero(ids == g)
            blk = np.unravel_index(int(g), nb)
            local = coords[s + where] - np.array([st[b] for st, b in zip(starts, blk)], dtype=np.intp)
            plan.append((tuple(int(b) for b in blk), where, local))
        plans.append(plan)
        s += size
    chunks = (point_chunks, *rest_chunks)
    name = f"vindex-{tokenize(y.name, coords, axes)}"
    yname, ndim, dtype = y.name, y.ndim, y.dtype  # bound now: ``y[...] = v`` later rebinds y

    def build() -> dict:
        graph = {}
        for idx in block_indices(chunks):
            key = (name, *idx)
            plan = plans[idx[0]]
            refs = []
            for blk, _, _ in plan:
                full = [0] * ndim
                for a, b in zip(axes, blk):
                    full[a] = b
                for a, r in zip(rest_axes, idx[1:]):
                    full[a] = r
                refs.append(Ref((yname, *full)))
            shape = tuple(c[i] for c, i in zip(chunks, idx))
            graph[key] = Task(key, _gather, tuple(axes), shape, dtype,
                              tuple((w, loc) for _, w, loc in plan), *refs)
        return graph

    return Array(GraphLayer(name, chunks, (y._layer,), build), y.dtype)
