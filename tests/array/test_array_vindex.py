"""Point-wise indexing against NumPy: ``x.vindex[...]`` (Dask's semantics: points first) and
``x[...]`` with several integer/boolean arrays (NumPy's placement rule)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.array as pa
from pardata.testing.array import assert_eq

SHAPE = (7, 5, 6)
DATA = np.random.default_rng(7).normal(size=SHAPE)


def expected(a, key):
    """NumPy's answer with the broadcast point dimensions moved to the front."""
    key = list(key) + [slice(None)] * (a.ndim - len(key))
    a = a[tuple(k if isinstance(k, int) else slice(None) for k in key)]
    key = [k for k in key if not isinstance(k, int)]
    arrays = [i for i, k in enumerate(key) if not isinstance(k, slice)]
    sliced = a[tuple(slice(None) if i in arrays else k for i, k in enumerate(key))]
    moved = np.moveaxis(sliced, arrays, list(range(len(arrays))))
    return moved[tuple(np.asarray(key[i]) for i in arrays)]


@st.composite
def chunkings(draw):
    return tuple(tuple(draw(st.lists(st.integers(1, n), min_size=1, max_size=n)
                              .map(lambda sizes, n=n: _fit(sizes, n)))) for n in SHAPE)


def _fit(sizes, n):
    out, left = [], n
    for s in sizes:
        if left == 0:
            break
        s = min(s, left)
        out.append(s)
        left -= s
    if left:
        out.append(left)
    return tuple(out)


@st.composite
def vindex_keys(draw):
    npts_shape = draw(st.sampled_from([(), (0,), (1,), (4,), (2, 3)]))
    key = []
    for n in SHAPE:
        kind = draw(st.sampled_from(["array", "array", "slice", "int"]))
        if kind == "array":
            vals = draw(st.lists(st.integers(-n, n - 1), min_size=int(np.prod(npts_shape)),
                                 max_size=int(np.prod(npts_shape))))
            key.append(np.array(vals, dtype=np.intp).reshape(npts_shape))
        elif kind == "slice":
            key.append(slice(draw(st.integers(0, n)), None, draw(st.sampled_from([1, 2, -1]))))
        else:
            key.append(draw(st.integers(-n, n - 1)))
    if not any(isinstance(k, np.ndarray) for k in key):
        key[0] = np.zeros(npts_shape, dtype=np.intp)
    return tuple(key)


@settings(max_examples=60, deadline=None)
@given(chunks=chunkings(), key=vindex_keys())
def test_vindex_matches_numpy(chunks, key):
    x = pa.from_array(DATA, chunks=chunks)
    assert_eq(x.vindex[key], expected(DATA, key))


def test_vindex_examples():
    x = pa.from_array(DATA, chunks=(3, 2, 4))
    assert_eq(x.vindex[[0, 6, 3], :, [5, 1, 1]], expected(DATA, ([0, 6, 3], slice(None), [5, 1, 1])))
    # Unlike x[...], adjacent arrays do not stay in place: the points come first.
    got = x.vindex[:, [1, 4], [0, 5]]
    assert got.shape == (2, 7)
    assert_eq(got, DATA[:, [1, 4], [0, 5]].T)
    assert_eq(x.vindex[[[1], [2]], [0, 3, 4]], expected(DATA, ([[1], [2]], [0, 3, 4])))
    assert_eq(x.vindex[..., [2, -1]], expected(DATA, (slice(None), slice(None), [2, -1])))
    assert_eq(x.vindex[2, [1, 1], 3], DATA[2, [1, 1], 3])
    assert x.vindex[:, :, :] is x


def test_vindex_reads_only_the_blocks_holding_points():
    x = pa.from_array(np.arange(10000.0).reshape(100, 100), chunks=10)
    y = x.vindex[[5, 95], [5, 95]]
    graph = y.__pardata_graph__()
    reads = {k for node in graph.values() for k in node.dependencies}
    assert len([k for k in reads if k[0] == x.name]) == 2
    assert_eq(y, np.array([505.0, 9595.0]))


def test_vindex_empty_and_zero_d_points():
    x = pa.from_array(DATA, chunks=3)
    assert_eq(x.vindex[np.array([], dtype=int), []], np.empty((0, 6)))
    assert_eq(x.vindex[np.array(3), np.array(4)], DATA[3, 4])
    assert_eq(pa.from_array(np.arange(5), chunks=2).vindex[np.array(4)], np.asarray(4))


def test_vindex_errors():
    x = pa.from_array(DATA, chunks=3)
    with pytest.raises(IndexError, match="out of bounds"):
        x.vindex[[0, 7]]
    with pytest.raises(IndexError, match="boolean"):
        x.vindex[DATA[:, 0, 0] > 0]
    with pytest.raises(IndexError, match="None"):
        x.vindex[None, [0]]
    with pytest.raises(IndexError, match="at least one"):
        x.vindex[1:3]
    with pytest.raises(IndexError, match="too many"):
        x.vindex[[0], [0], [0], [0]]
    with pytest.raises(ValueError, match="broadcast"):
        x.vindex[[0, 1], [0, 1, 2]]
    with pytest.raises(NotImplementedError, match="computed first"):
        x.vindex[pa.arange(3, chunks=2)]


@st.composite
def numpy_fancy_keys(draw):
    """Several integer arrays (or a boolean mask over 2 axes) mixed with ints and slices."""
    if draw(st.booleans()):
        mask = np.array(draw(st.lists(st.booleans(), min_size=35, max_size=35))).reshape(7, 5)
        rest = draw(st.sampled_from([(), (slice(None),), (3,), (slice(None, None, -2),)]))
        return (mask, *rest) if draw(st.booleans()) else (slice(None), mask[0, :5, None].repeat(6, 1))
    return draw(vindex_keys())


@settings(max_examples=60, deadline=None)
@given(chunks=chunkings(), key=numpy_fancy_keys())
def test_several_array_indices_follow_numpy(chunks, key):
    x = pa.from_array(DATA, chunks=chunks)
    assert_eq(x[key], DATA[key])
