"""``assert_eq`` for pardata arrays: compare with NumPy and check the metadata is honest.

For a pardata ``Array`` it computes every block, checks each block's shape against the
declared ``chunks`` (unknown ``nan`` sizes excepted) and its dtype against ``dtype``,
assembles the result, and then compares shape, dtype and values with the other side.
"""
from __future__ import annotations

import math

import numpy as np


def _blocks_and_value(x, scheduler):
    from pardata.array.chunks import is_unknown
    from pardata.array.core import _concatenate_blocks
    from pardata.base import collections_to_graph, run_graph
    from pardata.core.graph import flatten_keys, pack_results

    graph, keys = collections_to_graph([x])
    results = run_graph(graph, keys, scheduler)
    nested = pack_results(x.__pardata_keys__(), results)
    for key in flatten_keys(x.__pardata_keys__()):
        block = np.asarray(results[key])
        idx = key[1:]
        declared = tuple(dim[i] for dim, i in zip(x.chunks, idx))
        assert block.ndim == x.ndim, f"block {key} has {block.ndim} axes, the array {x.ndim}"
        for a, (got, want) in enumerate(zip(block.shape, declared)):
            assert is_unknown(want) or got == want, \
                f"block {key} has shape {block.shape}; chunks declare {declared} (axis {a})"
        assert block.dtype == x.dtype, f"block {key} has dtype {block.dtype}; the array declares {x.dtype}"
    return _concatenate_blocks(nested, x.chunks, x.dtype)


def _value(x, scheduler, check_chunks):
    from pardata.array.core import Array

    if isinstance(x, Array):
        for dim, size in zip(x.chunks, x.shape):
            if not (isinstance(size, float) and math.isnan(size)):
                assert sum(dim) == size, f"chunks {x.chunks} do not add up to the shape {x.shape}"
        if check_chunks:
            return np.asarray(_blocks_and_value(x, scheduler)), x.dtype
        return np.asarray(x.compute(scheduler=scheduler)), x.dtype
    value = np.asarray(x)
    return value, value.dtype


def assert_eq(a, b, check_dtype=True, check_chunks=True, rtol=1e-7, atol=0.0, equal_nan=True,
              scheduler="sync") -> None:
    """Assert ``a`` and ``b`` (pardata Arrays, NumPy arrays or scalars) are equal."""
    va, da = _value(a, scheduler, check_chunks)
    vb, db = _value(b, scheduler, check_chunks)
    assert va.shape == vb.shape, f"shapes differ: {va.shape} != {vb.shape}"
    if check_dtype:
        assert da == db, f"dtypes differ: {da} != {db}"
        assert va.dtype == da and vb.dtype == db, f"computed dtypes {va.dtype}, {vb.dtype} vs declared {da}, {db}"
    if va.dtype.kind in "fc" or vb.dtype.kind in "fc":
        np.testing.assert_allclose(va, vb, rtol=rtol, atol=atol, equal_nan=equal_nan)
    else:
        np.testing.assert_array_equal(va, vb)
