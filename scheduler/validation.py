"""Invariants of `SchedulerState`, checked by `validate_state` (on in every test).

Each check raises `InvariantViolation` with a message naming the task or worker, so a
failing test points at the record and `story(key)` tells how it got there. The checks do
not use `assert`, so they also run under ``python -O``.
"""

from __future__ import annotations

import math

from .admission import admits
from .records import ACTIVE, ALL_STATES, ERRED, MEMORY, NO_WORKER, PROCESSING, QUEUED, RELEASED, WAITING


class InvariantViolation(AssertionError):
    """The scheduler's state contradicts itself: a bug in the scheduler."""


def validate_state(state) -> None:
    counts = dict.fromkeys(ALL_STATES, 0)
    for key, ts in state.tasks.items():
        _validate_task(state, key, ts)
        counts[ts.state] += 1
    if not (counts == state._counts):
        raise InvariantViolation(f"state counts {state._counts} != actual {counts}")

    for name, ws in state.workers.items():
        _validate_worker(state, name, ws)

    for client, wanted in state.clients.items():
        if not (bool(wanted)):
            raise InvariantViolation(f"client {client!r} has an empty wanted set")
        for ts in wanted:
            if not (state.tasks.get(ts.key) is ts):
                raise InvariantViolation(f"client {client!r} wants dead task {ts!r}")
            if not (client in ts.who_wants):
                raise InvariantViolation(f"{ts!r} lacks client {client!r} in who_wants")

    for ts in state.unrunnable:
        if not (ts.state == NO_WORKER):
            raise InvariantViolation(f"{ts!r} in unrunnable but {ts.state}")
    for ts, thief in state._steals.items():
        if not (ts.state == PROCESSING):
            raise InvariantViolation(f"{ts!r} being stolen but {ts.state}")
    live = sum(1 for _, token, ts in state._queue if ts.state == QUEUED and ts.queue_token == token)
    if not (live == counts[QUEUED]):
        raise InvariantViolation(f"{live} live queue entries for {counts[QUEUED]} queued tasks")
    incoming: dict = {}
    for thief in state._steals.values():
        incoming[thief] = incoming.get(thief, 0) + 1
    for ws in state.workers.values():
        if not (ws.incoming == incoming.get(ws, 0)):
            raise InvariantViolation(f"{ws!r} incoming={ws.incoming}, expected {incoming.get(ws, 0)}")
    if not (not state._recs and not state._ready):
        raise InvariantViolation("recommendations left unprocessed")


