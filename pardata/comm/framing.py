"""Length-prefixed frames over a tornado IOStream.

On the wire a message is::

    nframes (u64 LE) | len(frame 0) ... len(frame n-1) (u64 LE each) | frame 0 | ... | frame n-1

The reader checks every declared length against ``Limits`` before it
allocates anything, then reads each large frame straight into its own
preallocated ``bytearray`` (``read_into``: no intermediate copies, and the
result is writable, so unpickled arrays are too). Small frames share one
buffer so that a message of many tiny frames costs one allocation.
"""

from __future__ import annotations

import asyncio
import struct
from typing import Awaitable

from tornado.iostream import IOStream

from .core import Limits
from .errors import ProtocolError

__all__ = ["pack_prefix", "check_lengths", "read_frames", "write_frames"]

_U64 = struct.Struct("<Q")
#: Frames at least this large get a buffer of their own (no retention of neighbours).
OWN_BUFFER_BYTES = 64 * 1024


def pack_prefix(lengths: list[int]) -> bytes:
    """The length prefix for frames of these sizes."""
    return struct.pack(f"<{len(lengths) + 1}Q", len(lengths), *lengths)


def check_nframes(nframes: int, limits: Limits) -> None:
    if nframes == 0:
        raise ProtocolError("message declares zero frames")
    if nframes > limits.max_frames:
        raise ProtocolError(f"message declares {nframes} frames, limit is {limits.max_frames}")


def check_lengths(lengths: list[int] | tuple[int, ...], limits: Limits) -> int:
    """Validate declared frame sizes; returns the total. Raises ``ProtocolError``."""
    check_nframes(len(lengths), limits)
    if lengths[0] > limits.max_header_bytes:
        raise ProtocolError(f"header frame of {lengths[0]} bytes, limit is {limits.max_header_bytes}")
    biggest = max(lengths)
    if biggest > limits.max_frame_bytes:
        raise ProtocolError(f"frame of {biggest} bytes, limit is {limits.max_frame_bytes}")
    total = sum(lengths)
    if total > limits.max_message_bytes:
        raise ProtocolError(f"message of {total} bytes, limit is {limits.max_message_bytes}")
    return total


async def _within(future: Awaitable, deadline: float, what: str):
    """Await a stream future, failing with ProtocolError once ``deadline`` passes."""
    if future.done():  # already buffered: skip the timer
        return future.result()
    remaining = deadline - asyncio.get_running_loop().time()
    try:
        return await asyncio.wait_for(future, max(remaining, 0))
    except asyncio.TimeoutError:
        raise ProtocolError(f"read deadline exceeded while reading {what}") from None


def _plan(lengths: tuple[int, ...]) -> list[tuple[int, list[int]]]:
    """Group frames into reads: each large frame alone, runs of small ones together."""
    segments: list[tuple[int, list[int]]] = []
    run: list[int] = []
    for n in lengths:
        if n >= OWN_BUFFER_BYTES:
            if run:
                segments.append((sum(run), run))
                run = []
            segments.append((n, [n]))
        else:
            run.append(n)
    if run:
        segments.append((sum(run), run))
    return segments


async def read_frames(stream: IOStream, limits: Limits) -> list:
    """Read one message's frames. Waits without a deadline for its first byte."""
    loop = asyncio.get_running_loop()
    first = await stream.read_bytes(8, partial=True)
    start = loop.time()
    deadline = start + limits.deadline(0, limits.read_timeout)
    if len(first) < 8:
        first += await _within(stream.read_bytes(8 - len(first)), deadline, "the frame count")
    (nframes,) = _U64.unpack(first)
    check_nframes(nframes, limits)
    raw = await _within(stream.read_bytes(8 * nframes), deadline, "the frame lengths")
    lengths = struct.unpack(f"<{nframes}Q", raw)
    total = check_lengths(lengths, limits)
    deadline = start + limits.deadline(total, limits.read_timeout)

    frames: list = []
    for size, members in _plan(lengths):
        if size == 0:
            frames.extend(b"" for _ in members)
            continue
        buf = bytearray(size)
        await _within(stream.read_into(buf), deadline, f"a {size}-byte frame")
        if len(members) == 1:
            frames.append(buf)
            continue
        view = memoryview(buf)
        offset = 0
        for n in members:
            frames.append(view[offset : offset + n])
            offset += n
    return frames


async def write_frames(stream: IOStream, frames: list, limits: Limits) -> int:
    """Queue all frames of a message at once (so messages never interleave), then wait."""
    views = [f if type(f) is bytes else memoryview(f).cast("B") for f in frames]
    lengths = [len(v) for v in views]
    total = sum(lengths)
    future = stream.write(pack_prefix(lengths))
    for v in views:
        if len(v):
            future = stream.write(v)
    timeout = limits.deadline(total, limits.write_timeout)
    if timeout is None:
        await future
    else:
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise ProtocolError(f"write deadline exceeded sending {total} bytes") from None
    return total + 8 * (len(lengths) + 1)
