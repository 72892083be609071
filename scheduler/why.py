"""``explain(state, key)``: why a key is not done, as a chain of causes.

`QueriesMixin.why_waiting` answers in one sentence about the key itself. People want
the reason behind the reason: a task waits for an input, which is assigned to a worker,
which is paused, because its process memory is over the pause threshold and most of it
is not task results at all. `explain` follows that chain downwards, a few levels deep,
picking at each level the inputs that block the most, and returns ``(depth, sentence)``
pairs that read top-down.

Pure and read-only, like `queries`: it reads a `SchedulerState` (and optionally the
latest heartbeat details per worker, which the state machine does not keep) and never
changes them.
"""

from __future__ import annotations

from typing import Callable, Mapping

from pardata._units import format_bytes

from .admission import blocked_by_memory
from .records import ERRED, MEMORY, NO_WORKER, PROCESSING, QUEUED, RELEASED, WAITING

__all__ = ["explain", "worker_memory"]

#: How many inputs of one waiting task are explained (the most blocking first).
INPUTS_SHOWN = 3
#: Default pause threshold (fraction of the memory limit) when a worker did not say.
DEFAULT_PAUSE = 0.8

# Order in which blocking inputs are shown: the most stuck first.
_BLOCKING_ORDER = {ERRED: 0, NO_WORKER: 1, PROCESSING: 2, QUEUED: 3, WAITING: 4, RELEASED: 5}


def explain(
    state,
    key,
    details: Callable[[str], Mapping] | None = None,
    *,
    max_depth: int = 6,
) -> list[tuple[int, str]]:
    """``[(depth, sentence), ...]`` explaining why ``key`` is not done yet.

    ``details(worker)`` may give figures a worker reported beyond what the state keeps
    (such as its ``pause_fraction``).
    """
    out: list[tuple[int, str]] = []
    ts = state.tasks.get(key)
    if ts is None:
        out.append((0, f"{key!r} is not known to the scheduler (never submitted, or already forgotten)"))
        return out
    _Explainer(state, details, max_depth, out).task(ts, 0, seen=set())
    return out


