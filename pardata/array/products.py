"""``tensordot``, ``dot``, ``matmul``, ``outer``, ``einsum``-free products by blocks.

Each output block is one task that sums the products of the block pairs along the
contracted axes, accumulating in place (one output-sized buffer per task). When there
are more than ``SPLIT`` block pairs, the pairs are grouped and the partial sums added
in a tree, so no task holds more than ``SPLIT`` pairs of input blocks at once.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

from pardata.array.blockwise import LETTERS, blockwise
from pardata.array.core import Array
from pardata.array.creation import asarray
from pardata.core.tokenize import tokenize

SPLIT = 16


def _flatten(nested, depth):
    """``[(index tuple, block)]`` from a nested list ``depth`` levels deep."""
    if depth == 0:
        return [((), nested)]
    return [((i, *idx), blk) for i, sub in enumerate(nested) for idx, blk in _flatten(sub, depth - 1)]


def _tensordot_sum(a_blocks, b_blocks, a_axes, b_axes, perm, depth):
    a_items = dict(_flatten(a_blocks, depth)) if depth else {(): a_blocks}
    b_items = _flatten(b_blocks, depth) if depth else [((), b_blocks)]
    out = None
    for bidx, bb in b_items:
        aidx = tuple(bidx[p] for p in perm)
        part = np.tensordot(a_items[aidx], bb, axes=(a_axes, b_axes))
        if out is None:
            out = part
        else:
            out += part
    return out


def tensordot(a, b, axes=2) -> Array:
    """Sum of products over ``axes`` (an int, or a pair of axis sequences)."""
    a, b = asarray(a), asarray(b)
    if isinstance(axes, Integral):
        a_axes = tuple(range(a.ndim - axes, a.ndim))
        b_axes = tuple(range(axes))
    else:
        a_axes, b_axes = axes
        a_axes = (a_axes,) if isinstance(a_axes, Integral) else tuple(a_axes)
        b_axes = (b_axes,) if isinstance(b_axes, Integral) else tuple(b_axes)
    a_axes = tuple(x % a.ndim for x in a_axes)
    b_axes = tuple(x % b.ndim for x in b_axes)
    if len(a_axes) != len(b_axes):
        raise ValueError("shape-mismatch for sum")
    for i, j in zip(a_axes, b_axes):
        if a.shape[i] != b.shape[j]:
            raise ValueError(f"shape-mismatch for sum: axis {i} of a has {a.shape[i]}, axis {j} of b {b.shape[j]}")
    a_ind = list(LETTERS[:a.ndim])
    b_ind = list(LETTERS[a.ndim:a.ndim + b.ndim])
    for i, j in zip(a_axes, b_axes):
        b_ind[j] = a_ind[i]
    out_ind = [c for i, c in enumerate(a_ind) if i not in a_axes] + \
              [c for j, c in enumerate(b_ind) if j not in b_axes]
    contracted_a = [a_ind[i] for i in sorted(a_axes)]  # nesting order of a's block lists
    contracted_b = [b_ind[j] for j in sorted(b_axes)]
    perm = tuple(contracted_b.index(c) for c in contracted_a)
    dtype = np.result_type(a.dtype, b.dtype)
    # Every pair of contracted blocks within one task; see SPLIT for big contractions.
    n_pairs = int(np.prod([a.numblocks[i] for i in a_axes])) if a_axes else 1
    if n_pairs > SPLIT and len(a_axes) == 1:
        return _split_tensordot(a, b, a_axes[0], b_axes[0])
    return blockwise(_tensordot_sum, out_ind, a, a_ind, b, b_ind, dtype=dtype,
                     a_axes=a_axes, b_axes=b_axes, perm=perm, depth=len(a_axes),
                     name=f"tensordot-{tokenize(a.name, b.name, a_axes, b_axes)}")


def _split_tensordot(a, b, ia, ib):
    """Contract one axis in groups of ``SPLIT`` blocks, then add the partials in a tree."""
    from pardata.array.reductions import sum as _sum
    nb = a.numblocks[ia]
    group_sizes = []
    chunks = a.chunks[ia]
    for g in range(0, nb, SPLIT):
        group_sizes.append(sum(chunks[g:g + SPLIT]))
    parts = []
    start = 0
    for size in group_sizes:
        sl_a = [slice(None)] * a.ndim
        sl_a[ia] = slice(start, start + size)
        sl_b = [slice(None)] * b.ndim
        sl_b[ib] = slice(start, start + size)
        parts.append(tensordot(a[tuple(sl_a)], b[tuple(sl_b)], axes=((ia,), (ib,))))
        start += size
    from pardata.array.routines import stack

    return _sum(stack(parts, axis=0), axis=0, split_every=SPLIT)


def dot(a, b) -> Array:
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        return a * b
    return tensordot(a, b, axes=((a.ndim - 1,), (max(b.ndim - 2, 0),)))


def vdot(a, b) -> Array:
    from pardata.array.reshape import ravel

    return dot(ravel(asarray(a)).conj(), ravel(asarray(b)))


def _matmul_sum(a_blocks, b_blocks):
    out = None
    for ab, bb in zip(a_blocks, b_blocks):
        part = np.matmul(ab, bb)
        if out is None:
            out = part
        else:
            out += part
    return out


def matmul(a, b) -> Array:
    """``a @ b`` with NumPy's rules (1-D operands promoted, batch axes broadcast)."""
    a, b = asarray(a), asarray(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: input operand does not have enough dimensions")
    if a.ndim == 1 and b.ndim == 1:
        return tensordot(a, b, axes=1)
    if a.ndim == 1:
        return matmul(a[None], b)[..., 0, :]
    if b.ndim == 1:
        return matmul(a, b[:, None])[..., 0]
    if a.ndim == 2 and b.ndim == 2:
        return tensordot(a, b, axes=((1,), (0,)))
    ndim = max(a.ndim, b.ndim)
    batch = LETTERS[:ndim - 2]
    i, k, j = LETTERS[ndim - 2:ndim + 1]
    a_ind = batch[ndim - a.ndim:] + i + k
    b_ind = batch[ndim - b.ndim:] + k + j
    dtype = np.result_type(a.dtype, b.dtype)
    return blockwise(_matmul_sum, batch + i + j, a, a_ind, b, b_ind, dtype=dtype,
                     name=f"matmul-{tokenize(a.name, b.name)}")


def outer(a, b) -> Array:
    from pardata.array.reshape import ravel

    a, b = ravel(asarray(a)), ravel(asarray(b))
    return blockwise(np.outer, "ij", a, "i", b, "j", dtype=np.result_type(a.dtype, b.dtype))

