"""The task transition table: one small method per (start, finish) pair.

`SchedulerState` inherits these. Rules the file obeys:

* Only `_set_state` writes `ts.state`. It keeps the per-state counts, logs the transition
  and applies the two cross-task rules, so no transition can forget them:
  entering or leaving an ACTIVE state counts the task in or out of its dependencies'
  `nwaiters` (and releases a dependency nobody needs any more); entering or leaving
  `memory` updates the dependents' `nwaiting` (a dependent whose last input arrived is
  recommended for `processing`; one whose input vanished goes back to `waiting`).
* A transition never recurses into another task: it *recommends* (`_rec`), and
  `_settle` drains the recommendations. Chains of any length therefore run in a loop.
  Tasks whose inputs are all in memory are recommended with `_rec_ready` instead: they
  are placed after the other recommendations are drained, best priority first, so
  contended workers and resources go to the most urgent work.
* A recommendation can be stale when its turn comes; each method re-checks its premise
  and does nothing when it no longer holds.
"""

from __future__ import annotations

import heapq

from .admission import learn_nbytes
from .commands import ReportErred, ReportInMemory, ReportLost
from .records import (
    ACTIVE,
    ERRED,
    FORGOTTEN,
    MEMORY,
    NO_WORKER,
    PROCESSING,
    QUEUED,
    RELEASED,
    WAITING,
    SchedulerTask,
)

# Payload of keys that came from `DataScattered`: they have no lineage.
NO_LINEAGE = object()


class InvalidTransition(RuntimeError):
    """A transition that the table does not allow: a bug in the scheduler."""