def _validate_task(state, key, ts) -> None:
    if not (ts.key == key):
        raise InvariantViolation(f"{ts!r} stored under {key!r}")
    st = ts.state
    if not (st in ALL_STATES):
        raise InvariantViolation(f"{ts!r} has unknown state")
    for dep in ts.dependencies:
        if not (state.tasks.get(dep.key) is dep):
            raise InvariantViolation(f"{ts!r} depends on forgotten {dep!r}")
        if not (ts in dep.dependents):
            raise InvariantViolation(f"{dep!r} lacks dependent {ts!r}")
    for dependent in ts.dependents:
        if not (state.tasks.get(dependent.key) is dependent):
            raise InvariantViolation(f"{ts!r} has forgotten dependent {dependent!r}")
        if not (ts in dependent.dependencies):
            raise InvariantViolation(f"{dependent!r} lacks dependency {ts!r}")
    nwaiters = sum(1 for d in ts.dependents if d.state in ACTIVE)
    if not (ts.nwaiters == nwaiters):
        raise InvariantViolation(f"{ts!r} nwaiters={ts.nwaiters}, expected {nwaiters}")
    for client in ts.who_wants:
        if not (ts in state.clients.get(client, ())):
            raise InvariantViolation(f"{ts!r} wanted by {client!r} who does not list it")

    if st in ACTIVE:
        if not (ts.needed()):
            raise InvariantViolation(f"{ts!r} is {st} though nothing needs it")
    if st == WAITING:
        missing = [dep for dep in ts.dependencies if dep.state != MEMORY]
        if not (ts.nwaiting == len(missing) > 0):
            raise InvariantViolation(f"{ts!r} nwaiting={ts.nwaiting}, {len(missing)} inputs missing")
        for dep in missing:
            if not (dep.state in ACTIVE):
                raise InvariantViolation(f"{ts!r} waits on {dep!r}, which is not on its way")
    elif st in (QUEUED, NO_WORKER, PROCESSING):
        for dep in ts.dependencies:
            if not (dep.state == MEMORY):
                raise InvariantViolation(f"{ts!r} is {st} but input {dep!r} is not in memory")
    if st == QUEUED:
        if not (not ts.dependencies):
            raise InvariantViolation(f"{ts!r} queued but has dependencies")
    if not ((ts in state.unrunnable) == (st == NO_WORKER)):
        raise InvariantViolation(f"{ts!r} unrunnable membership wrong")
    if st == PROCESSING:
        ws = ts.processing_on
        if not (ws is not None and state.workers.get(ws.name) is ws):
            raise InvariantViolation(f"{ts!r} processing on a dead worker")
        if not (ts in ws.processing):
            raise InvariantViolation(f"{ts!r} not in {ws!r}.processing")
        if not (ts.attempt > 0):
            raise InvariantViolation(f"{ts!r} processing without attempt")
    else:
        if not (ts.processing_on is None):
            raise InvariantViolation(f"{ts!r} is {st} but has processing_on")
    if st == MEMORY:
        if not (bool(ts.who_has)):
            raise InvariantViolation(f"{ts!r} in memory nowhere")
        if not (ts.needed()):
            raise InvariantViolation(f"{ts!r} in memory though nothing needs it")
        for ws in ts.who_has:
            if not (state.workers.get(ws.name) is ws):
                raise InvariantViolation(f"{ts!r} held by dead worker {ws!r}")
            if not (ts in ws.has_what):
                raise InvariantViolation(f"{ws!r} lacks {ts!r} in has_what")
    else:
        if not (not ts.who_has):
            raise InvariantViolation(f"{ts!r} is {st} but has holders")
    if st == RELEASED:
        if not (not ts.needed()):
            raise InvariantViolation(f"{ts!r} released though needed")
        if not (bool(ts.dependents)):
            raise InvariantViolation(f"{ts!r} released with no dependents: should be forgotten")
    if st == ERRED:
        if not (ts.blame is not None):
            raise InvariantViolation(f"{ts!r} erred without blame")
        if not (ts.needed() or bool(ts.dependents)):
            raise InvariantViolation(f"{ts!r} erred, unneeded, no dependents: should be forgotten")


def _validate_worker(state, name, ws) -> None:
    if not (ws.name == name):
        raise InvariantViolation(f"{ws!r} stored under {name!r}")
    total = 0
    for ts in ws.processing:
        if not (ts.processing_on is ws and ts.state == PROCESSING):
            raise InvariantViolation(f"{ws!r} processing {ts!r}")
    occupancy = sum(ws.processing.values())
    if not (math.isclose(ws.occupancy, occupancy, rel_tol=1e-6, abs_tol=1e-6)):
        raise InvariantViolation(f"{ws!r} occupancy drift")
    if ws.expected_nbytes != sum(ts.expected_nbytes for ts in ws.processing):
        raise InvariantViolation(f"{ws!r} expected output bytes disagree with its processing tasks")
    for ts in ws.has_what:
        if not (ws in ts.who_has and ts.state == MEMORY):
            raise InvariantViolation(f"{ws!r} has {ts!r}")
        total += max(ts.nbytes, 0)
    if not (ws.nbytes == total):
        raise InvariantViolation(f"{ws!r} nbytes={ws.nbytes}, expected {total}")
    used: dict = {}
    for ts in ws.processing:
        for r, amount in (ts.resources or {}).items():
            used[r] = used.get(r, 0) + amount
    for r, amount in ws.used_resources.items():
        if not (math.isclose(amount, used.get(r, 0), abs_tol=1e-9)):
            raise InvariantViolation(f"{ws!r} resource {r} used {amount}")
    n = len(ws.processing)
    if not ((ws in state._idle) == (n < ws.nthreads and not ws.paused)):
        raise InvariantViolation(f"{ws!r} idle membership wrong")
    if not ((ws in state._saturated) == (n > ws.nthreads)):
        raise InvariantViolation(f"{ws!r} saturated membership wrong")
    if not ((ws in state._running) == (not ws.paused)):
        raise InvariantViolation(f"{ws!r} running membership wrong")
    if state.queuing and state._counts[QUEUED]:
        head = _most_urgent_queued(state)
        if not (ws.paused or n >= state._root_slots(ws, head) or not admits(state, ws, head)):
            raise InvariantViolation(f"{ws!r} has a free slot (and the memory) while tasks are queued")


def _most_urgent_queued(state):
    live = [e for e in state._queue if e[2].state == QUEUED and e[2].queue_token == e[1]]
    return min(live, key=lambda e: (e[0], e[1]))[2]


__all__ = ["InvariantViolation", "validate_state"]
