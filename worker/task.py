"""``WorkerTask``: what one worker knows about one key.

A key is on a worker for one of two reasons: the scheduler asked the worker to
compute it (it has an ``attempt`` and a ``payload``), or a task computed here
needs it as an input (it has ``dependents`` and, until it arrives, holders in
``who_has``). Both can be true of the same key over its life.
"""

from __future__ import annotations

from typing import Literal

from worker.events import Key

WorkerTaskState = Literal[
    "released",
    "waiting",
    "fetch",
    "flight",
    "ready",
    "executing",
    "memory",
    "error",
    "cancelled",
    "forgotten",
]

#: Every state a task in ``WorkerState.tasks`` can be in after ``handle`` returns.
STABLE_STATES = frozenset(
    {"waiting", "fetch", "flight", "ready", "executing", "memory", "error", "cancelled"}
)
#: States of a task that this worker computes (assigned by the scheduler).
COMPUTING_STATES = frozenset({"waiting", "ready", "executing"})
#: States of a dependency that may still land in memory for a waiting task.
ON_ITS_WAY_STATES = frozenset({"fetch", "flight", "waiting", "ready", "executing"})


class WorkerTask:
    """Mutable record of one key on one worker; owned by ``WorkerState``."""

    __slots__ = (
        "key",
        "state",
        # execution, set by the scheduler
        "attempt",
        "payload",
        "priority",
        "scheduler_holds",
        # dependency graph (local part)
        "dependencies",
        "dependents",
        "waiting_for",
        "computing_dependents",
        # fetching
        "who_has",
        "failed_holders",
        "coming_from",
        "queue_seq",
        # result
        "nbytes",
        "type_name",
        "start",
        "stop",
        "running_nbytes",
        "exception",
        "traceback",
        "announced",
    )

    def __init__(self, key: Key, nbytes: int | None = None) -> None:
        self.key = key
        self.state: WorkerTaskState = "released"
        #: The scheduler's current assignment of this key here (None: never).
        self.attempt: int | None = None
        self.payload: bytes | None = None
        #: Smaller runs (or is fetched) first, as in Dask's static ordering.
        self.priority: tuple = ()
        #: The scheduler wants this key kept here until it says FreeKeys.
        self.scheduler_holds = False
        # Ordered sets (dicts to None), so that every run is deterministic.
        self.dependencies: dict[WorkerTask, None] = {}
        self.dependents: dict[WorkerTask, None] = {}
        #: Dependencies not yet in memory; non-empty exactly while ``waiting``.
        self.waiting_for: dict[WorkerTask, None] = {}
        #: How many ``dependents`` are in a computing state (waiting, ready,
        #: executing): while non-zero the value is needed here.
        self.computing_dependents = 0
        #: Peers believed to hold this key (never this worker).
        self.who_has: set[str] = set()
        #: Peers that failed to deliver it, for ``SendMissingDependency``.
        self.failed_holders: set[str] = set()
        #: The peer it is being fetched from, while ``flight``.
        self.coming_from: str | None = None
        #: Tag of this task's live entries in the ready or fetch queues.
        self.queue_seq = -1
        self.nbytes = nbytes
        self.type_name = ""
        self.start = 0.0
        self.stop = 0.0
        self.running_nbytes = -1  # RSS rise during its run here (-1: not run/measured)
        self.exception: bytes | None = None
        self.traceback = ""
        #: The scheduler believes this worker holds the value.
        self.announced = False

    def __repr__(self) -> str:
        return f"<WorkerTask {self.key!r} {self.state}>"
