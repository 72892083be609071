"""Assignment: ``x[index] = value`` makes ``x`` a new Array (the old layers are untouched).

Three kinds of index, following Dask:

1. A boolean mask that is a pardata Array, or a NumPy boolean array of two or more
   axes: ``where(mask, value, x)`` block by block. As in Dask, the value broadcasts to
   ``x``'s shape (``x[x > 0] = y`` with ``y`` shaped like ``x``), not NumPy's "one value
   per True". A mask over the leading axes of ``x`` selects whole sub-arrays, as in NumPy.
2. Ints, slices and at most one integer (or 1-D boolean) NumPy array: the value (a
   scalar, NumPy or pardata array) broadcasts to the indexed shape as in NumPy. Each
   block of ``x`` the index touches gets one task writing its part of the value; the
   other blocks pass through unchanged. A pardata value is rechunked (and reordered,
   for an integer array) so that each touched block reads exactly one value block.
3. The integer array is a pardata Array: its positions are known only once computed, so
   every block reads the whole index (one chunk) and the value along that axis.

Integer arrays on more than one axis are refused, as in Dask.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

from pardata.array.chunks import has_unknown, is_unknown, offsets
from pardata.array.core import Array
from pardata.array.layers import ArrayArg, BlockMap, Blockwise, GraphLayer, PerBlock, block_indices
from pardata.array.slicing import _is_array_index, _slice_plan, normalize_index
from pardata.core.spec import Alias, Ref, Task
from pardata.core.tokenize import tokenize


def setitem(x: Array, index, value) -> Array:
    """The array ``x`` with ``x[index] = value`` applied (a new Array)."""
    if isinstance(value, Array):
        if has_unknown(value.chunks):
            raise ValueError("cannot assign a value of unknown chunk sizes; call compute_chunk_sizes() on it")
    else:
        value = np.asarray(value)
    if isinstance(index, Array) and index.dtype == bool or \
            isinstance(index, np.ndarray) and index.dtype == bool and index.ndim > 1:
        return _assign_where(x, index, value)
    if has_unknown(x.chunks):
        raise ValueError("cannot assign into an array of unknown chunk sizes; call compute_chunk_sizes()")
    index = normalize_index(index, x.ndim)
    if any(i is None for i in index):
        raise IndexError("assignment with None (np.newaxis) in the index is not supported")
    arrays = [a for a, i in enumerate(index) if _is_array_index(i)]
    if len(arrays) > 1:
        raise NotImplementedError("assignment with integer arrays on more than one axis is not supported "
                                  "(as in Dask); assign one axis at a time")
    if arrays and isinstance(index[arrays[0]], Array):
        return _assign_dynamic(x, index, arrays[0], value)
    index = tuple(_as_positions(i, n) if a in arrays else i for a, (i, n) in enumerate(zip(index, x.shape)))
    plans, lengths = _plans(x, index)
    canon = _canonical(value, index, lengths)
    if any(not p for p in plans):
        return x  # the index selects nothing
    if isinstance(canon, Array):
        return _assign_blocks(x, index, plans, canon)
    return _assign_literal(x, index, plans, canon)


# ----------------------------------------------------------------------------- masks

def _where_cast(mask, value, block):
    return np.where(mask, value, block).astype(block.dtype, copy=False)


def _assign_where(x: Array, mask, value) -> Array:
    from pardata.array.blockwise import elemwise
    from pardata.array.creation import from_array

    if isinstance(mask, np.ndarray):
        mask = from_array(mask, chunks=x.chunks[:mask.ndim] if mask.shape == x.shape[:mask.ndim] else "auto")
    if has_unknown(mask.chunks) or has_unknown(x.chunks):
        raise ValueError("boolean mask assignment needs known chunk sizes; call compute_chunk_sizes()")
    k = mask.ndim
    if k > x.ndim or k < x.ndim and mask.shape != x.shape[:k]:
        raise IndexError(f"boolean index of shape {mask.shape} does not match the array's shape {x.shape}")
    if k < x.ndim:
        mask = mask[(Ellipsis,) + (None,) * (x.ndim - k)]
        target = (1,) * k + x.shape[k:]
    else:
        target = x.shape
    try:
        fits = np.broadcast_shapes(value.shape, target) == target and \
            np.broadcast_shapes(mask.shape, x.shape) == x.shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(f"boolean mask assignment needs a value that broadcasts to {target} (as in Dask, "
                         f"x[mask] = value is where(mask, value, x)); got a value of shape {value.shape}")
    return elemwise(_where_cast, mask, value, x, dtype=x.dtype)


# ----------------------------------------------------------------------------- static positions

def _as_positions(i, n: int) -> np.ndarray:
    """A NumPy integer or boolean index along an axis of length ``n`` as positions."""
    i = np.asarray(i)
    if i.dtype == bool:
        if i.shape != (n,):
            raise IndexError(f"boolean index of length {i.shape[0] if i.ndim else 0} does not match an axis of {n}")
        return np.flatnonzero(i)
    if i.dtype.kind not in "iu":
        raise IndexError(f"arrays used as indices must be of integer (or boolean) type, not {i.dtype}")
    if i.ndim != 1:
        raise NotImplementedError("assignment takes 1-D integer arrays only (as in Dask)")
    i = i.astype(np.intp)
    if i.size and (i.max() >= n or i.min() < -n):
        bad = i[(i >= n) | (i < -n)][0]
        raise IndexError(f"index {int(bad)} is out of bounds for axis with size {n}")
    return np.where(i < 0, i + n, i)


def _plans(x: Array, index: tuple):
    """Per axis ``{block: (local index, position in the value)}`` for touched blocks, and
    the value's canonical length per axis (1 for an int)."""
    plans, lengths = [], []
    for dim, i in zip(x.chunks, index):
        starts = offsets(dim)
        plan = {}
        if isinstance(i, Integral):
            _, [(b, j)] = _slice_plan(dim, i)
            plan[b] = (slice(j, j + 1), slice(0, 1))
            lengths.append(1)
        elif isinstance(i, slice):
            counts, parts = _slice_plan(dim, i)
            p = 0
            for (b, loc), c in zip(parts, counts):
                if c:
                    plan[b] = (loc, slice(p, p + c))
                p += c
            lengths.append(p)
        else:
            for b in range(len(dim)):
                sel = np.flatnonzero((i >= starts[b]) & (i < starts[b + 1]))
                if sel.size:
                    plan[b] = (i[sel] - starts[b], sel)
            lengths.append(len(i))
        plans.append(plan)
    return plans, lengths


