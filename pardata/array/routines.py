"""Array routines: axis shuffling, joining, ``where``, ``unique``, ``bincount``, ``histogram``.

Axis permutations and squeezes are ``Blockwise`` (they fuse with neighbours); joining
arrays only renames blocks (aliases, resolved away when lowered); ``unique``,
``bincount`` and ``histogram`` are tree reductions over per-block partial results.
"""
from __future__ import annotations

import functools
from numbers import Integral

import numpy as np

from pardata.array.blockwise import LETTERS, blockwise, elemwise
from pardata.array.chunks import common_refinement, nan
from pardata.array.core import Array
from pardata.array.creation import asarray
from pardata.array.layers import ArrayArg, BlockMap, Blockwise, GraphLayer, block_indices
from pardata.array.reductions import normalize_axis, reduction
from pardata.core.spec import Alias, Ref, Task
from pardata.core.tokenize import tokenize


def _transpose_block(block, axes):
    return np.transpose(block, axes)


def transpose(a, axes=None) -> Array:
    a = asarray(a)
    axes = tuple(range(a.ndim))[::-1] if axes is None else tuple(ax % a.ndim for ax in axes)
    if sorted(axes) != list(range(a.ndim)):
        raise ValueError(f"axes {axes} do not match an array of {a.ndim} axes")
    if axes == tuple(range(a.ndim)):
        return a
    dims = [axes.index(i) for i in range(a.ndim)]
    layer = Blockwise(f"transpose-{tokenize(a.name, axes)}", tuple(a.chunks[i] for i in axes),
                      _transpose_block, [ArrayArg(a._layer, BlockMap(dims)), axes])
    return Array(layer, a.dtype)


def swapaxes(a, axis1, axis2) -> Array:
    axes = list(range(a.ndim))
    axes[axis1], axes[axis2] = axes[axis2], axes[axis1]
    return transpose(a, axes)


