"""Joining, where, unique, bincount, histogram, products, map_blocks/overlap, blockwise."""
import numpy as np
import pytest

import pardata.array as pa
from pardata.testing.array import assert_eq

RNG = np.random.default_rng(2)
A = RNG.normal(size=(7, 6))
B = RNG.normal(size=(6, 5))


def test_concatenate_and_stack():
    x = pa.from_array(A, chunks=(3, 4))
    y = pa.from_array(A * 2, chunks=(2, 3))
    assert_eq(pa.concatenate([x, y]), np.concatenate([A, A * 2]))
    assert_eq(pa.concatenate([x, y], axis=1), np.concatenate([A, A * 2], axis=1))
    assert_eq(pa.concatenate([x, x.astype("f4")], axis=-1), np.concatenate([A, A.astype("f4")], axis=-1))
    assert_eq(pa.stack([x, y]), np.stack([A, A * 2]))
    assert_eq(pa.stack([x, y], axis=2), np.stack([A, A * 2], axis=2))
    assert_eq(pa.vstack([x[0], y[1]]), np.vstack([A[0], A[1] * 2]))
    assert_eq(pa.hstack([x, y]), np.hstack([A, A * 2]))
    graph = pa.concatenate([x, x]).sum().__pardata_graph__()
    assert not any(type(n).__name__ == "Alias" for n in graph.values())
    with pytest.raises(ValueError):
        pa.concatenate([x, pa.ones((3,))])


def test_where_and_nonzero():
    x = pa.from_array(A, chunks=(3, 4))
    assert_eq(pa.where(x > 0, x, -x), np.abs(A))
    assert_eq(pa.where(x > 0, 1, 0), np.where(A > 0, 1, 0))
    rows, cols = pa.nonzero(x > 0.5)
    want = np.nonzero(A > 0.5)
    assert_eq(rows, want[0])
    assert_eq(cols, want[1])
    assert_eq(pa.argwhere(x > 0.5), np.argwhere(A > 0.5))
    assert_eq(pa.flatnonzero(x > 0), np.flatnonzero(A > 0))
    assert_eq(pa.isin(pa.arange(10, chunks=3), [2, 5]), np.isin(np.arange(10), [2, 5]))


def test_unique_bincount_histogram():
    ints = RNG.integers(0, 9, size=40)
    x = pa.from_array(ints, chunks=7)
    assert_eq(pa.unique(x), np.unique(ints))
    vals, counts = pa.unique(x, return_counts=True)
    want_vals, want_counts = np.unique(ints, return_counts=True)
    assert_eq(vals, want_vals)
    np.testing.assert_array_equal(counts.compute(), want_counts)
    assert_eq(pa.bincount(x), np.bincount(ints))
    assert_eq(pa.bincount(x, minlength=12), np.bincount(ints, minlength=12))
    w = RNG.random(40)
    assert_eq(pa.bincount(x, weights=pa.from_array(w, chunks=7)), np.bincount(ints, weights=w))
    d = pa.from_array(A, chunks=3)
    h, edges = pa.histogram(d, bins=5, range=(-2, 2))
    want_h, want_edges = np.histogram(A, bins=5, range=(-2, 2))
    assert_eq(h, want_h)
    np.testing.assert_array_equal(edges, want_edges)
    h2, _ = pa.histogram(d, bins=[-3, 0, 0.5, 3], density=True)
    assert_eq(h2, np.histogram(A, bins=[-3, 0, 0.5, 3], density=True)[0])
    with pytest.raises(ValueError, match="range"):
        pa.histogram(d, bins=5)
    assert_eq(pa.unique(pa.ones((0,), chunks=2)), np.unique(np.ones(0)))


@pytest.mark.parametrize("ca,cb", [((3, 4), (4, 2)), ((7, 6), (6, 5)), ((2, 1), (5, 5))])
def test_products(ca, cb):
    x, y = pa.from_array(A, chunks=ca), pa.from_array(B, chunks=cb)
    assert_eq(x @ y, A @ B, rtol=1e-10)
    assert_eq(pa.dot(x, y), A.dot(B), rtol=1e-10)
    assert_eq(x.dot(y), A.dot(B), rtol=1e-10)
    assert_eq(pa.matmul(x, y[:, 0]), A @ B[:, 0], rtol=1e-10)
    assert_eq(pa.matmul(x[0], y), A[0] @ B, rtol=1e-10)
    assert_eq(pa.tensordot(x, y, axes=1), np.tensordot(A, B, axes=1), rtol=1e-10)
    assert_eq(pa.tensordot(x, x, axes=([0, 1], [0, 1])), np.tensordot(A, A, axes=([0, 1], [0, 1])), rtol=1e-10)
    assert_eq(pa.tensordot(x, x.T, axes=([0, 1], [1, 0])), np.tensordot(A, A.T, axes=([0, 1], [1, 0])),
              rtol=1e-10)
    assert_eq(pa.outer(x[0], y[0]), np.outer(A[0], B[0]))
    assert_eq(np.dot(x, y), A @ B, rtol=1e-10)


