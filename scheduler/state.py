"""`SchedulerState`: the central scheduler as a pure state machine.

`state.handle(*events) -> list[SchedulerCommand]` is the only entry point. There are no
sockets, clocks, threads or randomness inside: the server turns messages into events,
sends the commands back out, and feeds a `Tick(now)` periodically. Every decision is
deterministic, so a recorded event log replays to the same commands.

Task states
    released    known (with its lineage), not in memory, not scheduled
    waiting     needed; some inputs are not in memory yet
    queued      a root task (no inputs, no restrictions), ready, held at the scheduler
                until a worker has a free slot
    no-worker   ready, but no connected worker satisfies its restrictions right now
    processing  sent to one worker (`Execute`) under an attempt id
    memory      held by one or more workers
    erred       failed (it raised, its workers kept dying, or an input failed)
    forgotten   dropped: nothing wants it and nothing downstream could need it again

Policy
    *Reference counting.* A task is needed while a client wants it or a dependent in an
    active state (waiting, queued, no-worker, processing) still needs its result. A
    result nobody needs is freed on its workers (`FreeKeys`); the task stays `released`
    while a dependent exists, so a lost result can be recomputed from lineage, and is
    forgotten when its last dependent is.

    *Placement.* A ready task goes to the worker where it would start soonest: queued
    work per thread plus the transfer time of the inputs it lacks (see `placement`).
    Candidates are the workers holding its inputs plus one idle worker; `workers=` and
    `resources=` restrictions filter them, and resources are held while a task runs.

    *Memory-aware queuing.* Root tasks wait in `queued` and are released in priority
    order, only into free slots (`ceil(worker_saturation * nthreads)` tasks per worker),
    so workers do not load far more input than they can reduce. With
    `worker_saturation=inf` root tasks are placed like any other task. A slot is filled
    only if the memory the task needs (its output, or more while it runs) fits in the
    worker's free memory (`admission`: both sizes are learned per task prefix, and the
    first task of an unknown prefix runs alone on a worker); paused workers get nothing.

    *Short root tasks.* Those slots keep a thread busy only while a task outlasts the
    round trip that refills them. A root task whose prefix is known (learned from
    finished tasks) to take `d < root_pipeline` seconds and need `b` bytes (output or
    running memory) gets `nthreads * min(root_pipeline / d, root_pipeline_nbytes / b)`
    slots instead (at most `ROOT_PIPELINE_MAX` per thread), so a worker holds about
    `root_pipeline` seconds of such work and its batches of results and assignments grow
    with the rate. Tasks needing much memory keep the plain slots: the protection stays.

    *Restarted workers.* A worker restarted by its nanny lists the results it found
    spilled on its disk when it joins; those still needed become `memory` there instead
    of being recomputed.

    *Work stealing.* On `Tick`, and when a worker runs short of work while nothing is
    queued, tasks beyond a saturated worker's thread count move to idle workers when
    they would start sooner there. The move is two-phase (`RequestSteal`, answered by
    `StealConfirmed` or `StealRefused`) so a task that already started is never run
    twice.

    *Failures.* Every `Execute` has a fresh attempt id (monotonic across the whole
    state); a completion quoting another attempt, or from a worker the task is not
    assigned to, is dropped and counted in `stale_messages`. A task that raises is
    retried while it has `retries` left; then it and everything downstream is erred. A
    dead worker's running tasks are rescheduled and the keys only it held are recomputed;
    a task whose workers died `allowed_failures` times is erred with a `KilledWorker`
    reason naming the task and the workers. Workers silent for `heartbeat_timeout`
    seconds are removed on `Tick`.
"""

from __future__ import annotations

import heapq
import math
from collections import deque

