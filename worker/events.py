"""Events: what happened, as told to :class:`worker.state.WorkerState`.

Three come from the scheduler (they mirror its ``Execute``, ``FreeKeys`` and
``CancelExecution`` commands); the rest come from the worker's own executor,
transfer code and memory manager. Events are frozen plain data; the server
builds them from messages and callbacks and hands them to ``WorkerState.handle``.

Time never comes from a clock inside the state machine: an event that needs it
carries it (``now``, ``start``, ``stop``).
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

#: A task key: ``str`` or a tuple ``(str, int, ...)``.
Key = Hashable


@dataclass(frozen=True, slots=True)
class WorkerEvent:
    """Base class of every event the worker state machine accepts."""

    def keys_mentioned(self) -> tuple[Key, ...]:
        """The keys this event is about, for the event log and ``story``."""
        return ()


# ---------------------------------------------------------------------------
# From the scheduler


@dataclass(frozen=True, slots=True)
class ExecuteRequested(WorkerEvent):
    """The scheduler asks this worker to compute ``key`` (its ``Execute``).

    ``who_has`` names the peers holding each dependency and ``nbytes`` their
    sizes; a dependency this worker already holds may list it or not.
    ``attempt`` identifies this assignment: only a completion of the same
    attempt is ever reported back.
    """

    worker: str
    key: Key
    attempt: int
    payload: bytes
    priority: tuple = ()
    who_has: Mapping[Key, tuple[str, ...]] = field(default_factory=dict)
    nbytes: Mapping[Key, int] = field(default_factory=dict)

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key, *self.who_has)


@dataclass(frozen=True, slots=True)
class FreeKeysRequested(WorkerEvent):
    """The scheduler no longer needs these keys on this worker."""

    keys: tuple[Key, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


@dataclass(frozen=True, slots=True)
class CancelRequested(WorkerEvent):
    """The scheduler stole or cancelled ``attempt`` of ``key``.

    A cancel for any other attempt is ignored: it is older than the
    assignment the worker now holds.
    """

    key: Key
    attempt: int

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key,)


# ---------------------------------------------------------------------------
# From the worker's executor


@dataclass(frozen=True, slots=True)
class TaskCompleted(WorkerEvent):
    """A run finished; the server already stored its value under ``key``.

    ``running_nbytes``: how far the process's RSS rose during the run (-1: unmeasured).
    """

    key: Key
    attempt: int
    nbytes: int
    type_name: str
    start: float
    stop: float
    running_nbytes: int = -1

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key,)


@dataclass(frozen=True, slots=True)
class TaskRaised(WorkerEvent):
    """A run raised; ``exception`` is the pickled exception, opaque here."""

    key: Key
    attempt: int
    exception: bytes
    traceback: str
    start: float
    stop: float

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key,)


# ---------------------------------------------------------------------------
# From the worker's transfer code


@dataclass(frozen=True, slots=True)
class FetchCompleted(WorkerEvent):
    """The transfer from ``peer`` ended; the server stored what it received.

    Keys of the transfer missing from ``keys_nbytes`` were not held by the peer.
    """

    peer: str
    keys_nbytes: Mapping[Key, int]
    now: float = 0.0

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys_nbytes)


@dataclass(frozen=True, slots=True)
class FetchFailed(WorkerEvent):
    """The transfer from ``peer`` failed as a whole (peer dead or unreachable).

    The peer is then no longer trusted as a holder of any key.
    """

    peer: str
    keys: tuple[Key, ...]
    reason: str = ""
    now: float = 0.0

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


@dataclass(frozen=True, slots=True)
class PeerMissingData(WorkerEvent):
    """``peer`` said it does not hold ``keys``; it stays trusted for others."""

    peer: str
    keys: tuple[Key, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


# ---------------------------------------------------------------------------
# From the client (via the server) and the memory manager


@dataclass(frozen=True, slots=True)
class DataScattered(WorkerEvent):
    """Data was put on this worker directly (``Client.scatter``).

    The scheduler knows about it and decides when it is freed.
    """

    keys_nbytes: Mapping[Key, int]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys_nbytes)


@dataclass(frozen=True, slots=True)
class PauseChanged(WorkerEvent):
    """The memory manager paused (or unpaused) the worker."""

    paused: bool
