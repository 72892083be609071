"""``WorkerState``: the worker's pure (sans-IO) state machine.

The server around it turns messages and callbacks into events, calls
``state.handle(*events)`` and carries out the instructions it returns, in
order. Nothing here touches a socket, thread, clock or random generator, so
every decision can be tested in microseconds, replayed from the log and run
by the thousand in a simulator.

States of a key on this worker (``WorkerTask.state``):

``waiting``   assigned by the scheduler; some inputs are not in memory yet.
``ready``     all inputs here; queued for a thread, smallest priority first.
``executing`` a run of the current attempt is on the executor.
``fetch``     an input of a local task, queued for a transfer from a peer.
``flight``    being transferred, in exactly one ``transfers[peer]`` batch.
``memory``    the value is in the data store (computed, fetched or scattered).
``error``     the current attempt raised; kept until the scheduler frees it.
``cancelled`` nobody wants the key any more, but a run or transfer of it is
              still in progress; it becomes ``released`` when that ends, or
              comes back to life if the key is wanted again before.
``released``  transient: a released task is forgotten before ``handle``
              returns.

Runs and transfers are bookkept apart from task states (``running``,
``transfers``), so that cancelling or re-assigning a task never needs nested
"previous/next" states: a key has at most one producer (run or transfer) at a
time, a new producer waits for the old one to report back, and a result is
applied only if its task still expects it. Every run carries the scheduler's
attempt id; a completion of any other attempt (stolen, cancelled, re-assigned)
is dropped, counted in ``stale_completions`` and never reported.

Policy. At most ``nthreads`` runs at once (stale runs still hold their
thread), highest priority first (the smallest ``priority`` tuple, as in Dask).
With ``executor_lookahead`` > 0, tasks of a kind known (from this worker's
runs) to take less than that many seconds may also be handed to the executor
while every thread is busy, up to about ``executor_lookahead`` seconds of them
per thread, so that a thread running tiny tasks goes from one to the next
without waiting for the event loop in between (they still run in priority
order, ``nthreads`` at a time; a task's kind is the first word of its key).
A task with large inputs, or of a kind with large outputs, is never queued so:
memory is accounted, spilled and paused on between such runs.
Inputs are fetched once however many local tasks need them, in priority
order, batched per peer up to ``transfer_batch_nbytes``, with at most
``max_incoming_transfers`` peers at a time and ``incoming_bytes_limit`` bytes
in flight: an idle peer whose most urgent key does not fit waits for room
rather than being overtaken by smaller keys, and one transfer may always
start, so a large key cannot stall. When a peer fails, the next holder is
tried; when none is left, each local task waiting for that input is reported
with ``SendMissingDependency`` and dropped, for the scheduler to reassign.
While paused, no run and no transfer starts. A value is kept while the
scheduler holds it here or a local task still needs it, and dropped otherwise;
copies fetched here are announced with ``SendAddKeys`` and their release with
``SendKeysReleased``.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import count
from typing import Any, NamedTuple

from worker import transitions
from worker.events import (
    CancelRequested,
    DataScattered,
    ExecuteRequested,
    FetchCompleted,
    FetchFailed,
    FreeKeysRequested,
    Key,
    PauseChanged,
    PeerMissingData,
    TaskCompleted,
    TaskRaised,
    WorkerEvent,
)
from worker.instructions import (
    FetchFromPeer,
    ReleaseData,
    SendAddKeys,
    SendKeysReleased,
    SendMissingDependency,
    SendTaskFinished,
    WorkerInstruction,
)
from worker.task import COMPUTING_STATES, ON_ITS_WAY_STATES, WorkerTask


#: Most tasks queued on the executor per thread by ``executor_lookahead``.
LOOKAHEAD_MAX = 16
#: A task whose inputs or (its kind's) output reach this many bytes is never queued
#: ahead: memory must be accounted, spilled and paused on between such runs.
LOOKAHEAD_MAX_NBYTES = 2**20


class InvalidWorkerTransition(Exception):
    """A transition the table does not allow; carries the task's story."""

    def __init__(self, key: Key, start: str, finish: str, story: list[WorkerLogEntry]):
        self.key, self.start, self.finish, self.story = key, start, finish, story
        lines = "\n  ".join(map(str, story[-20:]))
        super().__init__(f"{key!r}: {start} -> {finish}\n  {lines}")


