"""Opaque serialized payloads that travel through the scheduler untouched.

A task's function and arguments are serialized once by the client and
deserialized once by the worker that runs it. In between, the scheduler and
the comm layer only see a ``Serialized``: a header and a list of frames that
they forward as bytes, never unpickling them (so a scheduler needs neither
the user's libraries nor to trust their pickles).
"""

from __future__ import annotations

from typing import Any

from .pickling import dumps, loads

__all__ = ["Serialized", "serialize", "deserialize"]


class Serialized:
    """A serialized object: ``header`` (msgpack-able dict) and ``frames``.

    Frames are bytes-like (``bytes``, ``bytearray`` or ``memoryview``); the
    comm layer sends large ones out of band without copying them.
    """

    __slots__ = ("header", "frames")

    def __init__(self, header: dict, frames: list) -> None:
        self.header = header
        self.frames = frames

    @property
    def nbytes(self) -> int:
        """Total size of the frames, e.g. for bandwidth estimates."""
        return sum(memoryview(f).nbytes for f in self.frames)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Serialized):
            return NotImplemented
        return (
            self.header == other.header
            and len(self.frames) == len(other.frames)
            and all(_same_bytes(a, b) for a, b in zip(self.frames, other.frames))
        )

    __hash__ = None  # type: ignore[assignment]  # mutable frames

    def __repr__(self) -> str:
        return f"Serialized({self.header!r}, {len(self.frames)} frames, {self.nbytes} bytes)"


def _same_bytes(a: Any, b: Any) -> bool:
    return memoryview(a).cast("B") == memoryview(b).cast("B")


def serialize(obj: Any) -> Serialized:
    """Serialize ``obj`` into an opaque payload (see ``pickling.dumps``)."""
    header, frames = dumps(obj)
    return Serialized(header, frames)


def deserialize(payload: Serialized) -> Any:
    """Rebuild the object inside ``payload`` (see ``pickling.loads``)."""
    return loads(payload.header, payload.frames)
