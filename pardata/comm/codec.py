"""Messages to frames and back.

A message becomes ``[header, *buffers]``: ``header`` is the msgpack encoding of
``{"op": ..., field: value, ...}`` and every large bytes-like value (a ``bytes``
field, a ``Serialized`` payload's frames) is replaced in the header by a msgpack
ext value holding the index of its own frame. The frames are the caller's
memory, not copies, so a NumPy array's buffer goes from the pickler to the
socket untouched; on the way in, decoding hands out views of the received
frames.
"""

from __future__ import annotations

from typing import Any

import msgpack

from .errors import ProtocolError
from .schema import FRAME_EXT, Invalid, Message, decode_message

__all__ = ["encode", "decode"]


def encode(msg: Message) -> list:
    """Encode ``msg`` into frames; raises ``ProtocolError`` for a value its schema rejects."""
    frames: list[Any] = [b""]
    try:
        header = msg._spec.encode(msg, frames)
    except AttributeError:
        raise ProtocolError(f"cannot encode {type(msg).__name__}: not a registered message") from None
    except Invalid as e:
        e.path.append(msg.op)
        raise ProtocolError(f"cannot encode {e.located()}") from None
    try:
        frames[0] = msgpack.packb(header)
    except (TypeError, ValueError, OverflowError) as e:
        raise ProtocolError(f"cannot encode {msg.op}: {e}") from None
    return frames


def decode(frames: list) -> Message:
    """Decode and validate the frames of one message; raises ``ProtocolError``."""
    if not frames:
        raise ProtocolError("a message needs at least one frame")
    nframes = len(frames)
    used: list[int] = []

    def frame_ref(code: int, data: bytes) -> memoryview:
        if code != FRAME_EXT or len(data) != 4:
            raise Invalid(f"unknown msgpack extension type {code}")
        index = int.from_bytes(data, "little")
        if not 0 < index < nframes:
            raise Invalid(f"reference to frame {index} of {nframes}")
        used.append(index)
        return memoryview(frames[index])

    try:
        data = msgpack.unpackb(frames[0], ext_hook=frame_ref, strict_map_key=False)
        msg = decode_message(data)
    except Invalid as e:
        raise ProtocolError(f"invalid message: {e.located()}") from None
    except RecursionError:
        raise ProtocolError("invalid message: nested too deeply") from None
    except Exception as e:  # msgpack reports malformed input with many exception types
        raise ProtocolError(f"undecodable message header: {type(e).__name__}: {e}") from None
    if len(used) != nframes - 1 or len(set(used)) != len(used):
        raise ProtocolError(
            f"invalid message: {msg.op} refers to frames {sorted(used)} but {nframes - 1} were sent"
        )
    return msg
