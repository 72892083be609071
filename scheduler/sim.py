"""A tiny deterministic cluster simulator around one `SchedulerState`.

Fake workers obey the commands (`Execute`, `FreeKeys`, `CancelExecution`, `RequestSteal`,
`CloseWorker`) on a simulated clock: each runs up to `nthreads` tasks at a time, best
priority first, finishing after `duration(key)` simulated seconds. A running task holds
`running_nbytes(key)` bytes until it finishes; a worker's memory (results plus running
tasks) is reported with each heartbeat and its peak kept in `FakeWorker.peak_memory`.
Inputs are "fetched"
instantly when a task starts, and a fetch from a holder that lost the key produces
`TaskMissingDependency`. No sockets, threads or real time: the same script always yields
the same run. Meant for tests and for profiling the state machine; the full simulator
with real `WorkerState`s belongs to `pardata.testing`.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from typing import Callable

from .commands import (
    CancelExecution,
    CloseWorker,
    Execute,
    FreeKeys,
    ReportCancelled,
    ReportErred,
    ReportInMemory,
    ReportLost,
    RequestSteal,
)
from .events import (
    StealConfirmed,
    StealRefused,
    TaskErred,
    TaskFinished,
    TaskMissingDependency,
    Tick,
    WorkerHeartbeat,
    WorkerJoined,
    WorkerLeft,
)
from .state import SchedulerState


class FakeWorker:
    """A worker that runs tasks on the simulated clock and keeps results by key."""

    def __init__(self, name: str, nthreads: int, memory_limit: int = 0):
        self.name = name
        self.nthreads = nthreads
        self.memory_limit = memory_limit
        self.alive = True
        self.running_memory = 0  # bytes held by the tasks running now
        self.peak_memory = 0  # the most ever held: results plus running tasks
        self.data: dict = {}  # key -> nbytes
        self.ready: list = []  # heap of (priority, seq, Execute)
        self.running: dict = {}  # (key, attempt) -> Execute
        self.dropped: set = set()  # (key, attempt) cancelled before starting

    @property
    def memory(self) -> int:
        return sum(self.data.values()) + self.running_memory

    def note_memory(self) -> None:
        self.peak_memory = max(self.peak_memory, self.memory)


class Simulator:
    """Route commands between a `SchedulerState` and `FakeWorker`s.

    `duration(key)` and `nbytes(key)` shape the tasks; `fails(key, attempt)` makes a task
    raise. `validate_every` validates the scheduler after that many handled batches
    (0: never). `executions` counts how many times each key ran to completion.
    """

    def __init__(
        self,
        state: SchedulerState | None = None,
        *,
        duration: Callable = lambda key: 0.01,
        nbytes: Callable = lambda key: 8,
        running_nbytes: Callable = lambda key: 0,
        fails: Callable = lambda key, attempt: False,
        validate_every: int = 1,
        tick_interval: float | None = None,
    ):
        self.state = state if state is not None else SchedulerState()
        self.duration = duration
        self.nbytes = nbytes
        self.running_nbytes = running_nbytes
        self.fails = fails
        self.validate_every = validate_every
        self.tick_interval = tick_interval
        self.time = 0.0
        self.workers: dict = {}
        self.executions: Counter = Counter()
        self.reports: dict = {}  # (client, key) -> last report command
        self.handled = 0
        self._heap: list = []
        self._seq = itertools.count()
        self._batches = 0
        self._next_tick = tick_interval

    # --- driving ---------------------------------------------------------------------

    def send(self, *events) -> list:
        commands = self.state.handle(*events)
        self.handled += len(events)
        self._batches += 1
        if self.validate_every and self._batches % self.validate_every == 0:
            self.state.validate()
        for command in commands:
            self._apply(command)
        return commands

    def at(self, delay: float, action: Callable) -> None:
        heapq.heappush(self._heap, (self.time + delay, next(self._seq), action))

    def join(self, name: str, nthreads: int = 1, resources=None, memory_limit: int = 0) -> FakeWorker:
        worker = self.workers[name] = FakeWorker(name, nthreads, memory_limit)
        self.send(WorkerJoined(name, nthreads, memory_limit, dict(resources or {}), self.time))
        return worker

    def kill(self, name: str, reason: str = "killed by the simulator") -> None:
        self.workers[name].alive = False
        self.send(WorkerLeft(name, reason, self.time))

    def run(self, until: float | None = None, max_steps: int = 10_000_000) -> None:
        """Advance the clock until nothing is scheduled (or `until`)."""
        for _ in range(max_steps):
            if self._next_tick is not None and (not self._heap or self._heap[0][0] > self._next_tick):
                if not self._heap and not self._work_left():
                    return
                self.time = self._next_tick
                self._next_tick += self.tick_interval
                beats = [
                    WorkerHeartbeat(w.name, self.time, sum(w.data.values()), w.memory)
                    for w in self.workers.values()
                    if w.alive
                ]
                self.send(*beats, Tick(self.time))
                if until is not None and self.time >= until:
                    return
                continue
            if not self._heap:
                return
            when, _, action = self._heap[0]
            if until is not None and when > until:
                self.time = until
                return
            heapq.heappop(self._heap)
            self.time = when
            action()
        raise RuntimeError("simulation did not settle")

    def _work_left(self) -> bool:
        counts = self.state.task_states_counts()
        return any(counts[s] for s in ("waiting", "queued", "processing", "no-worker"))

    # --- commands --------------------------------------------------------------------

    def _apply(self, command) -> None:
        kind = type(command)
        if kind is Execute:
            worker = self.workers.get(command.worker)
            if worker is not None and worker.alive:
                heapq.heappush(worker.ready, (command.priority, next(self._seq), command))
                self._start(worker)
        elif kind is FreeKeys:
            worker = self.workers.get(command.worker)
            if worker is not None:
                for key in command.keys:
                    worker.data.pop(key, None)
        elif kind is CancelExecution:
            worker = self.workers.get(command.worker)
            if worker is not None:
                worker.dropped.add((command.key, command.attempt))
        elif kind is RequestSteal:
            self._steal(command)
        elif kind is CloseWorker:
            worker = self.workers.get(command.worker)
            if worker is not None:
                worker.alive = False
        elif kind in (ReportInMemory, ReportErred, ReportCancelled, ReportLost):
            self.reports[(command.client, command.key)] = command

    def _steal(self, command: RequestSteal) -> None:
        worker = self.workers.get(command.worker)
        if worker is None or not worker.alive:
            return
        for i, (_, _, ex) in enumerate(worker.ready):
            if ex.key == command.key and ex.attempt == command.attempt:
                worker.ready.pop(i)
                heapq.heapify(worker.ready)
                event = StealConfirmed(worker.name, command.key, command.attempt, self.time)
                break
        else:
            event = StealRefused(worker.name, command.key, command.attempt, self.time)
        self.at(0.0, lambda: self.send(event) if worker.alive else None)

    def _start(self, worker: FakeWorker) -> None:
        while worker.alive and worker.ready and len(worker.running) < worker.nthreads:
            _, _, ex = heapq.heappop(worker.ready)
            token = (ex.key, ex.attempt)
            if token in worker.dropped:
                worker.dropped.discard(token)
                continue
            missing = self._missing_input(ex)
            if missing is not None:
                dep, holder = missing
                self.at(0.0, lambda ex=ex, dep=dep, holder=holder, w=worker: self._report_missing(w, ex, dep, holder))
                continue
            worker.running[token] = ex
            worker.running_memory += self.running_nbytes(ex.key)
            worker.note_memory()
            self.at(self.duration(ex.key), lambda w=worker, t=token: self._finish(w, t))

    def _missing_input(self, ex: Execute):
        for dep, holders in ex.who_has.items():
            if not any(
                (h := self.workers.get(name)) is not None and h.alive and dep in h.data for name in holders
            ):
                return dep, holders[0] if holders else ""
        return None

    def _report_missing(self, worker: FakeWorker, ex: Execute, dep, holder: str) -> None:
        if worker.alive:
            self.send(TaskMissingDependency(worker.name, ex.key, ex.attempt, dep, holder, self.time))

    def _finish(self, worker: FakeWorker, token) -> None:
        if not worker.alive:
            return
        ex = worker.running.pop(token)
        worker.dropped.discard(token)
        key, attempt = token
        running = self.running_nbytes(key)
        worker.running_memory -= running
        duration = self.duration(key)
        if self.fails(key, attempt):
            self.send(TaskErred(worker.name, key, attempt, b"pickled-exception", "Traceback: boom", self.time))
        else:
            nbytes = self.nbytes(key)
            worker.data[key] = nbytes
            worker.note_memory()
            self.executions[key] += 1
            self.send(TaskFinished(worker.name, key, attempt, nbytes, duration, self.time, running))
        self._start(worker)
