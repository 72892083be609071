"""Chunk arithmetic: normalizing ``chunks=`` and the small helpers built on chunk tuples.

Chunks are always held normalized: one tuple of block sizes per axis, e.g.
``((2, 2, 1), (3,))`` for a 5 x 3 array. A size that is not known until the data is
computed (after boolean-mask indexing by an Array) is ``nan``. An axis of length 0 has
the single chunk ``(0,)``, so every array has at least one block per axis.
"""
from __future__ import annotations

import math
from itertools import accumulate
from numbers import Integral, Number

import numpy as np

from pardata import config
from pardata._units import parse_bytes

nan = float("nan")


def is_unknown(n) -> bool:
    return isinstance(n, float) and math.isnan(n)


def has_unknown(chunks) -> bool:
    return any(is_unknown(c) for dim in chunks for c in dim)


def shape_of(chunks) -> tuple:
    return tuple(nan if any(is_unknown(c) for c in dim) else int(sum(dim)) for dim in chunks)


def offsets(dim: tuple) -> tuple:
    """Start offset of each block along one axis: ``(0, c0, c0 + c1, ...)`` plus the end."""
    return (0, *accumulate(dim))


def blocks_from_blocksize(size: int, blocksize: int) -> tuple:
    if size == 0:
        return (0,)
    if blocksize <= 0:
        raise ValueError(f"chunk sizes must be positive, got {blocksize}")
    full, rest = divmod(size, blocksize)
    return (blocksize,) * full + ((rest,) if rest else ())


def _chunk_limit(limit, dtype) -> int:
    if limit is None:
        limit = config.get("array.chunk-size", "128MiB")
    limit = parse_bytes(limit) if isinstance(limit, str) else int(limit)
    itemsize = np.dtype(dtype if dtype is not None else float).itemsize or 1
    return max(1, limit // itemsize)


def auto_sizes(shape, fixed: dict, limit=None, dtype=None) -> dict:
    """Block sizes for the axes not in ``fixed`` so one block holds about ``limit`` bytes.

    Sizes are as close to equal as the axis lengths allow: an axis shorter than its fair
    share keeps its whole length and the rest is shared by the others.
    """
    budget = _chunk_limit(limit, dtype)
    for axis, size in fixed.items():
        budget = max(1, budget // max(1, size))
    auto = [a for a in range(len(shape)) if a not in fixed]
    out: dict = {}
    while auto:
        share = budget ** (1.0 / len(auto))
        small = [a for a in auto if shape[a] <= share]
        if not small:
            for a in auto:
                out[a] = max(1, int(share))
            break
        for a in small:
            out[a] = max(1, shape[a])
            budget = max(1, budget // max(1, shape[a]))
            auto.remove(a)
    return out


def normalize_chunks(chunks, shape, limit=None, dtype=None, previous=None) -> tuple:
    """Chunks in normalized form (a tuple of per-axis tuples of block sizes).

    ``chunks`` may be: already normalized tuples; one int for every axis; a tuple with,
    per axis, an int block size, a tuple of sizes, ``-1``/``None`` (the whole axis) or
    ``"auto"``; the string ``"auto"``; or a dict ``{axis: spec}`` whose missing axes keep
    ``previous`` (the current chunks when rechunking).

    >>> normalize_chunks(2, (5, 3))
    ((2, 2, 1), (2, 1))
    >>> normalize_chunks((-1, (1, 2)), (4, 3))
    ((4,), (1, 2))
    """
    shape = tuple(shape)
    ndim = len(shape)
    if isinstance(chunks, dict):
        if previous is None:
            previous = ((s,) for s in shape)
        previous = tuple(previous)
        spec = []
        for a in range(ndim):
            if a in chunks or (a - ndim) in chunks:
                spec.append(chunks.get(a, chunks.get(a - ndim)))
            else:
                spec.append(previous[a])
        chunks = tuple(spec)
    if isinstance(chunks, str) or isinstance(chunks, Integral):
        chunks = (chunks,) * ndim
    if isinstance(chunks, list):
        chunks = tuple(chunks)
    if not isinstance(chunks, tuple):
        raise TypeError(f"chunks must be an int, tuple, dict or 'auto', not {chunks!r}")
    if ndim == 0:
        if chunks not in ((), ((),)):
            if any(c not in ("auto", -1, None) for c in chunks):
                raise ValueError(f"chunks {chunks!r} given for a 0-d array")
        return ()
    if len(chunks) != ndim:
        raise ValueError(f"chunks {chunks!r} have {len(chunks)} axes; the shape {shape} has {ndim}")
    fixed: dict = {}
    autos = []
    resolved: list = [None] * ndim
    for a, (c, n) in enumerate(zip(chunks, shape)):
        if isinstance(c, (tuple, list)):
            resolved[a] = tuple(int(x) if not is_unknown(x) else nan for x in c)
            if not resolved[a]:
                resolved[a] = (0,)
        elif c is None or (isinstance(c, Number) and c == -1):
            resolved[a] = (n,) if not is_unknown(n) else None
        elif c == "auto":
            autos.append(a)
        elif isinstance(c, Number) and not isinstance(c, bool):
            resolved[a] = None if is_unknown(n) else blocks_from_blocksize(int(n), int(c))
        else:
            raise ValueError(f"cannot understand chunk spec {c!r} for axis {a}")
        if resolved[a] is not None and a not in autos:
            fixed[a] = max(resolved[a]) if not any(is_unknown(x) for x in resolved[a]) else 1
    if autos:
        sizes = auto_sizes(shape, {a: fixed.get(a, 1) for a in range(ndim) if a not in autos},
                           limit, dtype)
        for a in autos:
            resolved[a] = blocks_from_blocksize(int(shape[a]), sizes[a])
    for a, (dim, n) in enumerate(zip(resolved, shape)):
        if dim is None:
            raise ValueError(f"axis {a} has unknown length; give its chunks explicitly "
                             "or call compute_chunk_sizes()")
        if not is_unknown(n) and not any(is_unknown(x) for x in dim) and sum(dim) != n:
            raise ValueError(f"chunks {dim} along axis {a} sum to {sum(dim)}, not {n}")
        if any(not is_unknown(x) and x < 0 for x in dim):
            raise ValueError(f"negative chunk size in {dim}")
    return tuple(resolved)


def common_refinement(dims: list) -> tuple:
    """The chunks whose boundaries are the union of all of ``dims`` (same total length)."""
    dims = [d for d in dims]
    if all(d == dims[0] for d in dims):
        return dims[0]
    if any(any(is_unknown(c) for c in d) for d in dims):
        raise ValueError("cannot align arrays with unknown chunk sizes; call compute_chunk_sizes()")
    bounds = sorted(set().union(*(offsets(d) for d in dims)))
    return tuple(b - a for a, b in zip(bounds[:-1], bounds[1:])) or (0,)


def chunk_shape(chunks, idx) -> tuple:
    return tuple(dim[i] for dim, i in zip(chunks, idx))


def block_slices(chunks, idx) -> tuple:
    out = []
    for dim, i in zip(chunks, idx):
        start = int(sum(dim[:i]))
        out.append(slice(start, start + dim[i]))
    return tuple(out)
