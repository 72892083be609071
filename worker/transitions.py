"""The worker's transition table: ``{(start, finish): function(state, task)}``.

Each function moves one task out of ``start`` and sets its new state. It may
emit instructions and recommend further transitions through the
``WorkerState`` it is given, but never loops over other tasks' transitions
itself: ``WorkerState`` drains recommendations in order. Checks that need the
whole picture ("is this dependency still needed?", "can this input still
arrive?") are deferred to the end of the event by marking the task
(``_maybe_unneeded``, ``_maybe_lost``), so that an intermediate state on a path
such as ``executing -> released -> waiting`` never triggers them by mistake.

A pair missing from the table goes through ``released``
(``start -> released -> finish``), when both halves exist.

Rules this file keeps:

* A task whose key has a run or a transfer in progress never becomes
  ``released``: it becomes ``cancelled`` until that operation reports back.
* Only ``ready -> executing`` emits ``RunTask`` and only
  ``WorkerState._start_transfer`` moves ``fetch -> flight``.
* Only the completion of the current attempt (``executing -> memory`` or
  ``-> error``) tells the scheduler about a result.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from worker.instructions import RunTask, SendTaskErred, SendTaskFinished
from worker.task import WorkerTask

if TYPE_CHECKING:
    from worker.state import WorkerState

Transition = Callable[["WorkerState", WorkerTask], None]


def _let_go(ws: WorkerState, ts: WorkerTask) -> None:
    """Common exit towards ``released``: ``cancelled`` while still busy."""
    ts.state = "cancelled" if ws.is_busy(ts.key) else "released"
    ts.coming_from = None
    ts.waiting_for.clear()
    ws._maybe_lost[ts] = None
    for dep in ts.dependencies:
        ws._maybe_unneeded[dep] = None
    if ts.state == "released":
        ws._maybe_forget[ts] = None


def _landed(ws: WorkerState, ts: WorkerTask) -> None:
    """``ts`` is now in memory: wake the tasks waiting for it."""
    ts.state = "memory"
    ts.coming_from = None
    ts.exception = None
    for dependent in ts.dependents:
        if dependent.state == "waiting" and ts in dependent.waiting_for:
            del dependent.waiting_for[ts]
            if not dependent.waiting_for:
                ws._recommend(dependent, "ready")
    ws._maybe_unneeded[ts] = None


# ---------------------------------------------------------------------------
# Tasks computed here


def to_waiting(ws: WorkerState, ts: WorkerTask) -> None:
    """released/cancelled -> waiting: ask for every input not yet in memory."""
    assert ts.payload is not None and ts.attempt is not None, ts
    ts.state = "waiting"
    ts.waiting_for = {dep: None for dep in ts.dependencies if dep.state != "memory"}
    for dep in ts.waiting_for:
        if dep.state in ("released", "cancelled", "error"):
            ws._recommend(dep, "fetch")
    if not ts.waiting_for:
        ws._recommend(ts, "ready")


def waiting_to_ready(ws: WorkerState, ts: WorkerTask) -> None:
    assert not ts.waiting_for, ts
    ts.state = "ready"
    ws._push_ready(ts)


def ready_to_executing(ws: WorkerState, ts: WorkerTask) -> None:
    assert not ws.is_busy(ts.key), ts
    assert ts.attempt is not None and ts.payload is not None
    ts.state = "executing"
    ws.running[ts.key] = ts.attempt
    ws._emit(RunTask(ts.key, ts.attempt, ts.payload))


def executing_to_memory(ws: WorkerState, ts: WorkerTask) -> None:
    """The current attempt finished; the caller recorded its result fields."""
    assert ts.nbytes is not None and ts.attempt is not None
    ts.announced = True
    _landed(ws, ts)
    for dep in ts.dependencies:
        ws._maybe_unneeded[dep] = None
    ws._emit(
        SendTaskFinished(ts.key, ts.attempt, ts.nbytes, ts.type_name, ts.start, ts.stop, ts.running_nbytes)
    )


def executing_to_error(ws: WorkerState, ts: WorkerTask) -> None:
    assert ts.exception is not None and ts.attempt is not None
    ts.state = "error"
    ws._maybe_lost[ts] = None
    for dep in ts.dependencies:
        ws._maybe_unneeded[dep] = None
    ws._emit(SendTaskErred(ts.key, ts.attempt, ts.exception, ts.traceback))


# ---------------------------------------------------------------------------
# Inputs fetched from peers


def to_fetch(ws: WorkerState, ts: WorkerTask) -> None:
    """released/cancelled/flight -> fetch, or let go when no holder is left.

    A cancelled task whose transfer is still running rejoins it (``flight``).
    One whose stale run still occupies the key waits in ``fetch`` until the
    run reports back: a key never has two producers at once.
    """
    ts.coming_from = None
    peer = ws.transfer_peer(ts.key)
    if peer is not None:
        ts.state = "flight"
        ts.coming_from = peer
    elif not ts.who_has:
        # Nowhere to get it from: dependents learn it is lost at the end of the event.
        _let_go(ws, ts)
    else:
        ts.state = "fetch"
        ws._push_fetch(ts)


def fetch_to_flight(ws: WorkerState, ts: WorkerTask, peer: str) -> None:
    """Only called by ``WorkerState._start_transfer``, which owns the batch."""
    assert peer in ts.who_has, (ts, peer)
    ts.state = "flight"
    ts.coming_from = peer


def to_memory(ws: WorkerState, ts: WorkerTask) -> None:
    """The value arrived without running here (transfer or scatter)."""
    _landed(ws, ts)


# ---------------------------------------------------------------------------
# Letting go


def to_released(ws: WorkerState, ts: WorkerTask) -> None:
    _let_go(ws, ts)


def memory_to_released(ws: WorkerState, ts: WorkerTask) -> None:
    ws._release_data(ts.key, tell_scheduler=ts.announced)
    ts.announced = False
    ts.scheduler_holds = False
    _let_go(ws, ts)


def error_to_released(ws: WorkerState, ts: WorkerTask) -> None:
    ts.exception = None
    ts.traceback = ""
    _let_go(ws, ts)


def cancelled_to_released(ws: WorkerState, ts: WorkerTask) -> None:
    """Forget it once its run or transfer reported back; until then, wait."""
    if not ws.is_busy(ts.key):
        _let_go(ws, ts)


TRANSITIONS: dict[tuple[str, str], Transition] = {
    ("released", "waiting"): to_waiting,
    ("released", "fetch"): to_fetch,
    ("released", "memory"): to_memory,
    ("waiting", "ready"): waiting_to_ready,
    ("waiting", "released"): to_released,
    ("ready", "executing"): ready_to_executing,
    ("ready", "released"): to_released,
    ("executing", "memory"): executing_to_memory,
    ("executing", "error"): executing_to_error,
    ("executing", "released"): to_released,
    ("fetch", "released"): to_released,
    ("fetch", "memory"): to_memory,
    ("flight", "memory"): to_memory,
    ("flight", "fetch"): to_fetch,
    ("flight", "released"): to_released,
    ("memory", "released"): memory_to_released,
    ("error", "released"): error_to_released,
    ("cancelled", "released"): cancelled_to_released,
    ("cancelled", "waiting"): to_waiting,
    ("cancelled", "fetch"): to_fetch,
    ("cancelled", "memory"): to_memory,
}
