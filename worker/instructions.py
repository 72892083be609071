"""Instructions: what the server around :class:`worker.state.WorkerState` must do.

``WorkerState.handle`` returns them in order; the server carries them out in
that order. ``Send*`` instructions become messages to the scheduler; the others
act locally (executor, transfers, data store). Frozen plain data, like events.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.events import Key


@dataclass(frozen=True, slots=True)
class WorkerInstruction:
    """Base class of every instruction the worker state machine emits."""

    def keys_mentioned(self) -> tuple[Key, ...]:
        """The keys this instruction is about, for the event log and ``story``."""
        return ()


# ---------------------------------------------------------------------------
# Local actions


@dataclass(frozen=True, slots=True)
class RunTask(WorkerInstruction):
    """Run ``payload`` on the executor; its inputs are in the data store now.

    Answer with ``TaskCompleted`` (after storing the value) or ``TaskRaised``,
    carrying the same ``attempt``.
    """

    key: Key
    attempt: int
    payload: bytes

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key,)


@dataclass(frozen=True, slots=True)
class FetchFromPeer(WorkerInstruction):
    """Get ``keys`` from ``peer`` in one transfer.

    Answer with ``FetchCompleted`` (after storing what arrived) or
    ``FetchFailed``. At most one transfer per peer is outstanding.
    """

    peer: str
    keys: tuple[Key, ...]
    total_nbytes: int

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


@dataclass(frozen=True, slots=True)
class ReleaseData(WorkerInstruction):
    """Drop these keys' values from the data store (memory or disk)."""

    keys: tuple[Key, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


# ---------------------------------------------------------------------------
# Messages to the scheduler


@dataclass(frozen=True, slots=True)
class SendTaskFinished(WorkerInstruction):
    """Tell the scheduler ``attempt`` of ``key`` is in memory here (``running_nbytes``:
    the RSS rise its run caused, -1 if it was not run here or not measured)."""

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
class SendTaskErred(WorkerInstruction):
    """Tell the scheduler ``attempt`` of ``key`` raised."""

    key: Key
    attempt: int
    exception: bytes
    traceback: str

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key,)


@dataclass(frozen=True, slots=True)
class SendMissingDependency(WorkerInstruction):
    """``attempt`` of ``key`` cannot run: dependency ``missing`` is unobtainable.

    ``holders`` are the peers that were tried and failed (empty when no peer
    was named, or the dependency was being computed here and was dropped).
    The worker has already let go of ``key``: the scheduler should recompute
    ``missing`` and assign ``key`` again, under a new attempt.
    """

    key: Key
    attempt: int
    missing: Key
    holders: tuple[str, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return (self.key, self.missing)


@dataclass(frozen=True, slots=True)
class SendAddKeys(WorkerInstruction):
    """Tell the scheduler this worker now also holds copies of ``keys``."""

    keys: tuple[Key, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)


@dataclass(frozen=True, slots=True)
class SendKeysReleased(WorkerInstruction):
    """Tell the scheduler this worker no longer holds ``keys``."""

    keys: tuple[Key, ...]

    def keys_mentioned(self) -> tuple[Key, ...]:
        return tuple(self.keys)
