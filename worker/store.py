"""``DataStore``: where a worker keeps the values it holds.

A small interface on purpose (``put``, ``get``, ``pop``, ``nbytes``, ``serialized``),
backed by a plain dict, or by a ``worker.memory.SpillBuffer`` that writes
least-recently-used values to disk. With a buffer, ``get`` may read the disk and so
belongs in a thread; code on the event loop uses ``get_in_memory`` (never blocks) and
``get_async`` / ``payload_async`` (disk reads in the buffer's executor).

Values that pickle into one small frame keep that pickle next to them: many tiny
results are usually gathered by a client later, and reusing the bytes made when the
result was checked saves serializing every one of them again.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterator

from pardata.serialize import Serialized, serialize

__all__ = ["DataStore", "ValueSpilled"]

Key = Hashable

_MISSING = object()


class ValueSpilled(Exception):
    """The value asked for is on disk: read it with ``DataStore.get_async``."""


class DataStore:
    """``key -> value`` with each value's size in bytes (``sizeof``) tracked.

    ``total_nbytes`` counts every value held, in memory or spilled; ``memory_nbytes``
    only those in memory.
    """

    def __init__(self, buffer=None) -> None:
        #: The ``SpillBuffer`` holding the values, or None (a dict, nothing spills).
        self.buffer = buffer
        self._data: Any = buffer if buffer is not None else {}
        self._nbytes: dict[Key, int] = {}
        self._pickled: dict[Key, Serialized] = {}
        self.total_nbytes = 0

    def put(self, key: Key, value: Any, nbytes: int, serialized: Serialized | None = None) -> None:
        """Store ``value`` (replacing any older one); ``serialized`` is its pickle, if known."""
        old = self._nbytes.get(key)
        if old is not None:
            self.total_nbytes -= old
            self._pickled.pop(key, None)
        if self.buffer is None:
            self._data[key] = value
        else:
            self.buffer.put(key, value, nbytes)
        self._nbytes[key] = nbytes
        self.total_nbytes += nbytes
        if serialized is not None:
            self._pickled[key] = serialized

    def get(self, key: Key) -> Any:
        """The value of ``key``; raises ``KeyError`` if it is not held. May read the disk."""
        return self._data[key]

    __getitem__ = get

    def get_now(self, key: Key) -> Any:
        """The value of ``key`` without waiting: raises ``ValueSpilled`` if it is on disk
        (then use ``get_async``) and ``KeyError`` if it is not held."""
        if self.buffer is None:
            return self._data[key]
        value = self.buffer.peek(key, _MISSING)
        if value is _MISSING:
            raise ValueSpilled(key) if key in self._nbytes else KeyError(key)
        return value

    def get_in_memory(self, key: Key, default: Any = None) -> Any:
        """The value of ``key`` if held in memory, else ``default``; never reads the disk."""
        if self.buffer is None:
            return self._data.get(key, default)
        return self.buffer.peek(key, default)

    async def get_async(self, key: Key) -> Any:
        """The value of ``key``, read back from disk off the event loop if spilled."""
        if self.buffer is None:
            return self._data[key]
        return await self.buffer.get_async(key)

    async def payload_async(self, key: Key) -> Serialized | None:
        """``key``'s value as a payload straight from its spill file (read off the loop,
        left on disk), or None if it is not spilled."""
        if self.buffer is None:
            return None
        found = await self.buffer.read_spilled_async(key)
        return Serialized(*found) if found is not None else None

    @property
    def memory_nbytes(self) -> int:
        """Bytes of the values held in memory (all of them without a buffer)."""
        return self.total_nbytes if self.buffer is None else self.buffer.memory_bytes

    def nbytes(self, key: Key, default: int = 0) -> int:
        return self._nbytes.get(key, default)

    def cached_pickle(self, key: Key) -> Serialized | None:
        """The pickle kept with a small value, if any."""
        return self._pickled.get(key)

    def serialized(self, key: Key) -> Serialized:
        """The value of ``key`` as a payload; raises ``SerializationError`` if it cannot be."""
        cached = self._pickled.get(key)
        if cached is not None:
            return cached
        return serialize(self._data[key])

    def pop(self, key: Key) -> None:
        """Drop ``key`` if held (from memory or disk)."""
        if key in self._nbytes:
            try:
                del self._data[key]  # not ``pop``: on a buffer that would read a spilled value
            except KeyError:
                pass
            self.total_nbytes -= self._nbytes.pop(key)
            self._pickled.pop(key, None)

    def adopt(self, key: Key, nbytes: int) -> None:
        """Count a value the buffer already holds (re-registered after a restart)."""
        if key not in self._nbytes:
            self._nbytes[key] = nbytes
            self.total_nbytes += nbytes

    def clear(self) -> None:
        self._data.clear()
        self._nbytes.clear()
        self._pickled.clear()
        self.total_nbytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._nbytes

    def __len__(self) -> int:
        return len(self._nbytes)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._nbytes)

    def __repr__(self) -> str:
        return f"<DataStore {len(self._nbytes)} keys, {self.total_nbytes} bytes>"
