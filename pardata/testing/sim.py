"""A simulated cluster: one real `SchedulerState` and N real `WorkerState`s, in memory.

Both state machines are pure, so a cluster can be simulated by routing the scheduler's
commands to the workers and the workers' instructions back to the scheduler, the way
`scheduler/wire.py` and `worker/server.py` translate them, without sockets, threads or
clocks. What the servers do with I/O, the simulation does on a simulated clock:

* **Clock.** One heap of events ordered by (time, sequence number); ties go to the event
  scheduled first, so a run depends only on its inputs and `seed`.
* **Network.** A message takes `latency` seconds and each peer-to-peer channel is FIFO,
  as a TCP stream is. Messages arriving at the same instant at the same process are
  handled in one `handle(*events)` call, as the servers batch them. A transfer of
  values between workers takes a request (`latency`), the bytes the holder still has
  at that moment divided by `bandwidth`, and the reply (`latency`); transfers do not
  share bandwidth with each other. A holder dying before its last byte is sent breaks
  the transfer. Bytes moved are counted.
* **Execution.** `RunTask` finishes after the task's duration (per key, per prefix or a
  default; `jitter` spreads it using `seed`); its output has the task's `nbytes`.
  The state machine, not the simulation, limits runs to `nthreads` at a time.
* **Failures.** `kill(worker, at=t)` ends a worker: its data, runs and transfers vanish,
  peers fetching from it get `FetchFailed`, and the scheduler gets `WorkerLeft` behind
  the messages already sent (or, with ``silent=True``, only stops hearing heartbeats).
  `add_worker` under a dead worker's name restarts it empty; under a running one's
  name it replaces that process, whose unsent messages are lost with its connection.
* **Steals.** A worker answers `RequestSteal` as its server does: it gives the task up
  (cancelling it) only while the task waits for inputs or a thread.
* **Time-driven events.** Each worker sends a heartbeat every `heartbeat_interval`; the
  scheduler gets a `Tick` every `tick_interval`.

`run()` advances the clock until nothing but those periodic events is left and the
scheduler has no work in flight, or until nothing has progressed for `stall_timeout`
simulated seconds (a deadlock: reported as ``stalled``). With ``validate=True`` both
state machines check every invariant after every step, and the simulation checks that a
task only starts with its inputs in the worker's store and, at the end, that the stores
and the scheduler agree on who holds what. Slow; meant for tests, not the scale runs.
With ``record_log=False`` neither the simulation nor the state machines keep a log
(their ``story()`` is then empty): what the scale runs use.

This is the only module of `pardata` besides the in-process cluster that imports the
`scheduler` and `worker` packages, and only inside `_machinery()` (see DESIGN.md).
"""

from __future__ import annotations

import gc
import heapq
import random
from collections import Counter
from types import SimpleNamespace
from typing import Hashable, Iterable, Mapping

from pardata.core.ordering import order
from pardata.testing.sim_result import SimResult, SimTask

__all__ = ["Simulation", "SimResult", "SimTask"]

Key = Hashable
CLIENT = "client"


def _machinery() -> SimpleNamespace:
    """The two state machines and their vocabularies (imported lazily: layering rule)."""
    from scheduler import commands as sc
    from scheduler import events as se
    from scheduler.records import key_prefix
    from scheduler.state import SchedulerState
    from worker import events as we
    from worker import instructions as wi
    from worker.state import WorkerState

    return SimpleNamespace(
        sc=sc, se=se, key_prefix=key_prefix, SchedulerState=SchedulerState, we=we, wi=wi, WorkerState=WorkerState
    )


