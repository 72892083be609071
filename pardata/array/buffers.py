"""A small pool of block-sized buffers, so that new blocks reuse the memory of dead ones.

Making a block (a random draw, a tiled elementwise result, a rechunked block) needs a
fresh output array of the same size again and again. glibc hands such large requests
to ``mmap`` and returns them to the kernel on ``free`` (always so on cluster workers,
which lower ``MALLOC_TRIM_THRESHOLD_``), so every block pays its page faults anew: on a
virtual machine that returns freed pages to its host, several times the cost of
filling the block. ``empty(shape, dtype)`` instead takes a buffer of the same size
from the pool when there is one.

The pool learns that a buffer is free again from the one object every array over it
references: arrays are made with ``np.frombuffer`` over a ctypes view (the *lease*) of
the pooled buffer, and any view or slice of them keeps the lease alive through its
``base`` chain. When the last of them is gone, a ``weakref.finalize`` on the lease puts
the buffer back. At most ``array.buffer-pool`` bytes (config; default 256 MiB, 0 turns
the pool off) sit idle; requests under ``MIN_BYTES`` go to NumPy directly.
"""
from __future__ import annotations

import ctypes
import threading
import weakref

import numpy as np

from pardata import config

MIN_BYTES = 1 << 20
DEFAULT_LIMIT = 256 << 20

_lock = threading.RLock()  # a finalizer may run inside the pool's own code (gc)
_free: dict = {}  # nbytes -> idle buffers (uint8 arrays), most recently freed last
_idle = [0]  # bytes in _free


def _limit() -> int:
    value = config.get("array.buffer-pool", DEFAULT_LIMIT)
    return int(config.parse_bytes(value) if isinstance(value, str) else value or 0)


def _release(buffer) -> None:
    with _lock:
        if _idle[0] + buffer.nbytes <= _limit():
            _free.setdefault(buffer.nbytes, []).append(buffer)
            _idle[0] += buffer.nbytes


def empty(shape, dtype) -> np.ndarray:
    """Like ``np.empty(shape, dtype)`` (C order), in a pooled buffer when large enough."""
    dtype = np.dtype(dtype)
    shape = tuple(shape)
    count = 1
    for n in shape:
        count *= n
    nbytes = count * dtype.itemsize
    if nbytes < MIN_BYTES or dtype.hasobject or not _limit():
        return np.empty(shape, dtype)
    with _lock:
        idle = _free.get(nbytes)
        buffer = idle.pop() if idle else None
        if buffer is not None:
            _idle[0] -= nbytes
    if buffer is None:
        buffer = np.empty(nbytes, np.uint8)
    lease = (ctypes.c_char * nbytes).from_buffer(buffer)
    weakref.finalize(lease, _release, buffer).atexit = False
    return np.frombuffer(lease, dtype=dtype, count=count).reshape(shape)


def idle_bytes() -> int:
    """Bytes of buffers waiting in the pool."""
    return _idle[0]


def clear() -> None:
    """Drop every idle buffer."""
    with _lock:
        _free.clear()
        _idle[0] = 0