class TransitionsMixin:
    """Transition methods of `SchedulerState` (see the module docstring)."""

    def _transition_table(self) -> dict:
        back = self._t_back_to_waiting
        return {
            (RELEASED, WAITING): self._t_released_waiting,
            (RELEASED, ERRED): self._t_erred,
            (RELEASED, FORGOTTEN): self._t_forget,
            (WAITING, PROCESSING): self._t_ready,
            (WAITING, RELEASED): self._t_released,
            (WAITING, ERRED): self._t_erred,
            (QUEUED, PROCESSING): self._t_ready,
            (QUEUED, WAITING): back,
            (QUEUED, RELEASED): self._t_released,
            (QUEUED, ERRED): self._t_erred,
            (NO_WORKER, PROCESSING): self._t_ready,
            (NO_WORKER, WAITING): back,
            (NO_WORKER, RELEASED): self._t_released,
            (NO_WORKER, ERRED): self._t_erred,
            (PROCESSING, MEMORY): self._t_processing_memory,
            (PROCESSING, WAITING): back,
            (PROCESSING, RELEASED): self._t_released,
            (PROCESSING, ERRED): self._t_erred,
            (MEMORY, RELEASED): self._t_released,
            (ERRED, FORGOTTEN): self._t_forget,
        }

    # --- engine ----------------------------------------------------------------------

    def _rec(self, ts: SchedulerTask, finish: str, **kwargs) -> None:
        """Recommend a transition; the latest recommendation for a task wins."""
        self._recs[ts] = (finish, kwargs)

    def _rec_ready(self, ts: SchedulerTask) -> None:
        """Recommend placing a task whose inputs are all in memory."""
        self._ready_token += 1
        heapq.heappush(self._ready, (ts.priority, self._ready_token, ts))

    def _transition(self, ts: SchedulerTask, finish: str, **kwargs) -> None:
        start = ts.state
        if start == finish or start == FORGOTTEN:
            return
        method = self._table.get((start, finish))
        if method is None:
            raise InvalidTransition(f"{ts.key!r}: {start} -> {finish} is not a valid transition")
        method(ts, **kwargs)

    def _set_state(self, ts: SchedulerTask, new: str) -> None:
        old = ts.state
        ts.state = new
        counts = self._counts
        counts[old] -= 1
        if new != FORGOTTEN:
            counts[new] += 1
        self._log.append(("transition", self._stimulus, ts.key, old, new))

        was_active = old in ACTIVE
        if was_active != (new in ACTIVE):
            if was_active:
                for dep in ts.dependencies:
                    dep.nwaiters -= 1
                    if not dep.nwaiters and not dep.who_wants and dep.state != RELEASED and dep.state != ERRED:
                        self._rec(dep, RELEASED)
            else:
                for dep in ts.dependencies:
                    dep.nwaiters += 1

        if old == MEMORY:
            for dependent in ts.dependents:
                st = dependent.state
                if st == WAITING:
                    dependent.nwaiting += 1
                elif st == PROCESSING or st == QUEUED or st == NO_WORKER:
                    self._rec(dependent, WAITING)
        elif new == MEMORY:
            for dependent in ts.dependents:
                if dependent.state == WAITING:
                    dependent.nwaiting -= 1
                    if not dependent.nwaiting:
                        self._rec_ready(dependent)

    def _release_unneeded(self, ts: SchedulerTask) -> None:
        """Recommend the way out for a task nobody needs any more."""
        if ts.needed():
            return
        if ts.state == RELEASED or ts.state == ERRED:
            if not ts.dependents:
                self._rec(ts, FORGOTTEN)
        else:
            self._rec(ts, RELEASED)

    def _leave_current(self, ts: SchedulerTask, cancel: bool = True) -> None:
        """Undo what the current (pre-run) state holds: a worker slot or a no-worker entry."""
        if ts.state == PROCESSING:
            if ts.processing_on is not None:
                self._unassign(ts, cancel=cancel)
        elif ts.state == NO_WORKER:
            del self.unrunnable[ts]
        # QUEUED: the heap entry is invalidated lazily by the state change.

    def _count_waiting(self, ts: SchedulerTask) -> None:
        """Set `nwaiting` of a task that just entered `waiting`; wake inputs it needs."""
        n = 0
        for dep in ts.dependencies:
            if dep.state != MEMORY:
                n += 1
                if dep.state == RELEASED:
                    self._rec(dep, WAITING)
        ts.nwaiting = n
        if not n:
            self._rec_ready(ts)

    # --- transitions -----------------------------------------------------------------

    def _t_released_waiting(self, ts: SchedulerTask) -> None:
        if not ts.needed():
            self._release_unneeded(ts)
            return
        if ts.payload is NO_LINEAGE:
            self._t_erred(
                ts,
                kind="lost",
                reason=f"{ts.key!r} was scattered data and every worker holding it is gone; "
                "it has no lineage to recompute it from",
            )
            return
        for dep in ts.dependencies:
            if dep.state == ERRED:
                self._t_erred(ts, kind="dependency", blame=dep.blame, reason=_upstream_reason(dep))
                return
        self._set_state(ts, WAITING)
        self._count_waiting(ts)

    def _t_ready(self, ts: SchedulerTask, worker=None) -> None:
        """All inputs are in memory: queue the task, place it, or park it as no-worker."""
        start = ts.state
        if start == WAITING and ts.nwaiting:
            return
        if worker is None:
            target, worker = self._placement(ts)
        else:
            target = PROCESSING
        if target == start:
            return
        self._leave_current(ts)
        self._set_state(ts, target)
        if target == PROCESSING:
            self._assign(ts, worker)
        elif target == QUEUED:
            self._push_queue(ts)
        else:
            self.unrunnable[ts] = None

    def _t_back_to_waiting(self, ts: SchedulerTask) -> None:
        """A placed task must wait again: an input vanished, its worker died, a retry."""
        self._leave_current(ts)
        self._set_state(ts, WAITING)
        self._count_waiting(ts)

    def _t_processing_memory(
        self, ts: SchedulerTask, worker, nbytes: int, duration: float, running_nbytes: int = -1
    ) -> None:
        self._unassign(ts, cancel=False)
        self._learn_duration(ts.prefix, duration)
        learn_nbytes(self, ts.prefix, nbytes, running_nbytes)
        ts.nbytes = nbytes
        ts.who_has[worker] = None
        worker.has_what[ts] = None
        worker.nbytes += nbytes
        self._set_state(ts, MEMORY)
        for client in ts.who_wants:
            self._emit(ReportInMemory(client, ts.key, nbytes))
        if not ts.needed():
            self._rec(ts, RELEASED)

    def _t_released(self, ts: SchedulerTask) -> None:
        start = ts.state
        if start == MEMORY:
            if ts.who_has and ts.needed():
                return  # stale: still needed and still held somewhere
            nbytes = max(ts.nbytes, 0)
            for ws in ts.who_has:
                del ws.has_what[ts]
                ws.nbytes -= nbytes
                self._free(ws, ts.key)
            ts.who_has.clear()
        else:
            if ts.needed():
                return  # stale: somebody wants it again
            self._leave_current(ts)
        ts.nwaiting = 0
        self._set_state(ts, RELEASED)
        if ts.needed():
            self._rec(ts, WAITING)  # lost from memory but still needed: recompute
        elif not ts.dependents:
            self._rec(ts, FORGOTTEN)

    def _t_erred(
        self,
        ts: SchedulerTask,
        reason: str = "",
        kind: str = "raised",
        blame: SchedulerTask | None = None,
        exception: bytes | None = None,
        traceback: str | None = None,
    ) -> None:
        self._leave_current(ts)
        ts.nwaiting = 0
        ts.blame = blame = blame or ts
        if blame is ts:
            ts.exception = exception
            ts.traceback = traceback
        ts.error_reason = reason
        ts.error_kind = kind
        self._set_state(ts, ERRED)
        downstream = _upstream_reason(ts)
        for dependent in ts.dependents:
            if dependent.state in ACTIVE:
                self._rec(dependent, ERRED, kind="dependency", blame=blame, reason=downstream)
        for client in ts.who_wants:
            self._report_erred(client, ts)
        if not ts.needed() and not ts.dependents:
            self._rec(ts, FORGOTTEN)

    def _report_erred(self, client: str, ts: SchedulerTask) -> None:
        if ts.error_kind == "lost":
            self._emit(ReportLost(client, ts.key, ts.error_reason))
            return
        blame = ts.blame or ts
        self._emit(
            ReportErred(
                client,
                ts.key,
                blame.exception,
                blame.traceback,
                ts.error_reason,
                blamed=blame.key,
                kind=ts.error_kind,
            )
        )

    def _t_forget(self, ts: SchedulerTask) -> None:
        if ts.needed() or ts.dependents:
            return
        for dep in ts.dependencies:
            del dep.dependents[ts]
            if not dep.dependents and (dep.state == RELEASED or dep.state == ERRED) and not dep.needed():
                self._rec(dep, FORGOTTEN)
        del self.tasks[ts.key]
        self._set_state(ts, FORGOTTEN)


def _upstream_reason(ts: SchedulerTask) -> str:
    """What a dependent of the failed task `ts` is told."""
    blame = ts.blame or ts
    if blame is ts:
        return f"upstream task {ts.key!r} failed: {ts.error_reason}"
    return ts.error_reason
