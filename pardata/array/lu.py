"""Blocked LU with partial pivoting, and ``solve``/``inv`` built on it.

``solve(a, b)`` runs right-looking block Gaussian elimination on the augmented matrix
``[a | b]``, one block column at a time, as LAPACK's ``getrf`` does:

1. Panel: the blocks of column ``k`` from the diagonal down are stacked (``n x bk``,
   never the whole matrix) and factored with partial pivoting: ``P panel = L U_kk``.
2. Row interchanges: pivoting only swaps rows of the diagonal block with rows below it,
   so a block under the diagonal changes only where its rows went up; each such block
   sends the (at most ``bk``) rows it gives up as a small extract.
3. The diagonal block row becomes ``U_kj = L_kk^-1 (P a)_kj``, and every block below it
   is updated with the Schur complement ``a_ij - L_ik U_kj``.

Because ``b`` rides along as the last block column, elimination leaves ``U x = b'``,
solved by block back substitution. Each task holds a panel or a few blocks, so the
matrix itself is never gathered; the pivoting is the same as ``numpy.linalg.solve``'s
(partial pivoting over the whole column), so its stability is too. A matrix that is
exactly singular raises ``LinAlgError("Singular matrix")`` like NumPy.
"""
from __future__ import annotations

import numpy as np

from pardata.array.chunks import has_unknown, offsets
from pardata.array.core import Array
from pardata.array.creation import asarray
from pardata.array.layers import GraphLayer
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize

BASE_COLUMNS = 32  # panels this narrow are factored column by column


def lu_factor_inplace(a: np.ndarray) -> np.ndarray:
    """Factor ``a`` (m x n, m >= n) in place into unit-lower L and upper U with partial
    pivoting (recursive halving, so most work is matrix products); returns the row
    order ``p`` with ``a_original[p] = L @ U``.

    >>> a = np.array([[1.0, 2.0], [3.0, 4.0]])
    >>> lu = a.copy(); p = lu_factor_inplace(lu)
    >>> lower, upper = np.tril(lu, -1) + np.eye(2), np.triu(lu)
    >>> bool(np.allclose(a[p], lower @ upper)), p.tolist()
    (True, [1, 0])
    """
    m, n = a.shape
    if n <= BASE_COLUMNS:
        p = np.arange(m)
        for c in range(min(m, n)):
            r = c + int(np.argmax(np.abs(a[c:, c])))
            if a[r, c] == 0:
                raise np.linalg.LinAlgError("Singular matrix")
            if r != c:
                a[[c, r]] = a[[r, c]]
                p[[c, r]] = p[[r, c]]
            a[c + 1:, c] /= a[c, c]
            if c + 1 < n:
                a[c + 1:, c + 1:] -= np.outer(a[c + 1:, c], a[c, c + 1:])
        return p
    n1 = n // 2
    p1 = lu_factor_inplace(a[:, :n1])
    a[:, n1:] = a[p1, n1:]
    a[:n1, n1:] = _unit_lower_solve(a[:n1, :n1], a[:n1, n1:])
    a[n1:, n1:] -= a[n1:, :n1] @ a[:n1, n1:]
    p2 = lu_factor_inplace(a[n1:, n1:])
    a[n1:, :n1] = a[n1:, :n1][p2]
    p = p1.copy()
    p[n1:] = p1[n1:][p2]
    return p


def _unit_lower_solve(lu_top, rhs):
    lower = np.tril(lu_top, -1)
    lower[np.diag_indices_from(lower)] = 1
    return np.linalg.solve(lower, rhs)


def _upper_solve(lu_top, rhs):
    return np.linalg.solve(np.triu(lu_top), rhs)


# ----------------------------------------------------------------------------- block tasks

def _panel(dtype, *blocks):
    stacked = np.concatenate(blocks, axis=0).astype(dtype, copy=True)
    perm = lu_factor_inplace(stacked)
    return stacked, perm


def _perm_of(panel):
    return panel[1]


def _lower_inverse(panel, bk):
    """``L_kk^-1``, once per panel, so each ``U_kj`` is one matrix product."""
    lower = np.tril(panel[0][:bk], -1)
    lower[np.diag_indices_from(lower)] = 1
    return np.linalg.inv(lower)


def _l_rows(panel, start, stop):
    return panel[0][start:stop]


def _extract(perm, bk, start, block):
    """Rows of ``block`` (panel rows ``start..``) that pivoting moves into the top block."""
    src = perm[:bk]
    sel = np.flatnonzero((src >= start) & (src < start + len(block)))
    return sel, block[src[sel] - start]


def _u_block(dtype, l_inv, perm, top, *extracts):
    bk = len(top)
    src = perm[:bk]
    out = np.empty(top.shape, dtype=dtype)
    inside = src < bk
    out[inside] = top[src[inside]]
    for sel, rows in extracts:
        out[sel] = rows
    return l_inv @ out


def _update(dtype, perm, start, l_ik, block, top, u_kj):
    """Block ``i`` after the interchanges, minus ``L_ik @ U_kj``."""
    out = np.array(block, dtype=dtype)
    src = perm[start:start + len(block)]
    moved = np.flatnonzero(src != np.arange(start, start + len(block)))
    if moved.size:
        out[moved] = top[src[moved]]
    out -= l_ik @ u_kj
    return out


