"""Storage: ``store`` into any ``__setitem__`` target, ``.npy`` stacks, and zarr.

``store`` writes each block with one task (``target[region] = block``) as soon as that
block is computed, so an array larger than memory streams into its target. zarr is
optional: ``to_zarr``/``from_zarr`` import it when called and say so if it is missing.
"""
from __future__ import annotations

import os
import pickle

import numpy as np

from pardata.array.chunks import has_unknown, offsets
from pardata.array.core import Array
from pardata.array.creation import asarray, from_array
from pardata.array.layers import GraphLayer, block_indices, materialize
from pardata.core.spec import DataNode, Ref, Task
from pardata.core.tokenize import tokenize


def _store_block(target, region, block, lock):
    if lock is not None:
        with lock:
            target[region] = block
    else:
        target[region] = block
    return None


def _done(*_):
    return None


def _region_slices(region, chunks, idx):
    out = []
    for a, (dim, i) in enumerate(zip(chunks, idx)):
        start = offsets(dim)[i]
        base = 0
        if region is not None and a < len(region):
            base = region[a].start or 0
        out.append(slice(base + start, base + start + dim[i]))
    return tuple(out)


def store(sources, targets, lock=None, regions=None, compute=True, **kwargs):
    """Write ``sources`` (Arrays) into ``targets`` (anything supporting ``t[slices] = v``).

    ``regions`` places each source at an offset (a tuple of slices) inside its target.
    With ``compute=False`` a ``Delayed`` that performs the writes is returned.
    """
    from pardata.delayed import Delayed

    single = isinstance(sources, Array)
    if single:
        sources, targets = [sources], [targets]
        regions = [regions] if regions is not None else None
    if len(sources) != len(targets):
        raise ValueError(f"{len(sources)} sources but {len(targets)} targets")
    regions = regions or [None] * len(sources)
    if lock is True:
        import threading

        lock = threading.Lock()
    graph: dict = {}
    keys = []
    token = tokenize([s.name for s in sources], [id(t) for t in targets], regions)
    for n, (src, target, region) in enumerate(zip(sources, targets, regions)):
        src = asarray(src)
        if has_unknown(src.chunks):
            raise ValueError("cannot store an array of unknown chunk sizes; call compute_chunk_sizes()")
        shape = getattr(target, "shape", None)
        if region is None and shape is not None and tuple(shape) != src.shape:
            raise ValueError(f"store: the source has shape {src.shape} but the target {tuple(shape)}; "
                             "pass regions= to write into part of it")
        graph.update(materialize([src._layer]))
        tkey = f"store-target-{n}-{token}"
        graph[tkey] = DataNode(tkey, target)
        for idx in block_indices(src.chunks):
            key = (f"store-{n}-{token}", *idx)
            graph[key] = Task(key, _store_block, Ref(tkey), _region_slices(region, src.chunks, idx),
                              Ref((src.name, *idx)), lock)
            keys.append(key)
    final = f"store-done-{token}"
    graph[final] = Task(final, _done, *[Ref(k) for k in keys])
    result = Delayed(final, None, (), graph)
    if compute:
        result.compute(**kwargs)
        return None
    return result


def to_npy_stack(dirname, x, axis=0):
    """Write ``x`` as one ``.npy`` file per block along ``axis`` plus an ``info`` file.

    The ``info`` file is written last, with the block lengths the files really hold, so
    an interrupted write never looks complete and chunks unknown along ``axis`` (after
    a boolean mask) are recorded as the sizes they turned out to be.
    """
    x = asarray(x)
    if x.ndim == 0:
        raise ValueError("to_npy_stack needs an array with at least one axis")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of bounds for an array of {x.ndim} axes")
    axis = axis % x.ndim
    x = x.rechunk({a: -1 for a in range(x.ndim) if a != axis})
    os.makedirs(dirname, exist_ok=True)
    name = f"to-npy-stack-{tokenize(x.name, dirname)}"
    graph = dict(materialize([x._layer]))
    keys = []
    for idx in block_indices(x.chunks):
        key = (name, idx[axis])
        graph[key] = Task(key, _save, os.path.join(dirname, f"{idx[axis]}.npy"), Ref((x.name, *idx)), axis)
        keys.append(key)
    from pardata.base import get

    lengths = get(graph, keys)
    chunks = tuple(tuple(int(n) for n in lengths) if a == axis else dim for a, dim in enumerate(x.chunks))
    with open(os.path.join(dirname, "info"), "wb") as f:
        pickle.dump({"chunks": chunks, "dtype": x.dtype, "axis": axis}, f)


def _save(path, block, axis):
    np.save(path, block)
    return block.shape[axis]


def _load(path, mmap_mode):
    return np.load(path, mmap_mode=mmap_mode)


def from_npy_stack(dirname, mmap_mode="r") -> Array:
    """The Array written by ``to_npy_stack`` (blocks memory-mapped by default)."""
    with open(os.path.join(dirname, "info"), "rb") as f:
        info = pickle.load(f)
    chunks, dtype, axis = info["chunks"], info["dtype"], info["axis"]
    name = f"from-npy-stack-{tokenize(os.path.abspath(dirname), chunks, dtype)}"
    graph = {}
    for i in range(len(chunks[axis])):
        idx = [0] * len(chunks)
        idx[axis] = i
        key = (name, *idx)
        graph[key] = Task(key, _load, os.path.join(dirname, f"{i}.npy"), mmap_mode)
    return Array(GraphLayer(name, chunks, (), graph), dtype)


def _zarr():
    try:
        import zarr
    except ImportError:
        raise ImportError("zarr is not installed; `pip install zarr` to use to_zarr/from_zarr") from None
    return zarr


def from_zarr(url, component=None, chunks=None, **kwargs) -> Array:
    """An Array reading a zarr array (a path/URL or an opened zarr array) lazily."""
    zarr = _zarr()
    z = url if hasattr(url, "shape") else zarr.open(url, mode="r", path=component, **kwargs) \
        if component else zarr.open(url, mode="r", **kwargs)
    return from_array(z, chunks=chunks if chunks is not None else tuple(z.chunks))


def to_zarr(x, url, component=None, overwrite=False, compute=True, **kwargs):
    """Write ``x`` to a zarr array at ``url`` with zarr chunks equal to ``x``'s chunks
    (which must be regular: all equal but the last along each axis)."""
    zarr = _zarr()
    x = asarray(x)
    for dim in x.chunks:
        if len(set(dim[:-1])) > 1 or (len(dim) > 1 and dim[-1] > dim[0]):
            raise ValueError("to_zarr needs regular chunks; rechunk first")
    mode = "w" if overwrite else "w-"
    z = zarr.open_array(url, mode=mode, shape=x.shape, dtype=x.dtype, chunks=tuple(max(d) for d in x.chunks),
                        path=component, **kwargs) if component else zarr.open_array(
        url, mode=mode, shape=x.shape, dtype=x.dtype, chunks=tuple(max(d) for d in x.chunks), **kwargs)
    return store(x, z, compute=compute)

