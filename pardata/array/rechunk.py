"""``rechunk``: change an array's block boundaries with bounded work per task.

Each new block is assembled by one task that copies the overlapping pieces of the old
blocks straight into a fresh array (one copy; no intermediate concatenations). A new
block lying inside one old block is a view of it, and one equal to an old block is an
alias of it (no task at all once lowered).

When a direct rechunk would make one task read very many old blocks (e.g. from rows to
columns), the plan goes through intermediate chunkings whose block sizes are geometric
means of the old and new ones. This keeps the number of pieces, and with it the graph,
near ``O(n_old + n_new)`` per step instead of ``O(n_old * n_new)``, while no
intermediate block is larger than the larger of an old and a new block.
"""
from __future__ import annotations

import math
from bisect import bisect_right

import numpy as np

from pardata.array import buffers
from pardata.array.chunks import has_unknown, is_unknown, normalize_chunks, offsets
from pardata.array.core import Array
from pardata.array.layers import GraphLayer, block_indices
from pardata.core.spec import Alias, Ref, Task
from pardata.core.tokenize import tokenize

# A direct step may create up to this many pieces per old-plus-new block.
PIECES_PER_BLOCK = 8


def _overlaps(old: tuple, new: tuple) -> list:
    """For each new block along one axis: ``[(old block, slice in it, slice in new)]``."""
    if sum(new) == 0:
        return [[(0, slice(0, 0), slice(0, 0))] for _ in new]
    old_off = offsets(old)
    out = []
    start = 0
    for size in new:
        stop = start + size
        pieces = []
        for j in range(max(bisect_right(old_off, start) - 1, 0), len(old)):
            lo, hi = max(start, old_off[j]), min(stop, old_off[j + 1])
            if hi > lo:
                pieces.append((j, slice(lo - old_off[j], hi - old_off[j]), slice(lo - start, hi - start)))
            if old_off[j + 1] >= stop:
                break
        out.append(pieces)
        start = stop
    return out


def _assemble(shape, dtype, pieces, *blocks):
    if None in shape:  # axes left as they were (possibly of unknown length)
        shape = tuple(blocks[0].shape[a] if s is None else s for a, s in enumerate(shape))
    out = buffers.empty(shape, dtype)
    for (dest, src), block in zip(pieces, blocks):
        out[dest] = block[src]
    return out


def _n_pieces(old: tuple, new: tuple) -> int:
    return math.prod(len(o) if o == n else len(set(offsets(o)[1:-1]) | set(offsets(n)[1:-1])) + 1
                     for o, n in zip(old, new))


def _direct(x: Array, new: tuple, name: str) -> Array:
    per_dim = [[[(i, slice(None), slice(None))] for i in range(len(o))] if o == n else _overlaps(o, n)
               for o, n in zip(x.chunks, new)]
    same = [o == n for o, n in zip(x.chunks, new)]
    old_name, old_chunks = x.name, x.chunks  # bound now: ``x[...] = v`` later rebinds x
    dtype = x.dtype

    def build() -> dict:
        graph = {}
        for idx in block_indices(new):
            key = (name, *idx)
            choices = [per_dim[a][i] for a, i in enumerate(idx)]
            shape = tuple(None if same[a] else d[i] for a, (d, i) in enumerate(zip(new, idx)))
            if all(len(c) == 1 for c in choices):
                src = tuple(c[0][0] for c in choices)
                sl = tuple(c[0][1] for c in choices)
                full = all(s == slice(None) or (s.start == 0 and s.stop == old_chunks[a][src[a]])
                           for a, s in enumerate(sl))
                if full:
                    graph[key] = Alias(key, (old_name, *src))
                else:
                    graph[key] = Task(key, _getitem, Ref((old_name, *src)), sl)
                continue
            pieces, refs = [], []
            for combo in _product(choices):
                refs.append(Ref((old_name, *(p[0] for p in combo))))
                pieces.append((tuple(p[2] for p in combo), tuple(p[1] for p in combo)))
            graph[key] = Task(key, _assemble, shape, dtype, tuple(pieces), *refs)
        return graph

    return Array(GraphLayer(name, new, (x._layer,), build), dtype)


def _product(choices):
    if not choices:
        yield ()
        return
    for head in choices[0]:
        for rest in _product(choices[1:]):
            yield (head, *rest)


def _getitem(block, index):
    return block[index]


def _intermediate(old: tuple, new: tuple) -> tuple:
    """Chunks between ``old`` and ``new``: per axis, the geometric mean block size."""
    mid = []
    for o, n in zip(old, new):
        total = sum(o)
        if o == n or total == 0:
            mid.append(n)
            continue
        size = max(1, round(math.sqrt((total / len(o)) * (total / len(n)))))
        full, rest = divmod(total, size)
        mid.append((size,) * full + ((rest,) if rest else ()))
    return tuple(mid)


def plan(old: tuple, new: tuple, max_steps: int = 4) -> list:
    """Chunkings to go through, ending with ``new``."""
    steps = [new]
    limit = PIECES_PER_BLOCK * (math.prod(map(len, old)) + math.prod(map(len, new)))
    if _n_pieces(old, new) <= limit or max_steps <= 1:
        return steps
    mid = _intermediate(old, new)
    if mid in (old, new):
        return steps
    return plan(old, mid, max_steps // 2) + plan(mid, new, max_steps // 2)


def rechunk(x: Array, chunks="auto", threshold=None, block_size_limit=None, balance=False) -> Array:
    """The same array with new chunks (any form ``normalize_chunks`` accepts).

    ``-1`` or ``None`` on an axis means one chunk along it; a dict changes only the
    axes it names.
    """
    if isinstance(chunks, dict):
        chunks = {k % max(x.ndim, 1): v for k, v in chunks.items()}
    new = normalize_chunks(chunks, x.shape if not has_unknown(x.chunks) else _shape_or_none(x),
                           limit=block_size_limit, dtype=x.dtype, previous=x.chunks)
    new = tuple(o if (has_unknown((o,)) and (n == o or n == (float("nan"),))) else n
                for o, n in zip(x.chunks, new))
    if new == x.chunks:
        return x
    for a, (o, n) in enumerate(zip(x.chunks, new)):
        if o != n and (has_unknown((o,)) or any(is_unknown(c) for c in n)):
            raise ValueError(f"cannot rechunk axis {a} of unknown chunk sizes; call compute_chunk_sizes()")
        if o != n and sum(o) != sum(n):
            raise ValueError(f"chunks {n} do not add up to the length {sum(o)} of axis {a}")
    out = x
    for step in plan(x.chunks, new):
        out = _direct(out, step, f"rechunk-{tokenize(out.name, step)}")
    return out


def _shape_or_none(x: Array) -> tuple:
    return tuple(sum(d) if not has_unknown((d,)) else float("nan") for d in x.chunks)
