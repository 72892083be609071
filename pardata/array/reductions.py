"""Reductions as tree reductions, and cumulative sums/products.

A reduction has three parts: ``chunk`` turns one block into a *partial* (arrays kept
with the reduced axes as length 1), ``combine`` merges a list of partials of identical
shape, and ``finalize`` turns the last partial into the result. The chunk step is a
``Blockwise`` layer (so it fuses with whatever produced the blocks); the tree levels
merge at most ``split_every`` partials per task, per reduced axis
``split_every ** (1 / number of reduced axes)``, until one block is left along every
reduced axis. The last level applies ``finalize`` in the same task.

Blocks empty along the reduced axes yield ``None`` for reductions without an identity
(min, max, arg*), which ``combine`` skips; if every block is empty, the same error
NumPy raises is raised.
"""
from __future__ import annotations

import builtins
import functools
import itertools
import math
import warnings
from numbers import Integral

import numpy as np

from pardata.array import buffers
from pardata.array.chunks import offsets
from pardata.array.core import Array
from pardata.array.layers import ArrayArg, BlockMap, Blockwise, GraphLayer, PerBlock, block_indices
from pardata.core.spec import Alias, Ref, Task
from pardata.core.tokenize import tokenize

DEFAULT_SPLIT_EVERY = 16


def normalize_axis(axis, ndim: int) -> tuple:
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Integral):
        axis = (axis,)
    out = []
    for a in axis:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim)
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError("duplicate value in 'axis'")
    return tuple(sorted(out))


def _splits(split_every, axes, numblocks) -> dict:
    split_every = DEFAULT_SPLIT_EVERY if split_every is None else split_every
    if isinstance(split_every, dict):
        return {a: builtins.max(2, int(split_every.get(a, split_every.get(a - len(numblocks), 2)))) for a in axes}
    active = [a for a in axes if numblocks[a] > 1] or list(axes)
    per_axis = builtins.max(2, int(round(split_every ** (1.0 / builtins.max(len(active), 1)))))
    return dict.fromkeys(axes, per_axis)


def _apply_chunk(chunk, block, axes, *extra):
    return chunk(block, axes, *extra)


def _combine_parts(combine, parts):
    return combine([p for p in parts if p is not None])


def _finish(combine, finalize, axes, keepdims, parts):
    live = [p for p in parts if p is not None]
    result = finalize(combine(live) if len(live) > 1 else (live[0] if live else None), axes)
    return result if keepdims else _squeeze(result, axes)


def _squeeze(result, axes):
    result = np.asarray(result)
    return result.reshape(tuple(s for a, s in enumerate(result.shape) if a not in axes))


def reduction(x: Array, chunk, combine, finalize, axis=None, keepdims=False, dtype=None,
              split_every=None, name="reduce", located=False) -> Array:
    """The generic tree reduction (see the module docstring); returns the result Array.

    ``located=True`` passes each chunk call the block's global offset and the array's
    shape (for arg-reductions).
    """
    axes = normalize_axis(axis, x.ndim)
    token = tokenize(x.name, chunk, combine, finalize, axes, keepdims, dtype, split_every)
    nb = list(x.numblocks)
    args = [chunk, ArrayArg(x._layer, BlockMap(range(x.ndim))), axes]
    if located:
        starts = [offsets(d) for d in x.chunks]
        shape = x.shape
        args.append(PerBlock(lambda idx: (tuple(s[i] for s, i in zip(starts, idx)), shape)))
    chunks1 = tuple(((1,) * n if a in axes else d) for a, (d, n) in enumerate(zip(x.chunks, nb)))
    stage = Blockwise(f"{name}-chunk-{token}", chunks1, _apply_chunk, args)
    out_chunks = tuple((1,) if a in axes else d for a, d in enumerate(x.chunks) if keepdims or a not in axes)
    out_name = f"{name}-{token}"
    if builtins.all(nb[a] == 1 for a in axes):
        dims, k = [], 0
        for a in range(x.ndim):
            if keepdims or a not in axes:
                dims.append(k)
                k += 1
            else:
                dims.append(None)
        layer = Blockwise(out_name, out_chunks, _finish_one, [
            combine, finalize, axes, keepdims, ArrayArg(stage, BlockMap(dims))])
        return Array(layer, dtype)
    splits = _splits(split_every, axes, nb)

    def build() -> dict:
        graph = {}
        prev, cur = stage.name, list(nb)
        level = 0
        while True:
            new = [math.ceil(n / splits[a]) if a in axes else n for a, n in enumerate(cur)]
            last = builtins.all(new[a] == 1 for a in axes)
            lname = out_name if last else f"{name}-partial{level}-{token}"
            for idx in itertools.product(*(range(n) for n in new)):
                ranges = [range(i * splits[a], builtins.min((i + 1) * splits[a], cur[a])) if a in axes else (i,)
                          for a, i in enumerate(idx)]
                parts = [Ref((prev, *g)) for g in itertools.product(*ranges)]
                if last:
                    out_idx = tuple(i for a, i in enumerate(idx) if keepdims or a not in axes)
                    key = (lname, *out_idx)
                    graph[key] = Task(key, _finish, combine, finalize, axes, keepdims, parts)
                else:
                    key = (lname, *idx)
                    graph[key] = Task(key, _combine_parts, combine, parts)
            if last:
                return graph
            prev, cur, level = lname, new, level + 1

    return Array(GraphLayer(out_name, out_chunks, (stage,), build), dtype)


