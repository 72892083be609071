"""Creating arrays: ``from_array``, ``asarray``, constants, ranges, ``eye``, ``from_delayed``.

Creation layers are ``Blockwise`` layers with no array inputs, so they fuse into
whatever reads them: ``ones(...) + 1`` or ``from_array(h5_dataset) * 2`` is one task per
block, and a block is never materialized on its own.
"""
from __future__ import annotations

import math
from numbers import Number

import numpy as np

from pardata.array.chunks import chunk_shape, normalize_chunks, offsets
from pardata.array.core import Array
from pardata.array.layers import Blockwise, GraphLayer, PerBlock
from pardata.core.spec import Alias, DataNode, Ref
from pardata.core.tokenize import tokenize


def _slices_of(chunks):
    starts = [offsets(d) for d in chunks]

    def slices(idx):
        return tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, idx))

    return slices


def _shape_of_block(chunks):
    def shape(idx):
        return chunk_shape(chunks, idx)

    return shape


def getter(source, index, asarray=True):
    """One block of ``source``: ``source[index]`` as a NumPy array of the source's dtype
    (a source returning lists or scalars still gives blocks of the declared shape)."""
    block = source[index]
    if not asarray or isinstance(block, np.ndarray):
        return block
    block = np.asarray(block, dtype=getattr(source, "dtype", None))
    if block.size == 0 and isinstance(index, tuple) and all(type(s) is slice for s in index):
        block = block.reshape(tuple(s.stop - s.start for s in index))
    return block


def from_array(x, chunks="auto", name=None, asarray=None, inline_array=False) -> Array:
    """A chunked view of anything with ``shape``, ``dtype`` and NumPy-style slicing.

    The source is stored once in the graph (a ``DataNode``) and each block is read by
    slicing it inside that block's task, so blocks are only loaded when computed (h5py
    and zarr datasets read just their part). ``inline_array=True`` embeds the source in
    each task instead of referencing it by key.
    """
    if isinstance(x, Array):
        return x if chunks == "auto" else x.rechunk(chunks)
    if not (hasattr(x, "shape") and hasattr(x, "dtype") and hasattr(x, "__getitem__")):
        x = np.asarray(x)
    shape = tuple(int(s) for s in x.shape)
    dtype = np.dtype(x.dtype)
    previous = getattr(x, "chunks", None)
    if chunks == "auto" and isinstance(previous, tuple) and len(previous) == len(shape) and all(
            isinstance(c, int) for c in previous):
        chunks = previous  # zarr/h5py storage chunks
    chunks = normalize_chunks(chunks, shape, dtype=dtype)
    token = tokenize(x, chunks) if name is None else name
    name = name or f"array-{token}"
    source_key = f"array-original-{token}"
    if inline_array:
        source, extra = x, {}
    else:
        source, extra = Ref(source_key), {source_key: DataNode(source_key, x)}
    use_asarray = asarray if asarray is not None else not isinstance(x, np.ndarray)
    kwargs = {} if use_asarray else {"asarray": False}
    layer = Blockwise(name, chunks, getter, [source, PerBlock(_slices_of(chunks))], kwargs, extra)
    return Array(layer, dtype)


def asarray(a, dtype=None, chunks="auto", **kwargs) -> Array:
    """``a`` as an Array (Arrays pass through, cast to ``dtype`` if given)."""
    if isinstance(a, Array):
        return a if dtype is None else a.astype(dtype)
    if isinstance(a, (list, tuple)) and any(isinstance(v, Array) for v in a):
        from pardata.array.routines import stack

        return stack([asarray(v, dtype=dtype) for v in a])
    if not (hasattr(a, "shape") and hasattr(a, "dtype")) or dtype is not None:
        a = np.asarray(a, dtype=dtype)
    return from_array(a, chunks=chunks, **kwargs)


asanyarray = asarray
array = asarray


def _constant(kind: str, func, shape, dtype, chunks, *values, name=None) -> Array:
    shape = (shape,) if isinstance(shape, Number) else tuple(int(s) for s in shape)
    dtype = np.dtype(dtype if dtype is not None else (np.asarray(values[0]).dtype if values else float))
    chunks = normalize_chunks(chunks, shape, dtype=dtype)
    name = name or f"{kind}-{tokenize(shape, chunks, dtype, values)}"
    layer = Blockwise(name, chunks, func, [PerBlock(_shape_of_block(chunks)), *values], {"dtype": dtype})
    return Array(layer, dtype)


def ones(shape, dtype=float, chunks="auto", name=None) -> Array:
    return _constant("ones", np.ones, shape, dtype, chunks, name=name)


def zeros(shape, dtype=float, chunks="auto", name=None) -> Array:
    return _constant("zeros", np.zeros, shape, dtype, chunks, name=name)


def empty(shape, dtype=float, chunks="auto", name=None) -> Array:
    return _constant("empty", np.empty, shape, dtype, chunks, name=name)


def full(shape, fill_value, dtype=None, chunks="auto", name=None) -> Array:
    if np.ndim(fill_value):
        raise ValueError("fill_value must be a scalar")
    return _constant("full", np.full, shape, dtype, chunks, fill_value, name=name)


def _like(kind, a, dtype, chunks, shape):
    shape = a.shape if shape is None else shape
    chunks = (a.chunks if isinstance(a, Array) and shape == a.shape else "auto") if chunks is None else chunks
    return shape, (dtype if dtype is not None else a.dtype), chunks


