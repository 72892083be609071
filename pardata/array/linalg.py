"""Linear algebra: tall-and-skinny QR and SVD, and direct solves.

``qr`` is the one-level TSQR: every row block is factored on its own (``A_i = Q_i R_i``),
the small ``R_i`` are stacked and factored once more (``[R_i] = Q' R``), and the final
``Q`` block ``i`` is ``Q_i @ Q'_i``. It needs one chunk along the columns and works for
any number of row blocks; only the stacked ``R`` (``n_blocks * n`` rows) meets in one
task. ``svd`` factors ``R`` from TSQR. ``solve`` and ``inv`` are blocked LU with partial
pivoting (``lu``): no task holds more than one block column of the matrix.
"""
from __future__ import annotations

import numpy as np

from pardata.array.chunks import offsets
from pardata.array.core import Array
from pardata.array.creation import asarray
from pardata.array.layers import GraphLayer
from pardata.core.spec import Ref, Task
from pardata.core.tokenize import tokenize
from pardata.array.lu import inv, solve  # noqa: F401  (pa.linalg.solve)


def _qr_block(block):
    return np.linalg.qr(block)


def _stack_qr(*factors):
    return np.linalg.qr(np.concatenate([f[1] for f in factors], axis=0))


def _q_block(local, second, start, stop):
    return local[0] @ second[0][start:stop]


def _r_of(second):
    return second[1]


def _tsqr(a: Array, name: str):
    """Layers for Q (row blocks like ``a``) and R (one block); returns both Arrays."""
    if a.ndim != 2:
        raise ValueError("qr needs a 2-D array")
    if len(a.chunks[1]) != 1:
        a = a.rechunk({1: -1})
    m_blocks = a.chunks[0]
    n = a.shape[1]
    ks = [min(m, n) for m in m_blocks]
    starts = offsets(ks)
    k_final = min(int(sum(ks)), n)
    qname, rname = f"qr-q-{name}", f"qr-r-{name}"
    local_name, second_key = f"qr-local-{name}", f"qr-second-{name}"
    dtype = np.linalg.qr(np.ones((1, 1), dtype=a.dtype))[0].dtype
    aname = a.name  # bound now: ``a[...] = v`` later rebinds a.name

    def factor_tasks() -> dict:
        graph = {}
        for i in range(len(m_blocks)):
            lk = (local_name, i)
            graph[lk] = Task(lk, _qr_block, Ref((aname, i, 0)))
        graph[second_key] = Task(second_key, _stack_qr, *[Ref((local_name, i)) for i in range(len(m_blocks))])
        return graph

    def build_q() -> dict:
        graph = factor_tasks()
        for i in range(len(m_blocks)):
            qk = (qname, i, 0)
            graph[qk] = Task(qk, _q_block, Ref((local_name, i)), Ref(second_key), starts[i], starts[i + 1])
        return graph

    def build_r() -> dict:
        graph = factor_tasks()
        rk = (rname, 0, 0)
        graph[rk] = Task(rk, _r_of, Ref(second_key))
        return graph

    q = Array(GraphLayer(qname, (m_blocks, (k_final,)), (a._layer,), build_q), dtype)
    r = Array(GraphLayer(rname, ((k_final,), (n,)), (a._layer,), build_r), dtype)
    return q, r


def tsqr(a, compute_svd=False):
    a = asarray(a)
    q, r = _tsqr(a, tokenize(a.name))
    if not compute_svd:
        return q, r
    return _svd_from_qr(q, r)


def qr(a):
    """Reduced QR of a tall-and-skinny array: ``(Q, R)`` with ``Q`` chunked like ``a``."""
    return tsqr(a)


def _svd_r(r, coerce_signs):
    u, s, vt = np.linalg.svd(r, full_matrices=False)
    if coerce_signs:
        u, vt = svd_flip(u, vt)
    return u, s, vt


def svd_flip(u, vt):
    """Flip the signs of singular vector pairs so each row of ``vt`` sums to >= 0 (Dask's
    rule), making the result independent of chunking and LAPACK version."""
    signs = np.where(vt.sum(axis=1) >= 0, 1, -1).astype(vt.dtype)
    return u * signs, vt * signs[:, None]


def _pick(i, t):
    return t[i]


def _svd_from_qr(q: Array, r: Array, coerce_signs: bool = True):
    from pardata.array.products import matmul

    name = f"svd-{tokenize(r.name, coerce_signs)}"
    k, n = r.shape
    key = (name, "factors")
    factors = {key: Task(key, _svd_r, Ref((r.name, 0, 0)), coerce_signs)}
    outs = []
    for i, chunks in enumerate((((k,), (k,)), ((k,),), ((k,), (n,)))):
        oname = f"{name}-{i}"
        okey = (oname, *(0,) * len(chunks))
        graph = dict(factors)
        graph[okey] = Task(okey, _pick, i, Ref(key))
        dtype = np.linalg.svd(np.ones((1, 1), dtype=r.dtype))[i].dtype
        outs.append(Array(GraphLayer(oname, chunks, (r._layer,), graph), dtype))
    u_r, s, vt = outs
    return matmul(q, u_r), s, vt


def svd(a, coerce_signs=True):
    """Thin SVD ``(U, s, Vt)`` of a tall-and-skinny (or short-and-fat) array via TSQR.

    With ``coerce_signs`` (the default, as in Dask) each singular vector pair has the
    sign that makes its row of ``Vt`` sum to >= 0, so results do not depend on chunks.
    """
    a = asarray(a)
    if a.ndim != 2:
        raise ValueError("svd needs a 2-D array")
    if a.numblocks[1] > 1 and a.numblocks[0] == 1:
        u, s, vt = svd(a.T, coerce_signs=False)
        if coerce_signs:
            return _flip_transposed(vt.T, s, u.T)
        return vt.T, s, u.T
    q, r = _tsqr(a, tokenize(a.name))
    return _svd_from_qr(q, r, coerce_signs)


def _flip_transposed(u: Array, s: Array, vt: Array):
    """``svd_flip`` for the short-and-fat case, where ``vt`` has many column blocks."""
    from pardata.array.blockwise import elemwise
    from pardata.array import reductions

    signs = elemwise(_sign_of, reductions.sum(vt, axis=1), dtype=vt.dtype)
    return u * signs, s, vt * signs[:, None]


def _sign_of(total):
    return np.where(total >= 0, 1, -1).astype(total.dtype)


def norm(x, ord=None, axis=None, keepdims=False) -> Array:
    """Vector 2-norm / Frobenius norm (``ord=None``), or ``ord`` in ``inf, -inf, 1``
    for vectors along ``axis``."""
    from pardata.array import reductions

    x = asarray(x)
    if ord is None or ord == "fro" or ord == 2 and (axis is None and x.ndim == 1 or isinstance(axis, int)):
        sq = abs(x) ** 2
        return reductions.sum(sq, axis=axis, keepdims=keepdims) ** 0.5
    if ord == np.inf:
        return reductions.max(abs(x), axis=axis, keepdims=keepdims)
    if ord == -np.inf:
        return reductions.min(abs(x), axis=axis, keepdims=keepdims)
    if ord == 1 and (x.ndim == 1 or isinstance(axis, int)):
        return reductions.sum(abs(x), axis=axis, keepdims=keepdims)
    raise NotImplementedError(f"norm with ord={ord!r} is not implemented")