def _finish_one(combine, finalize, axes, keepdims, part):
    return _finish(combine, finalize, axes, keepdims, [part])


# ----------------------------------------------------------------------------- simple ones

def _ufunc_chunk(npfunc, empty_none, dtype, block, axes):
    if empty_none and builtins.any(block.shape[a] == 0 for a in axes):
        return None
    kw = {"dtype": dtype} if dtype is not None else {}
    return npfunc(block, axis=axes, keepdims=True, **kw)


def _ufunc_combine(ufunc, parts):
    out = ufunc(parts[0], parts[1]) if len(parts) > 1 else parts[0]
    for p in parts[2:]:
        if type(out) is np.ndarray and type(p) is np.ndarray and out.shape == p.shape and out.dtype == p.dtype:
            ufunc(out, p, out=out)  # ``out`` is this call's own array
        else:
            out = ufunc(out, p)
    return out


def _ufunc_finalize(what, warn_nan, result, axes):
    if result is None:
        raise ValueError(f"zero-size array to reduction operation {what} which has no identity")
    if warn_nan and np.isnan(result).any():
        warnings.warn("All-NaN slice encountered", RuntimeWarning, stacklevel=2)
    return result


def _simple(x, npfunc, ufunc, what, axis, dtype, keepdims, split_every, out, empty_none=False,
            warn_nan=False):
    if out is not None:
        raise NotImplementedError("out= is not supported; assign the result instead")
    x = _as_array(x)
    meta = npfunc(np.ones((1,) * x.ndim, dtype=x.dtype), **({"dtype": dtype} if dtype is not None else {}))
    return reduction(x, functools.partial(_ufunc_chunk, npfunc, empty_none, dtype),
                     functools.partial(_ufunc_combine, ufunc),
                     functools.partial(_ufunc_finalize, what, warn_nan),
                     axis, keepdims, np.asarray(meta).dtype, split_every, name=npfunc.__name__)


def _as_array(x):
    from pardata.array.creation import asarray

    return asarray(x)


def sum(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.sum, np.add, "add", axis, dtype, keepdims, split_every, out)


def prod(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.prod, np.multiply, "multiply", axis, dtype, keepdims, split_every, out)


def min(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.min, np.minimum, "minimum", axis, None, keepdims, split_every, out, True)


def max(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.max, np.maximum, "maximum", axis, None, keepdims, split_every, out, True)


def any(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.any, np.logical_or, "logical_or", axis, None, keepdims, split_every, out)


def all(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.all, np.logical_and, "logical_and", axis, None, keepdims, split_every, out)


def nansum(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.nansum, np.add, "add", axis, dtype, keepdims, split_every, out)