def test_batched_matmul_and_big_contractions():
    c = RNG.normal(size=(3, 4, 5))
    d = RNG.normal(size=(5, 2))
    assert_eq(pa.from_array(c, chunks=2) @ pa.from_array(d, chunks=2), c @ d, rtol=1e-10)
    e = RNG.normal(size=(4, 40))
    f = RNG.normal(size=(40, 3))
    x, y = pa.from_array(e, chunks=(2, 2)), pa.from_array(f, chunks=(2, 3))
    assert x.numblocks[1] == 20  # more block pairs than one task sums at once
    assert_eq(x @ y, e @ f, rtol=1e-10)


def _peak_buffers(expr, nbytes):
    """Most arrays of ``nbytes`` alive at once (views count as their base) when ``expr``
    runs on one thread in priority order."""
    from pardata.base import collections_to_graph
    from pardata.core import order

    graph, keys = collections_to_graph([expr])
    left = {k: k in keys for k in graph}
    for node in graph.values():
        for d in node.dependencies:
            left[d] += 1
    values, peak = {}, 0
    for key in sorted(graph, key=order(graph).__getitem__):
        values[key] = graph[key](values)
        buffers = {}
        for v in values.values():
            while isinstance(getattr(v, "base", None), np.ndarray):
                v = v.base
            if isinstance(v, np.ndarray) and v.nbytes == nbytes:
                buffers[id(v)] = v
        peak = max(peak, len(buffers))
        for d in (*graph[key].dependencies, key):
            left[d] -= d != key
            if not left[d]:
                del values[d]
    return peak


@pytest.mark.parametrize("expr", [lambda x: x @ x[:, :2], lambda x: (x + x.T).sum(axis=0)])
def test_products_and_transposes_hold_few_blocks_at_once(expr):
    x = pa.random.default_rng(1).random((40, 40), chunks=4)  # 10 x 10 blocks
    result = expr(x)
    assert_eq(result, expr(x.compute()), rtol=1e-12)
    # Blocks of x alive at once (by column, or whole rows of blocks: 10 or more).
    assert _peak_buffers(result, 4 * 4 * 8) <= 3


def add_block_id(block, block_id=None):
    return block + block_id[0] * 100


def test_map_blocks():
    x = pa.from_array(A, chunks=(3, 4))
    assert_eq(x.map_blocks(np.abs), np.abs(A))
    assert_eq(pa.map_blocks(np.add, x, 1), A + 1)
    out = x.map_blocks(add_block_id)
    want = A.copy()
    want[3:6] += 100
    want[6:] += 200
    assert_eq(out, want)
    sums = x.map_blocks(lambda b: b.sum(axis=0, keepdims=True), chunks=((1,) * 3, (4, 2)))
    assert sums.shape == (3, 6)
    assert_eq(sums.sum(axis=0), A.sum(axis=0))
    dropped = x.map_blocks(lambda b: b.sum(axis=1), drop_axis=1, dtype=float)
    assert_eq(dropped, A.sum(axis=1))
    new = x[:, 0].map_blocks(lambda b: b[:, None] * np.ones(3), new_axis=1, chunks=((3, 3, 1), (3,)))
    assert_eq(new, A[:, :1] * np.ones(3))

    def info(block, block_info=None):
        loc = block_info[None]["array-location"]
        return np.full(block.shape, loc[0][0] + loc[1][0], dtype=float)

    got = x.map_blocks(info, dtype=float).compute()
    assert got[4, 5] == 3 + 4


@pytest.mark.parametrize("boundary", ["reflect", "periodic", "nearest", "none", 0.0])
def test_map_overlap(boundary):
    a = np.arange(40.0).reshape(5, 8) ** 1.5
    x = pa.from_array(a, chunks=(2, 3))

    def smooth(b):
        out = b.copy()
        out[1:-1, 1:-1] = (b[:-2, 1:-1] + b[2:, 1:-1] + b[1:-1, :-2] + b[1:-1, 2:]) / 4
        return out

    got = x.map_overlap(smooth, depth=1, boundary=boundary)
    mode = {"reflect": "symmetric", "periodic": "wrap", "nearest": "edge"}.get(boundary)
    if boundary == "none":
        want = smooth(a)
    elif mode is None:
        want = smooth(np.pad(a, 1, mode="constant", constant_values=0.0))[1:-1, 1:-1]
    else:
        want = smooth(np.pad(a, 1, mode=mode))[1:-1, 1:-1]
    assert_eq(got, want)
    assert_eq(pa.map_overlap(lambda b: b, x, depth={0: 2, 1: 1}), a)


def test_blockwise():
    x = pa.from_array(A, chunks=(3, 4))
    y = pa.from_array(B, chunks=(4, 2))
    out = pa.blockwise(np.add, "ij", x, "ij", x, "ij")
    assert_eq(out, A + A)
    outer = pa.blockwise(np.multiply.outer, "ij", x[:, 0], "i", y[0], "j")
    assert_eq(outer, np.multiply.outer(A[:, 0], B[0]))

    def matmul_concat(a, b):
        return a @ b

    prod = pa.blockwise(matmul_concat, "ik", x, "ij", y, "jk", concatenate=True, dtype=float)
    assert_eq(prod, A @ B, rtol=1e-10)
    shrunk = pa.blockwise(lambda b: b[:1], "ij", x, "ij", adjust_chunks={"i": 1})
    assert shrunk.chunks == ((1, 1, 1), (4, 2))
