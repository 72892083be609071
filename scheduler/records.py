"""The scheduler's records of tasks and workers: plain slotted objects, no behaviour.

Only `SchedulerState` mutates them. Containers that are iterated are dicts used as ordered
sets (`{item: None}`), so that every decision is deterministic and a run is replayable:
iterating a set of objects would follow their memory addresses.
"""

from __future__ import annotations

import sys
from typing import Hashable

Key = Hashable

# Task states
RELEASED = "released"
WAITING = "waiting"
QUEUED = "queued"
NO_WORKER = "no-worker"
PROCESSING = "processing"
MEMORY = "memory"
ERRED = "erred"
FORGOTTEN = "forgotten"

ALL_STATES = (RELEASED, WAITING, QUEUED, NO_WORKER, PROCESSING, MEMORY, ERRED)
# A task in one of these states still needs the results of its dependencies.
ACTIVE = frozenset((WAITING, QUEUED, NO_WORKER, PROCESSING))


def key_prefix(key: Key) -> str:
    """The task-group name of a key: ``"inc-8f3a" -> "inc"``, ``("x-1", 3) -> "x"``.

    >>> key_prefix("inc-8f3a0c9d")
    'inc'
    >>> key_prefix(("sum-agg-55aa", 0, 1))
    'sum-agg'
    """
    if isinstance(key, tuple):
        key = key[0] if key else ""
    name = str(key)
    words = name.split("-")
    kept = [w for w in words[1:] if not _is_token(w)]
    # Interned: a million tasks of one group share one string.
    return sys.intern("-".join(words[:1] + kept) or name)


_HEX_DIGITS = frozenset("0123456789abcdef")


def _is_token(word: str) -> bool:
    """A hash or counter inside a key name, not part of the group name."""
    if word.isdigit():
        return True
    hexlike = len(word) >= 6 and set(word) <= _HEX_DIGITS
    # all hex digits: a short one is a token only if it has a digit (not "facade")
    return hexlike and (len(word) >= 8 or not word.isalpha())


class SchedulerTask:
    """One key the scheduler knows about.

    `nwaiting` counts dependencies not in memory (meaningful in `waiting`); `nwaiters`
    counts dependents in an ACTIVE state, that is dependents still needing this result.
    A task is *needed* while a client wants it or `nwaiters > 0`.
    """

    __slots__ = (
        "key",
        "prefix",
        "state",
        "payload",
        "priority",
        "retries",
        "workers",
        "resources",
        "dependencies",
        "dependents",
        "nwaiting",
        "nwaiters",
        "who_wants",
        "who_has",
        "processing_on",
        "attempt",
        "nbytes",
        "killed_on",
        "queue_token",
        "exception",
        "traceback",
        "blame",
        "error_reason",
        "error_kind",
        "seq",
        "expected_nbytes",
    )

    def __init__(self, key: Key, seq: int, priority: tuple, payload: object = None):
        self.key = key
        self.seq = seq
        self.prefix = ""
        self.state = RELEASED
        self.payload = payload
        self.priority = priority
        self.retries = 0
        self.workers: frozenset | None = None
        self.resources: dict | None = None
        self.dependencies: tuple = ()
        self.dependents: dict = {}
        self.nwaiting = 0
        self.nwaiters = 0
        self.who_wants: dict = {}
        self.who_has: dict = {}
        self.processing_on: SchedulerWorker | None = None
        self.attempt = 0
        self.nbytes = -1
        self.killed_on: tuple = ()
        self.queue_token = 0
        self.exception: bytes | None = None
        self.traceback: str | None = None
        self.blame: SchedulerTask | None = None
        self.error_reason = ""
        self.error_kind = ""
        self.expected_nbytes = 0  # output size estimated when it was assigned (admission)

    def needed(self) -> bool:
        return bool(self.who_wants) or self.nwaiters > 0

    def __repr__(self) -> str:
        return f"<SchedulerTask {self.key!r} {self.state}>"


class SchedulerWorker:
    """One connected worker, as the scheduler sees it.

    `processing` maps each task assigned to it to the duration estimated at assignment;
    `occupancy` is their sum (seconds of work queued there). `slots` is how many tasks it
    may hold before root tasks stay queued at the scheduler. `expected_nbytes` sums the
    output sizes estimated for its processing tasks (see `admission`).
    """

    __slots__ = (
        "name",
        "seq",
        "nthreads",
        "memory_limit",
        "resources",
        "used_resources",
        "processing",
        "occupancy",
        "has_what",
        "nbytes",
        "last_seen",
        "managed_bytes",
        "process_bytes",
        "paused",
        "slots",
        "incoming",
        "spilled_bytes",
        "memory_reason",
        "expected_nbytes",
    )

    def __init__(self, name: str, seq: int, nthreads: int, memory_limit: int, resources, now: float, slots: int):
        self.name = name
        self.seq = seq
        self.nthreads = max(int(nthreads), 1)
        self.memory_limit = memory_limit
        self.resources: dict = dict(resources or {})
        self.used_resources: dict = dict.fromkeys(self.resources, 0)
        self.processing: dict = {}
        self.occupancy = 0.0
        self.has_what: dict = {}
        self.nbytes = 0
        self.last_seen = now
        self.managed_bytes = 0
        self.process_bytes = 0
        self.paused = False
        self.slots = slots
        self.incoming = 0  # steals in flight towards this worker
        self.spilled_bytes = 0
        self.memory_reason = ""  # why it is paused or terminating, as it reported
        self.expected_nbytes = 0  # estimated outputs of the tasks processing here

    def __repr__(self) -> str:
        return f"<SchedulerWorker {self.name!r} processing={len(self.processing)} keys={len(self.has_what)}>"
