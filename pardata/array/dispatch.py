"""NumPy's override protocols: ufuncs and array functions applied to Arrays stay lazy.

``np.sin(x)`` builds an elementwise layer; ``np.add.reduce(x)`` and ``np.sum(x)`` the
matching tree reduction. A NumPy function with no lazy implementation here raises a
``NotImplementedError`` naming it (never a silent full ``compute``), because pulling an
array larger than memory into one process is exactly the failure this library exists
to avoid. ``np.asarray(x)`` is the explicit way to compute.
"""
from __future__ import annotations

import functools

import numpy as np

_REDUCE = {"add": "sum", "multiply": "prod", "minimum": "min", "maximum": "max",
           "logical_and": "all", "logical_or": "any", "fmin": "nanmin", "fmax": "nanmax"}
_ACCUMULATE = {"add": "cumsum", "multiply": "cumprod"}


def _nth(ufunc, i, *args, **kwargs):
    return ufunc(*args, **kwargs)[i]


def array_ufunc(ufunc, method, inputs, kwargs):
    from pardata.array import reductions
    from pardata.array.blockwise import blockwise, elemwise

    if kwargs.get("out") is not None:
        raise NotImplementedError(f"{ufunc.__name__}(..., out=) is not supported on pardata arrays")
    kwargs.pop("out", None)
    if method == "__call__":
        if ufunc is np.matmul:
            from pardata.array.products import matmul

            return matmul(*inputs, **kwargs)
        if ufunc.nout == 1:
            return elemwise(ufunc, *inputs, **kwargs)
        dtypes = [np.asarray(o).dtype for o in ufunc(*[_probe(a) for a in inputs])]
        return tuple(elemwise(functools.partial(_nth, ufunc, i), *inputs, dtype=dtypes[i], **kwargs)
                     for i in range(ufunc.nout))
    if method == "reduce" and ufunc.__name__ in _REDUCE:
        kwargs.setdefault("axis", 0)
        return getattr(reductions, _REDUCE[ufunc.__name__])(*inputs, **kwargs)
    if method == "accumulate" and ufunc.__name__ in _ACCUMULATE:
        kwargs.setdefault("axis", 0)
        return getattr(reductions, _ACCUMULATE[ufunc.__name__])(*inputs, **kwargs)
    if method == "outer" and len(inputs) == 2:
        from pardata.array.blockwise import LETTERS
        from pardata.array.creation import asarray

        a, b = asarray(inputs[0]), asarray(inputs[1])
        ia, ib = LETTERS[:a.ndim], LETTERS[a.ndim:a.ndim + b.ndim]
        return blockwise(functools.partial(_outer, ufunc), ia + ib, a, ia, b, ib, **kwargs)
    raise NotImplementedError(
        f"np.{ufunc.__name__}.{method} is not implemented lazily for pardata arrays; "
        "compute first with np.asarray(x), or use map_blocks")


def _outer(ufunc, a, b, **kwargs):
    return ufunc.outer(a, b, **kwargs)


def _probe(a):
    from pardata.array.core import Array

    return np.ones((1,) * a.ndim, dtype=a.dtype) if isinstance(a, Array) else a


@functools.lru_cache(maxsize=1)
def _table() -> dict:
    import importlib

    # Modules by import path: ``pardata.array.reshape`` the attribute is the function.
    mods = [importlib.import_module(f"pardata.array.{m}") for m in
            ("reductions", "routines", "products", "reshape", "creation", "slicing", "overlap", "io")]
    linalg = importlib.import_module("pardata.array.linalg")
    table = {}
    for mod in mods:
        for name in dir(mod):
            np_func = getattr(np, name, None)
            ours = getattr(mod, name)
            if callable(np_func) and callable(ours) and not name.startswith("_") and \
                    getattr(ours, "__module__", "").startswith("pardata.array"):
                table[np_func] = ours
    for name in ("qr", "svd", "solve", "norm", "inv"):
        if hasattr(linalg, name) and hasattr(np.linalg, name):
            table[getattr(np.linalg, name)] = getattr(linalg, name)
    table[np.shape] = lambda a: a.shape
    table[np.ndim] = lambda a: a.ndim
    table[np.size] = lambda a, axis=None: a.size if axis is None else a.shape[axis]
    table[np.result_type] = lambda *args: np.result_type(*[getattr(a, "dtype", a) for a in args])
    table[np.round] = lambda a, decimals=0: a.round(decimals)
    table[np.around] = table[np.round]
    table[np.clip] = lambda a, a_min=None, a_max=None, **kw: a.clip(kw.get("min", a_min), kw.get("max", a_max))
    return table


def array_function(func, types, args, kwargs):
    from pardata.array.core import Array

    impl = _table().get(func)
    if impl is None:
        mod = getattr(func, "__module__", "numpy") or "numpy"
        raise NotImplementedError(
            f"{mod}.{func.__name__} is not implemented lazily for pardata arrays; "
            "compute first with np.asarray(x), or use map_blocks")
    if not all(issubclass(t, (Array, np.ndarray)) for t in types):
        return NotImplemented
    return impl(*args, **kwargs)
