"""Indexing against NumPy (hypothesis), chunk-touching, masks, integer arrays."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pardata.array as pa
from pardata.testing.array import assert_eq

SHAPE = (7, 5, 6)
DATA = np.arange(np.prod(SHAPE), dtype=float).reshape(SHAPE)


@st.composite
def chunkings(draw, shape=SHAPE):
    out = []
    for n in shape:
        sizes = []
        left = n
        while left:
            s = draw(st.integers(1, left))
            sizes.append(s)
            left -= s
        out.append(tuple(sizes))
    return tuple(out)


def one_index(n):
    bound = st.one_of(st.none(), st.integers(-n - 2, n + 2))
    step = st.one_of(st.none(), st.integers(-3, 3).filter(lambda s: s != 0))
    return st.one_of(st.integers(-n, n - 1), st.builds(slice, bound, bound, step))


@st.composite
def basic_indices(draw):
    parts = [draw(one_index(n)) for n in SHAPE[: draw(st.integers(0, 3))]]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    if draw(st.booleans()) and len(parts) < 3:
        parts.insert(draw(st.integers(0, len(parts))), Ellipsis)
    return tuple(parts)


@settings(max_examples=80)
@given(chunks=chunkings(), index=basic_indices())
def test_basic_indexing_matches_numpy(chunks, index):
    x = pa.from_array(DATA, chunks=chunks)
    try:
        want = DATA[index]
    except IndexError:  # e.g. an int meant for axis 0 lands on a shorter one after ``...``
        with pytest.raises(IndexError):
            x[index]
        return
    assert_eq(x[index], want)


@st.composite
def advanced_indices(draw):
    axis = draw(st.integers(0, 2))
    n = SHAPE[axis]
    kind = draw(st.sampled_from(["int", "bool", "list"]))
    if kind == "bool":
        adv = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    else:
        adv = np.array(draw(st.lists(st.integers(-n, n - 1), max_size=8)), dtype=np.intp)
        if kind == "list":
            adv = adv.tolist()
    parts = [draw(one_index(SHAPE[a])) for a in range(axis)]
    parts.append(adv)
    rest = draw(st.integers(0, 2 - axis))
    parts += [draw(one_index(SHAPE[a])) for a in range(axis + 1, axis + 1 + rest)]
    return tuple(parts)


@settings(max_examples=60)
@given(chunks=chunkings(), index=advanced_indices())
def test_advanced_indexing_matches_numpy(chunks, index):
    x = pa.from_array(DATA, chunks=chunks)
    assert_eq(x[index], DATA[index])


def test_slicing_touches_only_needed_chunks():
    x = pa.from_array(DATA, chunks=(2, 2, 2))
    y = x[3, 1:3, ::4]
    blocks = [k for k in y.__pardata_graph__() if isinstance(k, tuple)]
    assert len(blocks) == y.npartitions == 4  # of the 48 blocks of x
    assert_eq(y, DATA[3, 1:3, ::4])
    z = x[:2].sum()
    graph = z.__pardata_graph__()
    chunk_tasks = [k for k in graph if isinstance(k, tuple) and "chunk" in k[0]]
    assert len(chunk_tasks) == 9


def test_integer_and_boolean_positions_follow_numpy():
    x = pa.from_array(DATA, chunks=3)
    for index in [(0, slice(None), [1, 2]), ([0, 1], slice(None), 0), (None, [0, 1], 0),
                  ([0, 1], None, 0), (0, None, [1, 2]), (Ellipsis, [4, 0]), (slice(1, 3), [2, 2, 0]),
                  (np.array([[0, 1], [2, 3]]),), (slice(None), np.array([True, False] * 2 + [True])),
                  ([],), (np.int64(3),), (-1, -1, -1)]:
        assert_eq(x[index], DATA[index])


def test_boolean_array_masks_give_unknown_chunks():
    a = np.random.default_rng(1).normal(size=(8, 6))
    x = pa.from_array(a, chunks=(3, 4))
    m = x[:, 0] > 0
    y = x[m]
    assert all(np.isnan(c) for c in y.chunks[0]) and y.chunks[1] == (4, 2)
    assert np.isnan(y.shape[0])
    assert_eq(y, a[a[:, 0] > 0])
    assert_eq(y.sum(axis=0), a[a[:, 0] > 0].sum(axis=0))
    flat = x[x > 0]
    assert_eq(flat, a[a > 0])
    assert_eq(x[:, x[0] > 0], a[:, a[0] > 0])
    with pytest.raises(ValueError, match="unknown"):
        y[1:3].compute()
    y.compute_chunk_sizes()
    assert y.shape[0] == (a[:, 0] > 0).sum()
    assert_eq(y[1:3], a[a[:, 0] > 0][1:3])


def test_integer_array_index_from_pardata_array():
    a = np.arange(20.0).reshape(10, 2)
    x = pa.from_array(a, chunks=3)
    idx = pa.from_array(np.array([9, 0, 4, 4]), chunks=3)
    assert_eq(x[idx], a[[9, 0, 4, 4]])
    assert_eq(pa.take(x, [1, 0, 1], axis=1), np.take(a, [1, 0, 1], axis=1))


def test_index_errors():
    x = pa.from_array(DATA, chunks=3)
    with pytest.raises(IndexError):
        x[7]
    with pytest.raises(IndexError):
        x[0, 0, 0, 0]
    with pytest.raises(IndexError):
        x[[0, 9]]
    with pytest.raises(IndexError):
        x["a"]
    with pytest.raises(NotImplementedError, match="only array"):
        x[pa.from_array(np.array([0, 1])), [0, 1]]
    with pytest.raises(IndexError, match="does not match"):
        x[np.ones((7, 4), dtype=bool)]
