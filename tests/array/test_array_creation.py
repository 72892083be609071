"""Creation functions against NumPy, random reproducibility, from_array laziness."""
import numpy as np
import pytest

import pardata
import pardata.array as pa
from pardata.testing.array import assert_eq


@pytest.mark.parametrize("chunks", [1, 3, (2, 5), -1, "auto"])
def test_constants(chunks):
    assert_eq(pa.ones((4, 5), chunks=chunks), np.ones((4, 5)))
    assert_eq(pa.zeros((4, 5), chunks=chunks, dtype="i2"), np.zeros((4, 5), dtype="i2"))
    assert_eq(pa.full((4, 5), 7, chunks=chunks), np.full((4, 5), 7))
    assert_eq(pa.full((4, 5), 1.5, chunks=chunks, dtype="f4"), np.full((4, 5), 1.5, dtype="f4"))
    e = pa.empty((4, 5), chunks=chunks)
    assert e.compute().shape == (4, 5) and e.dtype == np.float64


def test_like_functions():
    x = pa.ones((3, 4), chunks=2, dtype="i8")
    assert_eq(pa.zeros_like(x), np.zeros((3, 4), dtype="i8"))
    assert pa.ones_like(x).chunks == x.chunks
    assert_eq(pa.full_like(x, 3, dtype=float), np.full((3, 4), 3.0))
    assert pa.empty_like(x).shape == (3, 4)


@pytest.mark.parametrize("args", [(10,), (2, 11), (1, 20, 3), (10, 0, -2), (0.5, 4.0, 0.7), (5, 5)])
@pytest.mark.parametrize("chunks", [1, 3, 4])
def test_arange(args, chunks):
    assert_eq(pa.arange(*args, chunks=chunks), np.arange(*args))


def test_arange_dtype():
    assert_eq(pa.arange(5, chunks=2, dtype="f4"), np.arange(5, dtype="f4"))


@pytest.mark.parametrize("kwargs", [dict(num=7), dict(num=10, endpoint=False), dict(num=1), dict(num=0)])
def test_linspace(kwargs):
    assert_eq(pa.linspace(-1, 3, chunks=3, **kwargs), np.linspace(-1, 3, **kwargs), rtol=1e-12, atol=1e-12)
    out, step = pa.linspace(0, 1, 5, retstep=True, chunks=2)
    assert step == np.linspace(0, 1, 5, retstep=True)[1]


@pytest.mark.parametrize("N,M,k", [(5, None, 0), (4, 7, 2), (6, 3, -1), (5, 5, 9)])
def test_eye(N, M, k):
    assert_eq(pa.eye(N, M, k=k, chunks=2), np.eye(N, M, k=k))


class Sliceable:
    """Has shape/dtype/__getitem__ only (like an h5py dataset); records reads."""

    def __init__(self, data):
        self.data = data
        self.shape = data.shape
        self.dtype = data.dtype
        self.reads = []

    def __getitem__(self, index):
        self.reads.append(index)
        return self.data[index]


def test_from_array_reads_only_what_is_needed():
    data = np.arange(100.0).reshape(10, 10)
    src = Sliceable(data)
    x = pa.from_array(src, chunks=5)
    assert x.compute(scheduler="sync").tolist() == data.tolist()
    assert len(src.reads) == 4
    src.reads.clear()
    assert_eq(x[:3, 6:], data[:3, 6:])
    assert len(src.reads) == 1
    assert src.reads[0] == (slice(0, 5), slice(5, 10))


class ListSource:
    """Slicing returns nested lists (not NumPy), like some dataset wrappers."""

    def __init__(self, data):
        self.data, self.shape, self.dtype = data, data.shape, data.dtype

    def __getitem__(self, index):
        part = self.data[index]
        return part.tolist() if isinstance(part, np.ndarray) else part


@pytest.mark.parametrize("shape,chunks", [((11, 7), (4, 3)), ((0, 5), 2), ((), ()), ((9,), 1)])
def test_from_array_with_any_sliceable_source(shape, chunks):
    data = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    for source in (Sliceable(data), ListSource(data)):
        x = pa.from_array(source, chunks=chunks)
        assert x.shape == shape and x.dtype == data.dtype
        assert_eq(x, data)
        if data.ndim == 2 and data.size:
            assert_eq(x[1:, ::-2].sum(axis=0), data[1:, ::-2].sum(axis=0), rtol=1e-5)


def test_from_array_stores_the_source_once():
    data = np.arange(64.0).reshape(8, 8)
    x = pa.from_array(data, chunks=2)
    graph = x.__pardata_graph__()
    sources = [k for k, n in graph.items() if type(n).__name__ == "DataNode"]
    assert len(sources) == 1 and len(graph) == 17
    assert pa.from_array(data, chunks=2).name == x.name
    assert pa.from_array(data + 1, chunks=2).name != x.name
    inline = pa.from_array(data, chunks=2, inline_array=True)
    assert len(inline.__pardata_graph__()) == 16
    assert_eq(inline, data)


def test_asarray():
    assert_eq(pa.asarray([[1, 2], [3, 4]]), np.array([[1, 2], [3, 4]]))
    x = pa.ones(3, chunks=2)
    assert pa.asarray(x) is x
    assert_eq(pa.asarray(x, dtype="i4"), np.ones(3, dtype="i4"))
    assert_eq(pa.asarray(3.5), np.asarray(3.5))


def test_random_is_reproducible_per_seed_and_chunking():
    a = pa.random.default_rng(42).random((6, 5), chunks=(4, 2)).compute()
    b = pa.random.default_rng(42).random((6, 5), chunks=(4, 2)).compute(scheduler="threads")
    c = pa.random.default_rng(43).random((6, 5), chunks=(4, 2)).compute()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert ((a >= 0) & (a < 1)).all()
    rng = pa.random.default_rng(1)
    first, second = rng.random(4, chunks=2), rng.random(4, chunks=2)
    assert not np.array_equal(first.compute(), second.compute())
    np.testing.assert_array_equal(first.compute(), first.compute())


def test_random_distributions():
    rng = pa.random.default_rng(7)
    n = rng.normal(10, 2, size=(2000,), chunks=300).compute()
    assert abs(n.mean() - 10) < 0.3 and abs(n.std() - 2) < 0.3
    r = pa.random.randint(3, 9, size=(50,), chunks=7)
    v = r.compute()
    assert r.dtype == v.dtype and v.min() >= 3 and v.max() < 9
    pa.random.seed(5)
    u1 = pa.random.random((5,), chunks=2).compute()
    pa.random.seed(5)
    u2 = pa.random.random((5,), chunks=2).compute()
    np.testing.assert_array_equal(u1, u2)
    assert_eq(rng.integers(0, 5, size=(4, 4), chunks=3, dtype="i2") * 0, np.zeros((4, 4), "i2"))
    assert pa.random.normal(size=(3,), chunks=2).shape == (3,)


def test_from_delayed():
    value = pardata.delayed(np.arange)(6)
    x = pa.from_delayed(value, shape=(6,), dtype=int)
    assert_eq(x * 2, np.arange(6) * 2)
    assert_eq(pa.concatenate([x, x]), np.concatenate([np.arange(6)] * 2))
