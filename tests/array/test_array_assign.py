"""``x[index] = value`` against NumPy: slices, ints, one integer array, masks, lazy values."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.array as pa
from pardata.testing.array import assert_eq

SHAPE = (7, 5, 6)
DATA = np.random.default_rng(11).normal(size=SHAPE)


def _fit(sizes, n):
    out, left = [], n
    for s in sizes:
        if left == 0:
            break
        out.append(min(s, left))
        left -= out[-1]
    return tuple(out + ([left] if left else []))


def chunking(shape):
    return st.tuples(*(st.lists(st.integers(1, max(n, 1)), min_size=1, max_size=4)
                       .map(lambda s, n=n: _fit(s, n) or (0,)) for n in shape))


@st.composite
def assignments(draw):
    """An index of ints, slices and at most one integer or boolean array, and a value."""
    key = []
    array_axis = draw(st.sampled_from([None, 0, 1, 2]))
    for a, n in enumerate(SHAPE[: draw(st.integers(1, 3))]):
        if a == array_axis:
            if draw(st.booleans()):
                key.append(np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n))))
            else:
                key.append(np.array(draw(st.lists(st.integers(-n, n - 1), max_size=6, unique=True)),
                                    dtype=np.intp))
        elif draw(st.booleans()):
            key.append(draw(st.integers(-n, n - 1)))
        else:
            bound = st.one_of(st.none(), st.integers(-n - 1, n + 1))
            key.append(slice(draw(bound), draw(bound), draw(st.sampled_from([None, 1, 2, -1, -3]))))
    key = tuple(key)
    shape = DATA[key].shape
    kind = draw(st.sampled_from(["scalar", "numpy", "pardata", "broadcast"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    if kind == "scalar":
        return key, float(rng.normal()), None
    vshape = shape if kind != "broadcast" else (1,) + shape[1:] if shape else ()
    value = rng.normal(size=vshape)
    chunks = draw(chunking(vshape)) if kind == "pardata" else None
    return key, value, chunks


@settings(max_examples=80, deadline=None)
@given(chunks=chunking(SHAPE), case=assignments())
def test_assignment_matches_numpy(chunks, case):
    key, value, value_chunks = case
    want = DATA.copy()
    want[key] = value
    x = pa.from_array(DATA, chunks=chunks)
    x[key] = pa.from_array(value, chunks=value_chunks) if value_chunks is not None else value
    assert_eq(x, want)


def test_masks_follow_dask():
    a = DATA.copy()
    x = pa.from_array(DATA, chunks=(3, 2, 4))
    x[x > 0] = 0
    a[a > 0] = 0
    assert_eq(x, a)
    y = np.random.default_rng(2).normal(size=SHAPE)
    mask = DATA < -0.5
    x[pa.from_array(mask, chunks=2)] = pa.from_array(y, chunks=(5, 4, 3))  # Dask: where(mask, y, x)
    a = np.where(mask, y, a)
    assert_eq(x, a)
    x[mask] = -y[0]  # a NumPy mask of x's shape, value broadcast
    a = np.where(mask, -y[0], a)
    assert_eq(x, a)
    rows = pa.from_array(DATA[:, 0, 0] > 0, chunks=4)  # a mask over the leading axis
    x[rows] = pa.from_array(y[0], chunks=2)
    a[DATA[:, 0, 0] > 0] = y[0]
    assert_eq(x, a)
    ints = pa.from_array(np.arange(12).reshape(3, 4), chunks=2)
    ints[ints % 3 == 0] = 2.9  # the array keeps its dtype, as in NumPy
    want = np.arange(12).reshape(3, 4)
    want[want % 3 == 0] = 2.9
    assert_eq(ints, want)


def test_pardata_integer_index():
    a = DATA.copy()
    x = pa.from_array(DATA, chunks=(3, 2, 4))
    idx = pa.from_array(np.array([4, -1, 0]), chunks=2)
    x[:, idx] = 7.0
    a[:, [4, -1, 0]] = 7.0
    assert_eq(x, a)
    v = np.random.default_rng(3).normal(size=(3, 6))
    x[2, idx] = v
    a[2, [4, -1, 0]] = v
    assert_eq(x, a)
    x[idx] = pa.from_array(v, chunks=2)[:, None, :]
    a[[4, -1, 0]] = v[:, None, :]
    assert_eq(x, a)
    picked = pa.flatnonzero(pa.from_array(DATA[:, 1, 1] > 0, chunks=3))  # unknown length
    x[picked] = -1.0
    a[np.flatnonzero(DATA[:, 1, 1] > 0)] = -1.0
    assert_eq(x, a)
    wrong = pa.from_array(DATA, chunks=3)
    wrong[pa.from_array(np.array([0, 9]), chunks=1)] = 1.0
    with pytest.raises(IndexError, match="out of bounds"):
        wrong.compute()


def test_assignment_leaves_earlier_results_alone():
    x = pa.from_array(DATA, chunks=(3, 2, 4))
    before = [x + 1, x[::2], x[[1, 0]], x.reshape(35, 6), x.vindex[[0, 1], [1, 0]],
              pa.overlap(x, depth=1, boundary=0), pa.linalg.qr(x[:, 0])[1]]
    want = [np.asarray(b.compute()) for b in before]
    x[0] = 100.0
    x[:, [1, 2]] = pa.ones((7, 2, 6), chunks=3)
    for b, w in zip(before, want):
        assert_eq(b, w)


def test_only_touched_blocks_get_tasks():
    x = pa.from_array(np.zeros((8, 8)), chunks=4)
    x[1, 1:3] = pa.ones(2, chunks=1)
    graph = x.__pardata_graph__()
    writes = [k for k, n in graph.items() if type(n).__name__ == "Task" and "_set_block" in repr(n)]
    assert len(writes) == 1
    want = np.zeros((8, 8))
    want[1, 1:3] = 1
    assert_eq(x, want)


def test_empty_and_zero_d():
    x = pa.from_array(DATA, chunks=3)
    x[2:2] = pa.ones((0, 5, 6), chunks=2)
    x[[]] = 5.0
    assert_eq(x, DATA)
    e = pa.zeros((0, 4), chunks=2)
    e[:, 1] = 3.0
    assert_eq(e, np.zeros((0, 4)))
    z = pa.from_array(np.asarray(2.5))
    z[()] = 4.0
    assert_eq(z, np.asarray(4.0))
    z[...] = pa.from_array(np.asarray(1.5))
    assert_eq(z, np.asarray(1.5))


def test_assignment_errors():
    x = pa.from_array(DATA, chunks=3)
    with pytest.raises(ValueError, match="broadcast"):
        x[0] = np.ones(4)
    with pytest.raises(ValueError, match="broadcast"):
        x[:2] = pa.ones((3, 5, 6), chunks=2)
    with pytest.raises(NotImplementedError, match="more than one axis"):
        x[[0, 1], [0, 1]] = 1.0
    with pytest.raises(ValueError, match="where"):
        x[x > 0] = np.ones(3)
    with pytest.raises(IndexError, match="out of bounds"):
        x[:, [0, 5]] = 1.0
    with pytest.raises(IndexError, match="None"):
        x[None] = 1.0
    with pytest.raises(IndexError, match="does not match"):
        x[np.ones((2, 2), dtype=bool)] = 1.0
    unknown = x[x[:, 0, 0] > 0]
    with pytest.raises(ValueError, match="unknown"):
        unknown[0] = 1.0
    with pytest.raises(ValueError, match="unknown"):
        x[:, 0] = unknown[:, 0]
    with pytest.raises(ValueError, match="unknown"):
        unknown[0]
