"""``Array``: a lazy, chunked NumPy array, and the collection protocol behind it.

An ``Array`` is a ``Layer`` (its high-level graph, see ``layers``) and a dtype. Its
blocks are NumPy arrays keyed ``(name, i, j, ...)``. Operations return new Arrays that
share their inputs' layers; tasks are made only by ``__pardata_graph__``.

Computing several arrays at once (``pardata.compute(a, b)``) lowers their layers
together, so work they share is built and run once (see ``optimize``).
"""
from __future__ import annotations

import itertools
import math
import operator
from numbers import Number

import numpy as np

from pardata.array.chunks import has_unknown, is_unknown, nan, shape_of
from pardata.array.layers import Layer, block_indices, data_layer, materialize
from pardata.base import CollectionMixin
from pardata.core.graph import flatten_keys

def graph_of_arrays(arrays) -> dict:
    """Lower several arrays jointly, so layers they share are lowered (and run) once."""
    return materialize([a._layer for a in arrays])


def _concatenate_blocks(results, chunks: tuple, dtype):
    """Assemble the nested list of computed blocks into one NumPy array."""
    if not chunks:
        value = np.asarray(results[0], dtype=dtype)
        return value[()]
    flat = flatten_keys(results)
    if len(flat) == 1:
        return np.asarray(flat[0])
    if has_unknown(chunks):
        return _nested_concatenate(results, 0)
    first = np.asarray(flat[0])
    out = np.empty(shape_of(chunks), dtype=first.dtype)
    starts = [(0, *itertools.accumulate(dim)) for dim in chunks]
    for idx, block in zip(block_indices(chunks), flat):
        out[tuple(slice(s[i], s[i + 1]) for s, i in zip(starts, idx))] = block
    return out


def _nested_concatenate(nested, axis):
    if type(nested) is not list:
        return np.asarray(nested)
    parts = [_nested_concatenate(n, axis + 1) for n in nested]
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)


def _rebuild(graph: dict, name: str, chunks: tuple, dtype):
    blocks = {k: node.value for k, node in graph.items()}
    return Array(data_layer(name, chunks, blocks), dtype)


_BINARY = (Number, np.generic, np.ndarray, list)


