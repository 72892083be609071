"""What a simulated run reports: `SimTask` (one task of a simulated graph) and `SimResult`.

Plain data, no behaviour beyond a few derived figures, so a test can compare two runs
(`digest`) or read one field without knowing how the simulator works.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from typing import Hashable, NamedTuple

Key = Hashable


class SimTask(NamedTuple):
    """One task of a simulated graph: its inputs, how long it runs, how big its output is.

    `duration` (simulated seconds) and `nbytes` may be None: the simulation's per-key or
    per-prefix tables, then its defaults, fill them in. A plain tuple
    ``(dependencies, duration, nbytes)`` is accepted wherever a `SimTask` is.
    """

    dependencies: tuple = ()
    duration: float | None = None
    nbytes: int | None = None


@dataclass
class SimResult:
    """The outcome of `Simulation.run` (a snapshot: running further makes a new one).

    Times are simulated seconds. `ran_on` is where each key's reported result was
    computed (the last run the scheduler was told about); `runs` counts every finished
    run of a key, stale ones included, so a key recomputed after a worker loss counts
    more than once. `recomputations` is the sum of the runs beyond the first.
    `max_processing` is, per worker, the most tasks the scheduler ever had assigned to
    it at once, and `max_root_tasks` the same counting only tasks without inputs;
    `max_queued` is the most root tasks ever held back in the scheduler's queue, and
    `peak_memory` the most bytes each worker held at once.
    `log` lists what happened, in order, as plain tuples; `digest()` fingerprints it.
    """

    completed: bool
    completion_time: float | None
    end_time: float
    stalled: bool
    ran_on: dict
    runs: Counter
    reports: dict  # key -> (arrival time, "memory" | "erred" | "lost" | "cancelled")
    bytes_transferred: int
    transfers: int
    failed_transfers: int
    steals: int
    steal_requests: int
    stale_messages: int
    stale_completions: int
    max_processing: dict
    max_root_tasks: dict
    max_queued: int
    peak_memory: dict  # worker -> most bytes it held at once
    scheduler_events: int
    worker_events: int
    violations: list = field(default_factory=list)
    log: list = field(default_factory=list)

    @property
    def recomputations(self) -> int:
        return sum(n - 1 for n in self.runs.values() if n > 1)

    @property
    def recomputed(self) -> set:
        """Keys that finished running more than once."""
        return {key for key, n in self.runs.items() if n > 1}

    def digest(self) -> str:
        """A fingerprint of the log: equal runs have equal digests."""
        h = hashlib.sha256()
        for entry in self.log:
            h.update(repr(entry).encode())
            h.update(b"\n")
        return h.hexdigest()

    def summary(self) -> str:
        state = "completed" if self.completed else ("stalled" if self.stalled else "incomplete")
        when = f" at t={self.completion_time:.3f}s" if self.completion_time is not None else ""
        return (
            f"{state}{when}; {sum(self.runs.values())} runs ({self.recomputations} recomputed), "
            f"{self.transfers} transfers ({self.bytes_transferred:,} bytes), "
            f"{self.steals}/{self.steal_requests} steals confirmed, "
            f"{self.scheduler_events + self.worker_events:,} events handled"
        )