def _indexed_shape(index: tuple, lengths: list):
    """NumPy's shape of ``x[index]`` and, when the array's axis moves to the front
    (ints and an array not adjacent), the position it moves from."""
    keep = [a for a, i in enumerate(index) if not isinstance(i, Integral)]
    shape = [lengths[a] for a in keep]
    arr = [a for a, i in enumerate(index) if _is_array_index(i)]
    if not arr:
        return tuple(shape), None
    advanced = sorted([a for a, i in enumerate(index) if isinstance(i, Integral)] + arr)
    if advanced == list(range(advanced[0], advanced[-1] + 1)):
        return tuple(shape), None
    k = keep.index(arr[0])
    return tuple([shape[k]] + shape[:k] + shape[k + 1:]), k


def _broadcast_error(value, shape):
    return ValueError(f"could not broadcast a value of shape {tuple(value.shape)} into the indexed shape {shape}")


def _canonical(value, index: tuple, lengths: list):
    """The value with one axis per axis of ``x`` (length 1 at ints, or to broadcast)."""
    shape, moved = _indexed_shape(index, lengths)
    if value.ndim == 0 and not isinstance(value, Array):
        return value
    if value.ndim > len(shape):
        raise _broadcast_error(value, shape)
    pad = (1,) * (len(shape) - value.ndim) + tuple(value.shape)
    if any(v != s and v != 1 for v, s in zip(pad, shape)):
        raise _broadcast_error(value, shape)
    ints = tuple(a for a, i in enumerate(index) if isinstance(i, Integral))
    if isinstance(value, Array):
        from pardata.array.routines import expand_dims, moveaxis

        v = value[(None,) * (len(shape) - value.ndim) + (Ellipsis,)] if len(shape) > value.ndim else value
        if moved is not None:
            v = moveaxis(v, 0, moved)
        return expand_dims(v, ints) if ints else v
    v = value.reshape(pad)
    if moved is not None:
        v = np.moveaxis(v, 0, moved)
    return np.expand_dims(v, ints) if ints else v


