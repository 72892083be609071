"""Indexing: ints, slices (any step), ``None``, ``...``, boolean masks and integer arrays.

Basic indexing (ints, slices, ``None``) is one ``Blockwise`` layer: each output block is
a view of exactly one input block, so only the blocks the index touches are read, and
the slice fuses with what produced those blocks (``random(...)[::2].sum()`` never
materializes the unsliced block as a task of its own).

One advanced index (an integer or boolean array, NumPy or pardata) is applied after
the basic part along its axis. NumPy's rule for where the advanced axes go (in place if
the advanced indices are adjacent, else first) is followed. A pardata boolean mask
gives chunks of unknown length (``nan``), as in Dask.
"""
from __future__ import annotations

import math
from numbers import Integral

import numpy as np

from pardata.array.chunks import has_unknown, is_unknown, nan, offsets
from pardata.array.core import Array
from pardata.array.layers import ArrayArg, BlockMap, Blockwise, GraphLayer, PerBlock, block_indices
from pardata.core.spec import Alias, Ref, Task
from pardata.core.tokenize import tokenize


def _is_array_index(i) -> bool:
    return isinstance(i, (Array, np.ndarray, list)) and not isinstance(i, tuple)


def normalize_index(index, ndim: int) -> tuple:
    """Expand ``...`` and pad with ``slice(None)``; lists become arrays."""
    if not isinstance(index, tuple):
        index = (index,)
    out = []
    for i in index:
        if isinstance(i, list):
            i = np.asarray(i)
            if i.dtype == object or (i.size == 0 and i.dtype.kind == "f"):
                i = i.astype(np.intp)
        if isinstance(i, np.ndarray) and i.ndim == 0 and i.dtype.kind in "iu":
            i = int(i)
        out.append(i)
    consumed = sum(1 if i is not None and i is not Ellipsis else 0 for i in out)
    consumed += sum(getattr(i, "ndim", 1) - 1 for i in out
                    if _is_array_index(i) and getattr(i, "dtype", None) == bool)
    if sum(i is Ellipsis for i in out) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > ndim:
        raise IndexError(f"too many indices for array: array is {ndim}-dimensional, but {consumed} were indexed")
    if Ellipsis in [i for i in out if not _is_array_index(i)]:
        pos = next(k for k, i in enumerate(out) if i is Ellipsis)
        out[pos:pos + 1] = [slice(None)] * (ndim - consumed)
    else:
        out += [slice(None)] * (ndim - consumed)
    for i in out:
        if not (i is None or isinstance(i, (slice, Integral)) or _is_array_index(i)):
            raise IndexError(f"unsupported index {i!r}: use ints, slices, None, ... or arrays")
    return tuple(out)