from . import admission, placement
from .commands import (
    CancelExecution,
    CloseWorker,
    Execute,
    FreeKeys,
    ReportCancelled,
    ReportInMemory,
    RequestSteal,
    SchedulerCommand,
)
from .events import (
    CancelRequested,
    ClientLeft,
    ClientReleasedKeys,
    DataScattered,
    GraphSubmitted,
    KeysDropped,
    KeysReplicated,
    SchedulerEvent,
    StealConfirmed,
    StealRefused,
    TaskErred,
    TaskFinished,
    TaskMissingDependency,
    Tick,
    WorkerHeartbeat,
    WorkerJoined,
    WorkerLeft,
    WorkersJoined,
)
from .queries import QueriesMixin
from .shuffle_runs import ShuffleRunRequested, ShuffleRunsMixin
from .records import (
    ALL_STATES,
    ERRED,
    MEMORY,
    NO_WORKER,
    PROCESSING,
    QUEUED,
    RELEASED,
    WAITING,
    SchedulerTask,
    SchedulerWorker,
)
from .submission import SubmissionMixin
from .transitions import TransitionsMixin


# Most short root tasks one worker thread holds (see "Short root tasks").
ROOT_PIPELINE_MAX = 1000

# When a worker runs short of work between ticks, it looks at this many saturated workers
# for something to steal (bounded work per event); a Tick looks at all of them.
STEAL_VICTIMS_ON_IDLE = 8


