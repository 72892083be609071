"""``sizeof(obj)``: an estimate of the memory a value holds, in bytes.

Workers account managed memory with it (and spill or pause by that account), and the
scheduler weighs transfers by it, so it must be cheap (microseconds, never proportional
to the length of a huge container) and roughly right for the values that dominate
memory: NumPy arrays, pandas and Arrow objects, bytes and strings.

Rules:

- Handlers are found by the type's MRO, so registering a base class covers subclasses.
- Library handlers are registered *lazily*, keyed by the top-level module name: the
  first time a ``numpy``/``pandas``/``pyarrow`` object is measured, that library is
  already imported (its object exists), and only then are its handlers installed.
  Importing this module imports neither.
- Large containers and object columns are measured from an evenly spaced sample and
  extrapolated.
- Within one ``sizeof`` call, NumPy views of the same base count that base at most once,
  so ``sizeof([a, a[1:], a[:5]])`` is about ``a.nbytes``, not three times it.
- ``sizeof`` never raises: a broken ``__sizeof__`` or ``nbytes`` falls back to a guess.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import Any, Callable

__all__ = ["sizeof", "register_sizeof", "Sizeof"]

#: Containers and object columns longer than this are estimated from a sample.
SAMPLE = 16
#: Nested containers deeper than this count their shallow size only.
MAX_DEPTH = 4

Handler = Callable[[Any], int]


class _Walk(threading.local):
    """Per-thread state of the ``sizeof`` call in progress (depth, NumPy bases seen)."""

    depth = 0
    bases: dict | None = None


class Sizeof:
    """A type -> handler registry that is called like a function: ``sizeof(obj)``."""

    def __init__(self) -> None:
        self._handlers: dict[type, Handler] = {}
        self._lazy: dict[str, Callable[[], None]] = {}
        self._cache: dict[type, Handler] = {}
        self._walk = _Walk()

    def register(self, cls: type | tuple, fn: Handler | None = None):
        """Measure instances of ``cls`` (and subclasses) with ``fn``; usable as a decorator.

        >>> class Blob:
        ...     def __init__(self, n): self.n = n
        >>> @sizeof.register(Blob)
        ... def _(blob): return blob.n
        >>> sizeof(Blob(1000))
        1000
        """

        def add(fn: Handler) -> Handler:
            for c in cls if isinstance(cls, tuple) else (cls,):
                self._handlers[c] = fn
            self._cache.clear()
            return fn

        return add if fn is None else add(fn)

    def register_lazy(self, toplevel: str, fn: Callable[[], None] | None = None):
        """Run ``fn()`` (which registers handlers) when a ``toplevel`` object is first seen."""

        def add(fn: Callable[[], None]) -> Callable[[], None]:
            self._lazy[toplevel] = fn
            self._cache.clear()
            return fn

        return add if fn is None else add(fn)

    def dispatch(self, cls: type) -> Handler:
        """The handler for ``cls``: its own, a base class's, or ``sys.getsizeof``."""
        found = self._cache.get(cls)
        if found is not None:
            return found
        toplevel = cls.__module__.partition(".")[0]
        install = self._lazy.pop(toplevel, None)
        if install is not None:
            install()
        for base in cls.__mro__:
            found = self._handlers.get(base)
            if found is not None:
                break
        else:
            found = _shallow
        self._cache[cls] = found
        return found

    def __call__(self, obj: Any) -> int:
        """Bytes held by ``obj`` (an estimate; never raises).

        >>> sizeof(b"x" * 1000) >= 1000
        True
        >>> sizeof([b"x" * 1000] * 100) >= 100_000
        True
        """
        walk = self._walk
        outer = walk.bases is None
        if outer:
            walk.bases = {}
        elif walk.depth >= MAX_DEPTH:
            return _shallow(obj)
        walk.depth += 1
        try:
            return max(int(self.dispatch(type(obj))(obj)), 0)
        except Exception:  # a broken handler must not fail a task
            return _shallow(obj)
        finally:
            walk.depth -= 1
            if outer:
                walk.bases = None

    def _count_base(self, key: int, nbytes: int, base_nbytes: int) -> int:
        """Bytes of a view not yet counted against its base in this call."""
        bases = self._walk.bases
        if bases is None:
            return nbytes
        used = bases.get(key, 0)
        new = max(0, min(nbytes, base_nbytes - used))
        bases[key] = used + new
        return new


sizeof = Sizeof()


def register_sizeof(cls: type, fn: Handler) -> None:
    """Measure instances of ``cls`` with ``fn`` (same as ``sizeof.register(cls, fn)``)."""
    sizeof.register(cls, fn)


def _shallow(obj: Any) -> int:
    try:
        return sys.getsizeof(obj)
    except Exception:
        return 64


