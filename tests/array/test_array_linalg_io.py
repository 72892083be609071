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


class Recorder:
    """A setitem target that is not a NumPy array: a dict of written regions."""

    def __init__(self, shape):
        self.shape = shape
        self.writes = {}

    def __setitem__(self, region, value):
        self.writes[tuple((r.start, r.stop) for r in region)] = np.array(value)

    def assemble(self, dtype):
        out = np.full(self.shape, np.nan, dtype=dtype)
        for region, value in self.writes.items():
            out[tuple(slice(*r) for r in region)] = value
        return out


def test_store_into_any_setitem_target():
    a = RNG.normal(size=(10, 7))
    x = pa.from_array(a, chunks=(3, 4))
    target = Recorder(a.shape)
    pa.store(x + 1, target)
    assert len(target.writes) == x.npartitions  # one write per block, as it is computed
    np.testing.assert_array_equal(target.assemble(float), a + 1)
    zero_d, empty = np.zeros(()), np.zeros((0, 3))
    pa.store([pa.from_array(np.asarray(2.5)), pa.zeros((0, 3), chunks=2)], [zero_d, empty])
    assert zero_d == 2.5 and empty.shape == (0, 3)
    with pytest.raises(ValueError, match="shape"):
        pa.store(x, np.zeros((10, 8)))
    with pytest.raises(ValueError, match="unknown"):
        pa.store(x[x[:, 0] > 0], np.zeros((10, 7)))


def test_npy_stack_odd_unknown_and_empty(tmp_path):
    a = RNG.normal(size=(11, 3))
    x = pa.from_array(a, chunks=(4, 2))
    masked = x[x[:, 0] > 0]  # lengths along axis 0 unknown until written
    pa.to_npy_stack(tmp_path / "masked", masked)
    back = pa.from_npy_stack(tmp_path / "masked")
    want = a[a[:, 0] > 0]
    assert back.chunks[0] == tuple(int((a[s:s + 4, 0] > 0).sum()) for s in range(0, 11, 4))
    assert_eq(back, want)
    pa.to_npy_stack(tmp_path / "odd", x, axis=-1)
    assert pa.from_npy_stack(tmp_path / "odd").chunks == ((11,), (2, 1))
    assert_eq(pa.from_npy_stack(tmp_path / "odd"), a)
    pa.to_npy_stack(tmp_path / "empty", pa.zeros((0, 4), chunks=2))
    assert_eq(pa.from_npy_stack(tmp_path / "empty"), np.zeros((0, 4)))
    with pytest.raises(ValueError, match="at least one axis"):
        pa.to_npy_stack(tmp_path / "scalar", pa.from_array(np.asarray(1.0)))
    with pytest.raises(ValueError, match="out of bounds"):
        pa.to_npy_stack(tmp_path / "bad", x, axis=2)
