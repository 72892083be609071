"""Invariants of ``WorkerState``, checked by ``WorkerState.validate()``.

Tests call it after every ``handle``; it is O(tasks + queue entries), too slow
for production. Each assertion message names the task, so a failure reads as
"what is wrong with which key"; ``state.story(key)`` then says how it got there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from worker.task import COMPUTING_STATES, ON_ITS_WAY_STATES, STABLE_STATES

if TYPE_CHECKING:
    from worker.state import WorkerState


def validate_worker_state(ws: WorkerState) -> None:
    _validate_bookkeeping(ws)
    for key, ts in ws.tasks.items():
        assert ts.key == key, (key, ts)
        assert ts.state in STABLE_STATES, ts
        assert ws.address not in ts.who_has, ts
        for dep in ts.dependencies:
            assert ws.tasks.get(dep.key) is dep, ("forgotten dependency", ts, dep)
            assert ts in dep.dependents, ("asymmetric link", ts, dep)
        for dependent in ts.dependents:
            assert ws.tasks.get(dependent.key) is dependent, ("stale", ts, dependent)
            assert ts in dependent.dependencies, ("asymmetric link", ts, dependent)
        if ts.state != "waiting":
            assert not ts.waiting_for, ts
        computing = sum(d.state in COMPUTING_STATES for d in ts.dependents)
        assert ts.computing_dependents == computing, (ts, ts.computing_dependents)
        _VALIDATE_BY_STATE[ts.state](ws, ts)
    _validate_no_idle_capacity(ws)


def _validate_bookkeeping(ws: WorkerState) -> None:
    assert len(ws.running) <= ws.max_runs, ws.running
    assert len(ws.transfers) <= ws.max_incoming_transfers, ws.transfers
    assert ws.incoming_nbytes == sum(t.nbytes for t in ws.transfers.values())
    seen: set = set()
    for peer, transfer in ws.transfers.items():
        assert transfer.keys, peer
        for key in transfer.keys:
            assert key in ws.tasks, ("transfer of a forgotten key", peer, key)
            assert key not in seen, ("key in two transfers", key)
            assert key not in ws.running, ("two producers", key)
            seen.add(key)
    for key in ws.running:
        assert key in ws.tasks, ("run of a forgotten key", key)
    assert not ws._recs and not ws._out, "scratch not drained"
    assert not ws._maybe_lost and not ws._maybe_unneeded and not ws._maybe_forget
    queued = len(ws._ready) + sum(map(len, ws._fetch_by_peer.values()))
    assert ws._queued == queued, (ws._queued, queued)


def _needed(ts) -> bool:
    return ts.scheduler_holds or ts.computing_dependents > 0


def _computing(ws: WorkerState, ts) -> None:
    assert ts.attempt is not None and ts.payload is not None, ts
    assert ts.scheduler_holds, ts


def _waiting(ws: WorkerState, ts) -> None:
    _computing(ws, ts)
    assert ts.waiting_for, ts
    missing = {d for d in ts.dependencies if d.state != "memory"}
    assert set(ts.waiting_for) == missing, (ts, ts.waiting_for, missing)
    for dep in ts.waiting_for:
        assert dep.state in ON_ITS_WAY_STATES, ("waiting on a dead end", ts, dep)


def _ready(ws: WorkerState, ts) -> None:
    _computing(ws, ts)
    assert all(d.state == "memory" for d in ts.dependencies), ts
    if not ws.is_busy(ts.key):
        assert (ts.priority, ts.queue_seq, ts.key) in ws._ready, ("not queued", ts)


def _executing(ws: WorkerState, ts) -> None:
    _computing(ws, ts)
    assert ws.running.get(ts.key) == ts.attempt, (ts, ws.running.get(ts.key))
    assert all(d.state == "memory" for d in ts.dependencies), ts


def _fetch(ws: WorkerState, ts) -> None:
    assert ts.who_has, ("fetch without holders", ts)
    assert ws.transfer_peer(ts.key) is None, ts
    assert _needed(ts), ("fetching an unneeded key", ts)
    if not ws.is_busy(ts.key):
        entry = (ts.priority, ts.queue_seq, ts.key)
        for peer in ts.who_has:
            assert entry in ws._fetch_by_peer.get(peer, ()), ("not queued", ts, peer)


def _flight(ws: WorkerState, ts) -> None:
    peer = ts.coming_from
    assert peer is not None and peer in ws.transfers, ts
    assert ts.key in ws.transfers[peer].keys, ts
    assert _needed(ts), ("flight of an unneeded key", ts)


def _memory(ws: WorkerState, ts) -> None:
    assert ts.nbytes is not None, ts
    assert _needed(ts), ("unneeded value kept", ts)


def _error(ws: WorkerState, ts) -> None:
    assert ts.exception is not None and ts.attempt is not None, ts
    assert _needed(ts), ("unneeded error kept", ts)


def _cancelled(ws: WorkerState, ts) -> None:
    assert ws.is_busy(ts.key), ("cancelled but nothing in progress", ts)
    assert ts.coming_from is None, ts


_VALIDATE_BY_STATE = {
    "waiting": _waiting,
    "ready": _ready,
    "executing": _executing,
    "fetch": _fetch,
    "flight": _flight,
    "memory": _memory,
    "error": _error,
    "cancelled": _cancelled,
}


def _validate_no_idle_capacity(ws: WorkerState) -> None:
    """Unless paused, no thread idles with a runnable task, no transfer slot
    idles with a fetchable key (a work-conserving scheduler)."""
    if ws.paused:
        return
    if len(ws.running) < ws.nthreads:
        for ts in ws.tasks.values():
            if ts.state == "ready":
                assert ws.is_busy(ts.key), ("ready task left idle", ts)
    if len(ws.transfers) >= ws.max_incoming_transfers:
        return
    # Each idle peer's most urgent key must not fit in the byte budget.
    top: dict = {}
    for ts in ws.tasks.values():
        if ts.state == "fetch" and not ws.is_busy(ts.key):
            for peer in ts.who_has - ws.transfers.keys():
                rank = (ts.priority, ts.queue_seq)
                if peer not in top or rank < top[peer][0]:
                    top[peer] = (rank, ts)
    for peer, (_, ts) in top.items():
        fits = not ws.transfers or (
            ws.incoming_nbytes + ws._nbytes(ts) <= ws.incoming_bytes_limit
        )
        assert not fits, ("fetch left idle", ts, peer)