def nanprod(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _simple(a, np.nanprod, np.multiply, "multiply", axis, dtype, keepdims, split_every, out)


def _fmin(block, axis=None, keepdims=False):
    return np.fmin.reduce(block, axis=axis, keepdims=keepdims)


def _fmax(block, axis=None, keepdims=False):
    return np.fmax.reduce(block, axis=axis, keepdims=keepdims)


_fmin.__name__, _fmax.__name__ = "nanmin", "nanmax"


def nanmin(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, _fmin, np.fmin, "fmin", axis, None, keepdims, split_every, out, True,
                   warn_nan=_as_array(a).dtype.kind in "fc")


def nanmax(a, axis=None, keepdims=False, split_every=None, out=None):
    return _simple(a, _fmax, np.fmax, "fmax", axis, None, keepdims, split_every, out, True,
                   warn_nan=_as_array(a).dtype.kind in "fc")


# ----------------------------------------------------------------------------- moments

def _moment_chunk(skipna, dtype, order, block, axes):
    acc = dtype if dtype is not None else (np.float64 if block.dtype.kind in "biu" else None)
    if skipna:
        valid = ~np.isnan(block)
        n = np.sum(valid, axis=axes, keepdims=True)
        total = np.nansum(block, axis=axes, keepdims=True, dtype=acc)
    else:
        n = np.full((1,) * block.ndim, math.prod(block.shape[a] for a in axes), dtype=np.intp)
        total = np.sum(block, axis=axes, keepdims=True, dtype=acc)
    if order == 1:
        return n, total
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = total / np.where(n == 0, 1, n)
    # the one block-sized temporary (pooled); squared in place below
    dev = np.subtract(block, mean, out=buffers.empty(block.shape, np.result_type(block.dtype, mean.dtype)))
    if dev.dtype.kind == "c":
        sq = (dev * dev.conj()).real
    else:
        sq = np.multiply(dev, dev, out=dev)
    m2 = np.nansum(sq, axis=axes, keepdims=True) if skipna else np.sum(sq, axis=axes, keepdims=True)
    return n, mean, m2


def _moment_combine(parts):
    if len(parts[0]) == 2:
        return functools.reduce(np.add, [p[0] for p in parts]), functools.reduce(np.add, [p[1] for p in parts])
    n, mean, m2 = parts[0]
    for nb, mb, m2b in parts[1:]:
        total = n + nb
        safe = np.where(total == 0, 1, total)
        delta = mb - mean
        sq = (delta * delta.conj()).real if delta.dtype.kind == "c" else delta * delta
        mean = mean + delta * (nb / safe)
        m2 = m2 + m2b + sq * (n * nb / safe)
        n = total
    return n, mean, m2


def _mean_finalize(dtype, part, axes):
    n, total = part
    with np.errstate(divide="ignore", invalid="ignore"):
        result = total / n
    return result.astype(dtype, copy=False)


def _var_finalize(dtype, ddof, root, part, axes):
    n, mean, m2 = part
    with np.errstate(divide="ignore", invalid="ignore"):
        result = m2 / np.maximum(n - ddof, 0)
    if root:
        result = np.sqrt(result)
    return result.astype(dtype, copy=False)


def _moment(a, axis, dtype, keepdims, split_every, ddof, kind, skipna, out):
    if out is not None:
        raise NotImplementedError("out= is not supported; assign the result instead")
    x = _as_array(a)
    probe = np.ones((1,) * x.ndim, dtype=x.dtype)
    if kind == "mean":
        meta = np.mean(probe, dtype=dtype)
        fin = functools.partial(_mean_finalize, np.asarray(meta).dtype)
    else:
        meta = (np.std if kind == "std" else np.var)(probe, dtype=dtype)
        fin = functools.partial(_var_finalize, np.asarray(meta).dtype, ddof, kind == "std")
    order = 1 if kind == "mean" else 2
    chunk = functools.partial(_moment_chunk, skipna, dtype, order)
    name = ("nan" if skipna else "") + kind
    return reduction(x, chunk, _moment_combine, fin, axis, keepdims, np.asarray(meta).dtype,
                     split_every, name=name)


def mean(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, 0, "mean", False, out)


def var(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, ddof, "var", False, out)


def std(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, ddof, "std", False, out)


def nanmean(a, axis=None, dtype=None, keepdims=False, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, 0, "mean", True, out)


def nanvar(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, ddof, "var", True, out)


def nanstd(a, axis=None, dtype=None, keepdims=False, ddof=0, split_every=None, out=None):
    return _moment(a, axis, dtype, keepdims, split_every, ddof, "std", True, out)


# ----------------------------------------------------------------------------- arg-reductions

def _arg_chunk(which, skipna, axis, block, axes, location):
    if block.size == 0:
        return None
    start, shape = location
    data = block
    if skipna and block.dtype.kind in "fc":
        data = np.where(np.isnan(block), np.inf if which == "min" else -np.inf, block)
    argf = np.argmin if which == "min" else np.argmax
    if axis is None:
        local = int(argf(data))
        pos = np.unravel_index(local, block.shape)
        glob = np.ravel_multi_index(tuple(p + s for p, s in zip(pos, start)), shape)
        keep = (1,) * block.ndim
        return block[pos].reshape(keep), np.full(keep, glob, dtype=np.intp)
    local = argf(data, axis=axis, keepdims=True)
    vals = np.take_along_axis(block, local, axis=axis)
    return vals, local.astype(np.intp) + start[axis]


def _arg_combine(which, skipna, parts):
    vals, idx = parts[0]
    for v, i in parts[1:]:
        if which == "min":
            better = v < vals
        else:
            better = v > vals
        v_nan, cur_nan = v != v, vals != vals
        if skipna:
            better = (better & ~v_nan) | (cur_nan & ~v_nan)
            tie = (v == vals) | (v_nan & cur_nan)
        else:
            better = (better & ~cur_nan) | (v_nan & ~cur_nan)
            tie = (v == vals) | (v_nan & cur_nan)
        better = better | (tie & (i < idx))
        vals = np.where(better, v, vals)
        idx = np.where(better, i, idx)
    return vals, idx


def _arg_finalize(which, skipna, part, axes):
    if part is None:
        raise ValueError(f"attempt to get arg{which} of an empty sequence")
    vals, idx = part
    if skipna and np.any(vals != vals):
        raise ValueError("All-NaN slice encountered")
    return idx


def _arg(a, which, axis, keepdims, split_every, skipna, out):
    if out is not None:
        raise NotImplementedError("out= is not supported; assign the result instead")
    x = _as_array(a)
    if axis is None:
        axes = tuple(range(x.ndim))
    else:
        axes = normalize_axis(axis, x.ndim)
        axis = axes[0]
    chunk = functools.partial(_arg_chunk, which, skipna, axis)
    res = reduction(x, chunk, functools.partial(_arg_combine, which, skipna),
                    functools.partial(_arg_finalize, which, skipna), axes, keepdims, np.intp,
                    split_every, name=("nanarg" if skipna else "arg") + which, located=True)
    return res


def argmin(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg(a, "min", axis, keepdims, split_every, False, out)


def argmax(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg(a, "max", axis, keepdims, split_every, False, out)


def nanargmin(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg(a, "min", axis, keepdims, split_every, True, out)


def nanargmax(a, axis=None, keepdims=False, split_every=None, out=None):
    return _arg(a, "max", axis, keepdims, split_every, True, out)


# ----------------------------------------------------------------------------- cumulative

def _cum_block(npfunc, axis, dtype, block):
    return npfunc(block, axis=axis, dtype=dtype)


def _carry_next(op, carry, cum, axis):
    if cum.shape[axis] == 0:
        return carry
    last = np.take(cum, [cum.shape[axis] - 1], axis=axis)
    return last if carry is None else op(carry, last)


def _apply_carry(op, cum, carry):
    return cum if carry is None else op(cum, carry)


def _cumulative(a, npfunc, op, axis, dtype, out):
    if out is not None:
        raise NotImplementedError("out= is not supported; assign the result instead")
    x = _as_array(a)
    if axis is None:
        from pardata.array.reshape import ravel

        x, axis = ravel(x), 0
    axis = normalize_axis(axis, x.ndim)[0]
    out_dtype = np.asarray(npfunc(np.ones((1,) * x.ndim, dtype=x.dtype), axis=axis, dtype=dtype)).dtype
    token = tokenize(x.name, npfunc, axis, dtype)
    cum = Blockwise(f"{npfunc.__name__}-block-{token}", x.chunks, _cum_block,
                    [npfunc, axis, out_dtype, ArrayArg(x._layer, BlockMap(range(x.ndim)))])
    name = f"{npfunc.__name__}-{token}"
    carry_name = f"{npfunc.__name__}-carry-{token}"

    def build() -> dict:
        graph = {}
        for idx in block_indices(cum.chunks):
            key = (name, *idx)
            k = idx[axis]
            if k == 0:
                graph[key] = Alias(key, (cum.name, *idx))
                continue
            ckey = (carry_name, *idx)
            prev = (*idx[:axis], k - 1, *idx[axis + 1:])
            before = Ref((carry_name, *prev)) if k > 1 else None
            graph[ckey] = Task(ckey, _carry_next, op, before, Ref((cum.name, *prev)), axis)
            graph[key] = Task(key, _apply_carry, op, Ref((cum.name, *idx)), Ref(ckey))
        return graph

    return Array(GraphLayer(name, x.chunks, (cum,), build), out_dtype)


def cumsum(a, axis=None, dtype=None, out=None):
    return _cumulative(a, np.cumsum, np.add, axis, dtype, out)


def cumprod(a, axis=None, dtype=None, out=None):
    return _cumulative(a, np.cumprod, np.multiply, axis, dtype, out)


def nancumsum(a, axis=None, dtype=None, out=None):
    return _cumulative(a, np.nancumsum, np.add, axis, dtype, out)


def nancumprod(a, axis=None, dtype=None, out=None):
    return _cumulative(a, np.nancumprod, np.multiply, axis, dtype, out)