def moveaxis(a, source, destination) -> Array:
    a = asarray(a)
    src = normalize_axis(source, a.ndim) if not isinstance(source, Integral) else (source % a.ndim,)
    dst = [d % a.ndim for d in ((destination,) if isinstance(destination, Integral) else destination)]
    order = [n for n in range(a.ndim) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(a, order)


def squeeze(a, axis=None) -> Array:
    a = asarray(a)
    if axis is None:
        axes = tuple(i for i, s in enumerate(a.shape) if s == 1)
    else:
        axes = normalize_axis(axis, a.ndim)
        if any(a.shape[i] != 1 for i in axes):
            raise ValueError("cannot select an axis to squeeze out which has size not equal to one")
    if not axes:
        return a
    dims, k = [], 0
    for i in range(a.ndim):
        dims.append(None if i in axes else k)
        k += i not in axes
    chunks = tuple(c for i, c in enumerate(a.chunks) if i not in axes)
    layer = Blockwise(f"squeeze-{tokenize(a.name, axes)}", chunks, np.squeeze,
                      [ArrayArg(a._layer, BlockMap(dims))], {"axis": axes})
    return Array(layer, a.dtype)


def expand_dims(a, axis) -> Array:
    a = asarray(a)
    axes = (axis,) if isinstance(axis, Integral) else tuple(axis)
    ndim = a.ndim + len(axes)
    axes = tuple(sorted(ax % ndim for ax in axes))
    index = []
    src = iter(range(a.ndim))
    for i in range(ndim):
        index.append(None if i in axes else slice(None))
        if i not in axes:
            next(src)
    return a[tuple(index)]


def atleast_1d(a):
    a = asarray(a)
    return a if a.ndim >= 1 else a[None]


def atleast_2d(a):
    a = atleast_1d(a)
    return a if a.ndim >= 2 else a[None]


def broadcast_to(a, shape, chunks=None) -> Array:
    a = asarray(a)
    shape = tuple(shape)
    if a.shape == shape:
        return a
    from pardata.array.creation import ones

    pad = ones(shape, dtype=bool, chunks=chunks if chunks is not None else "auto")
    return elemwise(_broadcast_pair, a, pad, dtype=a.dtype)


def _broadcast_pair(x, pad):
    return np.broadcast_to(x, np.broadcast_shapes(x.shape, pad.shape))


# ----------------------------------------------------------------------------- joining

def concatenate(seq, axis=0, allow_unknown_chunksizes=False) -> Array:
    """Join arrays along an existing axis; blocks are reused, not copied."""
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to concatenate")
    ndim = arrays[0].ndim
    if ndim == 0:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    if any(a.ndim != ndim for a in arrays):
        raise ValueError("all the input arrays must have the same number of dimensions")
    axis = normalize_axis(axis, ndim)[0]
    dtype = np.result_type(*[a.dtype for a in arrays])
    arrays = [a.astype(dtype) for a in arrays]
    common = []
    for i in range(ndim):
        if i == axis:
            common.append(None)
            continue
        dims = [a.chunks[i] for a in arrays]
        if not allow_unknown_chunksizes or len(set(dims)) > 1:
            common.append(common_refinement(dims))
        else:
            common.append(dims[0])
    arrays = [a.rechunk(tuple(a.chunks[i] if c is None else c for i, c in enumerate(common)))
              for a in arrays]
    if len(arrays) == 1:
        return arrays[0]
    chunks = list(arrays[0].chunks)
    chunks[axis] = tuple(c for a in arrays for c in a.chunks[axis])
    name = f"concatenate-{tokenize([a.name for a in arrays], axis)}"
    sources = [(a.name, a.numblocks[axis]) for a in arrays]

    def build() -> dict:
        graph = {}
        for idx in block_indices(chunks):
            key = (name, *idx)
            k = idx[axis]
            for src, n in sources:
                if k < n:
                    graph[key] = Alias(key, (src, *idx[:axis], k, *idx[axis + 1:]))
                    break
                k -= n
        return graph

    return Array(GraphLayer(name, tuple(chunks), tuple(a._layer for a in arrays), build), dtype)


def stack(seq, axis=0) -> Array:
    arrays = [asarray(a) for a in seq]
    if not arrays:
        raise ValueError("need at least one array to stack")
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError("all input arrays must have the same shape")
    axis = normalize_axis(axis, arrays[0].ndim + 1)[0]
    return concatenate([expand_dims(a, axis) for a in arrays], axis=axis)


def vstack(seq):
    return concatenate([atleast_2d(a) for a in seq], axis=0)


def hstack(seq):
    arrays = [atleast_1d(a) for a in seq]
    return concatenate(arrays, axis=0 if arrays[0].ndim == 1 else 1)


# ----------------------------------------------------------------------------- selection

def where(condition, x=None, y=None):
    if x is None and y is None:
        return nonzero(condition)
    if x is None or y is None:
        raise ValueError("either both or neither of x and y should be given")
    return elemwise(np.where, condition, x, y)


def _argwhere_block(block, start, shape):
    flat = np.flatnonzero(block) + start
    return np.stack(np.unravel_index(flat, shape), axis=1) if len(shape) else np.empty((flat.size, 0), np.intp)


def argwhere(a) -> Array:
    """Coordinates of the non-zero elements, in C order; the row count is unknown (nan)."""
    from pardata.array.chunks import offsets
    from pardata.array.layers import PerBlock
    from pardata.array.reshape import ravel

    a = asarray(a)
    shape = a.shape
    flat = ravel(a)
    starts = offsets(flat.chunks[0])
    layer = Blockwise(f"argwhere-{tokenize(a.name)}", ((nan,) * flat.numblocks[0], (max(a.ndim, 0),)),
                      _argwhere_block, [ArrayArg(flat._layer, BlockMap((0,))),
                                        PerBlock(lambda idx: starts[idx[0]]), shape])
    return Array(layer, np.intp)


def nonzero(a) -> tuple:
    coords = argwhere(a)
    return tuple(coords[:, i] for i in range(asarray(a).ndim))


def flatnonzero(a) -> Array:
    from pardata.array.reshape import ravel

    return nonzero(ravel(asarray(a)))[0]


def isin(element, test_elements) -> Array:
    element = asarray(element)
    ind = LETTERS[:element.ndim]
    return blockwise(np.isin, ind, element, ind, np.asarray(test_elements), None, dtype=bool)


# ----------------------------------------------------------------------------- counting

def _unique_chunk(counts, block, axes):
    return np.unique(block.ravel(), return_counts=True) if counts else (np.unique(block.ravel()), None)


def _unique_combine(counts, parts):
    values = np.concatenate([p[0] for p in parts])
    if not counts:
        return np.unique(values), None
    uniq, inverse = np.unique(values, return_inverse=True)
    return uniq, np.bincount(inverse.ravel(), weights=np.concatenate([p[1] for p in parts]),
                             minlength=len(uniq)).astype(np.intp)


def _keep(part, axes):
    return part


def _unique_out(i, part):
    return part[i]


def unique(ar, return_counts=False):
    """Sorted unique values (and their counts); the result's length is unknown (nan)."""
    a = asarray(ar)
    red = reduction(a, functools.partial(_unique_chunk, return_counts),
                    functools.partial(_unique_combine, return_counts), _keep,
                    axis=None, keepdims=True, dtype=a.dtype, name="unique")
    src = (red.name,) + (0,) * a.ndim
    outs = []
    for i, dtype in enumerate((a.dtype, np.intp)[: 1 + bool(return_counts)]):
        name = f"unique-{i}-{tokenize(red.name)}"
        key = (name, 0)
        outs.append(Array(GraphLayer(name, ((nan,),), (red._layer,),
                                     {key: Task(key, _unique_out, i, Ref(src))}), dtype))
    return tuple(outs) if return_counts else outs[0]


def _bincount_block(x, weights=None, minlength=0):
    return np.bincount(x, weights=weights, minlength=minlength)


def _pad_add(parts):
    n = max(len(p) for p in parts)
    out = np.zeros(n, dtype=np.result_type(*[p.dtype for p in parts]))
    for p in parts:
        out[: len(p)] += p
    return out


def bincount(x, weights=None, minlength=0) -> Array:
    """Counts of each non-negative int; the length is unknown (nan) until computed."""
    x = asarray(x)
    if x.ndim != 1:
        raise ValueError("bincount takes a 1-D array")
    args = [x, "i"] + ([asarray(weights), "i"] if weights is not None else [])
    dtype = np.dtype(np.intp) if weights is None else np.dtype(np.float64)
    func = _bincount_block if weights is not None else functools.partial(_bincount_block, weights=None)
    parts = blockwise(func, "i", *args, minlength=minlength, dtype=dtype, adjust_chunks={"i": 1})
    red = reduction(parts, _keep_block, _pad_add, _keep, axis=0, keepdims=True, dtype=dtype, name="bincount")
    name = f"bincount-{tokenize(red.name)}"
    key = (name, 0)
    return Array(GraphLayer(name, ((nan,),), (red._layer,), {key: Alias(key, (red.name, 0))}), dtype)


def _keep_block(block, axes):
    return block


def _histogram_block(bins, range_, x, weights=None):
    return np.histogram(x, bins=bins, range=range_, weights=weights)[0][None]


def histogram(a, bins=10, range=None, weights=None, density=False):
    """``np.histogram`` with fixed bins: an int ``bins`` needs ``range=`` (no hidden pass
    over the data to find it); returns ``(hist Array, bin edges ndarray)``."""
    a = asarray(a)
    if isinstance(bins, Integral):
        if range is None:
            raise ValueError("histogram with an integer number of bins needs range=(lo, hi)")
        edges = np.histogram_bin_edges(np.empty(0), bins=bins, range=range)
    else:
        edges = np.asarray(bins)
    from pardata.array.reshape import ravel

    flat = ravel(a)
    args = [flat, "i"]
    if weights is not None:
        args += [ravel(asarray(weights)).rechunk(flat.chunks), "i"]
    nbins = len(edges) - 1
    dtype = np.histogram(np.empty(0), bins=edges, weights=None if weights is None else np.empty(0))[0].dtype
    parts = blockwise(functools.partial(_histogram_block, bins, range), "ij", *args[:2],
                      *([args[2], "i"] if weights is not None else []),
                      new_axes={"j": nbins}, adjust_chunks={"i": 1}, dtype=dtype)
    hist = reduction(parts, _keep_block, _sum_parts, _keep, axis=0, keepdims=False, dtype=dtype,
                     name="histogram")
    if density:
        hist = hist / (hist.sum() * np.diff(edges))
    return hist, edges


def _sum_parts(parts):
    return functools.reduce(np.add, parts)

