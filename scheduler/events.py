"""Events: what happened, as seen by the scheduler.

The server turns network messages (and its own timer) into these frozen dataclasses and
feeds them to `SchedulerState.handle`. Every event that can be late carries the attempt id
of the execution it is about, so the state machine can drop it when it is stale. Time is a
field (`now`, seconds on any monotonic clock the server chooses), never read from a clock.

Keys are `str` or tuples `(str, int, ...)`, as everywhere in pardata.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Mapping

Key = Hashable


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One task of a submitted graph, as the scheduler needs it.

    `payload` is opaque (the pickled function and arguments): the scheduler forwards it to a
    worker and never unpickles it. `priority` comes from the client's static ordering,
    smaller runs first. `workers` and `resources` restrict where the task may run. `prefix`
    groups tasks whose durations are alike (``"inc"`` for ``"inc-1f3a"``); empty means
    "derive it from the key".
    """

    dependencies: tuple = ()
    payload: object = None
    priority: tuple = ()
    retries: int = 0
    workers: tuple | None = None
    resources: Mapping[str, float] | None = None
    prefix: str = ""


class SchedulerEvent:
    """Base class of every event; `mentions` is what `story(key)` uses."""

    __slots__ = ()

    def mentions(self, key: Key) -> bool:
        return False


class _KeyEvent(SchedulerEvent):
    __slots__ = ()

    def mentions(self, key: Key) -> bool:
        return self.key == key  # type: ignore[attr-defined]


class _KeysEvent(SchedulerEvent):
    __slots__ = ()

    def mentions(self, key: Key) -> bool:
        return key in self.keys  # type: ignore[attr-defined]


# --- workers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkerJoined(SchedulerEvent):
    """A worker connected and registered. A name already in use replaces the old worker.

    `recovered` are results it already holds (a worker restarted by its nanny finds
    its spilled results on disk): they are used rather than recomputed, if still needed.
    """

    worker: str
    nthreads: int
    memory_limit: int = 0
    resources: Mapping[str, float] = field(default_factory=dict)
    now: float = 0.0
    recovered: Mapping[Key, int] = field(default_factory=dict)

    def mentions(self, key: Key) -> bool:
        return key in self.recovered


@dataclass(frozen=True, slots=True)
class WorkersJoined(SchedulerEvent):
    """Several workers registered at once: a scheduler resumed from its journal lets the
    workers that held results back together. Every one's results are adopted before
    anything is placed, so a result one of them holds is not recomputed on another."""

    joins: tuple  # of WorkerJoined

    def mentions(self, key: Key) -> bool:
        return any(j.mentions(key) for j in self.joins)


@dataclass(frozen=True, slots=True)
class WorkerLeft(SchedulerEvent):
    """A worker is gone. `graceful` (a retired worker) does not count against its tasks."""

    worker: str
    reason: str = ""
    now: float = 0.0
    graceful: bool = False


@dataclass(frozen=True, slots=True)
class WorkerHeartbeat(SchedulerEvent):
    """A worker is alive; its memory figures and whether it paused (memory pressure).

    `memory_reason` says why it is paused or about to be terminated, in words.
    """

    worker: str
    now: float
    managed_bytes: int = 0
    process_bytes: int = 0
    paused: bool = False
    spilled_bytes: int = 0
    memory_reason: str = ""


@dataclass(frozen=True, slots=True)
class Tick(SchedulerEvent):
    """Periodic: drop silent workers, balance work by stealing."""

    now: float


# --- tasks on workers ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskFinished(_KeyEvent):
    """A worker computed `key` for execution `attempt` and holds the result.

    `running_nbytes`: the memory the run needed (its worker's RSS rise), -1 if unknown.
    """

    worker: str
    key: Key
    attempt: int
    nbytes: int
    duration: float
    now: float = 0.0
    running_nbytes: int = -1


@dataclass(frozen=True, slots=True)
class TaskErred(_KeyEvent):
    """The task raised. `exception` is the worker's pickled exception, kept opaque."""

    worker: str
    key: Key
    attempt: int
    exception: bytes
    traceback: str
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class TaskMissingDependency(_KeyEvent):
    """Fetching `missing` from `holder` failed; the worker gave up this attempt of `key`."""

    worker: str
    key: Key
    attempt: int
    missing: Key
    holder: str
    now: float = 0.0

    def mentions(self, key: Key) -> bool:
        return key == self.key or key == self.missing


@dataclass(frozen=True, slots=True)
class StealConfirmed(_KeyEvent):
    """Answer to `RequestSteal`: the task had not started and the worker dropped it."""

    worker: str
    key: Key
    attempt: int
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class StealRefused(_KeyEvent):
    """Answer to `RequestSteal`: the task is running or done there; it stays."""

    worker: str
    key: Key
    attempt: int
    now: float = 0.0


@dataclass(frozen=True, slots=True)
class KeysReplicated(SchedulerEvent):
    """A worker now also holds copies of these keys (it fetched them as dependencies)."""

    worker: str
    keys_nbytes: Mapping[Key, int]
    now: float = 0.0

    def mentions(self, key: Key) -> bool:
        return key in self.keys_nbytes


@dataclass(frozen=True, slots=True)
class KeysDropped(_KeysEvent):
    """A worker no longer holds these keys (it released fetched copies)."""

    worker: str
    keys: tuple
    now: float = 0.0


# --- clients -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GraphSubmitted(SchedulerEvent):
    """A client submitted tasks and wants the keys in `wanted` (its futures).

    Keys already known keep their existing task. `user_priority` (bigger runs first) ranks
    whole submissions; within one, `TaskSpec.priority` decides.
    """

    client: str
    tasks: Mapping[Key, TaskSpec]
    wanted: tuple | list
    now: float = 0.0
    user_priority: int = 0

    def mentions(self, key: Key) -> bool:
        return key in self.tasks or key in self.wanted


@dataclass(frozen=True, slots=True)
class ClientReleasedKeys(_KeysEvent):
    """The client dropped its futures for these keys."""

    client: str
    keys: tuple | list


@dataclass(frozen=True, slots=True)
class ClientLeft(SchedulerEvent):
    """The client disconnected: everything it wanted is released."""

    client: str


@dataclass(frozen=True, slots=True)
class DataScattered(SchedulerEvent):
    """The client put data straight on a worker. It has no lineage: if lost, it is lost."""

    client: str
    worker: str
    keys_nbytes: Mapping[Key, int]
    now: float = 0.0

    def mentions(self, key: Key) -> bool:
        return key in self.keys_nbytes


@dataclass(frozen=True, slots=True)
class CancelRequested(_KeysEvent):
    """The client cancels these keys and its wanted keys downstream of them.

    With `force`, every client's interest in them is cancelled, not just this client's.
    """

    client: str
    keys: tuple | list
    force: bool = False
