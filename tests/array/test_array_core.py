"""Array metadata, chunk normalization, the collection protocol and blockwise fusion."""
import numpy as np
import pytest

import pardata
import pardata.array as pa
from pardata.array.chunks import normalize_chunks
from pardata.testing.array import assert_eq


def test_normalize_chunks_forms():
    assert normalize_chunks(2, (5, 3)) == ((2, 2, 1), (2, 1))
    assert normalize_chunks((-1, (1, 2)), (4, 3)) == ((4,), (1, 2))
    assert normalize_chunks((None, 2), (4, 3)) == ((4,), (2, 1))
    assert normalize_chunks(((2, 2),), (4,)) == ((2, 2),)
    assert normalize_chunks({1: 2}, (4, 3), previous=((4,), (3,))) == ((4,), (2, 1))
    assert normalize_chunks(3, (0, 4)) == ((0,), (3, 1))
    assert normalize_chunks((), ()) == ()
    with pytest.raises(ValueError):
        normalize_chunks(((2, 2),), (5,))
    with pytest.raises(ValueError):
        normalize_chunks((2,), (4, 4))


def test_auto_chunks_follow_config():
    with pardata.config.set({"array.chunk-size": "800B"}):
        chunks = normalize_chunks("auto", (100, 100), dtype=np.float64)
    assert max(chunks[0]) * max(chunks[1]) * 8 <= 800
    assert sum(chunks[0]) == 100
    with pardata.config.set({"array.chunk-size": "8kiB"}):
        x = pa.ones((1000,), chunks="auto")
    assert x.chunks[0][0] == 1024 or x.chunks == ((1000,),)
    mixed = normalize_chunks((-1, "auto"), (10, 10000), limit=800, dtype=np.float64)
    assert mixed[0] == (10,) and max(mixed[1]) == 10


def test_metadata():
    x = pa.ones((10, 7), chunks=(3, 4), dtype="i4")
    assert x.shape == (10, 7) and x.ndim == 2 and x.size == 70
    assert x.dtype == np.dtype("i4") and x.itemsize == 4 and x.nbytes == 280
    assert x.chunks == ((3, 3, 3, 1), (4, 3))
    assert x.numblocks == (4, 2) and x.npartitions == 8 and x.chunksize == (3, 4)
    assert len(x) == 10
    assert "shape=(10, 7)" in repr(x) and "int32" in repr(x)
    html = x._repr_html_()
    for part in ("(10, 7)", "int32", "8 chunks", "tasks", "280 B"):
        assert part in html


def test_repr_html_reports_what_the_graph_holds():
    x = pa.random.random((3000, 2000), chunks=(1000, 700))
    y = (x + x.T[:2000, :3000].T).sum(axis=0)
    html = y._repr_html_()
    assert f"{len(y.__pardata_graph__())} tasks" in html and f"{y.npartitions} chunks" in html
    assert "15.62 kiB" in html and "(2000,)" in html  # 2000 float64 = 15.62 kiB, chunk (700,)
    assert "45.78 MiB" in x._repr_html_() and "5.34 MiB" in x._repr_html_()
    masked = x[x[:, 0] > 0.5]
    assert "unknown" in masked._repr_html_() and "nan" in masked._repr_html_()
    scalar = y.sum()
    assert "()" in scalar._repr_html_() and "8 B" in scalar._repr_html_()
    assert "&lt;" in pa.from_array(np.zeros(2), name="<b>")._repr_html_()  # names are escaped


def test_compute_on_every_scheduler(local_scheduler):
    a = np.arange(30.0).reshape(5, 6)
    x = pa.from_array(a, chunks=(2, 4))
    y = (x + 1) * x.T.T
    np.testing.assert_array_equal(y.compute(scheduler=local_scheduler), (a + 1) * a)
    s, m = pardata.compute(y.sum(), y.mean(axis=0), scheduler=local_scheduler)
    assert s == ((a + 1) * a).sum()
    np.testing.assert_allclose(m, ((a + 1) * a).mean(axis=0))


def test_persist_keeps_values_and_chunks():
    x = pa.random.default_rng(3).random((6, 5), chunks=(4, 2))
    p = x.persist(scheduler="sync")
    assert p.chunks == x.chunks and p.name == x.name
    assert all(type(n).__name__ == "DataNode" for n in p.__pardata_graph__().values())
    assert_eq(p + 1, x.compute() + 1)


def test_elementwise_chain_is_one_task_per_chunk():
    a = np.arange(24.0).reshape(4, 6)
    x = pa.from_array(a, chunks=(2, 3))
    y = pa.from_array(a * 2, chunks=(2, 3))
    z = (x + 1) * 2 - y
    graph = z.__pardata_graph__()
    blocks = [k for k in graph if isinstance(k, tuple)]
    assert len(blocks) == z.npartitions == 4  # plus one stored source per input
    assert len(graph) == 4 + 2
    assert_eq(z, (a + 1) * 2 - a * 2)
    chain = pa.ones((8,), chunks=2)
    for i in range(20):
        chain = np.sin(chain) + i
    assert len(chain.__pardata_graph__()) == 4


def test_shared_inputs_are_not_recomputed_when_computed_together():
    x = pa.random.default_rng(0).random((6,), chunks=2)
    a, b = x + 1, x * 2
    graph, keys = pardata.base.collections_to_graph([a, b])
    assert len(graph) == 3 + 3 + 3  # x's three blocks are shared, not fused into each
    ra, rb = pardata.compute(a, b, scheduler="sync")
    np.testing.assert_allclose(ra - 1, rb / 2)


