"""Invariants of `SchedulerState`, checked by `validate_state` (on in every test).

Each check raises `InvariantViolation` with a message naming the task or worker, so a
failing test points at the record and `story(key)` tells how it got there. The checks do
not use `assert`, so they also run under ``python -O``.
"""

from __future__ import annotations

import math

from .records import ACTIVE, ALL_STATES, ERRED, MEMORY, NO_WORKER, PROCESSING, QUEUED, RELEASED, WAITING


class InvariantViolation(AssertionError):
    """The scheduler's state contradicts itself: a bug in the scheduler."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise InvariantViolation(message)


def validate_state(state) -> None:
    counts = dict.fromkeys(ALL_STATES, 0)
    for key, ts in state.tasks.items():
        _validate_task(state, key, ts)
        counts[ts.state] += 1
    _check(counts == state._counts, f"state counts {state._counts} != actual {counts}")

    for name, ws in state.workers.items():
        _validate_worker(state, name, ws)

    for client, wanted in state.clients.items():
        _check(bool(wanted), f"client {client!r} has an empty wanted set")
        for ts in wanted:
            _check(state.tasks.get(ts.key) is ts, f"client {client!r} wants dead task {ts!r}")
            _check(client in ts.who_wants, f"{ts!r} lacks client {client!r} in who_wants")

    for ts in state.unrunnable:
        _check(ts.state == NO_WORKER, f"{ts!r} in unrunnable but {ts.state}")
    for ts, thief in state._steals.items():
        _check(ts.state == PROCESSING, f"{ts!r} being stolen but {ts.state}")
    live = sum(1 for _, token, ts in state._queue if ts.state == QUEUED and ts.queue_token == token)
    _check(live == counts[QUEUED], f"{live} live queue entries for {counts[QUEUED]} queued tasks")
    incoming: dict = {}
    for thief in state._steals.values():
        incoming[thief] = incoming.get(thief, 0) + 1
    for ws in state.workers.values():
        _check(ws.incoming == incoming.get(ws, 0), f"{ws!r} incoming={ws.incoming}, expected {incoming.get(ws, 0)}")
    _check(not state._recs and not state._ready, "recommendations left unprocessed")


def _validate_task(state, key, ts) -> None:
    _check(ts.key == key, f"{ts!r} stored under {key!r}")
    st = ts.state
    _check(st in ALL_STATES, f"{ts!r} has unknown state")
    for dep in ts.dependencies:
        _check(state.tasks.get(dep.key) is dep, f"{ts!r} depends on forgotten {dep!r}")
        _check(ts in dep.dependents, f"{dep!r} lacks dependent {ts!r}")
    for dependent in ts.dependents:
        _check(state.tasks.get(dependent.key) is dependent, f"{ts!r} has forgotten dependent {dependent!r}")
        _check(ts in dependent.dependencies, f"{dependent!r} lacks dependency {ts!r}")
    nwaiters = sum(1 for d in ts.dependents if d.state in ACTIVE)
    _check(ts.nwaiters == nwaiters, f"{ts!r} nwaiters={ts.nwaiters}, expected {nwaiters}")
    for client in ts.who_wants:
        _check(ts in state.clients.get(client, ()), f"{ts!r} wanted by {client!r} who does not list it")

    if st in ACTIVE:
        _check(ts.needed(), f"{ts!r} is {st} though nothing needs it")
    if st == WAITING:
        missing = [dep for dep in ts.dependencies if dep.state != MEMORY]
        _check(ts.nwaiting == len(missing) > 0, f"{ts!r} nwaiting={ts.nwaiting}, {len(missing)} inputs missing")
        for dep in missing:
            _check(dep.state in ACTIVE, f"{ts!r} waits on {dep!r}, which is not on its way")
    elif st in (QUEUED, NO_WORKER, PROCESSING):
        for dep in ts.dependencies:
            _check(dep.state == MEMORY, f"{ts!r} is {st} but input {dep!r} is not in memory")
    if st == QUEUED:
        _check(not ts.dependencies, f"{ts!r} queued but has dependencies")
    _check((ts in state.unrunnable) == (st == NO_WORKER), f"{ts!r} unrunnable membership wrong")
    if st == PROCESSING:
        ws = ts.processing_on
        _check(ws is not None and state.workers.get(ws.name) is ws, f"{ts!r} processing on a dead worker")
        _check(ts in ws.processing, f"{ts!r} not in {ws!r}.processing")
        _check(ts.attempt > 0, f"{ts!r} processing without attempt")
    else:
        _check(ts.processing_on is None, f"{ts!r} is {st} but has processing_on")
    if st == MEMORY:
        _check(bool(ts.who_has), f"{ts!r} in memory nowhere")
        _check(ts.needed(), f"{ts!r} in memory though nothing needs it")
        for ws in ts.who_has:
            _check(state.workers.get(ws.name) is ws, f"{ts!r} held by dead worker {ws!r}")
            _check(ts in ws.has_what, f"{ws!r} lacks {ts!r} in has_what")
    else:
        _check(not ts.who_has, f"{ts!r} is {st} but has holders")
    if st == RELEASED:
        _check(not ts.needed(), f"{ts!r} released though needed")
        _check(bool(ts.dependents), f"{ts!r} released with no dependents: should be forgotten")
    if st == ERRED:
        _check(ts.blame is not None, f"{ts!r} erred without blame")
        _check(ts.needed() or bool(ts.dependents), f"{ts!r} erred, unneeded, no dependents: should be forgotten")


def _validate_worker(state, name, ws) -> None:
    _check(ws.name == name, f"{ws!r} stored under {name!r}")
    total = 0
    for ts in ws.processing:
        _check(ts.processing_on is ws and ts.state == PROCESSING, f"{ws!r} processing {ts!r}")
    occupancy = sum(ws.processing.values())
    _check(math.isclose(ws.occupancy, occupancy, rel_tol=1e-6, abs_tol=1e-6), f"{ws!r} occupancy drift")
    for ts in ws.has_what:
        _check(ws in ts.who_has and ts.state == MEMORY, f"{ws!r} has {ts!r}")
        total += max(ts.nbytes, 0)
    _check(ws.nbytes == total, f"{ws!r} nbytes={ws.nbytes}, expected {total}")
    used: dict = {}
    for ts in ws.processing:
        for r, amount in (ts.resources or {}).items():
            used[r] = used.get(r, 0) + amount
    for r, amount in ws.used_resources.items():
        _check(math.isclose(amount, used.get(r, 0), abs_tol=1e-9), f"{ws!r} resource {r} used {amount}")
    n = len(ws.processing)
    _check((ws in state._idle) == (n < ws.nthreads and not ws.paused), f"{ws!r} idle membership wrong")
    _check((ws in state._saturated) == (n > ws.nthreads), f"{ws!r} saturated membership wrong")
    _check((ws in state._running) == (not ws.paused), f"{ws!r} running membership wrong")
    if state.queuing and state._counts[QUEUED]:
        _check(ws.paused or n >= ws.slots, f"{ws!r} has a free slot while tasks are queued")


__all__ = ["InvariantViolation", "validate_state"]