class SchedulerState(TransitionsMixin, SubmissionMixin, QueriesMixin, ShuffleRunsMixin):
    """All the scheduler knows, and the rules that change it. See the module docstring."""

    def __init__(
        self,
        *,
        worker_saturation: float = 1.1,
        allowed_failures: int = 3,
        heartbeat_timeout: float = 60.0,
        work_stealing: bool = True,
        bandwidth: float = 100e6,
        transfer_latency: float = 1e-3,
        default_task_duration: float = 0.5,
        memory_admission: float = 0.8,
        root_pipeline: float = 0.01,
        root_pipeline_nbytes: int = 2**20,
        log_length: int = 100_000,
        validate: bool = False,
    ):
        if not worker_saturation > 0:
            raise ValueError(f"worker_saturation must be > 0, got {worker_saturation!r}")
        self.worker_saturation = worker_saturation
        self.allowed_failures = allowed_failures
        self.heartbeat_timeout = heartbeat_timeout
        self.work_stealing = work_stealing
        self.bandwidth = bandwidth
        self.transfer_latency = transfer_latency
        self.default_task_duration = default_task_duration
        self.memory_admission = memory_admission  # fraction of a worker's memory limit
        self.root_pipeline = root_pipeline  # seconds of short root tasks per thread
        self.root_pipeline_nbytes = root_pipeline_nbytes  # their output bytes per thread
        self.validate_every_handle = validate
        self.queuing = math.isfinite(worker_saturation)  # root tasks wait for free slots

        self.tasks: dict = {}  # key -> SchedulerTask
        self.workers: dict = {}  # name -> SchedulerWorker
        self.clients: dict = {}  # client -> {SchedulerTask: None} it wants
        self.unrunnable: dict = {}  # tasks in no-worker, {ts: None}
        self.stale_messages = 0
        self.now = 0.0

        self._counts = dict.fromkeys(ALL_STATES, 0)
        self._durations: dict = {}  # task prefix -> estimated seconds
        self._output_nbytes: dict = {}  # task prefix -> estimated output bytes
        self._running_nbytes: dict = {}  # task prefix -> estimated memory used while running
        self._running: dict = {}  # workers not paused, {ws: None}
        self._idle: dict = {}  # running workers with a free thread
        self._saturated: dict = {}  # workers holding more tasks than threads
        self._steals: dict = {}  # task -> thief, while a RequestSteal is unanswered
        self._queue: list = []  # heap of (priority, token, ts) for queued tasks
        self._queue_token = 0
        self._root_block: tuple = (None, 0)  # (worker, roots it still takes) without queuing
        self._queue_dirty = False  # tasks were queued: offer them to every worker
        self._unrunnable_dirty = False  # workers or resources appeared: retry no-worker
        self._freed: dict = {}  # workers whose load dropped during this event
        self._recs: dict = {}
        self._ready: list = []  # heap of (priority, token, ts) recommended for placement
        self._ready_token = 0
        self._out: list = []
        self._pending_free: dict = {}  # worker name -> [keys], coalesced FreeKeys
        self._log: deque = deque(maxlen=log_length)
        self._stimulus = 0
        self._attempts = 0
        self._task_seq = 0
        self._worker_seq = 0
        self._generation = 0
        self._init_shuffle_runs()

        self._table = self._transition_table()
        self._handlers = {
            WorkerJoined: self._on_worker_joined,
            WorkersJoined: self._on_workers_joined,
            WorkerLeft: self._on_worker_left,
            WorkerHeartbeat: self._on_heartbeat,
            Tick: self._on_tick,
            GraphSubmitted: self._on_graph_submitted,
            ClientReleasedKeys: self._on_client_released,
            ClientLeft: self._on_client_left,
            CancelRequested: self._on_cancel_requested,
            DataScattered: self._on_data_scattered,
            TaskFinished: self._on_task_finished,
            TaskErred: self._on_task_erred,
            TaskMissingDependency: self._on_missing_dependency,
            StealConfirmed: self._on_steal_confirmed,
            StealRefused: self._on_steal_refused,
            KeysReplicated: self._on_keys_replicated,
            KeysDropped: self._on_keys_dropped,
            ShuffleRunRequested: self._on_shuffle_run_requested,
        }

    # --- entry point -----------------------------------------------------------------

    def handle(self, *events: SchedulerEvent) -> list[SchedulerCommand]:
        """Apply events in order; return the commands to send, in order."""
        out = self._out = []
        for event in events:
            handler = self._handlers.get(type(event))
            if handler is None:
                raise TypeError(f"not a scheduler event: {event!r}")
            self._stimulus += 1
            self._log.append(("event", self._stimulus, event))
            now = getattr(event, "now", None)
            if now is not None and now > self.now:
                self.now = now
            handler(event)
            self._settle(offer=False)
        self._settle()  # capacity freed by all the events is offered once, at the end
        self._flush_frees()
        if self.validate_every_handle:
            self.validate()
        return out

    def _emit(self, command: SchedulerCommand) -> None:
        worker = getattr(command, "worker", None)
        if worker is not None and worker in self._pending_free:
            self._flush_frees(worker)  # keep per-worker order: frees before what follows
        self._out.append(command)
        self._log.append(("command", self._stimulus, command))

    def _free(self, ws: SchedulerWorker, key) -> None:
        if self.workers.get(ws.name) is ws:
            self._pending_free.setdefault(ws.name, []).append(key)

    def _flush_frees(self, worker: str | None = None) -> None:
        names = [worker] if worker is not None else list(self._pending_free)
        for name in names:
            keys = self._pending_free.pop(name)
            command = FreeKeys(name, tuple(keys))
            self._out.append(command)
            self._log.append(("command", self._stimulus, command))

    def _stale(self, event: SchedulerEvent, key, why: str) -> None:
        self.stale_messages += 1
        self._log.append(("stale", self._stimulus, key, why))

    def _settle(self, offer: bool = True) -> None:
        """Drain recommendations, then offer freed capacity to queued and parked work.

        With ``offer=False`` freed capacity is only noted (``_freed``, ``_queue_dirty``):
        a batch of results from a worker then refills its slots once, not once per result.
        """
        recs = self._recs
        ready = self._ready
        while True:
            while recs or ready:
                while recs:
                    ts, (finish, kwargs) = recs.popitem()
                    self._transition(ts, finish, **kwargs)
                if ready:
                    ts = heapq.heappop(ready)[2]
                    if ts.state == WAITING or ts.state == NO_WORKER:
                        self._transition(ts, PROCESSING)
            if self._unrunnable_dirty:
                self._unrunnable_dirty = False
                if self.unrunnable:
                    self._retry_unrunnable()
            if not offer:
                pass
            elif self._counts[QUEUED] and (self._queue_dirty or self._freed):
                self._fill_slots()
            elif self.work_stealing and self._freed and self._saturated:
                thieves = [ws for ws in self._freed if ws in self._idle]
                if thieves:
                    self._steal_for(thieves, victim_limit=STEAL_VICTIMS_ON_IDLE)
            if offer:
                self._queue_dirty = False
                self._freed.clear()
            if not recs and not ready:
                return

    # --- workers ---------------------------------------------------------------------

    def _slots_for(self, nthreads: int) -> float:
        if not self.queuing:
            return math.inf
        return max(math.ceil(self.worker_saturation * nthreads), 1)

    def _on_worker_joined(self, ev: WorkerJoined) -> None:
        old = self.workers.get(ev.worker)
        if old is not None:
            self._remove_worker(old, "replaced by a new worker of the same name", graceful=False)
            self._settle()
        self._worker_seq += 1
        nthreads = max(int(ev.nthreads), 1)
        ws = SchedulerWorker(
            ev.worker, self._worker_seq, nthreads, ev.memory_limit, ev.resources, ev.now, self._slots_for(nthreads)
        )
        self.workers[ws.name] = ws
        self._running[ws] = None
        self._update_load(ws)
        self._queue_dirty = True
        self._unrunnable_dirty = True
        if ev.recovered:
            self._adopt_recovered(ws, ev.recovered)

    def _on_workers_joined(self, ev: WorkersJoined) -> None:
        for join in ev.joins:  # no placement in between: see WorkersJoined
            if join.now > self.now:
                self.now = join.now
            self._on_worker_joined(join)

    def _adopt_recovered(self, ws: SchedulerWorker, keys_nbytes) -> None:
        """Results a restarted worker found on its disk: use those still needed.

        A key still wanted but not in memory (released, waiting, queued, parked, or being
        recomputed elsewhere, which is cancelled) is now in memory on `ws`; a key in
        memory elsewhere gains a replica; anything else is freed on `ws`.
        """
        for key, nbytes in keys_nbytes.items():
            ts = self.tasks.get(key)
            if ts is None or ts.state == ERRED or (ts.state != MEMORY and not ts.needed()):
                self._free(ws, key)
                continue
            nbytes = max(int(nbytes), 0)
            if ts.state != MEMORY:
                self._leave_current(ts)
                ts.nwaiting = 0
                ts.nbytes = nbytes
                ts.who_has[ws] = None
                ws.has_what[ts] = None
                ws.nbytes += nbytes
                self._set_state(ts, MEMORY)
                for client in ts.who_wants:
                    self._emit(ReportInMemory(client, ts.key, nbytes))
            elif ws not in ts.who_has:
                ts.who_has[ws] = None
                ws.has_what[ts] = None
                ws.nbytes += max(ts.nbytes, 0)

    def _on_worker_left(self, ev: WorkerLeft) -> None:
        ws = self.workers.get(ev.worker)
        if ws is not None:
            reason = ev.reason
            if not ev.graceful and ws.memory_reason:
                reason = f"{reason} (its last memory report: {ws.memory_reason})"
            self._remove_worker(ws, reason, graceful=ev.graceful)

    def _on_heartbeat(self, ev: WorkerHeartbeat) -> None:
        ws = self.workers.get(ev.worker)
        if ws is None:
            self._stale(ev, None, f"heartbeat from unknown worker {ev.worker!r}")
            return
        ws.last_seen = max(ws.last_seen, ev.now)
        if max(ev.process_bytes, ev.managed_bytes) < max(ws.process_bytes, ws.managed_bytes):
            self._freed[ws] = None  # more room: a queued task may fit now (`admission`)
        ws.managed_bytes = ev.managed_bytes
        ws.process_bytes = ev.process_bytes
        ws.spilled_bytes = ev.spilled_bytes
        ws.memory_reason = ev.memory_reason
        if ev.paused != ws.paused:
            ws.paused = ev.paused
            if ws.paused:
                self._running.pop(ws, None)
            else:
                self._running[ws] = None
                self._queue_dirty = True
                self._unrunnable_dirty = True
            self._update_load(ws)

    def _on_tick(self, ev: Tick) -> None:
        for ws in list(self.workers.values()):
            silent = ev.now - ws.last_seen
            if silent > self.heartbeat_timeout:
                reason = f"no heartbeat for {silent:.1f}s (heartbeat_timeout={self.heartbeat_timeout}s)"
                self._emit(CloseWorker(ws.name, reason))
                self._remove_worker(ws, reason, graceful=False)
        if self.shuffle_runs:
            self._forget_finished_shuffles()
        self._settle()
        if self.work_stealing and not self._counts[QUEUED]:
            self._steal_for(list(self._idle))

    def _remove_worker(self, ws: SchedulerWorker, reason: str, graceful: bool) -> None:
        del self.workers[ws.name]
        for index in (self._running, self._idle, self._saturated, self._freed):
            index.pop(ws, None)
        self._pending_free.pop(ws.name, None)
        # Forget its data first, so no placement below counts it as a holder.
        for ts in ws.has_what:
            del ts.who_has[ws]
            if not ts.who_has and ts.state == MEMORY:
                self._rec(ts, RELEASED)
        ws.has_what = {}
        ws.nbytes = 0
        for ts in list(ws.processing):
            self._unassign(ts, cancel=False)
            if not graceful:
                ts.killed_on += (ws.name,)
            if not graceful and len(ts.killed_on) >= self.allowed_failures:
                self._transition(ts, ERRED, kind="killed-worker", reason=_killed_worker_reason(ts, ws.name, reason))
            else:
                self._transition(ts, WAITING)
        if self.shuffle_runs:
            self._restart_shuffles(ws)

    def _update_load(self, ws: SchedulerWorker) -> None:
        if self.workers.get(ws.name) is not ws:
            return
        n = len(ws.processing)
        if n < ws.nthreads and not ws.paused:
            self._idle[ws] = None
        else:
            self._idle.pop(ws, None)
        if n > ws.nthreads:
            self._saturated[ws] = None
        else:
            self._saturated.pop(ws, None)

    def _seen(self, name: str, now: float) -> SchedulerWorker | None:
        ws = self.workers.get(name)
        if ws is not None and now > ws.last_seen:
            ws.last_seen = now
        return ws

    # --- assignment ------------------------------------------------------------------

    def _placement(self, ts: SchedulerTask) -> tuple:
        if not ts.dependencies and ts.workers is None and ts.resources is None:
            if self.queuing:
                return QUEUED, None
            ws = self._root_block_worker(ts)
            if ws is not None:
                return PROCESSING, ws
        ws = placement.decide_worker(self, ts)
        if ws is None:
            return NO_WORKER, None
        return PROCESSING, ws

    def _root_block_worker(self, ts: SchedulerTask) -> SchedulerWorker | None:
        """Without queuing, roots that are ready together go out in contiguous blocks
        (priority order), about one block of ``ready / threads`` per thread, so that
        neighbours, which are reduced together, share a worker. None: no running worker."""
        ws, left = self._root_block
        if (
            ws is None
            or left <= 0
            or self.workers.get(ws.name) is not ws
            or ws.paused
            or not admission.admits(self, ws, ts)
        ):
            ws = placement.decide_worker(self, ts)
            if ws is None:
                return None
            threads = sum(w.nthreads for w in self._running) or 1
            left = math.ceil((len(self._ready) + 1) / threads) * ws.nthreads
        self._root_block = (ws, left - 1)
        return ws

    def _assign(self, ts: SchedulerTask, ws: SchedulerWorker) -> None:
        duration = self._durations.get(ts.prefix, self.default_task_duration)
        ws.processing[ts] = duration
        ws.occupancy += duration
        ts.processing_on = ws
        expected = admission.expected_nbytes(self, ts)
        if expected:
            ts.expected_nbytes = expected
            ws.expected_nbytes += expected
        self._attempts += 1
        ts.attempt = self._attempts
        if ts.resources:
            used = ws.used_resources
            for name, amount in ts.resources.items():
                used[name] = used.get(name, 0) + amount
        self._update_load(ws)
        deps = ts.dependencies
        who_has = {dep.key: tuple(w.name for w in dep.who_has) for dep in deps}
        nbytes = {dep.key: dep.nbytes for dep in deps}
        self._emit(Execute(ws.name, ts.key, ts.attempt, ts.payload, ts.priority, who_has, nbytes, ts.resources))

    def _unassign(self, ts: SchedulerTask, cancel: bool) -> None:
        ws = ts.processing_on
        ws.occupancy -= ws.processing.pop(ts)
        if not ws.processing:
            ws.occupancy = 0.0  # no float drift on an idle worker
        if ts.expected_nbytes:
            ws.expected_nbytes -= ts.expected_nbytes
            ts.expected_nbytes = 0
        if ts.resources:
            used = ws.used_resources
            for name, amount in ts.resources.items():
                used[name] -= amount
            self._unrunnable_dirty = True
        ts.processing_on = None
        thief = self._steals.pop(ts, None)
        if thief is not None:
            thief.incoming -= 1
        if self.workers.get(ws.name) is ws:
            if cancel:
                self._emit(CancelExecution(ws.name, ts.key, ts.attempt))
            self._update_load(ws)
            self._freed[ws] = None

    def _learn_duration(self, prefix: str, duration: float) -> None:
        if duration is None or duration < 0:
            return
        old = self._durations.get(prefix)
        self._durations[prefix] = duration if old is None else 0.5 * old + 0.5 * duration

    # --- queue, no-worker, stealing ----------------------------------------------------

    def _push_queue(self, ts: SchedulerTask) -> None:
        self._queue_token += 1
        ts.queue_token = self._queue_token
        heapq.heappush(self._queue, (ts.priority, self._queue_token, ts))
        self._queue_dirty = True

    def _peek_queue(self) -> SchedulerTask | None:
        """The most urgent queued task, left in the queue (stale entries are dropped)."""
        queue = self._queue
        while queue:
            _, token, ts = queue[0]
            if ts.state == QUEUED and ts.queue_token == token:
                return ts
            heapq.heappop(queue)
        return None

    def _fill_slots(self) -> None:
        """Send queued root tasks, best priority first, into free worker slots that have
        the memory for them (see `admission`).

        Neighbouring roots go to the same worker (a worker's free slots are filled in one
        go), so the reductions over them stay local. When fewer roots are queued than
        there are free slots, each worker (least loaded first) gets an even, contiguous
        share, so idle workers are not left waiting while others hold two.
        """
        head = self._peek_queue()
        if head is None:
            return
        workers = list(self._running) if self._queue_dirty else [ws for ws in self._freed if ws in self._running]
        workers = [ws for ws in workers if self._root_slots(ws, head) > len(ws.processing)]
        if not workers:
            return
        workers.sort(key=lambda ws: len(ws.processing))
        free_slots = sum(self._root_slots(ws, head) - len(ws.processing) for ws in workers)
        queued = self._counts[QUEUED]
        shares = [math.ceil(queued / len(workers))] if queued < free_slots else []
        for share in shares + [math.inf]:
            for ws in workers:
                taken = 0
                while taken < share:
                    ts = self._peek_queue()
                    if ts is None:
                        return
                    if len(ws.processing) >= self._root_slots(ws, ts) or not admission.admits(self, ws, ts):
                        break
                    heapq.heappop(self._queue)
                    self._transition(ts, PROCESSING, worker=ws)
                    taken += 1
        if len(self._queue) > 2 * self._counts[QUEUED] + 1024:
            self._queue = [e for e in self._queue if e[2].state == QUEUED and e[2].queue_token == e[1]]
            heapq.heapify(self._queue)

    def _root_slots(self, ws: SchedulerWorker, ts: SchedulerTask) -> float:
        """How many tasks `ws` may hold before queued root task `ts` waits for a slot."""
        duration = self._durations.get(ts.prefix)
        nbytes = admission.expected_nbytes(self, ts) if ts.prefix in self._output_nbytes else None
        if duration is None or nbytes is None or duration >= self.root_pipeline:
            return ws.slots  # unknown or long: the plain slots
        per_thread = self.root_pipeline / duration if duration > 0 else ROOT_PIPELINE_MAX
        if nbytes > 0:
            per_thread = min(per_thread, self.root_pipeline_nbytes / nbytes)
        return max(ws.slots, ws.nthreads * int(min(per_thread, ROOT_PIPELINE_MAX)))

    def _retry_unrunnable(self) -> None:
        for ts in sorted(self.unrunnable, key=_priority_key):
            self._transition(ts, PROCESSING)

    def _steal_for(self, thieves: list, victim_limit: int | None = None) -> None:
        for ts, victim, thief in placement.plan_steals(self, thieves, victim_limit):
            self._steals[ts] = thief
            thief.incoming += 1
            self._emit(RequestSteal(victim.name, ts.key, ts.attempt))

    # --- events from workers about tasks -----------------------------------------------

    def _current(self, ev, ws: SchedulerWorker | None) -> SchedulerTask | None:
        """The task `ev` is about, if `ev` quotes its current attempt on `ws`; else None."""
        ts = self.tasks.get(ev.key)
        if ts is None:
            self._stale(ev, ev.key, "unknown key")
        elif ws is None:
            self._stale(ev, ev.key, f"unknown worker {ev.worker!r}")
        elif ts.state != PROCESSING or ts.processing_on is not ws:
            self._stale(ev, ev.key, f"not processing on {ev.worker!r} (state {ts.state})")
        elif ts.attempt != ev.attempt:
            self._stale(ev, ev.key, f"attempt {ev.attempt} is not the current attempt {ts.attempt}")
        else:
            return ts
        return None

    def _on_task_finished(self, ev: TaskFinished) -> None:
        ws = self._seen(ev.worker, ev.now)
        ts = self._current(ev, ws)
        if ts is None:
            # A stale result the scheduler does not track must not leak on the worker.
            known = self.tasks.get(ev.key)
            if ws is not None and (known is None or (ws not in known.who_has and known.processing_on is not ws)):
                self._free(ws, ev.key)
            return
        self._transition(ts, MEMORY, worker=ws, nbytes=ev.nbytes, duration=ev.duration,
                         running_nbytes=ev.running_nbytes)

    def _on_task_erred(self, ev: TaskErred) -> None:
        ws = self._seen(ev.worker, ev.now)
        ts = self._current(ev, ws)
        if ts is None:
            return
        self._unassign(ts, cancel=False)
        if ts.retries > 0:
            ts.retries -= 1
            self._transition(ts, WAITING)
        else:
            self._transition(
                ts,
                ERRED,
                kind="raised",
                reason=f"task {ts.key!r} raised an exception on worker {ev.worker!r}",
                exception=ev.exception,
                traceback=ev.traceback,
            )

    def _on_missing_dependency(self, ev: TaskMissingDependency) -> None:
        ws = self._seen(ev.worker, ev.now)
        ts = self._current(ev, ws)
        if ts is None:
            return
        self._unassign(ts, cancel=False)
        dep = self.tasks.get(ev.missing)
        holder = self.workers.get(ev.holder)
        if dep is not None and holder is not None and holder in dep.who_has:
            self._drop_replica(dep, holder)
        self._transition(ts, WAITING)

    def _drop_replica(self, ts: SchedulerTask, ws: SchedulerWorker) -> None:
        del ts.who_has[ws]
        del ws.has_what[ts]
        ws.nbytes -= max(ts.nbytes, 0)
        self._free(ws, ts.key)
        if not ts.who_has and ts.state == MEMORY:
            self._transition(ts, RELEASED)

    def _on_steal_confirmed(self, ev: StealConfirmed) -> None:
        ws = self._seen(ev.worker, ev.now)
        ts = self._current(ev, ws)
        if ts is None:
            return
        thief = self._steals.get(ts)
        self._unassign(ts, cancel=False)
        if (
            thief is not None
            and self.workers.get(thief.name) is thief
            and not thief.paused
            and placement.may_run_on(ts, thief)
        ):
            self._log.append(("transition", self._stimulus, ts.key, PROCESSING, PROCESSING))
            self._assign(ts, thief)
        else:
            self._transition(ts, WAITING)

    def _on_steal_refused(self, ev: StealRefused) -> None:
        # Not counted as stale: a refusal racing the task's completion is expected.
        self._seen(ev.worker, ev.now)
        ts = self.tasks.get(ev.key)
        if ts is not None and ts.attempt == ev.attempt:
            thief = self._steals.pop(ts, None)
            if thief is not None:
                thief.incoming -= 1

    def _on_keys_replicated(self, ev: KeysReplicated) -> None:
        ws = self._seen(ev.worker, ev.now)
        if ws is None:
            self._stale(ev, None, f"unknown worker {ev.worker!r}")
            return
        for key, nbytes in ev.keys_nbytes.items():
            ts = self.tasks.get(key)
            if ts is None or ts.state != MEMORY:
                # A copy of something nobody tracks. But a late announcement of a copy the
                # worker has since dropped must not cancel a fresh run of it there.
                if ts is None or ts.processing_on is not ws:
                    self._free(ws, key)
            elif ws not in ts.who_has:
                ts.who_has[ws] = None
                ws.has_what[ts] = None
                ws.nbytes += max(ts.nbytes, 0)

    def _on_keys_dropped(self, ev: KeysDropped) -> None:
        ws = self._seen(ev.worker, ev.now)
        if ws is None:
            return
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is not None and ws in ts.who_has:
                del ts.who_has[ws]
                del ws.has_what[ts]
                ws.nbytes -= max(ts.nbytes, 0)
                if not ts.who_has and ts.state == MEMORY:
                    self._transition(ts, RELEASED)

    # --- events from clients -------------------------------------------------------------

    def _unwant(self, client: str, ts: SchedulerTask) -> None:
        wanted = self.clients.get(client)
        if wanted is not None:
            wanted.pop(ts, None)
            if not wanted:
                del self.clients[client]
        ts.who_wants.pop(client, None)
        self._release_unneeded(ts)

    def _on_client_released(self, ev: ClientReleasedKeys) -> None:
        for key in ev.keys:
            ts = self.tasks.get(key)
            if ts is not None and ev.client in ts.who_wants:
                self._unwant(ev.client, ts)

    def _on_client_left(self, ev: ClientLeft) -> None:
        for ts in list(self.clients.get(ev.client, ())):
            self._unwant(ev.client, ts)

    def _on_cancel_requested(self, ev: CancelRequested) -> None:
        seen: dict = {}
        stack = [self.tasks[k] for k in ev.keys if k in self.tasks]
        while stack:  # the keys and everything downstream of them
            ts = stack.pop()
            if ts not in seen:
                seen[ts] = None
                stack.extend(ts.dependents)
        for ts in seen:
            clients = list(ts.who_wants) if ev.force else [ev.client] if ev.client in ts.who_wants else []
            for client in clients:
                self._emit(ReportCancelled(client, ts.key))
                self._unwant(client, ts)

    def _on_data_scattered(self, ev: DataScattered) -> None:
        ws = self._seen(ev.worker, ev.now)
        self._scatter(ev, ws)

    # --- validation ----------------------------------------------------------------------

    def validate(self) -> None:
        """Check every invariant; raise `InvariantViolation` naming the first broken one."""
        from .validation import validate_state

        validate_state(self)


def _priority_key(ts: SchedulerTask) -> tuple:
    return (ts.priority, ts.seq)


def _killed_worker_reason(ts: SchedulerTask, last: str, why: str) -> str:
    workers = ", ".join(repr(w) for w in ts.killed_on)
    return (
        f"KilledWorker: task {ts.key!r} was processing on {len(ts.killed_on)} workers that died "
        f"while it was assigned to them ({workers}); the last one, {last!r}, left because: "
        f"{why or 'no reason given'}. It is marked failed instead of being retried again. "
        f"The task may use too much memory or crash its process; check those workers' logs."
    )

