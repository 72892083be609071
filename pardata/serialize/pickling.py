"""Pickle protocol 5 with out-of-band buffers, falling back to cloudpickle.

``dumps`` returns the pickle stream as the first frame and every buffer the
object exposes through ``PickleBuffer`` (NumPy arrays, pandas blocks, ...) as a
further frame that *shares memory* with the object: nothing large is copied
here, the comm layer writes those views straight to the socket.

Plain ``pickle`` is tried first because it is several times faster than
cloudpickle; cloudpickle is used when pickle fails (lambdas, local functions,
closures) or when the stream refers to ``__main__``, whose objects another
process could not import by reference.
"""

from __future__ import annotations

import pickle
from typing import Any

__all__ = ["SerializationError", "DeserializationError", "dumps", "loads", "SERIALIZERS"]

#: Names a header may carry in its ``serializer`` field; both load with pickle.
SERIALIZERS = ("pickle", "cloudpickle")


class SerializationError(TypeError):
    """An object could not be turned into frames.

    Subclasses ``TypeError`` because that is what ``pickle`` itself raises for
    an unpicklable object, so existing ``except TypeError`` code keeps working.
    """


class DeserializationError(SerializationError):
    """Frames could not be turned back into an object."""


def _type_name(obj: object) -> str:
    cls = type(obj)
    module = cls.__module__
    if module == "builtins":
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _buffer_frame(buf: pickle.PickleBuffer) -> memoryview | bytes:
    """A flat byte view of an out-of-band buffer, without copying when possible."""
    try:
        return buf.raw()
    except BufferError:  # neither C- nor F-contiguous: rare, copy it flat
        return memoryview(buf).tobytes(order="A")


def _cloudpickle_dumps(obj: Any, buffers: list) -> bytes:
    import cloudpickle  # lazy: it is only needed for the fallback

    return cloudpickle.dumps(obj, protocol=5, buffer_callback=buffers.append)


def dumps(obj: Any) -> tuple[dict, list]:
    """Serialize ``obj`` to ``(header, frames)``.

    ``header`` is a small msgpack-able dict; ``frames[0]`` is the pickle stream
    and ``frames[1:]`` are zero-copy views of the object's large buffers.
    Raises ``SerializationError`` naming the object's type and the cause.
    """
    buffers: list[pickle.PickleBuffer] = []
    serializer = "pickle"
    try:
        stream = pickle.dumps(obj, protocol=5, buffer_callback=buffers.append)
        needs_cloudpickle = b"__main__" in stream
    except Exception:
        needs_cloudpickle = True
    if needs_cloudpickle:
        buffers = []
        serializer = "cloudpickle"
        try:
            stream = _cloudpickle_dumps(obj, buffers)
        except Exception as exc:
            raise SerializationError(
                f"cannot serialize object of type {_type_name(obj)}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    frames: list = [stream]
    frames.extend(_buffer_frame(b) for b in buffers)
    return {"serializer": serializer}, frames


def _writable(frame: Any) -> memoryview | bytearray:
    """Frames become writable buffers so that unpickled arrays are writable.

    Frames read from a socket already are (bytearray-backed); read-only ones
    (small inline frames, ``bytes`` built by hand) are copied, which is cheap
    exactly when it happens.
    """
    view = memoryview(frame)
    if view.readonly:
        return bytearray(view)
    return view


def loads(header: dict, frames: list) -> Any:
    """Rebuild the object produced by ``dumps``; raises ``DeserializationError``."""
    serializer = header.get("serializer") if isinstance(header, dict) else None
    if serializer not in SERIALIZERS:
        raise DeserializationError(f"unknown serializer {serializer!r} in header {header!r}")
    if not frames:
        raise DeserializationError("no frames to deserialize")
    try:
        return pickle.loads(frames[0], buffers=[_writable(f) for f in frames[1:]])
    except Exception as exc:
        raise DeserializationError(
            f"cannot deserialize {serializer} payload of {len(frames)} frame(s): "
            f"{type(exc).__name__}: {exc}"
        ) from exc