def _sample(items: Any, n: int) -> list:
    """At most ``SAMPLE`` evenly spaced items of a sequence of length ``n``."""
    if n <= SAMPLE:
        return list(items)
    step = n / SAMPLE
    return [items[int(i * step)] for i in range(SAMPLE)]


def _extrapolate(sample: list, n: int) -> int:
    if not sample:
        return 0
    return int(sum(sizeof(x) for x in sample) * n / len(sample))


@sizeof.register((bytes, bytearray, str, int, float, complex, bool, type(None)))
def _atom(obj: Any) -> int:
    return sys.getsizeof(obj)


@sizeof.register(memoryview)
def _memoryview(obj: memoryview) -> int:
    return obj.nbytes + 200


@sizeof.register((list, tuple))
def _sequence(obj: list | tuple) -> int:
    return sys.getsizeof(obj) + _extrapolate(_sample(obj, len(obj)), len(obj))


@sizeof.register((set, frozenset))
def _set(obj: set | frozenset) -> int:
    # Sets cannot be indexed; the first items are as good a sample as any.
    return sys.getsizeof(obj) + _extrapolate(list(itertools.islice(obj, SAMPLE)), len(obj))


@sizeof.register(dict)
def _dict(obj: dict) -> int:
    sample = list(itertools.islice(obj.items(), SAMPLE))
    return sys.getsizeof(obj) + _extrapolate([kv for pair in sample for kv in pair], 2 * len(obj))


# --- NumPy ---------------------------------------------------------------------------


@sizeof.register_lazy("numpy")
def _register_numpy() -> None:
    import numpy as np

    @sizeof.register(np.ndarray)
    def _ndarray(a: np.ndarray) -> int:
        if a.dtype.hasobject:
            flat = a.ravel() if a.ndim != 1 else a
            return 128 + a.nbytes + _extrapolate(list(_sample(flat, flat.size)), flat.size)
        # Broadcast views (stride 0) hold only the memory of their non-broadcast axes.
        nbytes = a.itemsize
        for length, stride in zip(a.shape, a.strides):
            if stride != 0:
                nbytes *= length
        if a.size == 0:
            nbytes = 0
        root = a
        while isinstance(root.base, np.ndarray):
            root = root.base
        return 128 + sizeof._count_base(id(root), nbytes, root.nbytes)


# --- pandas --------------------------------------------------------------------------


def _holds_python_objects(dtype: Any) -> bool:
    """Object columns, and pandas strings stored as Python objects."""
    if getattr(dtype, "kind", "") == "O" and getattr(dtype, "name", "") in ("object", "O"):
        return True
    return getattr(dtype, "storage", None) == "python"


def _object_bytes(values: Any) -> int:
    """Bytes of the Python objects behind an object array, sampled (pointers excluded)."""
    n = len(values)
    if n == 0:
        return 0
    sample = [values[int(i * n / SAMPLE)] for i in range(min(n, SAMPLE))] if n > SAMPLE else list(values)
    return _extrapolate(sample, n)


@sizeof.register_lazy("pandas")
def _register_pandas() -> None:
    import pandas as pd

    @sizeof.register(pd.Index)
    def _index(idx: pd.Index) -> int:
        if isinstance(idx, pd.MultiIndex):
            return 200 + int(idx.codes[0].nbytes * len(idx.codes)) + sum(_index(lv) for lv in idx.levels)
        total = 100 + int(idx.memory_usage(deep=False))
        if _holds_python_objects(idx.dtype):
            total += _object_bytes(idx.array)
        return total

    @sizeof.register(pd.Series)
    def _series(s: pd.Series) -> int:
        total = 200 + int(s.memory_usage(index=False, deep=False)) + _index(s.index)
        if _holds_python_objects(s.dtype):
            total += _object_bytes(s.array)
        return total

    @sizeof.register(pd.DataFrame)
    def _frame(df: pd.DataFrame) -> int:
        total = 400 + int(df.memory_usage(index=False, deep=False).sum()) + _index(df.index)
        total += _index(df.columns)
        for i, dtype in enumerate(df.dtypes):
            if _holds_python_objects(dtype):
                total += _object_bytes(df.iloc[:, i].array)
        return total


# --- Arrow ---------------------------------------------------------------------------


@sizeof.register_lazy("pyarrow")
def _register_pyarrow() -> None:
    import pyarrow as pa

    def _nbytes(obj: Any) -> int:
        return 100 + int(obj.nbytes)

    sizeof.register((pa.Table, pa.RecordBatch, pa.Array, pa.ChunkedArray), _nbytes)
    sizeof.register(pa.Buffer, lambda buf: 100 + int(buf.size))
