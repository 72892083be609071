"""linalg (TSQR, SVD, solve) and storage (store, npy stacks, zarr when installed)."""
import importlib.util

import numpy as np
import pytest

import pardata.array as pa
from pardata.testing.array import assert_eq

RNG = np.random.default_rng(4)
TALL = RNG.normal(size=(40, 5))


@pytest.mark.parametrize("chunks", [(10, 5), (7, 5), (40, 5), (6, 2)])
def test_qr(chunks):
    x = pa.from_array(TALL, chunks=chunks)
    q, r = pa.linalg.qr(x)
    assert q.shape == (40, 5) and r.shape == (5, 5)
    assert q.chunks[0] == x.chunks[0]
    qv, rv = q.compute(), r.compute()
    np.testing.assert_allclose(qv @ rv, TALL, atol=1e-10)
    np.testing.assert_allclose(qv.T @ qv, np.eye(5), atol=1e-10)
    np.testing.assert_allclose(np.tril(rv, -1), 0, atol=1e-12)


def test_svd():
    x = pa.from_array(TALL, chunks=(9, 5))
    u, s, vt = pa.linalg.svd(x)
    np.testing.assert_allclose(s.compute(), np.linalg.svd(TALL, compute_uv=False), rtol=1e-10)
    np.testing.assert_allclose((u.compute() * s.compute()) @ vt.compute(), TALL, atol=1e-10)
    wide = pa.from_array(TALL.T, chunks=(5, 9))
    u2, s2, vt2 = pa.linalg.svd(wide)
    np.testing.assert_allclose((u2.compute() * s2.compute()) @ vt2.compute(), TALL.T, atol=1e-10)
    raw = pa.linalg.svd(x, coerce_signs=False)
    np.testing.assert_allclose((raw[0].compute() * raw[1].compute()) @ raw[2].compute(), TALL, atol=1e-10)


def test_solve_inv_norm():
    a = RNG.normal(size=(6, 6)) + 6 * np.eye(6)
    b = RNG.normal(size=(6, 2))
    x = pa.from_array(a, chunks=4)
    assert_eq(pa.linalg.solve(x, pa.from_array(b, chunks=3)), np.linalg.solve(a, b), rtol=1e-8)
    assert_eq(pa.linalg.solve(x, b[:, 0]), np.linalg.solve(a, b[:, 0]), rtol=1e-8)
    assert_eq(pa.linalg.inv(x), np.linalg.inv(a), rtol=1e-8)
    assert_eq(pa.linalg.norm(x), np.linalg.norm(a))
    assert_eq(pa.linalg.norm(x[0], ord=np.inf), np.linalg.norm(a[0], ord=np.inf))


def test_store_into_setitem_targets():
    a = RNG.normal(size=(9, 7))
    x = pa.from_array(a, chunks=(4, 3))
    target = np.zeros_like(a)
    assert pa.store(x, target) is None
    np.testing.assert_array_equal(target, a)
    big = np.zeros((12, 10))
    lazy = pa.store([x], [big], regions=[(slice(2, 11), slice(1, 8))], compute=False)
    assert not big.any()
    lazy.compute()
    np.testing.assert_array_equal(big[2:11, 1:8], a)
    locked = np.zeros_like(a)
    pa.store(x * 2, locked, lock=True)
    np.testing.assert_array_equal(locked, a * 2)


def test_npy_stack_round_trip(tmp_path):
    a = RNG.normal(size=(9, 4, 3))
    x = pa.from_array(a, chunks=(4, 2, 3))
    pa.to_npy_stack(tmp_path / "stack", x, axis=0)
    y = pa.from_npy_stack(tmp_path / "stack")
    assert y.chunks == ((4, 4, 1), (4,), (3,))
    assert_eq(y, a)
    pa.to_npy_stack(tmp_path / "other", x, axis=1)
    assert_eq(pa.from_npy_stack(tmp_path / "other", mmap_mode=None), a)


@pytest.mark.skipif(importlib.util.find_spec("zarr") is None, reason="zarr is not installed")
def test_zarr_round_trip(tmp_path):
    a = RNG.normal(size=(9, 4))
    x = pa.from_array(a, chunks=(4, 2))
    pa.to_zarr(x, str(tmp_path / "z.zarr"))
    y = pa.from_zarr(str(tmp_path / "z.zarr"))
    assert y.chunks == x.chunks
    assert_eq(y, a)


def test_zarr_missing_is_a_clear_error(tmp_path):
    if importlib.util.find_spec("zarr") is not None:
        pytest.skip("zarr is installed")
    with pytest.raises(ImportError, match="zarr"):
        pa.from_zarr(str(tmp_path / "nothing"))