def ones_like(a, dtype=None, chunks=None, shape=None) -> Array:
    s, d, c = _like("ones", a, dtype, chunks, shape)
    return ones(s, dtype=d, chunks=c)


def zeros_like(a, dtype=None, chunks=None, shape=None) -> Array:
    s, d, c = _like("zeros", a, dtype, chunks, shape)
    return zeros(s, dtype=d, chunks=c)


def empty_like(a, dtype=None, chunks=None, shape=None) -> Array:
    s, d, c = _like("empty", a, dtype, chunks, shape)
    return empty(s, dtype=d, chunks=c)


def full_like(a, fill_value, dtype=None, chunks=None, shape=None) -> Array:
    s, d, c = _like("full", a, dtype, chunks, shape)
    return full(s, fill_value, dtype=d, chunks=c)


def _arange_block(start, step, offset, n, dtype):
    if np.dtype(dtype).kind in "fc":
        return (start + np.arange(offset, offset + n) * step).astype(dtype, copy=False)
    return np.arange(start + offset * step, start + (offset + n) * step, step, dtype=dtype)[:n]


def arange(*args, chunks="auto", dtype=None, like=None) -> Array:
    """``np.arange`` in blocks: ``arange([start,] stop[, step], chunks=, dtype=)``."""
    if len(args) == 1:
        start, stop, step = 0, args[0], 1
    elif len(args) == 2:
        start, stop, step = args[0], args[1], 1
    elif len(args) == 3:
        start, stop, step = args
    else:
        raise TypeError(f"arange takes 1 to 3 positional arguments, got {len(args)}")
    if step == 0:
        raise ValueError("arange: step must not be zero")
    n = max(0, int(math.ceil((stop - start) / step)))
    if dtype is None:
        dtype = np.arange(start, start + step, step).dtype if n else np.arange(start, stop, step).dtype
    dtype = np.dtype(dtype)
    chunks = normalize_chunks(chunks, (n,), dtype=dtype)
    name = f"arange-{tokenize(start, stop, step, chunks, dtype)}"
    starts = offsets(chunks[0])
    layer = Blockwise(name, chunks, _arange_block,
                      [start, step, PerBlock(lambda idx: starts[idx[0]]), PerBlock(lambda idx: chunks[0][idx[0]]),
                       dtype])
    return Array(layer, dtype)


def _linspace_block(start, step, offset, n, last, stop, dtype):
    y = np.arange(offset, offset + n, dtype=float) * step + start
    if last and n:
        y[-1] = stop
    return y.astype(dtype, copy=False)


def linspace(start, stop, num=50, endpoint=True, retstep=False, chunks="auto", dtype=None):
    """``np.linspace`` in blocks (same formula, so the same values)."""
    num = int(num)
    div = (num - 1) if endpoint else num
    step = (stop - start) / div if div > 0 else float("nan")
    dtype = np.dtype(dtype if dtype is not None else np.result_type(start, stop, float))
    chunks = normalize_chunks(chunks, (num,), dtype=dtype)
    name = f"linspace-{tokenize(start, stop, num, endpoint, chunks, dtype)}"
    starts = offsets(chunks[0])
    nblocks = len(chunks[0])
    eff_step = step if div > 0 else 0.0
    layer = Blockwise(name, chunks, _linspace_block, [
        start, eff_step, PerBlock(lambda idx: starts[idx[0]]), PerBlock(lambda idx: chunks[0][idx[0]]),
        PerBlock(lambda idx: endpoint and num > 1 and idx[0] == nblocks - 1), stop, dtype])
    out = Array(layer, dtype)
    return (out, step) if retstep else out


def _eye_block(shape, k, dtype):
    return np.eye(shape[0], shape[1], k=k, dtype=dtype)


def eye(N, M=None, k=0, dtype=float, chunks="auto") -> Array:
    """Ones on the ``k``-th diagonal, zeros elsewhere."""
    M = N if M is None else M
    dtype = np.dtype(dtype)
    chunks = normalize_chunks(chunks, (N, M), dtype=dtype)
    rows, cols = offsets(chunks[0]), offsets(chunks[1])
    name = f"eye-{tokenize(N, M, k, chunks, dtype)}"
    layer = Blockwise(name, chunks, _eye_block, [
        PerBlock(_shape_of_block(chunks)), PerBlock(lambda idx: k + rows[idx[0]] - cols[idx[1]]), dtype])
    return Array(layer, dtype)


def from_delayed(value, shape, dtype=None, meta=None, name=None) -> Array:
    """A one-block Array whose block is the result of a ``Delayed`` value."""
    from pardata.delayed import Delayed

    if not isinstance(value, Delayed):
        from pardata.delayed import delayed

        value = delayed(value)
    dtype = np.dtype(dtype if dtype is not None else getattr(meta, "dtype", float))
    shape = tuple(shape)
    chunks = tuple((s,) for s in shape)
    name = name or f"from-delayed-{tokenize(value.key, shape, dtype)}"
    key = (name,) + (0,) * len(shape)

    def build():
        graph = dict(value.__pardata_graph__())
        graph[key] = Alias(key, value.key)
        return graph

    return Array(GraphLayer(name, chunks, (), build), dtype)