def _set_block(block, local, value):
    if local is None:
        return block
    out = np.array(block)  # a copy (and a 0-d array for a NumPy scalar block)
    out[local] = value
    return out


def _local_index(plans, idx):
    parts = [plan.get(b) for plan, b in zip(plans, idx)]
    return None if any(p is None for p in parts) else parts


def _assign_literal(x: Array, index, plans, value) -> Array:
    """Scalar or NumPy value: one blockwise layer (it fuses with what made ``x``)."""

    def local(idx):
        parts = _local_index(plans, idx)
        return None if parts is None else tuple(p[0] for p in parts)

    def part(idx):
        parts = _local_index(plans, idx)
        if parts is None or value.ndim == 0:
            return value
        pos = tuple(slice(None) if n == 1 else p[1] for p, n in zip(parts, value.shape))
        return value[pos]

    name = f"setitem-{tokenize(x.name, index, value)}"
    layer = Blockwise(name, x.chunks, _set_block, [
        ArrayArg(x._layer, BlockMap(range(x.ndim))), PerBlock(local), PerBlock(part)])
    return Array(layer, x.dtype)


def _assign_blocks(x: Array, index, plans, value: Array) -> Array:
    """Pardata value: reorder and rechunk it so touched block ``b`` reads one value block."""
    from pardata.array.rechunk import rechunk
    from pardata.array.slicing import take

    chunks, block_of = [], []
    for a, plan in enumerate(plans):
        if value.shape[a] == 1:
            chunks.append((1,))
            block_of.append({b: 0 for b in plan})
            continue
        order = list(plan)  # value order: slices in step order, arrays by block
        positions = [np.arange(p.start, p.stop) if isinstance(p, slice) else p for _, p in (plan[b] for b in order)]
        flat = np.concatenate(positions)
        if not np.array_equal(flat, np.arange(value.shape[a])):
            value = take(value, flat, axis=a)
        chunks.append(tuple(len(p) for p in positions))
        block_of.append({b: j for j, b in enumerate(order)})
    value = rechunk(value.astype(x.dtype), tuple(chunks))
    name = f"setitem-{tokenize(x.name, index, value.name)}"
    xname, xchunks, vname = x.name, x.chunks, value.name  # bound now: ``x[...] = v`` later rebinds x

    def build() -> dict:
        graph = {}
        for idx in block_indices(xchunks):
            key = (name, *idx)
            parts = _local_index(plans, idx)
            if parts is None:
                graph[key] = Alias(key, (xname, *idx))
            else:
                vkey = (vname, *(m[b] for m, b in zip(block_of, idx)))
                graph[key] = Task(key, _set_block, Ref((xname, *idx)), tuple(p[0] for p in parts), Ref(vkey))
        return graph

    return Array(GraphLayer(name, x.chunks, (x._layer, value._layer), build), x.dtype)


# ----------------------------------------------------------------------------- pardata index

def _concat(*blocks):
    return np.concatenate(blocks) if len(blocks) > 1 else blocks[0]


def _set_block_dynamic(block, local, axis, lo, n, index, value):
    index = np.asarray(index)
    if index.dtype.kind not in "iu":
        raise IndexError(f"arrays used as indices must be of integer type, not {index.dtype}")
    index = index.astype(np.intp)
    if index.size and (index.max() >= n or index.min() < -n):
        bad = index[(index >= n) | (index < -n)][0]
        raise IndexError(f"index {int(bad)} is out of bounds for axis {axis} with size {n}")
    index = np.where(index < 0, index + n, index)
    sel = np.flatnonzero((index >= lo) & (index < lo + block.shape[axis]))
    if not sel.size:
        return block
    value = np.asarray(value)
    if value.ndim and value.shape[axis] != 1:
        if value.shape[axis] != len(index):
            raise ValueError(f"shape mismatch: the value has {value.shape[axis]} entries along axis {axis} "
                             f"but the index has {len(index)}")
        value = np.take(value, sel, axis=axis)
    local = list(local)
    local[axis] = index[sel] - lo
    out = np.array(block)  # a copy (and a 0-d array for a NumPy scalar block)
    out[tuple(local)] = value
    return out


