"""Blocked LU ``solve``/``inv`` and tall-and-skinny QR/SVD against NumPy."""
import numpy as np
import pytest

import pardata.array as pa
from pardata.array.lu import lu_factor_inplace
from pardata.testing.array import assert_eq

RNG = np.random.default_rng(21)


@pytest.mark.parametrize("m,n", [(1, 1), (5, 5), (9, 3), (70, 70), (100, 40), (45, 33)])
def test_lu_factor_matches_pivoted_product(m, n):
    a = RNG.normal(size=(m, n))
    lu = a.copy()
    p = lu_factor_inplace(lu)
    lower = np.tril(lu, -1)[:, :n] + np.eye(m, n)
    np.testing.assert_allclose(a[p], lower @ np.triu(lu[:n]), atol=1e-10)
    assert np.abs(np.tril(lu, -1)).max(initial=0) <= 1 + 1e-12  # partial pivoting bounds L
    assert sorted(p) == list(range(m))


@pytest.mark.parametrize("n,chunks", [(7, 3), (30, 7), (64, 16), (41, 41), (90, 25), (1, 1)])
@pytest.mark.parametrize("rhs", ["vector", "matrix"])
def test_solve_matches_numpy(n, chunks, rhs):
    a = RNG.normal(size=(n, n))
    b = RNG.normal(size=n if rhs == "vector" else (n, 3))
    x = pa.linalg.solve(pa.from_array(a, chunks=chunks), pa.from_array(b, chunks=5))
    assert x.shape == b.shape
    assert_eq(x, np.linalg.solve(a, b), rtol=1e-8, atol=1e-10)


def test_solve_pivots_across_blocks():
    # Every diagonal block is singular: only pivoting over the whole column works.
    n = 12
    a = np.zeros((n, n))
    a[:6, 6:] = np.eye(6) + 0.25 * RNG.normal(size=(6, 6))
    a[6:, :6] = np.eye(6)
    a[6:, 6:] = 1e-3 * RNG.normal(size=(6, 6))
    b = RNG.normal(size=(n, 2))
    assert_eq(pa.linalg.solve(pa.from_array(a, chunks=(3, 4)), b), np.linalg.solve(a, b), rtol=1e-8, atol=1e-12)


def test_solve_dtypes_and_integers():
    a = RNG.integers(-5, 6, size=(9, 9)) + 20 * np.eye(9, dtype=int)
    b = RNG.integers(0, 9, size=9)
    x = pa.linalg.solve(pa.from_array(a, chunks=4), pa.from_array(b, chunks=4))
    assert_eq(x, np.linalg.solve(a, b), rtol=1e-10)
    a32 = a.astype(np.float32)
    x32 = pa.linalg.solve(pa.from_array(a32, chunks=4), b.astype(np.float32))
    assert x32.dtype == np.linalg.solve(a32, b.astype(np.float32)).dtype
    assert_eq(x32, np.linalg.solve(a32, b.astype(np.float32)), rtol=1e-4)


def test_solve_holds_at_most_a_panel():
    n, c = 60, 10
    a = pa.from_array(RNG.normal(size=(n, n)) + n * np.eye(n), chunks=c)
    graph = pa.linalg.solve(a, np.ones(n)).__pardata_graph__()
    reads = [sum(1 for d in node.dependencies if d[0] == a.name) for node in graph.values()]
    assert max(reads) == n // c  # one block column, never the whole matrix


def test_solve_edge_cases_and_errors():
    empty = pa.linalg.solve(pa.from_array(np.empty((0, 0))), np.empty(0))
    assert_eq(empty, np.linalg.solve(np.empty((0, 0)), np.empty(0)))
    singular = np.ones((6, 6))
    with pytest.raises(np.linalg.LinAlgError, match="Singular"):
        pa.linalg.solve(pa.from_array(singular, chunks=2), np.ones(6)).compute()
    x = pa.ones((4, 5), chunks=2)
    with pytest.raises(ValueError, match="square"):
        pa.linalg.solve(x, np.ones(4))
    with pytest.raises(ValueError, match="rows"):
        pa.linalg.solve(pa.eye(4, chunks=2), np.ones(5))
    with pytest.raises(ValueError, match="square"):
        pa.linalg.inv(x)


@pytest.mark.parametrize("n,chunks", [(8, 3), (33, 10), (1, 1)])
def test_inv_matches_numpy(n, chunks):
    a = RNG.normal(size=(n, n)) + 2 * np.eye(n)
    got = pa.linalg.inv(pa.from_array(a, chunks=chunks))
    assert got.chunks == pa.from_array(a, chunks=chunks).chunks
    assert_eq(got, np.linalg.inv(a), rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("shape,chunks", [((50, 4), (7, 4)), ((50, 4), (13, 2)), ((9, 9), (2, 9)),
                                          ((4, 6), (3, 6)), ((30, 1), (4, 1)), ((0, 3), (5, 3))])
def test_tall_skinny_qr_matches_numpy(shape, chunks):
    a = RNG.normal(size=shape)
    q, r = pa.linalg.qr(pa.from_array(a, chunks=chunks))
    qn, rn = np.linalg.qr(a)
    assert q.shape == qn.shape and r.shape == rn.shape
    qv, rv = q.compute(), r.compute()
    np.testing.assert_allclose(qv @ rv, a, atol=1e-10)
    np.testing.assert_allclose(qv.T @ qv, np.eye(qn.shape[1]), atol=1e-10)
    np.testing.assert_allclose(np.abs(rv), np.abs(rn), atol=1e-10)  # unique up to row signs


@pytest.mark.parametrize("shape,chunks", [((60, 5), (11, 5)), ((60, 5), (60, 2)), ((5, 60), (5, 11)),
                                          ((12, 12), (5, 12))])
def test_svd_matches_numpy_with_dask_signs(shape, chunks):
    a = RNG.normal(size=shape)
    u, s, vt = pa.linalg.svd(pa.from_array(a, chunks=chunks))
    un, sn, vtn = np.linalg.svd(a, full_matrices=False)
    assert_eq(s, sn, rtol=1e-10)
    uv, vv = u.compute(), vt.compute()
    np.testing.assert_allclose((uv * s.compute()) @ vv, a, atol=1e-10)
    assert (vv.sum(axis=1) >= 0).all()  # coerce_signs, as in Dask
    flip = np.where(vtn.sum(axis=1) >= 0, 1, -1)
    np.testing.assert_allclose(vv, vtn * flip[:, None], atol=1e-8)
    np.testing.assert_allclose(uv, un * flip, atol=1e-8)
    other = pa.linalg.svd(pa.from_array(a, chunks=tuple(max(1, c // 2) for c in chunks)))[2]
    np.testing.assert_allclose(other.compute(), vv, atol=1e-8)  # independent of chunking