class Array(CollectionMixin):
    """A lazy N-dimensional array split into NumPy blocks (``pardata.array``)."""

    __slots__ = ("_layer", "_dtype", "__weakref__")
    __pardata_scheduler__ = "threads"
    __array_priority__ = 11  # NumPy defers binary operators to us

    def __init__(self, layer: Layer, dtype):
        self._layer = layer
        self._dtype = np.dtype(dtype)

    # ------------------------------------------------------------------ protocol
    def __pardata_graph__(self) -> dict:
        return materialize([self._layer])

    def __pardata_keys__(self) -> list:
        name = self.name
        if self.ndim == 0:
            return [(name,)]

        def nest(prefix, axis):
            if axis == self.ndim:
                return (name, *prefix)
            return [nest((*prefix, i), axis + 1) for i in range(self.numblocks[axis])]

        return nest((), 0)

    def __pardata_postcompute__(self):
        return _concatenate_blocks, (self.chunks, self.dtype)

    def __pardata_postpersist__(self):
        return _rebuild, (self.name, self.chunks, self.dtype)

    def __pardata_tokenize__(self):
        return ("pardata.array.Array", self.name)

    __pardata_graph_many__ = staticmethod(graph_of_arrays)

    # ------------------------------------------------------------------ metadata
    @property
    def name(self) -> str:
        return self._layer.name

    @property
    def chunks(self) -> tuple:
        return self._layer.chunks

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def shape(self) -> tuple:
        return shape_of(self.chunks)

    @property
    def ndim(self) -> int:
        return len(self.chunks)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def itemsize(self) -> int:
        return self._dtype.itemsize

    @property
    def nbytes(self):
        return self.size * self.itemsize

    @property
    def numblocks(self) -> tuple:
        return tuple(len(d) for d in self.chunks)

    @property
    def npartitions(self) -> int:
        return math.prod(self.numblocks)

    @property
    def chunksize(self) -> tuple:
        return tuple(nan if any(is_unknown(c) for c in d) else max(d) for d in self.chunks)

    @property
    def blocks(self):
        from pardata.array.slicing import BlockView

        return BlockView(self)

    @property
    def vindex(self):
        """Point-wise indexing with broadcast integer arrays (Dask's ``vindex``)."""
        from pardata.array.vindex import VIndex

        return VIndex(self)

    def __len__(self) -> int:
        if not self.chunks:
            raise TypeError("len() of unsized object")
        n = self.shape[0]
        if is_unknown(n):
            raise ValueError("the length is unknown until computed; call compute_chunk_sizes()")
        return int(n)

    def __repr__(self) -> str:
        return (f"pardata.array<{self.name}, shape={self.shape}, dtype={self.dtype}, "
                f"chunksize={self.chunksize}, chunktype=numpy.ndarray>")

    def _repr_html_(self) -> str:
        from pardata.array.display import array_html

        return array_html(self)

    def __iter__(self):
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ NumPy interop
    def __array__(self, dtype=None, copy=None):
        x = self.compute()
        return np.asarray(x, dtype=dtype) if dtype is not None else np.asarray(x)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        from pardata.array.dispatch import array_ufunc

        return array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        from pardata.array.dispatch import array_function

        return array_function(func, types, args, kwargs)

    def _scalar(self, cast):
        if self.size != 1:
            raise TypeError(f"only size-1 arrays can be converted to Python scalars; shape is {self.shape}")
        return cast(self.compute().reshape(()))

    def __bool__(self):
        return self._scalar(bool)

    def __int__(self):
        return self._scalar(int)

    def __float__(self):
        return self._scalar(float)

    def __complex__(self):
        return self._scalar(complex)

    def __index__(self):
        return self._scalar(operator.index)

    # ------------------------------------------------------------------ indexing
    def __getitem__(self, index):
        from pardata.array.slicing import getitem

        return getitem(self, index)

    def __setitem__(self, index, value):
        from pardata.array.assign import setitem

        new = setitem(self, index, value)
        self._layer, self._dtype = new._layer, new._dtype

    # ------------------------------------------------------------------ operators
    def _binary(self, op, other, reflect=False):
        if not isinstance(other, (Array, *_BINARY)):
            return NotImplemented
        from pardata.array.blockwise import elemwise

        return elemwise(op, other, self) if reflect else elemwise(op, self, other)

    def _unary(self, op):
        from pardata.array.blockwise import elemwise

        return elemwise(op, self)

    __add__ = lambda self, o: self._binary(operator.add, o)  # noqa: E731
    __radd__ = lambda self, o: self._binary(operator.add, o, True)  # noqa: E731
    __sub__ = lambda self, o: self._binary(operator.sub, o)  # noqa: E731
    __rsub__ = lambda self, o: self._binary(operator.sub, o, True)  # noqa: E731
    __mul__ = lambda self, o: self._binary(operator.mul, o)  # noqa: E731
    __rmul__ = lambda self, o: self._binary(operator.mul, o, True)  # noqa: E731
    __truediv__ = lambda self, o: self._binary(operator.truediv, o)  # noqa: E731
    __rtruediv__ = lambda self, o: self._binary(operator.truediv, o, True)  # noqa: E731
    __floordiv__ = lambda self, o: self._binary(operator.floordiv, o)  # noqa: E731
    __rfloordiv__ = lambda self, o: self._binary(operator.floordiv, o, True)  # noqa: E731
    __mod__ = lambda self, o: self._binary(operator.mod, o)  # noqa: E731
    __rmod__ = lambda self, o: self._binary(operator.mod, o, True)  # noqa: E731
    __pow__ = lambda self, o: self._binary(operator.pow, o)  # noqa: E731
    __rpow__ = lambda self, o: self._binary(operator.pow, o, True)  # noqa: E731
    __and__ = lambda self, o: self._binary(operator.and_, o)  # noqa: E731
    __rand__ = lambda self, o: self._binary(operator.and_, o, True)  # noqa: E731
    __or__ = lambda self, o: self._binary(operator.or_, o)  # noqa: E731
    __ror__ = lambda self, o: self._binary(operator.or_, o, True)  # noqa: E731
    __xor__ = lambda self, o: self._binary(operator.xor, o)  # noqa: E731
    __rxor__ = lambda self, o: self._binary(operator.xor, o, True)  # noqa: E731
    __lshift__ = lambda self, o: self._binary(operator.lshift, o)  # noqa: E731
    __rlshift__ = lambda self, o: self._binary(operator.lshift, o, True)  # noqa: E731
    __rshift__ = lambda self, o: self._binary(operator.rshift, o)  # noqa: E731
    __rrshift__ = lambda self, o: self._binary(operator.rshift, o, True)  # noqa: E731
    __lt__ = lambda self, o: self._binary(operator.lt, o)  # noqa: E731
    __le__ = lambda self, o: self._binary(operator.le, o)  # noqa: E731
    __gt__ = lambda self, o: self._binary(operator.gt, o)  # noqa: E731
    __ge__ = lambda self, o: self._binary(operator.ge, o)  # noqa: E731
    __eq__ = lambda self, o: self._binary(operator.eq, o)  # noqa: E731
    __ne__ = lambda self, o: self._binary(operator.ne, o)  # noqa: E731
    __neg__ = lambda self: self._unary(operator.neg)  # noqa: E731
    __pos__ = lambda self: self._unary(operator.pos)  # noqa: E731
    __abs__ = lambda self: self._unary(operator.abs)  # noqa: E731
    __invert__ = lambda self: self._unary(operator.invert)  # noqa: E731
    __hash__ = None  # type: ignore[assignment]

    def __matmul__(self, other):
        from pardata.array.products import matmul

        return matmul(self, other)

    def __rmatmul__(self, other):
        from pardata.array.products import matmul

        return matmul(other, self)

    def __divmod__(self, other):
        return self // other, self % other

    # ------------------------------------------------------------------ methods
    def astype(self, dtype, casting="unsafe", copy=True):
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        if not np.can_cast(self.dtype, dtype, casting=casting):
            raise TypeError(f"cannot cast {self.dtype} to {dtype} under casting={casting!r}")
        from pardata.array.blockwise import elemwise

        return elemwise(_astype, self, dtype=dtype, dtype_arg=dtype)

    @property
    def T(self):
        return self.transpose()

    @property
    def real(self):
        return self._unary(np.real)

    @property
    def imag(self):
        return self._unary(np.imag)

    def conj(self):
        return self._unary(np.conjugate)

    def round(self, decimals=0):
        from pardata.array.blockwise import elemwise

        return elemwise(np.round, self, decimals=decimals)

    def clip(self, min=None, max=None):
        from pardata.array.blockwise import elemwise

        return elemwise(np.clip, self, min, max)

    def copy(self):
        """A new Array over the same graph (so ``y = x.copy(); y[0] = 1`` leaves ``x`` alone)."""
        return Array(self._layer, self._dtype)

    def to_delayed(self):
        """The blocks as a nested list (one level per axis) of ``Delayed`` values."""
        from pardata.delayed import Delayed

        graph = self.__pardata_graph__()

        def wrap(k):
            return [wrap(x) for x in k] if type(k) is list else Delayed(k, None, (), graph)

        return wrap(self.__pardata_keys__())

    def compute_chunk_sizes(self):
        """Compute unknown (nan) chunk sizes in place, by computing each block's shape."""
        if not has_unknown(self.chunks):
            return self
        from pardata.array.blockwise import map_blocks
        import pardata

        shapes = map_blocks(_block_shape, self, dtype=np.intp, chunks=(1,) * self.ndim + ((self.ndim,),),
                            new_axis=self.ndim)
        (sizes,) = pardata.compute(shapes)
        chunks = []
        for a in range(self.ndim):
            index = [0] * self.ndim + [a]
            along = []
            for i in range(self.numblocks[a]):
                index[a] = i
                along.append(int(sizes[tuple(index)]))
            chunks.append(tuple(along))
        from pardata.array.layers import GraphLayer
        from pardata.core.spec import Alias

        old = self._layer
        new_name = self.name + "-sized"
        graph = {(new_name, *i): Alias((new_name, *i), (old.name, *i)) for i in block_indices(old.chunks)}
        self._layer = GraphLayer(new_name, tuple(chunks), (old,), graph)
        return self


