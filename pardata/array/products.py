"""``tensordot``, ``dot``, ``matmul``, ``outer``, ``einsum``-free products by blocks.

Contracting one axis split into several blocks (the common case: ``x @ y``) makes one
task per block *pair*, ``a[i, k] @ b[k, j]``, and adds the products over ``k`` in a
tree reduction (``PRODUCT_SPLIT`` per node). Each input block can then be freed right
after its one product, instead of a task holding a whole row of ``a`` and column of
``b`` at once; with one output block along ``j`` (a tall-and-skinny ``b``), a block of
``a`` is multiplied inside the task that makes it and never stored at all. 2-D pairs go
straight to BLAS. An operand whose blocks are read by several products is first made
contiguous, once per block (e.g. the blocks of ``x[:, :k]``: BLAS runs faster on them,
and the views no longer keep the whole blocks of ``x`` alive).

Several contracted axes keep one task per output block that sums the products of all
its block pairs, accumulating in place.
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

from pardata.array.blockwise import LETTERS, blockwise
from pardata.array.core import Array
from pardata.array.creation import asarray
from pardata.core.tokenize import tokenize

# Products added per node of the tree over a contracted axis.
PRODUCT_SPLIT = 4


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
    if len(a_axes) == 1 and a.numblocks[a_axes[0]] > 1:
        return _pairwise_tensordot(a, b, a_ind, b_ind, out_ind, a_axes[0], b_axes[0], dtype)
    return blockwise(_tensordot_sum, out_ind, a, a_ind, b, b_ind, dtype=dtype,
                     a_axes=a_axes, b_axes=b_axes, perm=perm, depth=len(a_axes),
                     name=f"tensordot-{tokenize(a.name, b.name, a_axes, b_axes)}")


def _pair_product(a, b, a_axis, b_axis):
    """``a`` times ``b`` over one axis, with a new leading axis of length 1."""
    if a.ndim == 2 and b.ndim == 2 and a_axis == 1 and b_axis == 0:
        out = np.dot(a, b)
    else:
        out = np.tensordot(a, b, axes=((a_axis,), (b_axis,)))
    return out[np.newaxis]


def _keep(block, axes):
    return block


def _add_parts(parts):
    out = parts[0] + parts[1] if len(parts) > 1 else parts[0]
    for p in parts[2:]:
        out += p  # ``out`` is fresh: adding in place is safe
    return out


def _same(result, axes):
    return result


def _compact(block):
    """``block``, copied if it is a strided view (neither C- nor Fortran-contiguous)."""
    flags = block.flags
    return block if flags.c_contiguous or flags.f_contiguous else np.ascontiguousarray(block)


def _pairwise_tensordot(a, b, a_ind, b_ind, out_ind, ia, ib, dtype) -> Array:
    """Products of block pairs along the one contracted axis, added in a tree."""
    from pardata.array.reductions import reduction

    k = a_ind[ia]
    # Operands read by several products: one contiguous copy per block, not one per read.
    if any(n > 1 for i, n in enumerate(b.numblocks) if i != ib):
        a = a.map_blocks(_compact, dtype=a.dtype)
    if any(n > 1 for i, n in enumerate(a.numblocks) if i != ia):
        b = b.map_blocks(_compact, dtype=b.dtype)
    token = tokenize(a.name, b.name, ia, ib)
    products = blockwise(_pair_product, [k, *out_ind], a, a_ind, b, b_ind, dtype=dtype,
                         adjust_chunks={k: 1}, a_axis=ia, b_axis=ib, name=f"tensordot-pair-{token}")
    return reduction(products, _keep, _add_parts, _same, axis=0, dtype=dtype,
                     split_every=PRODUCT_SPLIT, name="tensordot")


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