def _slice_plan(dim: tuple, index):
    """For one axis: ``(new chunks, [(input block, local index)] per output block)``."""
    if isinstance(index, Integral):
        if has_unknown((dim,)):
            raise ValueError("cannot index an axis of unknown chunk sizes with an integer; "
                             "call compute_chunk_sizes()")
        n = sum(dim)
        i = index + n if index < 0 else index
        if not 0 <= i < n:
            raise IndexError(f"index {index} is out of bounds for axis with size {n}")
        starts = offsets(dim)
        b = int(np.searchsorted(starts, i, side="right")) - 1
        while dim[b] == 0:
            b += 1
        return None, [(b, i - starts[b])]
    if has_unknown((dim,)):
        if index == slice(None):
            return dim, [(b, slice(None)) for b in range(len(dim))]
        raise ValueError("cannot slice an axis of unknown chunk sizes; call compute_chunk_sizes()")
    n = sum(dim)
    start, stop, step = index.indices(n)
    length = len(range(start, stop, step))
    starts = offsets(dim)
    plan = []
    blocks = range(len(dim)) if step > 0 else range(len(dim) - 1, -1, -1)
    for b in blocks:
        lo, hi = starts[b], starts[b + 1]
        if step > 0:
            k_lo = max(0, -(-(lo - start) // step))
            k_hi = min(length, -(-(hi - start) // step))
        else:
            k_lo = max(0, -(-(start - (hi - 1)) // -step))
            k_hi = min(length, (start - lo) // -step + 1)
        count = k_hi - k_lo
        if count <= 0:
            continue
        first = start + k_lo * step - lo
        last = start + (k_hi - 1) * step - lo
        end = last + 1 if step > 0 else (last - 1 if last >= 1 else None)
        plan.append((b, slice(first, end, step), count))
    if not plan:
        return (0,), [(0, slice(0, 0))]
    return tuple(p[2] for p in plan), [(p[0], p[1]) for p in plan]


def _getitem_block(block, index):
    return block[index]


def basic_index(x: Array, index: tuple) -> Array:
    """Ints, slices and None (already normalized, no arrays)."""
    if all(isinstance(i, slice) and i == slice(None) for i in index) and len(index) == x.ndim:
        return x
    plans = []
    chunks = []
    dims = []
    axis = 0
    out_axis = 0
    for i in index:
        if i is None:
            chunks.append((1,))
            plans.append(("new", None))
            out_axis += 1
            continue
        new_dim, plan = _slice_plan(x.chunks[axis], i)
        if new_dim is None:
            dims.append(("at", plan[0][0]))
            plans.append(("int", plan[0][1]))
        else:
            table = tuple(p[0] for p in plan)
            dims.append((out_axis, table) if table != tuple(range(len(x.chunks[axis]))) else out_axis)
            chunks.append(new_dim)
            plans.append(("slice", [p[1] for p in plan]))
            out_axis += 1
        axis += 1

    def local(idx):
        out = []
        k = 0
        for kind, plan in plans:
            if kind == "new":
                out.append(None)
                k += 1
            elif kind == "int":
                out.append(plan)
            else:
                out.append(plan[idx[k]])
                k += 1
        return tuple(out)

    name = f"getitem-{tokenize(x.name, index)}"
    layer = Blockwise(name, tuple(chunks), _getitem_block,
                      [ArrayArg(x._layer, BlockMap(dims)), PerBlock(local)])
    return Array(layer, x.dtype)


def getitem(x: Array, index) -> Array:
    index = normalize_index(index, x.ndim)
    arrays = [k for k, i in enumerate(index) if _is_array_index(i)]
    if not arrays:
        return basic_index(x, index)
    pos = arrays[0]
    adv = index[pos]
    several = len(arrays) > 1 or isinstance(adv, np.ndarray) and adv.dtype == bool and 1 < adv.ndim < x.ndim
    if several:
        if any(isinstance(index[k], Array) for k in arrays):
            raise NotImplementedError("a pardata array index must be the only array in the index; "
                                      "compute the others or index one axis at a time")
        return _numpy_fancy(x, index)
    if isinstance(adv, np.ndarray) and adv.dtype == bool and adv.ndim > 1 or \
            isinstance(adv, Array) and adv.dtype == bool and adv.ndim > 1:
        if adv.ndim != x.ndim or len(index) != 1:
            raise NotImplementedError("a multi-dimensional pardata boolean mask must index the whole array")
        from pardata.array.reshape import ravel

        return getitem(ravel(x), ravel(adv) if isinstance(adv, Array) else adv.ravel())
    ints = [k for k, i in enumerate(index) if isinstance(i, Integral)]
    advanced = sorted(ints + [pos])
    front = advanced != list(range(advanced[0], advanced[0] + len(advanced)))
    basic = tuple(slice(None) if k == pos else i for k, i in enumerate(index))
    y = basic_index(x, basic)
    axis = sum(1 for k, i in enumerate(index[:pos]) if not isinstance(i, Integral))
    if isinstance(adv, Array):
        out = _take_array(y, adv, axis)
    else:
        adv = np.asarray(adv)
        if adv.dtype == bool:
            if adv.shape[0] != y.shape[axis]:
                raise IndexError(f"boolean index of length {adv.shape[0]} does not match axis of length {y.shape[axis]}")
            adv = np.flatnonzero(adv)
        out = take(y, adv, axis)
    if front and axis != 0:
        from pardata.array.routines import moveaxis

        nd = 1 if isinstance(adv, Array) else max(np.ndim(adv), 1)
        out = moveaxis(out, list(range(axis, axis + nd)), list(range(nd)))
    return out


def _numpy_fancy(x: Array, index: tuple) -> Array:
    """Several NumPy integer/boolean arrays, with NumPy's rules: they broadcast together
    and pick points (``vindex``); the point axes stay where the advanced indices were
    if those are adjacent, else they go first."""
    from pardata.array.routines import moveaxis
    from pardata.array.vindex import vindex

    if any(i is None for i in index):
        raise NotImplementedError("None together with several array indices is not supported; add axes after")
    key, axis = [], 0
    for i in index:
        if _is_array_index(i) and np.asarray(i).dtype == bool:
            mask = np.asarray(i)
            if mask.shape != x.shape[axis:axis + mask.ndim]:
                raise IndexError(f"boolean index of shape {mask.shape} does not match the indexed axes "
                                 f"{x.shape[axis:axis + mask.ndim]}")
            key.extend(np.nonzero(mask))
            axis += mask.ndim
        else:
            key.append(np.asarray(i) if _is_array_index(i) else i)
            axis += 1
    advanced = [k for k, i in enumerate(key) if not isinstance(i, slice)]
    out = vindex(x, tuple(key))
    if advanced == list(range(advanced[0], advanced[-1] + 1)) and advanced[0] > 0:
        n_points = out.ndim - sum(isinstance(i, slice) for i in key)
        out = moveaxis(out, list(range(n_points)), list(range(advanced[0], advanced[0] + n_points)))
    return out


def _gather(axis, plan, shape, dtype, *blocks):
    out = np.empty(shape, dtype=dtype)
    for (positions, local), block in zip(plan, blocks):
        idx = [slice(None)] * len(shape)
        idx[axis] = positions
        out[tuple(idx)] = np.take(block, local, axis=axis)
    return out


def take(x: Array, indices, axis: int = 0) -> Array:
    """``np.take`` with a NumPy integer array: each output chunk gathers from the input
    blocks its indices fall in (all of them, at worst, for a random permutation)."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise IndexError("arrays used as indices must be of integer (or boolean) type")
    if has_unknown((x.chunks[axis],)):
        raise ValueError("cannot index an axis of unknown chunk sizes with an array; call compute_chunk_sizes()")
    n = int(sum(x.chunks[axis]))
    shape_idx = indices.shape
    flat = indices.ravel().astype(np.intp)
    if flat.size and (flat.max() >= n or flat.min() < -n):
        raise IndexError(f"index {int(flat.max() if flat.max() >= n else flat.min())} is out of bounds for axis {axis} with size {n}")
    flat = np.where(flat < 0, flat + n, flat)
    starts = np.asarray(offsets(x.chunks[axis]))
    target = max(1, int(max(x.chunks[axis]) if x.chunks[axis] else 1))
    out_dim = tuple(min(target, flat.size - s) for s in range(0, flat.size, target)) or (0,)
    block_of = np.searchsorted(starts, flat, side="right") - 1
    name = f"take-{tokenize(x.name, flat, axis)}"
    chunks = list(x.chunks)
    chunks[axis] = out_dim
    chunks = tuple(chunks)
    plans = []
    s = 0
    for size in out_dim:
        sel = block_of[s:s + size]
        vals = flat[s:s + size]
        plan = []
        for b in np.unique(sel):
            where = np.flatnonzero(sel == b)
            plan.append((int(b), where, vals[where] - starts[b]))
        plans.append(plan)
        s += size
    xname, dtype = x.name, x.dtype  # bound now: ``x[...] = v`` later rebinds x

    def build() -> dict:
        graph = {}
        for idx in block_indices(chunks):
            key = (name, *idx)
            plan = plans[idx[axis]]
            refs = [Ref((xname, *idx[:axis], b, *idx[axis + 1:])) for b, _, _ in plan]
            shape = tuple(c[i] for c, i in zip(chunks, idx))
            graph[key] = Task(key, _gather, axis, tuple((w, loc) for _, w, loc in plan), shape, dtype, *refs)
        return graph

    out = Array(GraphLayer(name, chunks, (x._layer,), build), x.dtype)
    if len(shape_idx) != 1:
        from pardata.array.reshape import reshape

        out = reshape(out, x.shape[:axis] + shape_idx + x.shape[axis + 1:])
    return out


def _mask_block(block, mask, axis):
    idx = [slice(None)] * block.ndim
    idx[axis] = mask
    return block[tuple(idx)]


def _take_all(axis, starts, idx, *blocks):
    whole = np.concatenate(blocks, axis=axis) if len(blocks) > 1 else blocks[0]
    n = whole.shape[axis]
    if idx.size and (idx.max() >= n or idx.min() < -n):
        raise IndexError(f"index out of bounds for axis {axis} with size {n}")
    return np.take(whole, idx, axis=axis)


def _take_array(x: Array, index: Array, axis: int) -> Array:
    if index.ndim != 1:
        raise NotImplementedError("a pardata array used as an index must be 1-D")
    if index.dtype == bool:
        from pardata.array.rechunk import rechunk

        if not is_unknown(x.shape[axis]) and not is_unknown(index.shape[0]) and x.shape[axis] != index.shape[0]:
            raise IndexError("boolean index does not match the indexed axis")
        mask = rechunk(index, (x.chunks[axis],))
        chunks = list(x.chunks)
        chunks[axis] = (nan,) * len(x.chunks[axis])
        dims = list(range(x.ndim))
        name = f"mask-{tokenize(x.name, mask.name, axis)}"
        layer = Blockwise(name, tuple(chunks), _mask_block, [
            ArrayArg(x._layer, BlockMap(dims)), ArrayArg(mask._layer, BlockMap((axis,))), axis])
        return Array(layer, x.dtype)
    if index.dtype.kind not in "iu":
        raise IndexError("arrays used as indices must be of integer (or boolean) type")
    name = f"take-{tokenize(x.name, index.name, axis)}"
    chunks = list(x.chunks)
    chunks[axis] = index.chunks[0]
    chunks = tuple(chunks)
    nb = x.numblocks[axis]
    xname, iname = x.name, index.name  # bound now: ``x[...] = v`` later rebinds x.name

    def build() -> dict:
        graph = {}
        for idx in block_indices(chunks):
            key = (name, *idx)
            refs = [Ref((xname, *idx[:axis], b, *idx[axis + 1:])) for b in range(nb)]
            graph[key] = Task(key, _take_all, axis, None, Ref((iname, idx[axis])), *refs)
        return graph

    return Array(GraphLayer(name, chunks, (x._layer, index._layer), build), x.dtype)


# ----------------------------------------------------------------------------- blocks

class BlockView:
    """``x.blocks[i, j]``: an Array made of the selected blocks of ``x``."""

    def __init__(self, x: Array):
        self.x = x

    def __getitem__(self, index) -> Array:
        x = self.x
        index = index if isinstance(index, tuple) else (index,)
        index = index + (slice(None),) * (x.ndim - len(index))
        picks = []
        for i, n in zip(index, x.numblocks):
            if isinstance(i, Integral):
                picks.append([i % n])
            elif isinstance(i, slice):
                picks.append(list(range(n))[i])
            else:
                picks.append([int(v) % n for v in np.asarray(i).ravel()])
        chunks = tuple(tuple(x.chunks[a][b] for b in p) for a, p in enumerate(picks))
        name = f"blocks-{tokenize(x.name, picks)}"
        graph = {}
        for idx in block_indices(chunks):
            key = (name, *idx)
            graph[key] = Alias(key, (x.name, *(picks[a][i] for a, i in enumerate(idx))))
        return Array(GraphLayer(name, chunks, (x._layer,), graph), x.dtype)

    @property
    def size(self) -> int:
        return math.prod(self.x.numblocks)

    @property
    def shape(self) -> tuple:
        return self.x.numblocks

