"""rechunk, reshape, transpose, ravel: values, chunks and bounded plans."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.array as pa
from pardata.array.rechunk import plan
from pardata.testing.array import assert_eq

A = np.arange(7 * 8 * 5, dtype=float).reshape(7, 8, 5)


@pytest.mark.parametrize("old,new", [
    ((3, 4, 2), (2, 5, 5)), ((7, 8, 5), 1), (1, (7, 8, 5)), ((2, 3, 1), {1: -1}), ((3, 3, 3), ((7,), (3, 5), (1, 4))),
    ((1, 8, 5), (7, 1, 5)),
])
def test_rechunk_values_and_chunks(old, new):
    x = pa.from_array(A, chunks=old)
    y = x.rechunk(new)
    assert_eq(y, A)
    if new == 1:
        assert y.chunks == tuple((1,) * n for n in A.shape)


def test_rechunk_identity_and_errors():
    x = pa.from_array(A, chunks=3)
    assert x.rechunk(x.chunks) is x
    with pytest.raises(ValueError):
        x.rechunk(((7,), (8,), (4,)))
    m = x[x[:, 0, 0] > 3]
    with pytest.raises(ValueError, match="unknown"):
        m.rechunk(2)
    assert_eq(m.rechunk({1: 8}), A[A[:, 0, 0] > 3])


def test_rechunk_reuses_blocks_and_bounds_pieces():
    x = pa.ones((12, 12), chunks=4)
    y = x.rechunk((4, 6))
    graph = y.__pardata_graph__()
    assert len([k for k in graph if k[0] == y.name]) == 6
    # rows -> columns: a direct plan would need 400 * 400 pieces; the plan goes through
    # intermediate chunkings so each step stays near O(n_old + n_new)
    steps = plan(((1,) * 400, (400,)), ((400,), (1,) * 400))
    assert len(steps) > 1 and steps[-1] == ((400,), (1,) * 400)
    big = pa.ones((400, 400), chunks=(1, 400)).rechunk((400, 1))
    assert len(big.__pardata_graph__()) < 30_000
    assert big.sum().compute() == 160_000


@settings(max_examples=30)
@given(st.tuples(st.integers(1, 7), st.integers(1, 8), st.integers(1, 5)),
       st.tuples(st.integers(1, 7), st.integers(1, 8), st.integers(1, 5)))
def test_rechunk_random(old, new):
    assert_eq(pa.from_array(A, chunks=old).rechunk(new), A)


@pytest.mark.parametrize("shape", [(56, 5), (7, 40), (280,), (2, 28, 5), (7, 2, 4, 5), (5, 8, 7), (-1, 10),
                                   (14, 4, 5), (1, 280, 1)])
@pytest.mark.parametrize("chunks", [(3, 4, 2), (7, 8, 5), (2, 3, 4)])
def test_reshape(shape, chunks):
    x = pa.from_array(A, chunks=chunks)
    assert_eq(x.reshape(shape), A.reshape(shape))


def test_reshape_edge_cases():
    assert_eq(pa.ones((0, 4), chunks=2).reshape((4, 0)), np.ones((0, 4)).reshape((4, 0)))
    assert_eq(pa.from_array(np.array(3.0)).reshape((1, 1)), np.array(3.0).reshape((1, 1)))
    assert_eq(pa.ones((1, 1), chunks=1).reshape(()), np.ones((1, 1)).reshape(()))
    assert_eq(pa.arange(12, chunks=5).reshape(3, 4), np.arange(12).reshape(3, 4))
    with pytest.raises(ValueError):
        pa.ones((4, 4)).reshape((5, 3))
    with pytest.raises(ValueError):
        pa.ones((4, 4)).reshape((-1, -1))


def test_transpose_ravel_astype():
    x = pa.from_array(A, chunks=(3, 4, 2))
    assert_eq(x.T, A.T)
    assert_eq(x.transpose(1, 0, 2), A.transpose(1, 0, 2))
    assert_eq(pa.transpose(x, (2, 0, 1)), A.transpose(2, 0, 1))
    assert_eq(pa.swapaxes(x, 0, 2), np.swapaxes(A, 0, 2))
    assert_eq(pa.moveaxis(x, 0, -1), np.moveaxis(A, 0, -1))
    assert_eq(x.ravel(), A.ravel())
    assert_eq(pa.ravel(x[:, 1:3]), A[:, 1:3].ravel())
    assert_eq(x.astype("i4"), A.astype("i4"))
    assert_eq(x.astype("f4") + 1, A.astype("f4") + 1)
    assert x.astype(float) is x
    with pytest.raises(TypeError):
        x.astype("i4", casting="safe")
    assert_eq(pa.squeeze(x[:1, :, :1]), np.squeeze(A[:1, :, :1]))
    assert_eq(pa.expand_dims(x, 1), np.expand_dims(A, 1))
    assert len((x + x.T.T).__pardata_graph__()) == 2 * x.npartitions + 1  # x is read twice