def test_ufuncs_and_array_functions_stay_lazy():
    a = np.linspace(0.1, 1, 12).reshape(3, 4)
    x = pa.from_array(a, chunks=2)
    for out, want in [(np.sin(x), np.sin(a)), (np.add(x, 1), a + 1), (np.sum(x), np.sum(a)),
                      (np.mean(x, axis=0), a.mean(axis=0)), (np.maximum(x, 0.5), np.maximum(a, 0.5)),
                      (np.transpose(x), a.T), (np.concatenate([x, x]), np.concatenate([a, a])),
                      (np.add.reduce(x, axis=1), a.sum(axis=1)), (np.multiply.outer(x[0], x[1]),
                                                                   np.multiply.outer(a[0], a[1])),
                      (pa.exp(x), np.exp(a)), (np.where(x > 0.5, x, 0), np.where(a > 0.5, a, 0)),
                      (np.matmul(x, x.T), a @ a.T), (np.reshape(x, (4, 3)), a.reshape(4, 3)),
                      (np.ravel(x), a.ravel()), (np.linalg.solve(x[:, :3] + 3 * pa.eye(3, chunks=2), a[:, 0]),
                       np.linalg.solve(a[:, :3] + 3 * np.eye(3), a[:, 0]))]:
        assert isinstance(out, pa.Array)
        assert_eq(out, want)
    m, e = np.frexp(x)
    assert_eq(m, np.frexp(a)[0])
    assert_eq(e, np.frexp(a)[1])
    with pytest.raises(NotImplementedError, match="numpy.*lazily"):
        np.fft.fft(x)
    with pytest.raises(NotImplementedError):
        np.sin(x, out=np.empty(3))
    assert np.asarray(x).shape == (3, 4)


def test_operators_and_dtypes():
    a = np.arange(1, 13, dtype="i4").reshape(3, 4)
    x = pa.from_array(a, chunks=(2, 3))
    f = np.float32(2.5)
    for out, want in [(x + 1, a + 1), (x / 2, a / 2), (x // 3, a // 3), (x % 5, a % 5), (x ** 2, a ** 2),
                      (-x, -a), (abs(-x), a), (x > 3, a > 3), (x == 4, a == 4), (x & 3, a & 3),
                      (~x, ~a), (1 - x, 1 - a), (x * f, a * f), (x.astype("f4") * 2, a.astype("f4") * 2),
                      (x + a[0], a + a[0]), (x + a[:, :1], a + a[:, :1]), (x.round(1) + 0.5, a + 0.5),
                      (x.clip(2, 6), a.clip(2, 6)), (x.real, a.real)]:
        assert_eq(out, want)
    assert int(x[0, 0]) == 1 and float(x[1, 1]) == 6.0 and bool(x[0, 0] == 1)
    with pytest.raises(TypeError):
        hash(x)


@pytest.mark.parametrize("shape,chunks", [((600, 600), 300), ((530, 530), (300, 230))])
def test_operands_of_opposite_layouts_are_evaluated_in_tiles(shape, chunks):
    from pardata.array.blockwise import TILE, _elementwise

    rng = np.random.default_rng(3)
    a = rng.random(shape)
    i = rng.integers(0, 100, shape)
    x, y = pa.from_array(a, chunks=chunks), pa.from_array(i, chunks=chunks)
    for out, want in [(x + x.T, a + a.T), (x.T - 2 * x, a.T - 2 * a), (x < x.T, a < a.T),
                      (np.maximum(x.T, x), np.maximum(a.T, a)), (y.T // (y + 1), i.T // (i + 1)),
                      ((x + x.T).mean(axis=0), (a + a.T).mean(axis=0))]:
        assert_eq(out, want)
    b = a[:300, :257]
    c = np.asfortranarray(a[:300, :257].T.T + 1)
    got = _elementwise(np.subtract, b, c)
    assert b.shape[0] % TILE and b.shape[1] % TILE  # ragged edge tiles
    np.testing.assert_array_equal(got, b - c)
    assert got.flags.c_contiguous and got.dtype == np.float64
    np.testing.assert_array_equal(_elementwise(np.add, b, np.float32(1.5)), b + np.float32(1.5))


def test_broadcasting_aligns_different_chunks():
    a = np.arange(30.0).reshape(5, 6)
    b = np.arange(6.0)
    x = pa.from_array(a, chunks=(2, 4))
    y = pa.from_array(b, chunks=(3,))
    assert_eq(x + y, a + b)
    assert (x + y).chunks == ((2, 2, 1), (3, 1, 2))
    z = pa.from_array(a[:, :1], chunks=(5, 1))
    assert_eq(x * z, a * a[:, :1])
    with pytest.raises(ValueError):
        x + pa.ones((4,), chunks=2)


def test_zero_d_and_empty_arrays():
    s = pa.from_array(np.array(3.0))
    assert s.shape == () and s.chunks == ()
    assert_eq(s + 1, np.array(4.0))
    e = pa.ones((0, 3), chunks=2)
    assert e.chunks == ((0,), (2, 1))
    assert_eq(e * 2, np.ones((0, 3)) * 2)
    assert_eq(e.sum(axis=0), np.ones((0, 3)).sum(axis=0))
    assert (pa.ones((3,)) * 0).sum().compute() == 0


def test_to_delayed_and_blocks():
    a = np.arange(12).reshape(3, 4)
    x = pa.from_array(a, chunks=2)
    parts = x.to_delayed()
    assert len(parts) == 2 and len(parts[0]) == 2
    np.testing.assert_array_equal(parts[1][0].compute(), a[2:, :2])
    assert_eq(x.blocks[1, 0], a[2:, :2])
    assert_eq(x.blocks[:, 1], a[:, 2:])
    total = pardata.delayed(np.sum)(x)
    assert total.compute() == a.sum()