class WorkerLogEntry(NamedTuple):
    """One line of the event log: an event, a transition or an instruction."""

    stimulus: int  #: Number of the event that caused it (1 for the first).
    kind: str  #: Event or instruction class name, or "transition".
    keys: tuple  #: Keys it is about.
    detail: tuple  #: (start, finish) for a transition; a short summary otherwise.


_new_entry = tuple.__new__  # builds a WorkerLogEntry without its Python-level __new__


@dataclass(slots=True)
class IncomingTransfer:
    """One outstanding ``FetchFromPeer``: its keys and estimated size."""

    keys: dict[Key, None]
    nbytes: int


_QueueEntry = tuple[tuple, int, Key]


class WorkerState:
    """Everything one worker knows; change it only through ``handle``."""

    def __init__(
        self,
        address: str,
        nthreads: int = 1,
        *,
        max_incoming_transfers: int = 4,
        incoming_bytes_limit: int = 256 * 2**20,
        transfer_batch_nbytes: int = 50 * 2**20,
        default_nbytes: int = 1024,
        executor_lookahead: float = 0.0,
        log_length: int = 100_000,
        validate: bool = False,
    ) -> None:
        if nthreads < 1 or max_incoming_transfers < 1:
            raise ValueError("nthreads and max_incoming_transfers must be >= 1")
        self.address = address
        self.nthreads = nthreads
        #: Seconds of short tasks queued on the executor per busy thread (0: none).
        self.executor_lookahead = executor_lookahead
        #: Most runs the executor may hold (``nthreads`` plus the lookahead's).
        self.max_runs = nthreads * (1 + (LOOKAHEAD_MAX if executor_lookahead > 0 else 0))
        #: Seconds a run of each task kind took here (running average).
        self.run_durations: dict[str, float] = {}
        #: Task kinds whose outputs, or memory while running, were large (see
        #: ``LOOKAHEAD_MAX_NBYTES``).
        self.bulky_kinds: set[str] = set()
        self.max_incoming_transfers = max_incoming_transfers
        self.incoming_bytes_limit = incoming_bytes_limit
        self.transfer_batch_nbytes = transfer_batch_nbytes
        self.default_nbytes = default_nbytes
        #: Check every invariant after each ``handle`` (for tests; slow).
        self.validate_after_handle = validate

        self.tasks: dict[Key, WorkerTask] = {}
        #: Runs on the executor: key -> attempt (includes stale runs).
        self.running: dict[Key, int] = {}
        #: Outstanding transfers, one per peer at most.
        self.transfers: dict[str, IncomingTransfer] = {}
        self.incoming_nbytes = 0
        self.paused = False
        #: Completions (or errors) of a non-current attempt, dropped unreported.
        self.stale_completions = 0
        self.log: deque[WorkerLogEntry] = deque(maxlen=log_length)
        self._logging = log_length > 0
        if not self._logging:  # no log (a simulation of many workers): not even its entries
            self._log = _skip_log  # type: ignore[method-assign]
        self.stimulus = 0

        # Priority queues (see _push_ready): ready tasks, and keys to fetch
        # queued under each of their holders.
        self._ready: list[_QueueEntry] = []
        self._fetch_by_peer: dict[str, list[_QueueEntry]] = {}
        self._queue_tag = count()
        self._queued = 0  # entries in all queues, live or dead
        self._compact_at = 4096

        # Per-event scratch, drained before ``handle`` moves to the next event.
        self._recs: deque[tuple[WorkerTask, str]] = deque()
        self._maybe_lost: dict[WorkerTask, None] = {}
        self._maybe_unneeded: dict[WorkerTask, None] = {}
        self._maybe_forget: dict[WorkerTask, None] = {}
        self._out: list[WorkerInstruction] = []
        self._to_release: dict[Key, None] = {}
        self._to_report_released: dict[Key, None] = {}

        self._handlers: dict[type, Callable[[Any], None]] = {
            ExecuteRequested: self._on_execute,
            FreeKeysRequested: self._on_free_keys,
            CancelRequested: self._on_cancel,
            TaskCompleted: self._on_task_completed,
            TaskRaised: self._on_task_raised,
            FetchCompleted: self._on_fetch_completed,
            FetchFailed: self._on_fetch_failed,
            PeerMissingData: self._on_peer_missing_data,
            DataScattered: self._on_data_scattered,
            PauseChanged: self._on_pause_changed,
        }

    def __repr__(self) -> str:
        return (
            f"<WorkerState {self.address} tasks={len(self.tasks)} "
            f"running={len(self.running)}/{self.nthreads} "
            f"transfers={len(self.transfers)}{' paused' if self.paused else ''}>"
        )

    # ------------------------------------------------------------------
    # The one entry point

    def handle(self, *events: WorkerEvent) -> list[WorkerInstruction]:
        """Apply ``events`` in order; return what the server must do, in order."""
        out: list[WorkerInstruction] = []
        for event in events:
            handler = self._handlers.get(type(event))
            if handler is None:
                raise TypeError(f"not a worker event: {event!r}")
            self.stimulus += 1
            if self._logging:
                self._log(type(event).__name__, event.keys_mentioned(), _summary(event))
            handler(event)
            self._settle()
            self._ensure_computing()
            self._ensure_communicating()
            self._settle()
            self._flush_releases()
            for instruction in self._out if self._logging else ():
                self._log(
                    type(instruction).__name__,
                    instruction.keys_mentioned(),
                    _summary(instruction),
                )
            out.extend(self._out)
            self._out = []
        if self.validate_after_handle:
            self.validate()
        return out

    # ------------------------------------------------------------------
    # Inspection

    def is_busy(self, key: Key) -> bool:
        """A run or a transfer of ``key`` is in progress."""
        return key in self.running or self.transfer_peer(key) is not None

    def transfer_peer(self, key: Key) -> str | None:
        """The peer ``key`` is being transferred from, if any."""
        ts = self.tasks.get(key)
        if ts is not None and ts.coming_from is not None:
            return ts.coming_from
        for peer, transfer in self.transfers.items():
            if key in transfer.keys:
                return peer
        return None

    def story(self, *keys: Key) -> list[WorkerLogEntry]:
        """Log entries about any of ``keys``, oldest first (bounded by the log)."""
        wanted = set(keys)
        return [e for e in self.log if wanted.intersection(e.keys)]

    def validate(self) -> None:
        """Raise ``AssertionError`` if any invariant is broken."""
        from worker.validation import validate_worker_state

        validate_worker_state(self)

    # ------------------------------------------------------------------
    # Event handlers: record what happened, recommend transitions

    def _on_execute(self, ev: ExecuteRequested) -> None:
        ts = self.tasks.get(ev.key) or self._new_task(ev.key)
        if ts.attempt == ev.attempt and ts.state in (*COMPUTING_STATES, "error"):
            return  # a duplicate of the assignment we already hold
        if ts.state == "memory":
            # Already here (computed earlier, fetched or scattered): report it.
            ts.attempt, ts.scheduler_holds, ts.announced = ev.attempt, True, True
            assert ts.nbytes is not None
            self._emit(
                SendTaskFinished(
                    ts.key, ev.attempt, ts.nbytes, ts.type_name, ts.start, ts.stop
                )
            )
            return
        ts.attempt, ts.payload, ts.scheduler_holds = ev.attempt, ev.payload, True
        old_priority, ts.priority = ts.priority, ev.priority
        deps_changed = self._link(ts, ev.who_has, ev.nbytes)
        if ts.state == "ready" and not deps_changed:
            if ts.priority != old_priority:
                self._push_ready(ts)
        elif ts.state == "waiting" and not deps_changed:
            pass
        else:
            if ts.state in COMPUTING_STATES:
                self._recommend(ts, "released")
            self._recommend(ts, "waiting")

    def _on_free_keys(self, ev: FreeKeysRequested) -> None:
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None:
                continue
            ts.scheduler_holds = False
            ts.announced = False  # the scheduler has already forgotten this copy
            if ts.state in COMPUTING_STATES:
                self._recommend(ts, "released")
            else:
                self._maybe_unneeded[ts] = None

    def _on_cancel(self, ev: CancelRequested) -> None:
        ts = self.tasks.get(ev.key)
        if ts is None or ts.attempt != ev.attempt:
            return  # an older assignment than the one held now, if any
        ts.scheduler_holds = False
        if ts.state in COMPUTING_STATES:
            self._recommend(ts, "released")
        else:
            # Finished before the cancel arrived: the scheduler drops that report
            # as stale, so drop the value too (and say so).
            self._maybe_unneeded[ts] = None

    def _on_task_completed(self, ev: TaskCompleted) -> None:
        self._learn_duration(ev.key, ev.stop - ev.start)
        if max(ev.nbytes, ev.running_nbytes) >= LOOKAHEAD_MAX_NBYTES and self.executor_lookahead > 0:
            self.bulky_kinds.add(task_kind(ev.key))
        ts = self._end_run(ev.key, ev.attempt, stored=True)
        if ts is None:
            return
        ts.nbytes, ts.type_name, ts.start, ts.stop, ts.running_nbytes = (
            ev.nbytes,
            ev.type_name,
            ev.start,
            ev.stop,
            ev.running_nbytes,
        )
        self._recommend(ts, "memory")

    def _on_task_raised(self, ev: TaskRaised) -> None:
        self._learn_duration(ev.key, ev.stop - ev.start)
        ts = self._end_run(ev.key, ev.attempt, stored=False)
        if ts is None:
            return
        ts.exception, ts.traceback, ts.start, ts.stop = (
            ev.exception,
            ev.traceback,
            ev.start,
            ev.stop,
        )
        self._recommend(ts, "error")

    def _learn_duration(self, key: Key, seconds: float) -> None:
        if self.executor_lookahead > 0 and seconds >= 0:
            kind = task_kind(key)
            old = self.run_durations.get(kind)
            self.run_durations[kind] = seconds if old is None else 0.5 * old + 0.5 * seconds

    def _end_run(self, key: Key, attempt: int, *, stored: bool) -> WorkerTask | None:
        """Close the run of ``attempt``; return its task if the result applies.

        Otherwise count it stale and, if the server ``stored`` a value for it,
        drop that value unless the key's current value is in memory.
        """
        ts = self.tasks.get(key)
        if self.running.get(key) == attempt:
            del self.running[key]
            assert ts is not None
            if ts.state == "executing" and ts.attempt == attempt:
                return ts
            self._after_operation(ts)
        self.stale_completions += 1
        if stored and (ts is None or ts.state != "memory"):
            self._release_data(key, tell_scheduler=False)
        return None

    def _after_operation(self, ts: WorkerTask) -> None:
        """A run or transfer of ``ts.key`` reported back: unblock what waited."""
        if self.is_busy(ts.key):
            return
        if ts.state == "cancelled":
            self._recommend(ts, "released")
        elif ts.state == "ready":
            self._push_ready(ts)
        elif ts.state == "fetch":
            self._push_fetch(ts)

    def _on_fetch_completed(self, ev: FetchCompleted) -> None:
        transfer = self._end_transfer(ev.peer)
        keys = transfer.keys if transfer is not None else {}
        landed = []
        for key in keys:
            ts = self.tasks[key]
            if key in ev.keys_nbytes:
                if ts.state == "flight":
                    ts.nbytes, ts.announced = ev.keys_nbytes[key], True
                    ts.type_name, ts.start, ts.stop = "", 0.0, 0.0
                    landed.append(key)
                    self._recommend(ts, "memory")
                elif ts.state != "memory":
                    self._release_data(key, tell_scheduler=False)
            else:
                self._holder_failed(ts, ev.peer)
                if ts.state == "flight":
                    self._recommend(ts, "fetch")
            self._after_operation(ts)
        for key in ev.keys_nbytes:
            if key not in keys:
                t = self.tasks.get(key)
                if t is None or t.state != "memory":
                    self._release_data(key, tell_scheduler=False)
        if landed:
            self._emit(SendAddKeys(tuple(landed)))

    def _on_fetch_failed(self, ev: FetchFailed) -> None:
        transfer = self._end_transfer(ev.peer)
        # The peer is presumed gone: stop counting on it for anything.
        for ts in self.tasks.values():
            if ev.peer in ts.who_has:
                self._holder_failed(ts, ev.peer)
                if ts.state == "fetch" and not ts.who_has:
                    self._recommend(ts, "released")
        for key in transfer.keys if transfer is not None else ():
            ts = self.tasks[key]
            self._holder_failed(ts, ev.peer)
            if ts.state == "flight":
                self._recommend(ts, "fetch")
            self._after_operation(ts)

    def _on_peer_missing_data(self, ev: PeerMissingData) -> None:
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is None:
                continue
            self._holder_failed(ts, ev.peer)
            if ts.state == "fetch" and not ts.who_has:
                self._recommend(ts, "released")

    def _on_data_scattered(self, ev: DataScattered) -> None:
        for key, nbytes in ev.keys_nbytes.items():
            ts = self.tasks.get(key) or self._new_task(key)
            ts.nbytes, ts.scheduler_holds, ts.announced = nbytes, True, True
            if ts.state == "memory":
                continue
            ts.type_name, ts.start, ts.stop = "", 0.0, 0.0
            if ts.state == "executing":
                self._recommend(ts, "released")  # the run goes on, but stale
            self._recommend(ts, "memory")

    def _on_pause_changed(self, ev: PauseChanged) -> None:
        self.paused = ev.paused

    # ------------------------------------------------------------------
    # Helpers of the handlers

    def _new_task(self, key: Key, nbytes: int | None = None) -> WorkerTask:
        ts = self.tasks[key] = WorkerTask(key, nbytes)
        self._maybe_forget[ts] = None
        return ts

    def _link(
        self,
        ts: WorkerTask,
        who_has: Mapping[Key, Iterable[str]],
        nbytes: Mapping[Key, int],
    ) -> bool:
        """Set ``ts``'s dependencies from an assignment; True if they changed."""
        deps: dict[WorkerTask, None] = {}
        for key in (*who_has, *nbytes):
            if key == ts.key:
                continue
            dep = self.tasks.get(key)
            if dep is None:
                dep = self._new_task(key)
            if dep.state != "memory":
                dep.nbytes = nbytes.get(key, dep.nbytes or self.default_nbytes)
            holders = {h for h in who_has.get(key, ()) if h != self.address}
            requeue = not holders <= dep.who_has
            dep.who_has |= holders
            if dep.attempt is None or dep.state not in COMPUTING_STATES:
                # An input takes the most urgent priority of the tasks needing it.
                others = dep.computing_dependents - (
                    ts in dep.dependents and ts.state in COMPUTING_STATES
                )
                best = min(dep.priority, ts.priority) if others else ts.priority
                requeue = requeue or best != dep.priority
                dep.priority = best
            if requeue and dep.state == "fetch":
                self._push_fetch(dep)
            deps[dep] = None
        changed = deps.keys() != ts.dependencies.keys()
        computing = ts.state in COMPUTING_STATES
        for dep in ts.dependencies:
            if dep not in deps:
                del dep.dependents[ts]
                dep.computing_dependents -= computing
                self._maybe_unneeded[dep] = None
        for dep in deps:
            if ts not in dep.dependents:
                dep.dependents[ts] = None
                dep.computing_dependents += computing
        ts.dependencies = deps
        return changed

    def _end_transfer(self, peer: str) -> IncomingTransfer | None:
        transfer = self.transfers.pop(peer, None)
        if transfer is not None:
            self.incoming_nbytes -= transfer.nbytes
            for key in transfer.keys:
                ts = self.tasks[key]
                if ts.coming_from == peer:
                    ts.coming_from = None
        return transfer

    def _holder_failed(self, ts: WorkerTask, peer: str) -> None:
        ts.who_has.discard(peer)
        ts.failed_holders.add(peer)

    def _is_needed(self, ts: WorkerTask) -> bool:
        """The scheduler holds it here, or a local task still needs it."""
        return ts.scheduler_holds or ts.computing_dependents > 0

    # ------------------------------------------------------------------
    # Transitions

    def _recommend(self, ts: WorkerTask, finish: str) -> None:
        self._recs.append((ts, finish))

    def _transition(self, ts: WorkerTask, finish: str) -> None:
        start = ts.state
        if start == finish:
            return
        fn = transitions.TRANSITIONS.get((start, finish))
        if fn is not None:
            fn(self, ts)
            self._log("transition", (ts.key,), (start, ts.state))
            delta = (ts.state in COMPUTING_STATES) - (start in COMPUTING_STATES)
            if delta:
                for dep in ts.dependencies:
                    dep.computing_dependents += delta
            return
        table = transitions.TRANSITIONS
        if (start, "released") in table and (
            ("released", finish) in table or ("cancelled", finish) in table
        ):
            self._transition(ts, "released")
            if (ts.state, finish) in table:
                self._transition(ts, finish)
                return
        raise InvalidWorkerTransition(ts.key, start, finish, self.story(ts.key))

    def _settle(self) -> None:
        """Drain recommendations, then the deferred whole-picture checks."""
        while True:
            while self._recs:
                ts, finish = self._recs.popleft()
                if self.tasks.get(ts.key) is ts and not _void(ts, finish):
                    self._transition(ts, finish)
            if self._maybe_lost:
                pending, self._maybe_lost = self._maybe_lost, {}
                for ts in pending:
                    self._check_lost(ts)
            elif self._maybe_unneeded:
                pending, self._maybe_unneeded = self._maybe_unneeded, {}
                for ts in pending:
                    if (
                        self.tasks.get(ts.key) is ts
                        and ts.state in ("fetch", "flight", "memory", "error")
                        and not self._is_needed(ts)
                    ):
                        self._recommend(ts, "released")
            elif self._maybe_forget:
                pending, self._maybe_forget = self._maybe_forget, {}
                for ts in pending:
                    if self.tasks.get(ts.key) is ts and ts.state == "released":
                        self._forget(ts)
            else:
                return

    def _check_lost(self, ts: WorkerTask) -> None:
        """If ``ts`` can no longer land, drop the local tasks waiting for it."""
        if ts.state in ON_ITS_WAY_STATES or ts.state == "memory":
            return
        holders = tuple(sorted(ts.failed_holders))
        for dependent in ts.dependents:
            if dependent.state == "waiting" and ts in dependent.waiting_for:
                assert dependent.attempt is not None
                self._emit(
                    SendMissingDependency(
                        dependent.key, dependent.attempt, ts.key, holders
                    )
                )
                dependent.scheduler_holds = False
                self._recommend(dependent, "released")

    def _forget(self, ts: WorkerTask) -> None:
        del self.tasks[ts.key]
        ts.state = "forgotten"
        self._log("transition", (ts.key,), ("released", "forgotten"))
        for dep in ts.dependencies:
            dep.dependents.pop(ts, None)
            self._maybe_unneeded[dep] = None
        for dependent in ts.dependents:
            dependent.dependencies.pop(ts, None)
            assert ts not in dependent.waiting_for, (ts, dependent)
        ts.dependencies, ts.dependents = {}, {}

    # ------------------------------------------------------------------
    # Starting runs and transfers

    # Both queues are heaps of (priority, tag, key) with lazy deletion: an entry
    # is live while its task is in the queue's state and still carries the tag.
    # A busy key (a stale run or transfer of it in progress) is dropped from the
    # queues and pushed again by ``_after_operation``.

    def _push_ready(self, ts: WorkerTask) -> None:
        ts.queue_seq = next(self._queue_tag)
        heapq.heappush(self._ready, (ts.priority, ts.queue_seq, ts.key))
        self._queued += 1

    def _push_fetch(self, ts: WorkerTask) -> None:
        ts.queue_seq = entry_tag = next(self._queue_tag)
        entry = (ts.priority, entry_tag, ts.key)
        for peer in ts.who_has:
            heapq.heappush(self._fetch_by_peer.setdefault(peer, []), entry)
        self._queued += len(ts.who_has)

    def _live(self, entry: _QueueEntry, state: str) -> WorkerTask | None:
        ts = self.tasks.get(entry[2])
        if ts is None or ts.state != state or ts.queue_seq != entry[1]:
            return None
        return ts

    def _ensure_computing(self) -> None:
        if self.paused:
            return
        while self._ready and (len(self.running) < self.nthreads or self._may_queue(self._ready[0])):
            entry = heapq.heappop(self._ready)
            self._queued -= 1
            ts = self._live(entry, "ready")
            if ts is not None and not self.is_busy(ts.key):
                self._transition(ts, "executing")

    def _may_queue(self, entry: _QueueEntry) -> bool:
        """Whether the most urgent ready entry may wait on the executor for a thread
        (see ``executor_lookahead``); True for a dead entry, which is only dropped."""
        if self.executor_lookahead <= 0 or len(self.running) >= self.max_runs:
            return False
        ts = self._live(entry, "ready")
        if ts is None:
            return True
        kind = task_kind(ts.key)
        duration = self.run_durations.get(kind)
        if duration is None or duration >= self.executor_lookahead or kind in self.bulky_kinds:
            return False
        if sum(self._nbytes(dep) for dep in ts.dependencies) >= LOOKAHEAD_MAX_NBYTES:
            return False
        per_thread = self.executor_lookahead / duration if duration > 0 else LOOKAHEAD_MAX
        return len(self.running) < self.nthreads * (1 + min(int(per_thread), LOOKAHEAD_MAX))

    def _peer_top(self, peer: str) -> WorkerTask | None:
        """The most urgent key still to fetch from ``peer``, dropping dead entries."""
        queue = self._fetch_by_peer[peer]
        while queue:
            ts = self._live(queue[0], "fetch")
            if ts is not None and peer in ts.who_has and not self.is_busy(ts.key):
                return ts
            heapq.heappop(queue)
            self._queued -= 1
        del self._fetch_by_peer[peer]
        return None

    def _ensure_communicating(self) -> None:
        """Start transfers from idle peers, most urgent key first, within limits."""
        while not self.paused and len(self.transfers) < self.max_incoming_transfers:
            best: tuple | None = None
            for peer in list(self._fetch_by_peer):
                if peer in self.transfers or (ts := self._peer_top(peer)) is None:
                    continue
                fits = (
                    self.incoming_nbytes + self._nbytes(ts) <= self.incoming_bytes_limit
                    or not self.transfers  # one transfer may always start
                )
                rank = (ts.priority, ts.queue_seq, peer)
                if fits and (best is None or rank < best[0]):
                    best = (rank, peer, ts)
            if best is None:
                break
            self._start_transfer(best[1], best[2])
        if self._queued > self._compact_at:
            self._compact_queues()

    def _start_transfer(self, peer: str, first: WorkerTask) -> None:
        """Batch ``peer``'s most urgent keys (``first`` at the top), within budget."""
        budget = min(
            self.transfer_batch_nbytes, self.incoming_bytes_limit - self.incoming_nbytes
        )
        batch: list[WorkerTask] = []
        total = 0
        while (ts := self._peer_top(peer)) is not None:
            if batch and total + self._nbytes(ts) > budget:
                break
            assert batch or ts is first
            heapq.heappop(self._fetch_by_peer[peer])
            self._queued -= 1
            batch.append(ts)
            total += self._nbytes(ts)
            transitions.fetch_to_flight(self, ts, peer)
            self._log("transition", (ts.key,), ("fetch", "flight"))
        keys = tuple(ts.key for ts in batch)
        self.transfers[peer] = IncomingTransfer(dict.fromkeys(keys), total)
        self.incoming_nbytes += total
        self._emit(FetchFromPeer(peer, keys, total))

    def _nbytes(self, ts: WorkerTask) -> int:
        return ts.nbytes if ts.nbytes is not None else self.default_nbytes

    def _compact_queues(self) -> None:
        """Drop dead queue entries, so lazy deletion cannot grow without bound."""
        self._ready = [e for e in self._ready if self._live(e, "ready")]
        heapq.heapify(self._ready)
        by_peer: dict[str, list[_QueueEntry]] = {}
        for peer, queue in self._fetch_by_peer.items():
            live = [
                e
                for e in queue
                if (ts := self._live(e, "fetch")) is not None and peer in ts.who_has
            ]
            if live:
                heapq.heapify(live)
                by_peer[peer] = live
        self._fetch_by_peer = by_peer
        self._queued = len(self._ready) + sum(map(len, by_peer.values()))
        self._compact_at = max(4096, 2 * self._queued)

    # ------------------------------------------------------------------
    # Output and log

    def _emit(self, instruction: WorkerInstruction) -> None:
        self._out.append(instruction)

    def _release_data(self, key: Key, *, tell_scheduler: bool) -> None:
        self._to_release[key] = None
        if tell_scheduler:
            self._to_report_released[key] = None

    def _flush_releases(self) -> None:
        if self._to_release:
            self._emit(ReleaseData(tuple(self._to_release)))
            self._to_release = {}
        if self._to_report_released:
            self._emit(SendKeysReleased(tuple(self._to_report_released)))
            self._to_report_released = {}

    def _log(self, kind: str, keys: tuple, detail: tuple) -> None:
        self.log.append(_new_entry(WorkerLogEntry, (self.stimulus, kind, keys, detail)))


