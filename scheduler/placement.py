"""Where tasks run: worker choice by estimated start time, and work-stealing plans.

Pure functions over a `SchedulerState`; they read it and return a decision, and never
mutate it. The estimate of when a task could start on worker `ws` is

    ws.occupancy / ws.nthreads                  (work already queued there, per thread)
  + bytes of inputs ws lacks / bandwidth        (transfer)
  + transfer_latency * number of inputs it lacks

and ties go to the worker holding fewer bytes, then to the one that joined first.
Workers whose free memory cannot hold the task's expected output are passed over when
another candidate can (`admission`).
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING

from .admission import admits, expected_nbytes
from .records import SchedulerTask, SchedulerWorker

if TYPE_CHECKING:
    from .state import SchedulerState


def resources_free(ws: SchedulerWorker, needs) -> bool:
    """Whether `ws` has `needs` available right now (not held by running tasks)."""
    have, used = ws.resources, ws.used_resources
    for name, amount in needs.items():
        if have.get(name, 0) - used.get(name, 0) < amount:
            return False
    return True


def resources_possible(ws: SchedulerWorker, needs) -> bool:
    """Whether `ws` could ever run a task with `needs`."""
    have = ws.resources
    return all(have.get(name, 0) >= amount for name, amount in needs.items())


def valid_workers(state: SchedulerState, ts: SchedulerTask) -> list | None:
    """Workers allowed to take `ts` now, or None if it has no restrictions."""
    if ts.workers is None and ts.resources is None:
        return None
    if ts.workers is not None:
        pool = [state.workers[n] for n in ts.workers if n in state.workers]
        pool = [ws for ws in pool if not ws.paused]
    else:
        pool = list(state._running)
    if ts.resources:
        pool = [ws for ws in pool if resources_free(ws, ts.resources)]
    return pool


def may_run_on(ts: SchedulerTask, ws: SchedulerWorker) -> bool:
    if ts.workers is not None and ws.name not in ts.workers:
        return False
    return not ts.resources or resources_free(ws, ts.resources)


def decide_worker(state: SchedulerState, ts: SchedulerTask) -> SchedulerWorker | None:
    """The running worker where `ts` would start soonest, or None if there is none."""
    valid = valid_workers(state, ts)
    if valid is not None and not valid:
        return None
    if not ts.dependencies:
        if valid is not None:
            candidates = valid
        else:
            candidates = state._idle or state._running
        return min(_with_room(state, ts, candidates), key=_load_key, default=None)

    held: dict = {}
    nheld: dict = {}
    total = 0
    for dep in ts.dependencies:
        nb = dep.nbytes if dep.nbytes > 0 else 0
        total += nb
        for ws in dep.who_has:
            held[ws] = held.get(ws, 0) + nb
            nheld[ws] = nheld.get(ws, 0) + 1
    if valid is None:
        candidates = [ws for ws in held if not ws.paused]
        for ws in state._idle:  # one idle worker competes with the holders
            if ws not in held:
                candidates.append(ws)
            break
        if not candidates:
            candidates = state._running
    else:
        allowed = set(valid)
        candidates = [ws for ws in held if ws in allowed]
        for ws in valid:
            if ws not in held and len(ws.processing) < ws.nthreads:
                candidates.append(ws)
                break
        if not candidates:
            candidates = valid

    candidates = _with_room(state, ts, candidates, state._idle if valid is None else valid)
    ndeps = len(ts.dependencies)
    bandwidth = state.bandwidth
    latency = state.transfer_latency

    def objective(ws: SchedulerWorker) -> tuple:
        start = (
            ws.occupancy / ws.nthreads
            + (total - held.get(ws, 0)) / bandwidth
            + (ndeps - nheld.get(ws, 0)) * latency
        )
        return (start, ws.nbytes, ws.seq)

    return min(candidates, key=objective, default=None)


def _with_room(state: SchedulerState, ts: SchedulerTask, candidates, others=()):
    """The candidates with memory for `ts` (see `admission`); else the `others` that have
    it; else all the candidates (memory slows work down, it never stalls it)."""
    if not expected_nbytes(state, ts):
        return candidates
    fitting = [ws for ws in candidates if admits(state, ws, ts)]
    if not fitting:
        fitting = [ws for ws in others if ws not in candidates and admits(state, ws, ts)]
    return fitting or candidates


def _load_key(ws: SchedulerWorker) -> tuple:
    return (ws.occupancy / ws.nthreads, len(ws.processing) / ws.nthreads, ws.nbytes, ws.seq)


def transfer_time(state: SchedulerState, ts: SchedulerTask, ws: SchedulerWorker) -> float:
    """Seconds to bring the inputs of `ts` that `ws` lacks."""
    nbytes = 0
    n = 0
    for dep in ts.dependencies:
        if ws not in dep.who_has:
            nbytes += dep.nbytes if dep.nbytes > 0 else 0
            n += 1
    return nbytes / state.bandwidth + n * state.transfer_latency


def plan_steals(state: SchedulerState, thieves, victim_limit: int | None = None) -> list:
    """Pick (task, victim, thief) moves from saturated workers to idle `thieves`.

    A task is worth moving when it would start on the thief (after fetching its inputs)
    sooner than it would start on the victim. Candidates are the victim's lowest-priority
    tasks beyond its thread count, which it has most likely not started; the two-phase
    `RequestSteal` lets the victim refuse if it has. Victims are tried most loaded first;
    when the most loaded one is not worth stealing from, no other is for that thief.
    `victim_limit` bounds the work on hot paths by looking at that many saturated
    workers only (the ones saturated longest); a periodic call looks at all.
    """
    saturated = state._saturated
    if not saturated:
        return []
    if victim_limit is not None and len(saturated) > victim_limit:
        pool = [ws for _, ws in zip(range(victim_limit), saturated)]
    else:
        pool = list(saturated)
    heap = [(-ws.occupancy / ws.nthreads, ws.seq, ws) for ws in pool if ws.occupancy > 0]
    if not heap:
        return []
    heapq.heapify(heap)
    outgoing: dict = {}
    for ts in state._steals:
        outgoing[ts.processing_on] = outgoing.get(ts.processing_on, 0) + 1
    shed: dict = {}  # victim -> seconds of work planned away from it in this call
    candidates: dict = {}  # victim -> its tasks, lowest priority first
    plans: list = []
    planned: set = set()
    for thief in thieves:
        if thief.paused or state.workers.get(thief.name) is not thief:
            continue
        capacity = thief.nthreads - len(thief.processing) - thief.incoming
        gained = 0.0
        while capacity > 0 and heap:
            _, seq, victim = heap[0]
            spare = len(victim.processing) - outgoing.get(victim, 0) - victim.nthreads
            ts = None
            if spare > 0:
                order = candidates.get(victim)
                if order is None:
                    order = candidates[victim] = sorted(victim.processing, key=_priority, reverse=True)
                ts = _first_stealable(order, thief, planned, state._steals)
            if ts is None:
                heapq.heappop(heap)
                continue
            duration = victim.processing[ts]
            load = victim.occupancy - shed.get(victim, 0.0)
            wait_on_victim = (load - duration) / victim.nthreads
            start_on_thief = (thief.occupancy + gained) / thief.nthreads + transfer_time(state, ts, thief)
            if start_on_thief >= wait_on_victim:
                break
            plans.append((ts, victim, thief))
            planned.add(ts)
            outgoing[victim] = outgoing.get(victim, 0) + 1
            shed[victim] = shed.get(victim, 0.0) + duration
            heapq.heapreplace(heap, (-(load - duration) / victim.nthreads, seq, victim))
            gained += duration
            capacity -= 1
    return plans


def _priority(ts: SchedulerTask) -> tuple:
    return ts.priority


def _first_stealable(order: list, thief: SchedulerWorker, planned: set, in_flight) -> SchedulerTask | None:
    for ts in order:
        if ts not in planned and ts not in in_flight and may_run_on(ts, thief):
            return ts
    return None
