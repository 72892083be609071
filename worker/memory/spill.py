"""``SpillBuffer``: the worker's data store, spilling least-recently-used values to disk.

A ``MutableMapping`` from key to value. Each value lives in one of four places:

- *fast*: in memory, in least-recently-used order (reads and writes make it newest);
- *pinned*: in memory and never spilled, because it could not be pickled;
- *outgoing*: in memory while a thread writes it to disk; a read returns it at once and
  cancels the spill (the finished file is then deleted), a delete or overwrite likewise;
- *slow*: on disk only, one self-describing file per key (``spillfile``); a read loads it
  back into *fast*. Concurrent reads of one spilled key share one load.

A value read back from disk keeps its file (it is *clean*: values never change in place),
so evicting it again only drops it from memory, without pickling or writing anything;
overwriting or deleting the key deletes the file. A worker that spills, reads back and
spills again (a reduction over persisted data) thus writes each value once.

Managed memory is the ``sizeof`` of every value in memory. With ``evict_on_set`` (the
default, for simple synchronous use) a write that takes memory above ``target`` spills
right away, blocking the caller. A server on an event loop passes ``evict_on_set=False``
and calls ``await evict_async()`` / ``await get_async(key)``, which do the pickling and
the disk I/O in an executor thread: one ``threading.Lock`` guards the bookkeeping and is
never held during I/O, and the bookkeeping after an I/O happens in the thread that did it,
so a synchronous reader never waits on the event loop.

Spilling stops (and says so once in the log, and in ``metrics()``) when a value cannot
be pickled, when ``max_disk_bytes`` would be exceeded, or when a write fails; the value
then stays in memory. ``close()`` deletes the files. ``recover=True`` re-registers the
files a previous process left in the directory instead of deleting them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Hashable, Iterator, MutableMapping
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from pardata._units import format_bytes
from pardata.serialize import SerializationError
from pardata.sizeof import sizeof as default_sizeof

from . import spillfile

__all__ = ["SpillBuffer", "SpillMetrics"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class SpillMetrics:
    """A snapshot of a ``SpillBuffer`` for heartbeats and tests (bytes and seconds)."""

    memory_bytes: int
    spilled_bytes: int
    disk_bytes: int
    n_memory: int
    n_spilled: int
    spill_count: int
    spill_bytes: int
    spill_seconds: float
    unspill_count: int
    unspill_bytes: int
    unspill_seconds: float
    unpicklable_count: int
    unpicklable_bytes: int
    disk_full: bool
    failed_count: int


@dataclass(eq=False)
class _Outgoing:
    key: Hashable
    value: Any
    size: int
    clean: bool = False  # its file is still on disk: already moved back to *slow*


class _Load(Future):
    """A load of a spilled key; ``owner`` is True for the one caller that must run it."""

    def __init__(self, owner: bool) -> None:
        super().__init__()
        self.owner = owner
        self.set_running_or_notify_cancel()  # awaiting tasks that are cancelled cannot cancel it


@dataclass(frozen=True)
class _OnDisk:
    path: str
    memory_bytes: int
    disk_bytes: int


class SpillBuffer(MutableMapping):
    """Keep values in memory up to ``target`` managed bytes; spill the rest to ``directory``."""

    def __init__(
        self,
        directory: str | os.PathLike,
        target: int,
        *,
        max_disk_bytes: int | None = None,
        recover: bool = False,
        evict_on_set: bool = True,
        executor: Executor | None = None,
        sizeof: Callable[[Any], int] = default_sizeof,
    ) -> None:
        self.directory = os.fspath(directory)
        self.target = int(target)
        self.max_disk_bytes = max_disk_bytes
        self.evict_on_set = evict_on_set
        self._sizeof = sizeof
        self._executor = executor
        self._own_executor = executor is None
        self._lock = threading.Lock()
        self._fast: OrderedDict[Hashable, Any] = OrderedDict()
        self._pinned: dict[Hashable, Any] = {}
        self._outgoing: dict[Hashable, _Outgoing] = {}
        self._slow: dict[Hashable, _OnDisk] = {}
        self._clean: dict[Hashable, _OnDisk] = {}  # keys in fast whose file is still current
        self._loading: dict[Hashable, Future] = {}
        self._sizes: dict[Hashable, int] = {}  # of values in fast and pinned
        self._fast_bytes = self._pinned_bytes = self._outgoing_bytes = 0
        self._spilled_bytes = self._disk_bytes = self._reserved = 0
        self._disk_full = False
        self._failed = False
        self._warned: set[str] = set()
        self._count = dict.fromkeys(("spill", "unspill", "failed"), 0)
        self._bytes = dict.fromkeys(("spill", "unspill"), 0)
        self._seconds = dict.fromkeys(("spill", "unspill"), 0.0)
        self._closed = False
        os.makedirs(self.directory, exist_ok=True)
        if recover:
            for info in spillfile.scan(self.directory):
                self._slow[info.key] = _OnDisk(info.path, info.memory_bytes, info.disk_bytes)
                self._spilled_bytes += info.memory_bytes
                self._disk_bytes += info.disk_bytes
        else:
            spillfile.remove_all(self.directory)
        #: Keys found on disk when the buffer was opened with ``recover=True``, with sizes.
        self.recovered: dict[Hashable, int] = {k: e.memory_bytes for k, e in self._slow.items()}

    # --- mapping ------------------------------------------------------------------

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self.put(key, value)

    def put(self, key: Hashable, value: Any, size: int | None = None) -> None:
        """``self[key] = value``, with ``size`` when the caller measured it already."""
        size = self._sizeof(value) if size is None else int(size)
        with self._lock:
            stale = self._discard(key)
            self._fast[key] = value
            self._sizes[key] = size
            self._fast_bytes += size
        if stale:
            spillfile.unlink(stale)
        if self.evict_on_set:
            self.evict()

    def __getitem__(self, key: Hashable) -> Any:
        found, value, future = self._get_or_start_load(key)
        if found:
            return value
        if future is None:
            raise KeyError(key)
        if future.owner:
            self._load(key, future)
        value = future.result()
        if self.evict_on_set:
            self.evict()
        return value

    def __delitem__(self, key: Hashable) -> None:
        with self._lock:
            if not self._contains(key):
                raise KeyError(key)
            stale = self._discard(key)
        if stale:
            spillfile.unlink(stale)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return self._contains(key)

    def __iter__(self) -> Iterator[Hashable]:
        with self._lock:
            keys = [*self._fast, *self._pinned, *self._outgoing, *self._slow]
        return iter(keys)

    def __len__(self) -> int:
        with self._lock:
            return len(self._fast) + len(self._pinned) + len(self._outgoing) + len(self._slow)

    def clear(self) -> None:
        """Forget every key without reading spilled values back (unlike ``MutableMapping``)."""
        with self._lock:
            stale = [self._discard(key) for key in [*self._fast, *self._pinned, *self._outgoing, *self._slow]]
        for path in filter(None, stale):
            spillfile.unlink(path)

    def _contains(self, key: object) -> bool:
        return key in self._fast or key in self._pinned or key in self._outgoing or key in self._slow

    def _discard(self, key: Hashable) -> str | None:
        """Forget ``key`` wherever it is (lock held); return a file to delete, if any."""
        if key in self._fast:
            del self._fast[key]
            self._fast_bytes -= self._sizes.pop(key)
            entry = self._clean.pop(key, None)
            if entry is not None:
                self._disk_bytes -= entry.disk_bytes
                self._disk_full = False
                return entry.path
        elif key in self._pinned:
            del self._pinned[key]
            self._pinned_bytes -= self._sizes.pop(key)
        elif key in self._outgoing:  # the writer sees it is gone and deletes its file
            self._outgoing_bytes -= self._outgoing.pop(key).size
        elif key in self._slow:
            entry = self._slow.pop(key)
            self._forget_disk(entry)
            return entry.path
        return None

    def _forget_disk(self, entry: _OnDisk) -> None:  # lock held
        self._spilled_bytes -= entry.memory_bytes
        self._disk_bytes -= entry.disk_bytes
        self._disk_full = False

    # --- reads ----------------------------------------------------------------------

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value of ``key`` if it is in memory now (a use, for the LRU order), else
        ``default``: never reads the disk, so it is safe on an event loop."""
        with self._lock:
            found, value = self._from_memory(key)
        return value if found else default

    def _from_memory(self, key: Hashable) -> tuple[bool, Any]:
        """(True, value) if ``key`` is in memory, making it the newest; lock held."""
        if key in self._fast:
            self._fast.move_to_end(key)
            return True, self._fast[key]
        if key in self._pinned:
            return True, self._pinned[key]
        if key in self._outgoing:  # read wins: keep it in memory, cancel the spill
            out = self._outgoing.pop(key)
            self._outgoing_bytes -= out.size
            self._fast[key] = out.value
            self._sizes[key] = out.size
            self._fast_bytes += out.size
            return True, out.value
        return False, None

    def _get_or_start_load(self, key: Hashable) -> tuple[bool, Any, Any]:
        """(True, value, None) if in memory; else (False, None, a load future or None)."""
        with self._lock:
            found, value = self._from_memory(key)
            if found:
                return True, value, None
            if key not in self._slow:
                return False, None, None
            future = self._loading.get(key)
            if future is None:
                future = self._loading[key] = _Load(owner=True)
                return False, None, future
        shared = _Load(owner=False)  # a second reader waits for the first one's load
        future.add_done_callback(lambda f: _copy_outcome(f, shared))
        return False, None, shared

    def _load(self, key: Hashable, future: Future) -> None:
        """Read ``key`` back from disk into memory (any thread); settles ``future``."""
        start = time.perf_counter()
        with self._lock:
            entry = self._slow.get(key)
        try:
            if entry is None:
                raise KeyError(key)
            _, value = spillfile.read(entry.path)
        except BaseException as exc:
            with self._lock:
                self._loading.pop(key, None)
                gone = self._slow.get(key) is not entry
            future.set_exception(KeyError(key) if gone else exc)
            return
        with self._lock:
            self._loading.pop(key, None)
            current = self._slow.get(key) is entry
            if current:  # the file stays: a later eviction of this value needs no write
                del self._slow[key]
                self._spilled_bytes -= entry.memory_bytes
                self._clean[key] = entry
                self._fast[key] = value
                self._sizes[key] = entry.memory_bytes
                self._fast_bytes += entry.memory_bytes
                self._count["unspill"] += 1
                self._bytes["unspill"] += entry.memory_bytes
                self._seconds["unspill"] += time.perf_counter() - start
        future.set_result(value)

    async def get_async(self, key: Hashable) -> Any:
        """``self[key]``, reading a spilled value in the executor, off the event loop."""
        found, value, future = self._get_or_start_load(key)
        if found:
            return value
        if future is None:
            raise KeyError(key)
        if future.owner:
            try:
                self._get_executor().submit(self._load, key, future)
            except BaseException as exc:  # closed: no load will ever settle the future
                with self._lock:
                    self._loading.pop(key, None)
                future.set_exception(exc)
        return await asyncio.shield(asyncio.wrap_future(future))

    async def read_spilled_async(self, key: Hashable) -> tuple[Any, list] | None:
        """``(header, frames)`` of ``key``'s spill file, read in the executor and left on
        disk (a peer gets the bytes without this worker unpickling or holding the value);
        None if ``key`` is not spilled (in memory, being written, or gone)."""
        with self._lock:
            entry = self._slow.get(key)
        if entry is None:
            return None
        try:
            _, header, frames = await asyncio.wrap_future(
                self._get_executor().submit(spillfile.read_frames, entry.path))
        except (FileNotFoundError, RuntimeError):  # loaded back or deleted meanwhile; closed
            return None
        return header, frames

    # --- eviction -------------------------------------------------------------------

    def _pick_victim(self, limit_reached: Callable[[], bool], tried: set) -> _Outgoing | None:
        """Move the least recently used fast value to *outgoing* (lock held by caller).

        A pass stops at a key it already tried (read back during its spill, or put back
        after a failure): everything left is newer than what it has spilled.
        """
        if self._closed or self._disk_full or self._failed or not self._fast or limit_reached():
            return None
        if next(iter(self._fast)) in tried:
            return None
        key, value = self._fast.popitem(last=False)
        tried.add(key)
        size = self._sizes.pop(key)
        self._fast_bytes -= size
        entry = self._clean.pop(key, None)
        if entry is not None:  # its file is current: just forget the value
            self._slow[key] = entry
            self._spilled_bytes += entry.memory_bytes
            return _Outgoing(key, None, size, clean=True)
        out = self._outgoing[key] = _Outgoing(key, value, size)
        self._outgoing_bytes += size
        return out

    def _victims(self, nbytes: int | None) -> Iterator[_Outgoing]:
        freed = 0

        def enough() -> bool:
            if nbytes is not None:
                return freed >= nbytes
            return self._fast_bytes + self._pinned_bytes <= self.target

        tried: set = set()
        with self._lock:
            self._failed = False
        while True:
            with self._lock:
                out = self._pick_victim(enough, tried)
            if out is None:
                return
            freed += out.size
            yield out

    def evict(self, nbytes: int | None = None) -> int:
        """Spill LRU values in this thread until memory is at most ``target``, or until
        ``nbytes`` have been taken out of memory; return the bytes spilled."""
        return sum(self._spill(out) for out in self._victims(nbytes))

    async def evict_async(self, nbytes: int | None = None) -> int:
        """``evict`` with the pickling and writing done in the executor, one value at a time."""
        total = 0
        executor = self._get_executor()
        for out in self._victims(nbytes):
            if out.clean:
                total += out.size
            else:
                total += await asyncio.wrap_future(executor.submit(self._spill, out))
        return total

    def _spill(self, out: _Outgoing) -> int:
        """Write ``out`` to disk and drop it from memory (any thread); bytes spilled."""
        if out.clean:
            return out.size
        key = out.key
        start = time.perf_counter()
        try:
            encoded = spillfile.encode(key, out.value, out.size)
        except SerializationError as exc:
            with self._lock:
                if self._outgoing.get(key) is out:
                    self._restore(out, pin=True)
            self._warn_once("unpicklable", "keeping %r (%s) in memory: it cannot be pickled: %s",
                            key, format_bytes(out.size), exc)
            return 0
        with self._lock:
            cap = self.max_disk_bytes
            if cap is not None and self._disk_bytes + self._reserved + encoded.disk_bytes > cap:
                self._disk_full = True
                if self._outgoing.get(key) is out:
                    self._restore(out, oldest=True)
                self._warn_once("disk-full", "spill disk cap reached: %s on disk, cap %s; spilling stops",
                                format_bytes(self._disk_bytes), format_bytes(cap))
                return 0
            self._reserved += encoded.disk_bytes
        path = os.path.join(self.directory, uuid.uuid4().hex + spillfile.SUFFIX)
        try:
            spillfile.write(path, encoded)
        except Exception as exc:
            with self._lock:
                self._reserved -= encoded.disk_bytes
                self._failed = True
                self._count["failed"] += 1
                if self._outgoing.get(key) is out:
                    self._restore(out, oldest=True)
            self._warn_once("failed", "spilling %r to %s failed, keeping it in memory: %s", key, path, exc)
            return 0
        disk_bytes = encoded.disk_bytes
        del encoded
        with self._lock:
            self._reserved -= disk_bytes
            current = not self._closed and self._outgoing.get(key) is out
            if current:
                del self._outgoing[key]
                self._outgoing_bytes -= out.size
                entry = _OnDisk(path, out.size, disk_bytes)
                self._slow[key] = entry
                self._spilled_bytes += entry.memory_bytes
                self._disk_bytes += entry.disk_bytes
                self._count["spill"] += 1
                self._bytes["spill"] += out.size
                self._seconds["spill"] += time.perf_counter() - start
        if not current:  # read, deleted, overwritten or closed meanwhile: the file is stale
            spillfile.unlink(path)
            return 0
        return out.size

    def _restore(self, out: _Outgoing, *, pin: bool = False, oldest: bool = False) -> None:
        """Put an outgoing value back in memory (lock held)."""
        key = out.key
        del self._outgoing[key]
        self._outgoing_bytes -= out.size
        self._sizes[key] = out.size
        if pin:
            self._pinned[key] = out.value
            self._pinned_bytes += out.size
        else:
            self._fast[key] = out.value
            self._fast_bytes += out.size
            if oldest:
                self._fast.move_to_end(key, last=False)

    def _warn_once(self, kind: str, msg: str, *args: Any) -> None:
        logger.log(logging.DEBUG if kind in self._warned else logging.WARNING, msg, *args)
        self._warned.add(kind)

    def _get_executor(self) -> Executor:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"{self!r} is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(2, thread_name_prefix="pardata-spill")
            return self._executor

    # --- accounting -----------------------------------------------------------------

    @property
    def memory_bytes(self) -> int:
        """Managed bytes held in memory (fast, pinned and being spilled)."""
        return self._fast_bytes + self._pinned_bytes + self._outgoing_bytes

    @property
    def spilled_bytes(self) -> int:
        """Managed bytes on disk, as measured in memory before they were spilled."""
        return self._spilled_bytes

    disk_bytes = property(lambda self: self._disk_bytes, doc="Bytes of the spill files.")
    disk_full = property(lambda self: self._disk_full, doc="Spilling stopped at ``max_disk_bytes``.")

    @property
    def spillable_bytes(self) -> int:
        """Bytes a further eviction could take out of memory right now."""
        return 0 if self._disk_full else self._fast_bytes

    def spilled_keys(self) -> list[Hashable]:
        with self._lock:
            return list(self._slow)

    def size_of(self, key: Hashable) -> int:
        """Managed bytes of ``key``, in memory or on disk."""
        with self._lock:
            if key in self._sizes:
                return self._sizes[key]
            if key in self._outgoing:
                return self._outgoing[key].size
            return self._slow[key].memory_bytes

    def metrics(self) -> SpillMetrics:
        with self._lock:
            return SpillMetrics(  # in field order
                self.memory_bytes, self._spilled_bytes, self._disk_bytes,
                len(self._fast) + len(self._pinned) + len(self._outgoing), len(self._slow),
                self._count["spill"], self._bytes["spill"], self._seconds["spill"],
                self._count["unspill"], self._bytes["unspill"], self._seconds["unspill"],
                len(self._pinned), self._pinned_bytes, self._disk_full, self._count["failed"],
            )

    # --- lifetime -------------------------------------------------------------------

    def close(self, remove_files: bool = True) -> None:
        """Wait for I/O in flight, then delete the spill files (unless told to keep them)."""
        with self._lock:
            self._closed = True
            executor, self._executor = self._executor, None
        if executor is not None and self._own_executor:
            executor.shutdown(wait=True)
        if remove_files and os.path.isdir(self.directory):
            spillfile.remove_all(self.directory)
        with self._lock:
            for store in (self._fast, self._pinned, self._outgoing, self._slow, self._sizes, self._clean):
                store.clear()
            self._fast_bytes = self._pinned_bytes = self._outgoing_bytes = 0
            self._spilled_bytes = self._disk_bytes = 0

    def __enter__(self) -> SpillBuffer:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"<SpillBuffer {self.directory}: {format_bytes(self.memory_bytes)} in memory, "
                f"{format_bytes(self._spilled_bytes)} spilled, target {format_bytes(self.target)}>")


def _copy_outcome(source: Future, dest: Future) -> None:
    exc = source.exception()
    if exc is not None:
        dest.set_exception(exc)
    else:
        dest.set_result(source.result())
