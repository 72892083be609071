"""``pardata.array``: chunked NumPy arrays larger than memory (``import pardata.array as pa``).

An ``Array`` is a grid of NumPy blocks described by a small high-level graph of layers
(``layers``); elementwise operations, broadcasting and ufuncs fuse into one blockwise
layer before any task is made, and the layers are lowered to tasks only when computed.
"""
from pardata.array import random  # noqa: F401  (pa.random.random(...))
from pardata.array import linalg  # noqa: F401
from pardata.array.blockwise import blockwise, elemwise, map_blocks
from pardata.array.chunks import normalize_chunks
from pardata.array.core import Array, _install_methods
from pardata.array.creation import (
    arange, array, asanyarray, asarray, empty, empty_like, eye, from_array, from_delayed, full,
    full_like, linspace, ones, ones_like, zeros, zeros_like,
)
from pardata.array.io import from_npy_stack, from_zarr, store, to_npy_stack, to_zarr
from pardata.array.overlap import map_overlap, overlap
from pardata.array.products import dot, matmul, outer, tensordot, vdot
from pardata.array.rechunk import rechunk
from pardata.array.reductions import (
    all, any, argmax, argmin, cumprod, cumsum, max, mean, min, nanargmax, nanargmin, nancumprod,
    nancumsum, nanmax, nanmean, nanmin, nanprod, nanstd, nansum, nanvar, prod, std, sum, var,
)
from pardata.array.reshape import ravel, reshape
from pardata.array.routines import (
    argwhere, atleast_1d, atleast_2d, bincount, broadcast_to, concatenate, expand_dims,
    flatnonzero, histogram, hstack, isin, moveaxis, nonzero, squeeze, stack, swapaxes, transpose,
    unique, vstack, where,
)
from pardata.array.slicing import take
from pardata.array.ufuncs import *  # noqa: F401,F403
from pardata.array.ufuncs import __all__ as _ufunc_names

_install_methods()

__all__ = [
    "Array", "all", "any", "arange", "argmax", "argmin", "argwhere", "array", "asanyarray", "asarray",
    "atleast_1d", "atleast_2d", "bincount", "blockwise", "broadcast_to", "concatenate", "cumprod",
    "cumsum", "dot", "elemwise", "empty", "empty_like", "expand_dims", "eye", "flatnonzero",
    "from_array", "from_delayed", "from_npy_stack", "from_zarr", "full", "full_like", "histogram",
    "hstack", "isin", "linalg", "linspace", "map_blocks", "map_overlap", "matmul", "max", "mean",
    "min", "moveaxis", "nanargmax", "nanargmin", "nancumprod", "nancumsum", "nanmax", "nanmean",
    "nanmin", "nanprod", "nanstd", "nansum", "nanvar", "nonzero", "normalize_chunks", "ones",
    "ones_like", "outer", "overlap", "prod", "random", "ravel", "rechunk", "reshape", "squeeze",
    "stack", "std", "store", "sum", "swapaxes", "take", "tensordot", "to_npy_stack", "to_zarr",
    "transpose", "unique", "var", "vdot", "vstack", "where", "zeros", "zeros_like", *_ufunc_names,
]