def _back(l_ii, rhs, *pairs):
    """``x_i = U_ii^-1 (rhs - sum U_ij x_j)``; ``pairs`` alternate ``U_ij`` and ``x_j``."""
    acc = np.array(rhs)
    for u, x in zip(pairs[::2], pairs[1::2]):
        acc -= u @ x
    return _upper_solve(l_ii[:len(rhs)], acc)


def _elimination(tok: str, aname: str, bname: str, sizes: tuple, dtype) -> tuple:
    """Graph of the elimination and back substitution; returns (graph, solution keys)."""
    nb = len(sizes)
    starts = offsets(sizes)
    cur = {(i, j): (aname, i, j) for i in range(nb) for j in range(nb)}
    cur.update({(i, nb): (bname, i, 0) for i in range(nb)})
    graph: dict = {}
    diag = {}
    for k in range(nb):
        base = starts[k]
        panel = (f"lu-panel-{tok}", k)
        graph[panel] = Task(panel, _panel, dtype, *[Ref(cur[(i, k)]) for i in range(k, nb)])
        perm = (f"lu-perm-{tok}", k)
        graph[perm] = Task(perm, _perm_of, Ref(panel))
        lrows = {}
        for i in range(k, nb):
            lk = (f"lu-l-{tok}", i, k)
            graph[lk] = Task(lk, _l_rows, Ref(panel), starts[i] - base, starts[i + 1] - base)
            lrows[i] = lk
        diag[k] = lrows[k]
        bk = sizes[k]
        linv = (f"lu-linv-{tok}", k)
        graph[linv] = Task(linv, _lower_inverse, Ref(panel), bk)
        for j in range(k + 1, nb + 1):
            extracts = []
            for i in range(k + 1, nb):
                ek = (f"lu-extract-{tok}", k, i, j)
                graph[ek] = Task(ek, _extract, Ref(perm), bk, starts[i] - base, Ref(cur[(i, j)]))
                extracts.append(Ref(ek))
            uk = (f"lu-u-{tok}", k, j)
            graph[uk] = Task(uk, _u_block, dtype, Ref(linv), Ref(perm), Ref(cur[(k, j)]), *extracts)
            for i in range(k + 1, nb):
                nk = (f"lu-a{k}-{tok}", i, j)
                graph[nk] = Task(nk, _update, dtype, Ref(perm), starts[i] - base, Ref(lrows[i]),
                                 Ref(cur[(i, j)]), Ref(cur[(k, j)]), Ref(uk))
                cur[(i, j)] = nk
            cur[(k, j)] = uk
    xs = {}
    for i in reversed(range(nb)):
        xk = (f"lu-x-{tok}", i, 0)
        pairs = []
        for j in range(i + 1, nb):
            pairs += [Ref(cur[(i, j)]), Ref(xs[j])]
        graph[xk] = Task(xk, _back, Ref(diag[i]), Ref(cur[(i, nb)]), *pairs)
        xs[i] = xk
    return graph, [xs[i] for i in range(nb)]


def _cast_block(block, dtype):
    return np.asarray(block, dtype=dtype)


def solve(a, b) -> Array:
    """``x`` with ``a @ x == b`` for a square ``a``, by blocked LU with partial pivoting
    (see the module docstring). ``b`` may be 1-D or 2-D; ``a`` is rechunked to square
    blocks along its row chunks."""
    a, b = asarray(a), asarray(b)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"solve needs a square 2-D matrix; got shape {a.shape}")
    if b.ndim not in (1, 2):
        raise ValueError(f"solve needs a 1-D or 2-D right-hand side; got {b.ndim} axes")
    if has_unknown(a.chunks) or has_unknown(b.chunks):
        raise ValueError("solve needs known chunk sizes; call compute_chunk_sizes()")
    if b.shape[0] != a.shape[0]:
        raise ValueError(f"solve: b has {b.shape[0]} rows but a is {a.shape[0]} x {a.shape[1]}")
    dtype = np.linalg.solve(np.ones((1, 1), dtype=a.dtype), np.ones(1, dtype=b.dtype)).dtype
    vector = b.ndim == 1
    if vector:
        b = b[:, None]
    sizes = tuple(c for c in a.chunks[0] if c) or (0,)
    ncols = b.shape[1]
    if a.shape[0] == 0:
        out = b.astype(dtype)
        return out[:, 0] if vector else out
    a = a.rechunk((sizes, sizes))
    b = b.rechunk((sizes, (ncols,)))
    tok = tokenize(a.name, b.name)
    graph, keys = _elimination(tok, a.name, b.name, sizes, dtype)
    name = f"solve-{tok}"
    for i, key in enumerate(keys):
        graph[(name, i, 0)] = Task((name, i, 0), _cast_block, Ref(key), dtype)
    out = Array(GraphLayer(name, (sizes, (ncols,)), (a._layer, b._layer), graph), dtype)
    return out[:, 0] if vector else out


def inv(a) -> Array:
    """The inverse of a square matrix: ``solve(a, eye)`` by blocked LU."""
    from pardata.array.creation import eye

    a = asarray(a)
    if a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"inv needs a square 2-D matrix; got shape {a.shape}")
    if has_unknown(a.chunks):
        raise ValueError("inv needs known chunk sizes; call compute_chunk_sizes()")
    dtype = np.linalg.inv(np.ones((1, 1), dtype=a.dtype)).dtype
    identity = eye(a.shape[0], dtype=dtype, chunks=(a.chunks[0], (max(a.shape[0], 1),)))
    return solve(a, identity).rechunk((a.chunks[0], a.chunks[0]))
