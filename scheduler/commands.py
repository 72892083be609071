"""Commands: what the scheduler asks the server to do (send to a worker or a client).

`SchedulerState.handle` returns them in the order they must be sent; the server turns each
into one wire message (and may batch messages to the same peer, keeping their order).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Mapping

Key = Hashable


class SchedulerCommand:
    """Base class of every command; `mentions` is what `story(key)` uses."""

    __slots__ = ()

    def mentions(self, key: Key) -> bool:
        return self.key == key  # type: ignore[attr-defined]


# --- to workers ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Execute(SchedulerCommand):
    """Run `key` as execution `attempt`; report back quoting that attempt.

    `who_has` and `nbytes` describe every dependency: where to fetch it and its size.
    `resources` are the task's resource needs, held while it runs.
    """

    worker: str
    key: Key
    attempt: int
    payload: object
    priority: tuple
    who_has: Mapping[Key, tuple]
    nbytes: Mapping[Key, int]
    resources: Mapping[str, float] | None = None


@dataclass(frozen=True, slots=True)
class FreeKeys(SchedulerCommand):
    """Drop these results: nobody needs them any more (or the scheduler lost track)."""

    worker: str
    keys: tuple

    def mentions(self, key: Key) -> bool:
        return key in self.keys


@dataclass(frozen=True, slots=True)
class CancelExecution(SchedulerCommand):
    """Forget execution `attempt` of `key`. If it already runs, its result will be stale."""

    worker: str
    key: Key
    attempt: int


@dataclass(frozen=True, slots=True)
class RequestSteal(SchedulerCommand):
    """If `attempt` of `key` has not started, drop it and answer `StealConfirmed`;
    otherwise keep it and answer `StealRefused`."""

    worker: str
    key: Key
    attempt: int


@dataclass(frozen=True, slots=True)
class CloseWorker(SchedulerCommand):
    """Disconnect this worker (it is considered gone already)."""

    worker: str
    reason: str

    def mentions(self, key: Key) -> bool:
        return False


# --- to clients ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReportInMemory(SchedulerCommand):
    """A key the client wants is computed."""

    client: str
    key: Key
    nbytes: int = 0


@dataclass(frozen=True, slots=True)
class ReportErred(SchedulerCommand):
    """A key the client wants failed.

    `exception` and `traceback` are the worker's, forwarded untouched, from the task that
    actually raised (`blamed`, which is `key` itself or an upstream task). `exception` is
    None when the scheduler declared the failure itself (a `KilledWorker`-style error, an
    unknown dependency, a cycle): `reason` then says what happened, in words.
    """

    client: str
    key: Key
    exception: bytes | None
    traceback: str | None
    reason: str
    blamed: Key = None
    kind: str = "raised"  # "raised", "killed-worker", "dependency", "invalid-graph"


@dataclass(frozen=True, slots=True)
class ReportCancelled(SchedulerCommand):
    """The client's interest in `key` was cancelled."""

    client: str
    key: Key


@dataclass(frozen=True, slots=True)
class ReportLost(SchedulerCommand):
    """Data without lineage (scattered) is gone and cannot be recomputed."""

    client: str
    key: Key
    reason: str
