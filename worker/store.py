"""``DataStore``: where a worker keeps the values it holds.

A small interface on purpose (``put``, ``get``, ``pop``, ``nbytes``, ``serialized``)
so that the memory manager of a later issue can replace this in-memory dict with a
store that spills least-recently-used values to disk, without the server noticing.

Values that pickle into one small frame keep that pickle next to them: many tiny
results are usually gathered by a client later, and reusing the bytes made when the
result was checked saves serializing every one of them again.
"""

from __future__ import annotations

from typing import Any, Hashable, Iterator

from pardata.serialize import Serialized, serialize

__all__ = ["DataStore"]

Key = Hashable


class DataStore:
    """``key -> value`` with each value's size in bytes (``sizeof``) tracked."""

    def __init__(self) -> None:
        self._data: dict[Key, Any] = {}
        self._nbytes: dict[Key, int] = {}
        self._pickled: dict[Key, Serialized] = {}
        self.total_nbytes = 0

    def put(self, key: Key, value: Any, nbytes: int, serialized: Serialized | None = None) -> None:
        """Store ``value`` (replacing any older one); ``serialized`` is its pickle, if known."""
        old = self._nbytes.get(key)
        if old is not None:
            self.total_nbytes -= old
            self._pickled.pop(key, None)
        self._data[key] = value
        self._nbytes[key] = nbytes
        self.total_nbytes += nbytes
        if serialized is not None:
            self._pickled[key] = serialized

    def get(self, key: Key) -> Any:
        """The value of ``key``; raises ``KeyError`` if it is not held."""
        return self._data[key]

    __getitem__ = get

    def nbytes(self, key: Key, default: int = 0) -> int:
        return self._nbytes.get(key, default)

    def serialized(self, key: Key) -> Serialized:
        """The value of ``key`` as a payload; raises ``SerializationError`` if it cannot be."""
        cached = self._pickled.get(key)
        if cached is not None:
            return cached
        return serialize(self._data[key])

    def pop(self, key: Key) -> None:
        """Drop ``key`` if held."""
        if key in self._data:
            del self._data[key]
            self.total_nbytes -= self._nbytes.pop(key)
            self._pickled.pop(key, None)

    def clear(self) -> None:
        self._data.clear()
        self._nbytes.clear()
        self._pickled.clear()
        self.total_nbytes = 0

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._data)

    def __repr__(self) -> str:
        return f"<DataStore {len(self._data)} keys, {self.total_nbytes} bytes>"
