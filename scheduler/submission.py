"""How new work and client data enter `SchedulerState`: graphs and scattered data.

A submitted graph is checked before anything runs: a dependency on an unknown key or a
dependency cycle errs the tasks concerned (and what depends on them) with a clear reason,
instead of leaving them waiting forever. Tasks the wanted keys do not reach are forgotten
at once.
"""

from __future__ import annotations

from .commands import ReportErred, ReportInMemory, ReportLost
from .events import DataScattered, GraphSubmitted
from .records import ERRED, MEMORY, RELEASED, WAITING, SchedulerTask, key_prefix
from .transitions import NO_LINEAGE


class SubmissionMixin:
    """`GraphSubmitted` and `DataScattered` handling for `SchedulerState`."""

    def _new_task(self, key, priority: tuple, payload) -> SchedulerTask:
        self._task_seq += 1
        ts = SchedulerTask(key, self._task_seq, priority, payload)
        self.tasks[key] = ts
        self._counts[RELEASED] += 1
        return ts

    def _on_graph_submitted(self, ev: GraphSubmitted) -> None:
        self._generation += 1
        base = (-ev.user_priority, self._generation)
        tasks = self.tasks
        new: list = []
        for key, spec in ev.tasks.items():
            if key in tasks:
                continue  # known keys keep their task (keys name their content)
            order = tuple(spec.priority) if isinstance(spec.priority, (tuple, list)) else (spec.priority,)
            ts = self._new_task(key, base + order, spec.payload)
            ts.prefix = spec.prefix or key_prefix(key)
            ts.retries = spec.retries
            ts.workers = frozenset(spec.workers) if spec.workers is not None else None
            ts.resources = dict(spec.resources) if spec.resources else None
            new.append((ts, spec))

        invalid: dict = {}
        for ts, spec in new:
            deps: dict = {}
            for dep_key in spec.dependencies:
                dep = tasks.get(dep_key)
                if dep is None:
                    invalid[ts] = (
                        f"task {ts.key!r} depends on {dep_key!r}, which is neither in the "
                        "submitted graph nor known to the scheduler"
                    )
                elif dep is ts:
                    invalid[ts] = f"task {ts.key!r} depends on itself"
                else:
                    deps[dep] = None
            ts.dependencies = tuple(deps)
            for dep in deps:
                dep.dependents[ts] = None
        for ts in _in_or_after_cycle(new):
            invalid.setdefault(ts, f"task {ts.key!r} is part of, or depends on, a dependency cycle")
        for ts, reason in invalid.items():
            self._transition(ts, ERRED, kind="invalid-graph", reason=reason)

        client = ev.client
        for key in ev.wanted:
            ts = tasks.get(key)
            if ts is None:
                reason = f"{key!r} is not in the submitted graph and not known to the scheduler"
                self._emit(ReportErred(client, key, None, None, reason, blamed=key, kind="invalid-graph"))
                continue
            if client in ts.who_wants:
                continue
            ts.who_wants[client] = None
            self.clients.setdefault(client, {})[ts] = None
            if ts.state == MEMORY:
                self._emit(ReportInMemory(client, ts.key, ts.nbytes))
            elif ts.state == ERRED:
                self._report_erred(client, ts)
            elif ts.state == RELEASED:
                self._rec(ts, WAITING)

        for ts, _ in new:  # reached by no wanted key: forget (cascades upstream)
            if ts.state == RELEASED and not ts.needed() and not ts.dependents:
                self._release_unneeded(ts)

    def _scatter(self, ev: DataScattered, ws) -> None:
        client = ev.client
        for key, nbytes in ev.keys_nbytes.items():
            if ws is None:
                self._emit(ReportLost(client, key, f"worker {ev.worker!r} is not connected to the scheduler"))
                continue
            ts = self.tasks.get(key)
            if ts is None:
                ts = self._new_task(key, (0, self._generation), NO_LINEAGE)
                ts.prefix = key_prefix(key)
            if ts.state != MEMORY:
                self._leave_current(ts)
                ts.nwaiting = 0
                ts.blame = ts.exception = ts.traceback = None
                ts.error_reason = ts.error_kind = ""
                ts.nbytes = nbytes
                self._set_state(ts, MEMORY)
            if ws not in ts.who_has:
                ts.who_has[ws] = None
                ws.has_what[ts] = None
                ws.nbytes += max(ts.nbytes, 0)
            if client not in ts.who_wants:
                ts.who_wants[client] = None
                self.clients.setdefault(client, {})[ts] = None
            self._emit(ReportInMemory(client, ts.key, ts.nbytes))


def _in_or_after_cycle(new: list) -> list:
    """New tasks that never become ready because a cycle is upstream (Kahn's algorithm)."""
    fresh = {ts: 0 for ts, _ in new}
    for ts in fresh:
        fresh[ts] = sum(1 for dep in ts.dependencies if dep in fresh)
    ready = [ts for ts, n in fresh.items() if not n]
    done = 0
    while ready:
        ts = ready.pop()
        done += 1
        for dependent in ts.dependents:
            if dependent in fresh:
                fresh[dependent] -= 1
                if not fresh[dependent]:
                    ready.append(dependent)
    if done == len(fresh):
        return []
    return [ts for ts, n in fresh.items() if n]