class SimWorker:
    """One incarnation of a simulated worker process: its state machine and data store."""

    __slots__ = (
        "name", "nthreads", "state", "store", "stored", "peak", "alive", "to_scheduler_at", "from_scheduler_at"
    )

    def __init__(self, name: str, nthreads: int, state):
        self.name = name
        self.nthreads = nthreads
        self.state = state
        self.store: dict = {}  # key -> nbytes: what the process really holds
        self.stored = 0
        self.peak = 0  # most bytes ever held at once
        self.alive = True
        self.to_scheduler_at = 0.0  # arrival time of the last message sent (FIFO channel)
        self.from_scheduler_at = 0.0

    def put(self, key, nbytes: int) -> None:
        self.stored += nbytes - self.store.get(key, 0)
        self.store[key] = nbytes
        if self.stored > self.peak:
            self.peak = self.stored

    def pop(self, key) -> None:
        self.stored -= self.store.pop(key, 0)

    def __repr__(self) -> str:
        return f"<SimWorker {self.name} {'alive' if self.alive else 'dead'} keys={len(self.store)}>"


class Simulation:
    """A deterministic discrete-event simulation of a cluster (see the module docstring).

    >>> sim = Simulation(2, latency=0.001, bandwidth=1e6)
    >>> sim.submit({"a": ((), 1.0, 1000), "b": ((), 1.0, 10), "c": (("a", "b"), 1.0, 8)}, ["c"])
    >>> result = sim.run()
    >>> result.completed, result.ran_on["c"] == result.ran_on["a"]
    (True, True)
    """

    def __init__(
        self,
        n_workers: int = 0,
        nthreads: int = 1,
        *,
        latency: float = 0.001,
        bandwidth: float = 100e6,
        seed: int = 0,
        jitter: float = 0.0,
        durations: Mapping | None = None,
        sizes: Mapping | None = None,
        default_duration: float = 0.01,
        default_nbytes: int = 1024,
        tick_interval: float = 0.2,
        heartbeat_interval: float = 1.0,
        stall_timeout: float | None = None,
        validate: bool = False,
        record_log: bool = True,
        scheduler_options: Mapping | None = None,
        worker_options: Mapping | None = None,
    ):
        if latency < 0 or bandwidth <= 0 or not 0 <= jitter < 1:
            raise ValueError("need latency >= 0, bandwidth > 0 and 0 <= jitter < 1")
        m = self._m = _machinery()
        self.latency = latency
        self.bandwidth = bandwidth
        self.jitter = jitter
        self.rng = random.Random(seed)
        self.durations = dict(durations or {})
        self.sizes = dict(sizes or {})
        self.default_duration = default_duration
        self.default_nbytes = default_nbytes
        self.nthreads = nthreads
        self.tick_interval = tick_interval
        self.heartbeat_interval = heartbeat_interval
        self.validate = validate
        self.record_log = record_log
        self.worker_options = dict(worker_options or {})
        # Without a recorded log the state machines keep none either: a scheduler's log
        # holding the last 100,000 events and commands cost a sixth of a large run.
        options = {"bandwidth": bandwidth, "transfer_latency": latency, **({} if record_log else {"log_length": 0}),
                   **(scheduler_options or {})}
        options.setdefault("validate", validate)
        self.scheduler = m.SchedulerState(**options)
        self.stall_timeout = (
            stall_timeout
            if stall_timeout is not None
            else self.scheduler.heartbeat_timeout + 5 * tick_interval + 2 * heartbeat_interval
        )
        self.now = 0.0
        self.workers: dict = {}  # name -> current SimWorker
        self.log: list = []

        self._heap: list = []  # [time, seq, fn, arg, progress]
        self._seq = 0
        self._pending = 0  # heap entries that are progress (not heartbeats or ticks)
        self._last_progress = 0.0
        self._stalled = False
        self._to_scheduler: dict = {}  # arrival time -> heap entry batching events
        self._to_worker: dict = {}  # (SimWorker, arrival time) -> heap entry batching commands
        self._specs: dict = {}  # key -> (dependencies, duration, nbytes)
        self._wanted: dict = {}  # key -> None, every key any submission wants
        self._reports: dict = {}
        self._ran_on: dict = {}
        self._runs: Counter = Counter()
        self._bytes = 0
        self._transfers = 0
        self._failed_transfers = 0
        self._steals = 0
        self._steal_requests = 0
        self._max_processing: dict = {}
        self._max_queued = 0
        self._max_root_tasks: dict = {}
        self._scheduler_events = 0
        self._worker_events = 0
        self._violations: list = []
        self._dead_stale = 0  # stale completions counted by workers that are gone
        self._dead_peaks: dict = {}  # name -> peak memory of its ended incarnations
        self._names_issued = n_workers
        self._init_dispatch()

        self._push(tick_interval, self._tick, None, progress=False)
        self._push(heartbeat_interval, self._heartbeats, None, progress=False)
        for i in range(n_workers):
            self._join(f"w{i}", nthreads)

    # --- the public API ----------------------------------------------------------------

    def submit(
        self,
        graph: Mapping,
        wanted: Iterable,
        *,
        at: float | None = None,
        client: str = CLIENT,
        workers: Mapping | None = None,
        retries: int = 0,
    ) -> None:
        """Submit `graph` (``{key: SimTask or (dependencies, duration, nbytes)}``).

        The client wants the keys in `wanted`. `workers` restricts keys to named workers
        (``{key: ("w0",)}``). Priorities come from pardata's static ordering. The
        scheduler receives the graph at time `at` (default: now).
        """
        se = self._m.se
        key_prefix = self._m.key_prefix
        tasks = {}
        local: dict = {}
        for key, value in graph.items():
            spec = value if isinstance(value, SimTask) else SimTask(*value)
            deps = tuple(spec.dependencies)
            local[key] = SimTask(tuple(d for d in deps if d in graph), spec.duration, spec.nbytes)
            prefix = key_prefix(key)
            duration = spec.duration
            if duration is None:
                duration = self.durations.get(key, self.durations.get(prefix, self.default_duration))
            nbytes = spec.nbytes
            if nbytes is None:
                nbytes = self.sizes.get(key, self.sizes.get(prefix, self.default_nbytes))
            self._specs[key] = (deps, float(duration), int(nbytes))
            tasks[key] = deps
        priorities = order(local, {k: v.dependencies for k, v in local.items()})
        restrict = workers or {}
        specs = {
            key: se.TaskSpec(
                dependencies=deps,
                payload=b"sim",
                priority=(priorities[key],),
                retries=retries,
                workers=tuple(restrict[key]) if key in restrict else None,
            )
            for key, deps in tasks.items()
        }
        wanted = list(wanted)
        for key in wanted:
            self._wanted[key] = None
        when = self.now if at is None else at
        self._push(when, self._deliver_submission, (client, specs, wanted))

    @property
    def wanted(self) -> tuple:
        """Every key a client still wants (submitted as wanted and not released)."""
        return tuple(self._wanted)

    def release(self, keys: Iterable, at: float | None = None, client: str = CLIENT) -> None:
        """The client drops its futures for `keys` at time `at` (default: now)."""
        keys = list(keys)
        for key in keys:
            self._wanted.pop(key, None)
        self._push(self.now if at is None else at, self._deliver_release, (client, keys))

    def kill(self, worker: str, at: float | None = None, *, silent: bool = False, reason: str = "killed") -> None:
        """End `worker` at time `at` (default: now): its data, runs and transfers vanish.

        The scheduler hears of it through `WorkerLeft`, behind whatever the worker sent
        before; when `silent` (a hung or cut-off process), only by missing heartbeats.
        """
        self._push(self.now if at is None else at, self._kill, (worker, silent, reason))

    def add_worker(self, name: str | None = None, nthreads: int | None = None, at: float | None = None) -> str:
        """Start a worker called `name` at time `at`; returns the name.

        A name in use by a dead worker starts a fresh incarnation (a restart); one in use
        by a running worker replaces that process, which loses its data."""
        if name is None:
            name = f"w{self._names_issued}"
            self._names_issued += 1
        self._push(self.now if at is None else at, self._add_worker_now, (name, nthreads or self.nthreads))
        return name

    def run(self, until: float | None = None, max_events: int | None = None) -> SimResult:
        """Advance the clock until the cluster is quiet (or stalls, or time `until`).

        The garbage collector runs as rarely as in the real servers meanwhile (see
        ``pardata._gctune``): with default thresholds its full passes over a thousand
        workers' and the scheduler's records took a sixth of a large run.
        """
        thresholds = gc.get_threshold()
        gc.set_threshold(50_000, 20, 20)
        try:
            return self._run(until, max_events)
        finally:
            gc.set_threshold(*thresholds)

    def _run(self, until: float | None, max_events: int | None) -> SimResult:
        heap = self._heap
        handled = 0
        while heap:
            if self._pending == 0:
                if not self._scheduler_has_work():
                    break
                if self.now - self._last_progress > self.stall_timeout:
                    self._stalled = True
                    break
            entry = heap[0]
            when = entry[0]
            if until is not None and when > until:
                self.now = until
                break
            heapq.heappop(heap)
            self.now = when
            if entry[4]:
                self._pending -= 1
                self._last_progress = when
            entry[2](entry[3])
            handled += 1
            if max_events is not None and handled >= max_events:
                break
        if self.validate:
            self.check_consistency()
        return self.result()

    def result(self) -> SimResult:
        """A snapshot of the figures so far."""
        completion = None
        completed = bool(self._wanted)
        for key in self._wanted:
            report = self._reports.get(key)
            if report is None or report[1] != "memory":
                completed = False
                break
            completion = report[0] if completion is None else max(completion, report[0])
        stale_completions = self._dead_stale + sum(
            sw.state.stale_completions for sw in self.workers.values() if sw.alive
        )
        return SimResult(
            completed=completed,
            completion_time=completion if completed else None,
            end_time=self.now,
            stalled=self._stalled,
            ran_on=dict(self._ran_on),
            runs=Counter(self._runs),
            reports=dict(self._reports),
            bytes_transferred=self._bytes,
            transfers=self._transfers,
            failed_transfers=self._failed_transfers,
            steals=self._steals,
            steal_requests=self._steal_requests,
            stale_messages=self.scheduler.stale_messages,
            stale_completions=stale_completions,
            max_processing=dict(self._max_processing),
            max_root_tasks=dict(self._max_root_tasks),
            max_queued=self._max_queued,
            peak_memory=self._peaks(),
            scheduler_events=self._scheduler_events,
            worker_events=self._worker_events,
            violations=list(self._violations),
            log=list(self.log),
        )

    def _peaks(self) -> dict:
        peaks = dict(self._dead_peaks)
        for name, sw in self.workers.items():
            peaks[name] = max(peaks.get(name, 0), sw.peak)
        return peaks

    def check_consistency(self) -> None:
        """At rest, the scheduler's `who_has` must match the workers' stores exactly, and
        each store must hold exactly the keys its state machine has in memory."""
        if self._pending:
            return  # messages in flight: the two views may legitimately differ
        problems = []
        told = {}
        for key, holders in self.scheduler.who_has().items():
            for name in holders:
                told.setdefault(name, set()).add(key)
        for name, sw in self.workers.items():
            if not sw.alive:
                continue
            in_memory = {k for k, ts in sw.state.tasks.items() if ts.state == "memory"}
            if set(sw.store) != in_memory:
                odd = set(sw.store) ^ in_memory
                problems.append(f"{name}: store and state machine differ on {_few(odd)}")
            extra = set(sw.store) - told.get(name, set())
            missing = told.get(name, set()) - set(sw.store)
            if extra:
                problems.append(f"{name} holds {_few(extra)} the scheduler does not know of (leak)")
            if missing:
                problems.append(f"the scheduler thinks {name} holds {_few(missing)}, which it does not")
        for name in told:
            sw = self.workers.get(name)
            if sw is not None and sw.alive:
                continue
            if sw is not None and name in self.scheduler.workers:
                continue  # died silently; the scheduler has not missed its heartbeats yet
            problems.append(f"the scheduler thinks dead worker {name} holds {_few(told[name])}")
        if problems:
            self._violations.extend(problems)
            raise AssertionError("simulated cluster inconsistent at rest:\n  " + "\n  ".join(problems))

    # --- the clock ---------------------------------------------------------------------

    def _push(self, when: float, fn, arg, progress: bool = True) -> list:
        self._seq += 1
        entry = [when, self._seq, fn, arg, progress]
        heapq.heappush(self._heap, entry)
        if progress:
            self._pending += 1
        return entry

    def _scheduler_has_work(self) -> bool:
        counts = self.scheduler.task_states_counts()
        return bool(counts["waiting"] or counts["queued"] or counts["processing"] or counts["no-worker"])

    def _delay(self, seconds: float) -> float:
        if self.jitter:
            return seconds * (1.0 + self.jitter * (2.0 * self.rng.random() - 1.0))
        return seconds

    def _record(self, *entry) -> None:
        if self.record_log:
            self.log.append((round(self.now, 9), *entry))

    def _tick(self, _) -> None:
        self._scheduler_handle([self._m.se.Tick(now=self.now)])
        self._push(self.now + self.tick_interval, self._tick, None, progress=False)

    def _heartbeats(self, _) -> None:
        """Every live worker reports; they share one grid, so they arrive as one batch."""
        heartbeat = self._m.se.WorkerHeartbeat
        for sw in self.workers.values():
            if sw.alive:
                arrival = self._arrival_at_scheduler(sw)
                beat = heartbeat(sw.name, now=arrival, managed_bytes=sw.stored, process_bytes=sw.stored)
                self._send_to_scheduler(sw, arrival, [beat], progress=False)
        self._push(self.now + self.heartbeat_interval, self._heartbeats, None, progress=False)

    # --- the scheduler side --------------------------------------------------------------

    def _init_dispatch(self) -> None:
        sc = self._m.sc
        self._client_reports = {
            sc.ReportInMemory: "memory",
            sc.ReportErred: "erred",
            sc.ReportLost: "lost",
            sc.ReportCancelled: "cancelled",
        }
        wi = self._m.wi
        self._instruction_handlers = {
            wi.RunTask: self._on_run_task,
            wi.FetchFromPeer: self._on_fetch_from_peer,
            wi.ReleaseData: self._on_release_data,
        }

    def _scheduler_handle(self, events: list) -> None:
        self._scheduler_events += len(events)
        try:
            commands = self.scheduler.handle(*events)
        except Exception as exc:
            exc.add_note(f"in the scheduler at simulated t={self.now}, handling {_names(events)}")
            raise
        if not commands:
            return
        execute = self._m.sc.Execute
        steal = self._m.sc.RequestSteal
        reports = self._client_reports
        by_worker: dict = {}
        executed: dict = {}
        for cmd in commands:
            kind = type(cmd)
            if kind is execute:
                executed[cmd.worker] = None
            elif kind in reports:
                report = reports[kind]
                self._reports[cmd.key] = (self.now + self.latency, report)
                self._record("report", cmd.key, report)
                continue
            elif kind is steal:
                self._steal_requests += 1
            cmds = by_worker.get(cmd.worker)
            if cmds is None:
                by_worker[cmd.worker] = [cmd]
            else:
                cmds.append(cmd)
        workers = self.scheduler.workers
        most = self._max_processing
        roots = self._max_root_tasks
        for name in executed:
            ws = workers.get(name)
            if ws is None:
                continue
            if len(ws.processing) > most.get(name, 0):
                most[name] = len(ws.processing)
            n = sum(1 for ts in ws.processing if not ts.dependencies)
            if n > roots.get(name, 0):
                roots[name] = n
        if executed:
            queued = self.scheduler.task_states_counts()["queued"]
            if queued > self._max_queued:
                self._max_queued = queued
        latency = self.latency
        for name, cmds in by_worker.items():
            sw = self.workers.get(name)
            if sw is None or not sw.alive:
                continue  # a dead process gets nothing; the scheduler learns of it apart
            arrival = self.now + (self._delay(latency) if self.jitter else latency)
            if arrival < sw.from_scheduler_at:
                arrival = sw.from_scheduler_at
            sw.from_scheduler_at = arrival
            entry = self._to_worker.get((sw, arrival))
            if entry is None:
                batch = (sw, arrival, [])
                entry = self._to_worker[(sw, arrival)] = self._push(arrival, self._deliver_to_worker, batch)
            entry[3][2].extend(cmds)

    def _deliver_submission(self, arg) -> None:
        client, specs, wanted = arg
        self._record("submit", client, len(specs))
        self._scheduler_handle([self._m.se.GraphSubmitted(client, specs, wanted, now=self.now)])

    def _deliver_release(self, arg) -> None:
        client, keys = arg
        self._record("release", client, tuple(keys))
        self._scheduler_handle([self._m.se.ClientReleasedKeys(client=client, keys=keys)])

    def _arrival_at_scheduler(self, sw: SimWorker) -> float:
        arrival = max(self.now + self._delay(self.latency), sw.to_scheduler_at)
        sw.to_scheduler_at = arrival
        return arrival

    def _send_to_scheduler(self, sw: SimWorker, arrival: float, events: list, progress: bool = True) -> None:
        """Queue `events` from `sw` for the scheduler at `arrival`, in one batch with
        whatever else arrives at that instant. Heartbeats alone are not progress."""
        entry = self._to_scheduler.get(arrival)
        if entry is None:
            batch = (arrival, [])
            entry = self._to_scheduler[arrival] = self._push(arrival, self._deliver_to_scheduler, batch, progress)
        elif progress and not entry[4]:
            entry[4] = True
            self._pending += 1
        entry[3][1].append((sw, events))

    def _deliver_to_scheduler(self, arg) -> None:
        arrival, sent = arg
        del self._to_scheduler[arrival]
        workers = self.workers
        events: list = []
        for sw, batch in sent:
            # A process replaced under the same name had its connection aborted by the
            # server: what it sent last never arrives (as in `scheduler/server.py`).
            if workers.get(sw.name) is sw:
                events.extend(batch)
        if events:
            self._scheduler_handle(events)

    # --- workers joining and leaving ---------------------------------------------------

    def _join(self, name: str, nthreads: int) -> SimWorker:
        old = self.workers.get(name)
        if old is not None and old.alive:
            # A new process under a running worker's address replaces it (as a nanny
            # restarting a hung worker does); the scheduler drops the old one on join.
            self._record("replace", name)
            self._end(old)
        # Without a recorded log the workers keep none either (building its entries was a
        # sixth of a thousand-worker run).
        options = {"validate": self.validate, **({} if self.record_log else {"log_length": 0}), **self.worker_options}
        sw = SimWorker(name, nthreads, self._m.WorkerState(name, nthreads, **options))
        sw.to_scheduler_at = sw.from_scheduler_at = self.now
        self.workers[name] = sw
        self._record("join", name, nthreads)
        self._scheduler_handle([self._m.se.WorkerJoined(name, nthreads, now=self.now)])
        return sw

    def _add_worker_now(self, arg) -> None:
        name, nthreads = arg
        self._join(name, nthreads)

    def _kill(self, arg) -> None:
        name, silent, reason = arg
        sw = self.workers.get(name)
        if sw is None or not sw.alive:
            return
        self._record("kill", name, "silent" if silent else "connection lost")
        self._end(sw)
        if not silent:
            arrival = self._arrival_at_scheduler(sw)
            self._send_to_scheduler(sw, arrival, [self._m.se.WorkerLeft(name, reason=reason, now=arrival)])

    def _end(self, sw: SimWorker) -> None:
        self._dead_peaks[sw.name] = max(self._dead_peaks.get(sw.name, 0), sw.peak)
        sw.alive = False
        sw.store.clear()
        sw.stored = 0
        self._dead_stale += sw.state.stale_completions

    # --- the worker side: scheduler commands in --------------------------------------------

    def _deliver_to_worker(self, arg) -> None:
        sw, arrival, commands = arg
        del self._to_worker[(sw, arrival)]
        if not sw.alive:
            return
        sc, we = self._m.sc, self._m.we
        events: list = []
        for cmd in commands:
            kind = type(cmd)
            if kind is sc.Execute:
                events.append(
                    we.ExecuteRequested(
                        worker=sw.name,
                        key=cmd.key,
                        attempt=cmd.attempt,
                        payload=cmd.payload,
                        priority=cmd.priority,
                        who_has=cmd.who_has,
                        nbytes=cmd.nbytes,
                    )
                )
            elif kind is sc.FreeKeys:
                events.append(we.FreeKeysRequested(keys=tuple(cmd.keys)))
            elif kind is sc.CancelExecution:
                events.append(we.CancelRequested(key=cmd.key, attempt=cmd.attempt))
            elif kind is sc.RequestSteal:
                if events:
                    self._worker_handle(sw, events)
                    events = []
                self._answer_steal(sw, cmd)
            elif kind is sc.CloseWorker:
                if events:
                    self._worker_handle(sw, events)
                self._record("closed", sw.name, cmd.reason)
                self._end(sw)
                return
            else:
                raise TypeError(f"no worker event for scheduler command {cmd!r}")
        if events:
            self._worker_handle(sw, events)

    def _answer_steal(self, sw: SimWorker, cmd) -> None:
        """As the worker server does: give the task up only if it has not started."""
        state = sw.state
        ts = state.tasks.get(cmd.key)
        ok = (
            ts is not None
            and ts.attempt == cmd.attempt
            and ts.state in ("waiting", "ready")
            and cmd.key not in state.running
        )
        if ok:
            self._worker_handle(sw, [self._m.we.CancelRequested(key=cmd.key, attempt=cmd.attempt)])
            self._steals += 1
        self._record("steal", sw.name, cmd.key, ok)
        se = self._m.se
        arrival = self._arrival_at_scheduler(sw)
        answer = se.StealConfirmed if ok else se.StealRefused
        reply = answer(worker=sw.name, key=cmd.key, attempt=cmd.attempt, now=arrival)
        self._send_to_scheduler(sw, arrival, [reply])

    # --- the worker side: instructions out ------------------------------------------------

    def _worker_handle(self, sw: SimWorker, events: list) -> list:
        self._worker_events += len(events)
        try:
            instructions = sw.state.handle(*events)
        except Exception as exc:
            exc.add_note(f"in worker {sw.name} at simulated t={self.now}, handling {_names(events)}")
            raise
        if instructions:
            self._carry_out(sw, instructions)
        return instructions

    def _carry_out(self, sw: SimWorker, instructions: list) -> None:
        wi, se = self._m.wi, self._m.se
        local = self._instruction_handlers
        out: list = []
        arrival = None
        name = sw.name
        for ins in instructions:
            kind = type(ins)
            handler = local.get(kind)
            if handler is not None:
                handler(sw, ins)
                continue
            if arrival is None:
                arrival = self._arrival_at_scheduler(sw)
            if kind is wi.SendTaskFinished:
                duration = max(ins.stop - ins.start, 0.0)
                event = se.TaskFinished(
                    worker=name, key=ins.key, attempt=ins.attempt, nbytes=ins.nbytes, duration=duration, now=arrival,
                    running_nbytes=ins.running_nbytes,
                )
            elif kind is wi.SendAddKeys:
                nbytes = {key: sw.store.get(key, 0) for key in ins.keys}
                event = se.KeysReplicated(worker=name, keys_nbytes=nbytes, now=arrival)
            elif kind is wi.SendKeysReleased:
                event = se.KeysDropped(worker=name, keys=tuple(ins.keys), now=arrival)
            elif kind is wi.SendMissingDependency:
                # The scheduler takes one holder, as `scheduler/wire.py` gives it.
                holder = ins.holders[0] if ins.holders else ""
                event = se.TaskMissingDependency(
                    worker=name, key=ins.key, attempt=ins.attempt, missing=ins.missing, holder=holder, now=arrival
                )
            elif kind is wi.SendTaskErred:
                event = se.TaskErred(
                    worker=name,
                    key=ins.key,
                    attempt=ins.attempt,
                    exception=ins.exception,
                    traceback=ins.traceback,
                    now=arrival,
                )
            else:
                raise TypeError(f"unknown worker instruction {ins!r}")
            out.append(event)
        if out:
            self._send_to_scheduler(sw, arrival, out)

    def _on_release_data(self, sw: SimWorker, ins) -> None:
        for key in ins.keys:
            sw.pop(key)

    def _on_run_task(self, sw: SimWorker, ins) -> None:
        key = ins.key
        spec = self._specs.get(key)
        if spec is None:
            raise KeyError(f"worker {sw.name} was asked to run {key!r}, which was never submitted")
        missing = [dep for dep in spec[0] if dep not in sw.store]
        if missing:
            problem = f"t={self.now}: {sw.name} started {key!r} without inputs {_few(missing)} in store"
            self._violations.append(problem)
            if self.validate:
                raise AssertionError(problem)
        self._record("run", sw.name, key, ins.attempt)
        self._push(self.now + self._delay(spec[1]), self._finish_run, (sw, key, ins.attempt, self.now))

    def _finish_run(self, arg) -> None:
        sw, key, attempt, start = arg
        if not sw.alive:
            return
        nbytes = self._specs[key][2]
        sw.put(key, nbytes)  # the executor stores the value before reporting, as the server does
        self._runs[key] += 1
        self._record("done", sw.name, key, attempt)
        event = self._m.we.TaskCompleted(
            key=key, attempt=attempt, nbytes=nbytes, type_name="sim", start=start, stop=self.now
        )
        finished = self._m.wi.SendTaskFinished
        for ins in self._worker_handle(sw, [event]):
            if type(ins) is finished and ins.key == key and ins.attempt == attempt:
                self._ran_on[key] = sw.name

    # --- transfers between workers -----------------------------------------------------

    def _on_fetch_from_peer(self, sw: SimWorker, ins) -> None:
        self._record("fetch", sw.name, ins.peer, ins.keys)
        self._push(self.now + self._delay(self.latency), self._serve_fetch, (sw, ins.peer, ins.keys))

    def _serve_fetch(self, arg) -> None:
        """The request reached the holder: it sends what it still has."""
        sw, peer, keys = arg
        if not sw.alive:
            return
        holder = self.workers.get(peer)
        if holder is None or not holder.alive:
            when = self.now + self._delay(self.latency)  # connection refused
            self._push(when, self._fetch_failed, (sw, peer, keys, f"{peer} is not running"))
            return
        found = {key: holder.store[key] for key in keys if key in holder.store}
        nbytes = sum(found.values())
        self._push(self.now + nbytes / self.bandwidth, self._fetch_sent, (sw, holder, keys, found, nbytes))

    def _fetch_sent(self, arg) -> None:
        """The holder has pushed the last byte; the values land `latency` later. A holder
        that died before this point broke the transfer."""
        sw, holder, keys, found, nbytes = arg
        when = self.now + self._delay(self.latency)
        if not holder.alive:
            self._push(when, self._fetch_failed, (sw, holder.name, keys, f"{holder.name} died during the transfer"))
        else:
            self._push(when, self._fetch_done, (sw, holder.name, found, nbytes))

    def _fetch_done(self, arg) -> None:
        sw, peer, found, nbytes = arg
        if not sw.alive:
            return
        for key, size in found.items():
            sw.put(key, size)
        self._bytes += nbytes
        self._transfers += 1
        self._record("fetched", sw.name, peer, tuple(found), nbytes)
        self._worker_handle(sw, [self._m.we.FetchCompleted(peer=peer, keys_nbytes=found, now=self.now)])

    def _fetch_failed(self, arg) -> None:
        sw, peer, keys, reason = arg
        if not sw.alive:
            return
        self._failed_transfers += 1
        self._record("fetch-failed", sw.name, peer, keys)
        event = self._m.we.FetchFailed(peer=peer, keys=tuple(keys), reason=reason, now=self.now)
        self._worker_handle(sw, [event])


def _few(keys) -> str:
    keys = sorted(map(repr, keys))
    shown = ", ".join(keys[:5])
    return f"[{shown}{', ...' if len(keys) > 5 else ''}] ({len(keys)})"


def _names(events: list) -> str:
    shown = ", ".join(type(e).__name__ for e in events[:5])
    return f"{shown}{', ...' if len(events) > 5 else ''}"