def _assign_dynamic(x: Array, index: tuple, axis: int, value) -> Array:
    from pardata.array.rechunk import rechunk

    ind = index[axis]
    if ind.ndim != 1:
        raise NotImplementedError("a pardata array used as an assignment index must be 1-D")
    if ind.dtype.kind not in "iu":
        raise IndexError(f"arrays used as indices must be of integer type, not {ind.dtype}")
    n = int(x.shape[axis])
    static = tuple(slice(None) if a == axis else i for a, i in enumerate(index))
    plans, lengths = _plans(x, static)
    lengths[axis] = ind.shape[0]
    plans[axis] = {b: (slice(None), slice(None)) for b in range(x.numblocks[axis])}
    if not isinstance(value, Array) and value.ndim == 0:
        canon = value
    elif not is_unknown(lengths[axis]):
        canon = _canonical(value, index, lengths)
    else:
        # The index's length is known only when computed: take the value's own extent
        # along the index's axis (1 broadcasts; anything else is checked per block).
        shape, moved = _indexed_shape(index, lengths)
        pos = 0 if moved is not None else [a for a, i in enumerate(index) if not isinstance(i, Integral)].index(axis)
        lead = len(shape) - value.ndim
        probe = list(lengths)
        probe[axis] = value.shape[pos - lead] if pos >= lead else 1
        canon = _canonical(value, index, probe)
    if any(not p for p in plans):
        return x
    iname = f"setitem-index-{tokenize(ind.name)}"
    ikey = (iname, 0)
    igraph = {ikey: Task(ikey, _concat, *[Ref((ind.name, b)) for b in range(ind.numblocks[0])])}
    index_all = GraphLayer(iname, ((lengths[axis],),), (ind._layer,), igraph)
    name = f"setitem-{tokenize(x.name, static, ind.name, canon if not isinstance(canon, Array) else canon.name)}"
    starts = offsets(x.chunks[axis])
    deps = [x._layer, index_all]
    block_of = None
    if isinstance(canon, Array):
        chunks = []
        block_of = []
        for a, plan in enumerate(plans):
            if a == axis or canon.shape[a] == 1:
                chunks.append((canon.shape[a],))
                block_of.append({b: 0 for b in plan})
            else:
                order = list(plan)
                chunks.append(tuple(plan[b][1].stop - plan[b][1].start for b in order))
                block_of.append({b: j for j, b in enumerate(order)})
        canon = rechunk(canon.astype(x.dtype), tuple(chunks))
        deps.append(canon._layer)
    xname, xchunks = x.name, x.chunks  # bound now: ``x[...] = v`` later rebinds x
    cname = canon.name if isinstance(canon, Array) else None

    def build() -> dict:
        graph = {}
        for idx in block_indices(xchunks):
            key = (name, *idx)
            parts = _local_index(plans, idx)
            if parts is None:
                graph[key] = Alias(key, (xname, *idx))
                continue
            if isinstance(canon, Array):
                val = Ref((cname, *(m[b] for m, b in zip(block_of, idx))))
            elif canon.ndim == 0:
                val = canon
            else:
                val = canon[tuple(slice(None) if a == axis or canon.shape[a] == 1 else p[1]
                                  for a, p in enumerate(parts))]
            graph[key] = Task(key, _set_block_dynamic, Ref((xname, *idx)), tuple(p[0] for p in parts), axis,
                              starts[idx[axis]], n, Ref(ikey), val)
        return graph

    return Array(GraphLayer(name, x.chunks, tuple(deps), build), x.dtype)