def _astype(x, dtype_arg):
    return x.astype(dtype_arg, copy=False)


def _block_shape(x):
    return np.array(x.shape, dtype=np.intp).reshape((1,) * x.ndim + (x.ndim,))


def _install_methods() -> None:
    """Methods that are thin wrappers over module functions, attached once."""
    import importlib

    def mod(name):
        return importlib.import_module(f"pardata.array.{name}")

    blockwise, products, reductions = mod("blockwise"), mod("products"), mod("reductions")
    rechunk, reshape, routines, overlap = mod("rechunk"), mod("reshape"), mod("routines"), mod("overlap")

    def method(func):
        def m(self, *args, **kwargs):
            return func(self, *args, **kwargs)

        m.__name__ = func.__name__
        m.__doc__ = func.__doc__
        return m

    for name in ("sum", "mean", "std", "var", "min", "max", "prod", "any", "all", "argmin",
                 "argmax", "cumsum", "cumprod"):
        setattr(Array, name, method(getattr(reductions, name)))
    Array.map_blocks = lambda self, func, *args, **kw: blockwise.map_blocks(func, self, *args, **kw)
    Array.map_overlap = lambda self, func, depth, **kw: overlap.map_overlap(func, self, depth, **kw)
    Array.rechunk = method(rechunk.rechunk)
    Array.reshape = lambda self, *shape, **kw: reshape.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape, **kw)
    Array.ravel = method(reshape.ravel)
    Array.flatten = method(reshape.ravel)
    Array.transpose = lambda self, *axes: routines.transpose(
        self, axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None))
    Array.swapaxes = method(routines.swapaxes)
    Array.squeeze = method(routines.squeeze)
    Array.dot = method(products.dot)
    Array.nonzero = method(routines.nonzero)
    Array.store = lambda self, target, **kw: __import__("pardata.array.io", fromlist=["store"]).store(
        self, target, **kw)
    Array.to_zarr = lambda self, *a, **kw: __import__("pardata.array.io", fromlist=["x"]).to_zarr(
        self, *a, **kw)