def _skip_log(kind: str, keys: tuple, detail: tuple) -> None:
    """``WorkerState._log`` of a state without a log (``log_length=0``)."""


def task_kind(key: Key) -> str:
    """The first word of a key's name: ``"inc-1f3a" -> "inc"``, ``("x-1", 0) -> "x"``."""
    name = key[0] if type(key) is tuple and key else key
    return name.partition("-")[0] if type(name) is str else str(name)


def _void(ts: WorkerTask, finish: str) -> bool:
    """A recommendation overtaken by an earlier one in the same event.

    ``ready`` follows the last input landing, ``fetch`` a need for an input;
    either is moot once the task has moved on (e.g. its value was scattered).
    """
    if finish == "ready":
        return ts.state != "waiting" or bool(ts.waiting_for)
    if finish == "fetch":
        return ts.state == "memory" or ts.state in COMPUTING_STATES
    return False


_SUMMARY_FIELDS = ("attempt", "peer", "paused", "reason", "missing", "holders")
_summary_fields: dict[type, tuple[str, ...]] = {}  # per class: which of those it has


def _summary(item: WorkerEvent | WorkerInstruction) -> tuple:
    """A few small fields of an event or instruction, for the log."""
    cls = type(item)
    names = _summary_fields.get(cls)
    if names is None:
        names = _summary_fields[cls] = tuple(n for n in _SUMMARY_FIELDS if hasattr(cls, n))
    if len(names) == 1:  # the common case: just the attempt
        return ((names[0], getattr(item, names[0])),)
    return tuple([(name, getattr(item, name)) for name in names])
