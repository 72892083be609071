"""The on-disk format of one spilled value: self-describing, written atomically.

A spill file holds everything needed to rebuild its entry without any other index::

    b"PDSPILL1" | u64 header length | header (pickle) | frame 0 | frame 1 | ...

The header records the key, the value's in-memory size (``sizeof`` when it was spilled),
the serializer and the length of each frame. Frames are pardata.serialize's pickle-5
frames: the pickle stream and then the value's out-of-band buffers, written straight
from the object's memory (no copy) and read back straight into fresh buffers that the
rebuilt object then owns (no copy either; large ones are anonymous mmaps, so a 4 GiB
read does not first spend seconds zero-filling memory while holding the GIL).

A file is written under a temporary name and renamed into place, so a process killed
mid-write leaves a ``.tmp`` file that ``scan`` deletes, never a half-written entry; a
file whose length disagrees with its header is deleted as corrupt too. The directory of
``.spill`` files *is* the manifest: a restarted worker re-registers what it finds.
Writes are not fsynced: entries survive the death of the process, not of the machine.
"""

from __future__ import annotations

import logging
import mmap
import os
import pickle
import struct
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from pardata.serialize import dumps, loads

__all__ = ["Encoded", "SpillFileInfo", "encode", "write", "read", "read_frames", "read_info", "scan", "remove_all", "unlink", "SUFFIX"]

logger = logging.getLogger(__name__)

MAGIC = b"PDSPILL1"
SUFFIX = ".spill"
TMP_SUFFIX = ".tmp"
_PREFIX = struct.Struct("<8sQ")
#: Frames at least this large are read into anonymous mmaps rather than bytearrays.
MMAP_THRESHOLD = 1 << 20
#: Bytes per read/write system call. Linux moves at most ~2 GiB per call anyway, and
#: smaller calls (with the GIL released around each) measurably shorten the stalls other
#: threads, the event loop among them, see while gigabytes are paged in.
_CHUNK = 4 << 20


@dataclass(frozen=True)
class Encoded:
    """A value ready to write: its header bytes and zero-copy frames."""

    key: Hashable
    header: bytes
    frames: list
    disk_bytes: int


@dataclass(frozen=True)
class SpillFileInfo:
    """What a spill file says about itself."""

    path: str
    key: Hashable
    memory_bytes: int
    disk_bytes: int


def encode(key: Hashable, value: Any, memory_bytes: int) -> Encoded:
    """Serialize ``value``; raises ``pardata.serialize.SerializationError`` if it cannot."""
    header, frames = dumps(value)
    views = [memoryview(f).cast("B") for f in frames]
    meta = pickle.dumps(
        {"key": key, "memory": int(memory_bytes), "serializer": header, "frames": [v.nbytes for v in views]},
        protocol=pickle.HIGHEST_PROTOCOL,
    )
    disk = _PREFIX.size + len(meta) + sum(v.nbytes for v in views)
    return Encoded(key, meta, views, disk)


def write(path: str, encoded: Encoded) -> None:
    """Write ``encoded`` to ``path`` atomically (temporary file, then rename)."""
    tmp = path + TMP_SUFFIX
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            _write_all(fd, _PREFIX.pack(MAGIC, len(encoded.header)) + encoded.header)
            for frame in encoded.frames:
                _write_all(fd, frame)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        unlink(tmp)
        raise


def _write_all(fd: int, data: Any) -> None:
    view = memoryview(data).cast("B")
    pos, end = 0, view.nbytes
    while pos < end:
        pos += os.write(fd, view[pos : min(end, pos + _CHUNK)])


def _read_header(f: Any) -> dict:
    prefix = f.read(_PREFIX.size)
    if len(prefix) != _PREFIX.size:
        raise ValueError("truncated prefix")
    magic, length = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}")
    raw = f.read(length)
    if len(raw) != length:
        raise ValueError("truncated header")
    meta = pickle.loads(raw)
    meta["_offset"] = _PREFIX.size + length
    return meta


def _buffer(n: int) -> memoryview:
    """A writable buffer of ``n`` bytes, not zero-filled by Python for large ``n``."""
    if n >= MMAP_THRESHOLD:
        return memoryview(mmap.mmap(-1, n))
    return memoryview(bytearray(n))


def _read_into(f: Any, view: memoryview) -> None:
    pos, end = 0, view.nbytes
    while pos < end:
        n = f.readinto(view[pos : min(end, pos + _CHUNK)])
        if not n:
            raise ValueError("truncated frame")
        pos += n


def read(path: str) -> tuple[Hashable, Any]:
    """Load ``(key, value)`` from a spill file."""
    key, header, frames = read_frames(path)
    return key, loads(header, frames)


def read_frames(path: str) -> tuple[Hashable, Any, list]:
    """``(key, serializer header, frames)`` of a spill file, without unpickling the value:
    what ``pardata.serialize.loads`` takes, and what a peer asking for the value needs."""
    with open(path, "rb", buffering=0) as f:
        meta = _read_header(f)
        frames = []
        for n in meta["frames"]:
            buf = _buffer(n)
            _read_into(f, buf)
            frames.append(buf)
    return meta["key"], meta["serializer"], frames


def read_info(path: str) -> SpillFileInfo:
    """Read only the header; raises ``ValueError`` if the file is not a complete entry."""
    with open(path, "rb", buffering=0) as f:
        meta = _read_header(f)
        size = os.fstat(f.fileno()).st_size
    expected = meta["_offset"] + sum(meta["frames"])
    if size != expected:
        raise ValueError(f"file has {size} bytes, header says {expected}")
    return SpillFileInfo(path, meta["key"], int(meta["memory"]), size)


def scan(directory: str) -> list[SpillFileInfo]:
    """Every complete entry in ``directory``; deletes temporary and corrupt files.

    When two files claim the same key (a crash between writing a new value and deleting
    the old one), the newer file wins.
    """
    found: dict[Hashable, tuple[int, SpillFileInfo]] = {}
    for entry in sorted(os.scandir(directory), key=lambda e: e.name):
        if entry.name.endswith(TMP_SUFFIX):
            unlink(entry.path)
            continue
        if not entry.name.endswith(SUFFIX) or not entry.is_file():
            continue
        try:
            info = read_info(entry.path)
            mtime = entry.stat().st_mtime_ns
        except Exception as exc:  # corrupt or unreadable: the value is lost, not misread
            logger.warning("removing unreadable spill file %s: %s", entry.path, exc)
            unlink(entry.path)
            continue
        try:
            previous = found.get(info.key)
        except TypeError:  # an unhashable key cannot be ours
            unlink(entry.path)
            continue
        if previous is not None:
            older = info if mtime < previous[0] else previous[1]
            unlink(older.path)
            if older is info:
                continue
        found[info.key] = (mtime, info)
    return [info for _, info in found.values()]


def remove_all(directory: str) -> None:
    """Delete every spill and temporary file in ``directory``."""
    for entry in os.scandir(directory):
        if entry.name.endswith((SUFFIX, TMP_SUFFIX)):
            unlink(entry.path)


def unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
