"""Random arrays, reproducible for a given seed and chunking.

Block ``i`` (its flat index in C order) draws from ``SeedSequence(seed, spawn_key=(i,))``,
the same stream ``SeedSequence(seed).spawn(n)[i]`` would give, computed inside the task:
no list of per-block seeds is built up front and blocks are independent of each other
and of the scheduler. The module-level functions take a fresh seed per call from a
process-wide generator that ``seed(n)`` resets.
"""
from __future__ import annotations

from numbers import Number

import numpy as np

from pardata.array import buffers
from pardata.array.chunks import chunk_shape, normalize_chunks
from pardata.array.core import Array
from pardata.array.layers import Blockwise, PerBlock
from pardata.core.tokenize import tokenize


# Methods that fill a given array (``out=``): their blocks go into pooled buffers.
_FILLS = {"random", "standard_normal"}


def _draw(seed, flat_index, shape, method, args, kwargs):
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(flat_index,))))
    if method in _FILLS:
        out = buffers.empty(shape, kwargs.get("dtype", np.float64))
        return getattr(rng, method)(*args, out=out, **kwargs)
    return getattr(rng, method)(*args, size=shape, **kwargs)


def _flat_index(numblocks):
    def flat(idx):
        return int(np.ravel_multi_index(idx, numblocks)) if idx else 0

    return flat


class Generator:
    """Like ``numpy.random.Generator`` (``default_rng``), producing chunked Arrays."""

    def __init__(self, seed=None):
        if isinstance(seed, Generator):
            seed = seed._seed
        if seed is None:
            seed = int(np.random.SeedSequence().entropy)
        elif isinstance(seed, np.random.SeedSequence):
            seed = int(seed.entropy)
        self._seed = seed
        self._calls = 0

    def _next_seed(self) -> list:
        # Each call draws a different stream; the n-th call is the same in every run.
        base = list(self._seed) if isinstance(self._seed, (list, tuple)) else [int(self._seed)]
        self._calls += 1
        return [*base, self._calls - 1]

    def _wrap(self, method, size, chunks, out_dtype, *args, **kwargs) -> Array:
        size = () if size is None else ((size,) if isinstance(size, Number) else tuple(size))
        if any(isinstance(a, Array) or np.ndim(a) for a in args):
            raise NotImplementedError("array-valued distribution parameters are not supported; use scalars")
        dtype = np.dtype(out_dtype)
        chunks = normalize_chunks(chunks, size, dtype=dtype)
        seed = self._next_seed()
        name = f"{method}-{tokenize(seed, size, chunks, args, kwargs)}"
        numblocks = tuple(len(c) for c in chunks)
        layer = Blockwise(name, chunks, _draw, [
            seed, PerBlock(_flat_index(numblocks)), PerBlock(lambda idx: chunk_shape(chunks, idx)),
            method, args, kwargs])
        return Array(layer, dtype)

    def random(self, size=None, dtype=float, chunks="auto") -> Array:
        return self._wrap("random", size, chunks, dtype, dtype=np.dtype(dtype))

    def standard_normal(self, size=None, dtype=float, chunks="auto") -> Array:
        return self._wrap("standard_normal", size, chunks, dtype, dtype=np.dtype(dtype))

    def normal(self, loc=0.0, scale=1.0, size=None, chunks="auto") -> Array:
        return self._wrap("normal", size, chunks, float, loc, scale)

    def uniform(self, low=0.0, high=1.0, size=None, chunks="auto") -> Array:
        return self._wrap("uniform", size, chunks, float, low, high)

    def integers(self, low, high=None, size=None, dtype=np.int64, endpoint=False, chunks="auto") -> Array:
        return self._wrap("integers", size, chunks, dtype, low, high, dtype=np.dtype(dtype), endpoint=endpoint)

    def exponential(self, scale=1.0, size=None, chunks="auto") -> Array:
        return self._wrap("exponential", size, chunks, float, scale)

    def poisson(self, lam=1.0, size=None, chunks="auto") -> Array:
        return self._wrap("poisson", size, chunks, np.int64, lam)

    def binomial(self, n, p, size=None, chunks="auto") -> Array:
        return self._wrap("binomial", size, chunks, np.int64, n, p)


def default_rng(seed=None) -> Generator:
    return Generator(seed)


_global = [Generator()]


def seed(s=None) -> None:
    """Reset the generator behind the module-level functions."""
    _global[0] = Generator(s)


def random(size=None, chunks="auto", dtype=float) -> Array:
    return _global[0].random(size, dtype=dtype, chunks=chunks)


random_sample = random


def normal(loc=0.0, scale=1.0, size=None, chunks="auto") -> Array:
    return _global[0].normal(loc, scale, size, chunks=chunks)


def standard_normal(size=None, chunks="auto") -> Array:
    return _global[0].standard_normal(size, chunks=chunks)


def uniform(low=0.0, high=1.0, size=None, chunks="auto") -> Array:
    return _global[0].uniform(low, high, size, chunks=chunks)


def randint(low, high=None, size=None, chunks="auto", dtype=int) -> Array:
    return _global[0].integers(low, high, size, dtype=dtype, chunks=chunks)


def exponential(scale=1.0, size=None, chunks="auto") -> Array:
    return _global[0].exponential(scale, size, chunks=chunks)


def poisson(lam=1.0, size=None, chunks="auto") -> Array:
    return _global[0].poisson(lam, size, chunks=chunks)


__all__ = ["Generator", "default_rng", "exponential", "normal", "poisson", "randint", "random",
           "random_sample", "seed", "standard_normal", "uniform"]
