"""Tree reductions, nan-variants, arg-reductions and cumulative ops against NumPy."""
import numpy as np
import pytest

import pardata.array as pa
from pardata.testing.array import assert_eq

RNG = np.random.default_rng(0)
A = RNG.normal(size=(7, 9, 4))
A_NAN = A.copy()
A_NAN[RNG.random(A.shape) < 0.2] = np.nan
I = RNG.integers(-5, 5, size=(7, 9, 4))

AXES = [None, 0, 1, 2, -1, (0, 2), (0, 1, 2), ()]
CHUNKS = [(3, 4, 2), (7, 9, 4), (1, 5, 3)]


@pytest.mark.parametrize("name", ["sum", "prod", "min", "max", "mean", "std", "var", "any", "all"])
@pytest.mark.parametrize("axis", AXES)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions_match_numpy(name, axis, keepdims):
    for data in (A, I):
        for chunks in CHUNKS[:2]:
            x = pa.from_array(data, chunks=chunks)
            got = getattr(pa, name)(x, axis=axis, keepdims=keepdims, split_every=3)
            want = getattr(np, name)(data, axis=axis, keepdims=keepdims)
            assert_eq(got, want, rtol=1e-6, atol=1e-12, check_dtype=name not in ("std", "var", "mean")
                      or data is A)


@pytest.mark.parametrize("name", ["nansum", "nanmean", "nanmin", "nanmax", "nanstd", "nanvar", "nanprod"])
@pytest.mark.parametrize("axis", [None, 0, (1, 2)])
def test_nan_reductions(name, axis):
    x = pa.from_array(A_NAN, chunks=CHUNKS[2])
    assert_eq(getattr(pa, name)(x, axis=axis), getattr(np, name)(A_NAN, axis=axis), rtol=1e-6)


def test_nan_reductions_ignore_all_nan_blocks():
    data = np.array([np.nan, np.nan, 1.0, 2.0, np.nan, 5.0])
    x = pa.from_array(data, chunks=2)
    assert pa.nanmin(x).compute() == 1.0 and pa.nanmax(x).compute() == 5.0
    assert pa.nanmean(x).compute() == pytest.approx(np.nanmean(data))


def test_dtype_and_ddof():
    x = pa.from_array(I, chunks=(3, 4, 2))
    assert_eq(x.sum(dtype="f4"), I.sum(dtype="f4"))
    assert_eq(pa.sum(x.astype("i1")), I.astype("i1").sum())
    assert_eq(x.mean(dtype="f8", axis=0), I.mean(axis=0, dtype="f8"))
    assert_eq(pa.std(pa.from_array(A, chunks=2), ddof=1, axis=1), A.std(ddof=1, axis=1))
    assert_eq(pa.var(pa.from_array(A.astype("f4"), chunks=3)), A.astype("f4").var(), rtol=1e-5)


@pytest.mark.parametrize("name", ["argmin", "argmax"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_arg_reductions(name, axis):
    for data, chunks in ((A, (3, 4, 2)), (I, (2, 2, 3)), (np.round(A, 0), (5, 2, 1))):
        x = pa.from_array(data, chunks=chunks)
        assert_eq(getattr(x, name)(axis=axis, split_every=2), getattr(np, name)(data, axis=axis))


def test_arg_reductions_with_nan():
    data = np.array([[1.0, np.nan, 0.5], [3.0, 0.1, np.nan]])
    x = pa.from_array(data, chunks=1)
    assert_eq(pa.argmin(x), np.argmin(data))
    assert_eq(pa.argmax(x, axis=1), np.argmax(data, axis=1))
    assert_eq(pa.nanargmin(x), np.nanargmin(data))
    assert_eq(pa.nanargmax(x, axis=0), np.nanargmax(data, axis=0))


@pytest.mark.parametrize("name", ["cumsum", "cumprod", "nancumsum"])
@pytest.mark.parametrize("axis", [None, 0, 1, 2])
def test_cumulative(name, axis):
    data = A_NAN if name.startswith("nan") else A / 2
    x = pa.from_array(data, chunks=(3, 4, 2))
    assert_eq(getattr(pa, name)(x, axis=axis), getattr(np, name)(data, axis=axis), rtol=1e-6)
    assert_eq(pa.cumsum(pa.from_array(I, chunks=2), axis=1, dtype="f4"), np.cumsum(I, axis=1, dtype="f4"))


def test_tree_reduction_task_counts():
    x = pa.ones((64,), chunks=1)
    # 64 chunk tasks (fused with the ones blocks), then 16, 4 and 1 combining tasks
    assert len(x.sum(split_every=4).__pardata_graph__()) == 64 + 16 + 4 + 1
    assert len(x.sum(split_every=64).__pardata_graph__()) == 64 + 1
    y = pa.ones((8, 8), chunks=1)
    assert len(y.sum(split_every=4).__pardata_graph__()) == 64 + 16 + 4 + 1
    assert len(y.sum(axis=0, split_every=4).__pardata_graph__()) == 64 + 16 + 8
    assert len(y.sum(axis=0, split_every={0: 8}).__pardata_graph__()) == 64 + 8
    single = pa.ones((8, 8), chunks=(8, 2))
    assert len(single.sum(axis=0).__pardata_graph__()) == 4  # chunk + finalize fused
    assert y.sum(split_every=4).compute() == 64


def test_empty_and_zero_d_reductions():
    e = pa.from_array(np.ones((0, 4)), chunks=2)
    assert_eq(e.sum(axis=0), np.ones((0, 4)).sum(axis=0))
    assert_eq(e.max(axis=1), np.ones((0, 4)).max(axis=1))
    with pytest.raises(ValueError, match="zero-size"):
        e.max().compute()
    with pytest.raises(ValueError):
        e.argmin().compute()
    z = pa.from_array(np.array(5.0))
    assert_eq(z.sum(), np.array(5.0).sum())
    assert_eq(z.max(), np.array(5.0))
    # a chunk can be empty after masking while the whole is not
    x = pa.from_array(np.array([5.0, 1.0, 7.0, 3.0]), chunks=2)
    masked = x[x > 4]
    assert masked.max().compute() == 7.0 and masked.min().compute() == 5.0


def test_reduction_errors():
    x = pa.ones((3, 3), chunks=2)
    with pytest.raises(np.exceptions.AxisError):
        x.sum(axis=2)
    with pytest.raises(ValueError):
        x.sum(axis=(0, 0))
    with pytest.raises(NotImplementedError):
        x.sum(out=np.empty(3))