class _Explainer:
    def __init__(self, state, details, max_depth: int, out: list) -> None:
        self.state = state
        self.details = details
        self.max_depth = max_depth
        self.out = out
        self.workers_explained: set = set()

    def say(self, depth: int, text: str) -> None:
        self.out.append((depth, text))

    def task(self, ts, depth: int, seen: set, role: str = "") -> None:
        seen.add(ts)
        name = f"{role}{ts.key!r}"
        st = ts.state
        if st == MEMORY:
            where = ", ".join(repr(ws.name) for ws in ts.who_has)
            self.say(depth, f"{name} is done: in memory on {where}")
        elif st == ERRED:
            self.erred(ts, depth, name)
        elif st == RELEASED:
            if ts.nbytes >= 0:
                self.say(depth, f"{name} was computed and released: nothing needs it now")
            else:
                self.say(depth, f"{name} is released: nothing needs it now, so it is not scheduled")
        elif st == WAITING:
            self.waiting(ts, depth, name, seen)
        elif st == QUEUED:
            self.queued(ts, depth, name)
        elif st == NO_WORKER:
            self.no_worker(ts, depth, name)
        elif st == PROCESSING:
            self.processing(ts, depth, name)
        else:
            self.say(depth, f"{name} is in state {st}")

    def erred(self, ts, depth: int, name: str) -> None:
        blame = ts.blame if ts.blame is not None else ts
        if blame is ts:
            last = _last_line(ts.traceback)
            extra = f" ({last})" if last and last not in (ts.error_reason or "") else ""
            self.say(depth, f"{name} failed: {ts.error_reason or 'it raised'}{extra}")
        else:
            self.say(depth, f"{name} cannot run: its upstream task {blame.key!r} failed")
            if blame.key in self.state.tasks and depth < self.max_depth:
                self.erred(blame, depth + 1, f"{blame.key!r}")

    def waiting(self, ts, depth: int, name: str, seen: set) -> None:
        missing = [dep for dep in ts.dependencies if dep.state != MEMORY]
        n = len(ts.dependencies)
        if not missing:
            self.say(depth, f"{name} has all {n} input(s) in memory and is about to be placed")
            return
        self.say(depth, f"{name} is waiting for {len(missing)} of its {n} input(s)")
        if depth >= self.max_depth:
            return
        missing.sort(key=lambda d: (_BLOCKING_ORDER.get(d.state, 9), d.priority))
        for dep in missing[:INPUTS_SHOWN]:
            if dep in seen:
                continue
            self.task(dep, depth + 1, seen, role="input ")
        if len(missing) > INPUTS_SHOWN:
            states: dict = {}
            for dep in missing[INPUTS_SHOWN:]:
                states[dep.state] = states.get(dep.state, 0) + 1
            summary = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
            self.say(depth + 1, f"... and {len(missing) - INPUTS_SHOWN} more input(s) ({summary})")

    def queued(self, ts, depth: int, name: str) -> None:
        state = self.state
        running = [ws for ws in state.workers.values() if not ws.paused]
        free = sum(max(ws.slots - len(ws.processing), 0) for ws in running)
        queued = state.task_states_counts().get(QUEUED, 0)
        self.say(
            depth,
            f"{name} is a root task queued at the scheduler until a worker has a free slot "
            f"({queued} queued, {free} free slot(s) on {len(running)} running worker(s))",
        )
        self.memory_blocked(ts, running, depth + 1)
        self.all_workers_blocked(depth + 1)

    def memory_blocked(self, ts, running, depth: int) -> None:
        """Workers with a free slot that the task's memory need keeps it out of."""
        state = self.state
        blocked = []
        for ws in running:
            if len(ws.processing) < state._root_slots(ws, ts):
                clause = blocked_by_memory(state, ws, ts)
                if clause:
                    blocked.append(clause)
        for clause in blocked[:INPUTS_SHOWN]:
            self.say(depth, f"waiting for memory: {clause}")
        if len(blocked) > INPUTS_SHOWN:
            self.say(depth, f"... and {len(blocked) - INPUTS_SHOWN} more worker(s) without the memory for it")

    def no_worker(self, ts, depth: int, name: str) -> None:
        reason = self.state._no_worker_reason(ts)
        self.say(depth, f"{name} is ready but no worker can take it" + (f": {reason}" if reason else ""))
        self.all_workers_blocked(depth + 1)

    def all_workers_blocked(self, depth: int) -> None:
        workers = list(self.state.workers.values())
        if not workers:
            self.say(depth, "no worker is connected to the scheduler")
            return
        paused = [ws for ws in workers if ws.paused]
        if len(paused) == len(workers) and depth <= self.max_depth:
            self.say(depth, f"every worker ({len(workers)}) is paused")
            for ws in paused[:INPUTS_SHOWN]:
                self.worker(ws, depth + 1)

    def processing(self, ts, depth: int, name: str) -> None:
        ws = ts.processing_on
        if ws is None:
            self.say(depth, f"{name} is processing")
            return
        if ws.paused:
            self.say(depth, f"{name} is assigned to worker {ws.name!r}, which is paused and starts no new task")
            if depth < self.max_depth:
                self.worker(ws, depth + 1)
            return
        ahead = len(ws.processing)
        self.say(
            depth,
            f"{name} is processing on worker {ws.name!r} (attempt {ts.attempt}); that worker has "
            f"{ahead} task(s) for {ws.nthreads} thread(s), about {ws.occupancy:.3g}s of work",
        )
        held = [dep for dep in ts.dependencies if dep.state == MEMORY and ws not in dep.who_has]
        if held and depth < self.max_depth:
            paused_holders = [h for dep in held for h in dep.who_has if h.paused]
            nbytes = sum(max(dep.nbytes, 0) for dep in held)
            self.say(depth + 1, f"it fetches {len(held)} input(s) ({format_bytes(nbytes)}) from other workers first")
            for h in dict.fromkeys(paused_holders):
                self.worker(h, depth + 2, role="holder of an input: ")

    def worker(self, ws, depth: int, role: str = "") -> None:
        if ws.name in self.workers_explained:
            self.say(depth, f"{role}worker {ws.name!r} (see above)")
            return
        self.workers_explained.add(ws.name)
        extra = self.details(ws.name) if self.details is not None else {}
        self.say(depth, role + worker_memory(ws, extra))


def worker_memory(ws, extra: Mapping | None = None) -> str:
    """One sentence on a worker's memory: managed, unmanaged, spilled, limit, pause.

    Figures come from the worker's heartbeats as the state keeps them; ``extra`` may
    add a ``pause_fraction`` the worker reported.
    """
    extra = extra or {}
    managed = int(ws.managed_bytes or 0)
    process = int(ws.process_bytes or 0)
    unmanaged = max(process - managed, 0)
    spilled = int(getattr(ws, "spilled_bytes", 0) or 0)
    limit = int(ws.memory_limit or 0)
    pause = float(extra.get("pause_fraction") or DEFAULT_PAUSE)
    state = "is paused" if ws.paused else "is running"
    parts = [f"worker {ws.name!r} {state}:"]
    if limit:
        parts.append(
            f"process memory {format_bytes(process)} of its {format_bytes(limit)} limit "
            f"({process / limit:.0%}; pause threshold {pause:.0%})"
        )
    else:
        parts.append(f"process memory {format_bytes(process)} (no memory limit)")
    if process and unmanaged >= managed:
        parts.append(
            f"mostly unmanaged: {format_bytes(unmanaged)} is not task results (libraries, leaks, "
            f"fragmentation) and cannot be spilled; {format_bytes(managed)} managed"
        )
    elif process:
        parts.append(f"mostly managed: {format_bytes(managed)} of task results, {format_bytes(unmanaged)} unmanaged")
    if spilled:
        parts.append(f"{format_bytes(spilled)} spilled to disk")
    text = parts[0] + " " + "; ".join(parts[1:])
    reason = getattr(ws, "memory_reason", "") or ""
    if ws.paused and reason:
        text += f" (the worker says: {reason})"
    return text


def _last_line(traceback: str | None) -> str:
    if not traceback:
        return ""
    lines = [line.strip() for line in traceback.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
