"""Read-only questions about a `SchedulerState`, for the server, the dashboard and humans.

Nothing here mutates state. Answers use plain keys and worker names, never records.
"""

from __future__ import annotations

from .placement import resources_possible
from .records import ALL_STATES, ERRED, MEMORY, NO_WORKER, PROCESSING, QUEUED, RELEASED, WAITING


class QueriesMixin:
    """Queries of `SchedulerState`."""

    def who_has(self, keys=None) -> dict:
        """``{key: (worker, ...)}`` for `keys` (default: every key in memory)."""
        if keys is None:
            keys = [k for k, ts in self.tasks.items() if ts.who_has]
        out = {}
        for key in keys:
            ts = self.tasks.get(key)
            out[key] = tuple(ws.name for ws in ts.who_has) if ts is not None else ()
        return out

    def has_what(self, workers=None) -> dict:
        """``{worker: (key, ...)}`` for `workers` (default: every worker)."""
        names = list(self.workers) if workers is None else workers
        out = {}
        for name in names:
            ws = self.workers.get(name)
            out[name] = tuple(ts.key for ts in ws.has_what) if ws is not None else ()
        return out

    def nthreads(self) -> dict:
        """``{worker: nthreads}``."""
        return {name: ws.nthreads for name, ws in self.workers.items()}

    def task_states_counts(self) -> dict:
        """``{state: number of tasks}`` for every live state (zeros included)."""
        return {state: self._counts[state] for state in ALL_STATES}

    def processing_on(self, worker: str) -> tuple:
        """Keys assigned to `worker` and not finished, in assignment order."""
        ws = self.workers.get(worker)
        return tuple(ts.key for ts in ws.processing) if ws is not None else ()

    def task_state(self, key) -> str:
        """The state of `key`; "forgotten" if the scheduler does not know it."""
        ts = self.tasks.get(key)
        return ts.state if ts is not None else "forgotten"

    def story(self, key) -> list:
        """Log entries that touched `key`, oldest first.

        Each entry is a tuple whose first two items are its kind and the stimulus (the
        1-based number of the event being handled): ``("event", n, event)``,
        ``("command", n, command)``, ``("transition", n, key, start, finish)`` and
        ``("stale", n, key, why)`` for a dropped message.
        """
        out = []
        for entry in self._log:
            kind = entry[0]
            if kind == "transition" or kind == "stale":
                if entry[2] == key:
                    out.append(entry)
            elif entry[2].mentions(key):
                out.append(entry)
        return out

    def why_waiting(self, key) -> str:
        """A sentence explaining what `key` is waiting for (or that it is not)."""
        ts = self.tasks.get(key)
        if ts is None:
            return f"{key!r} is not known to the scheduler (never submitted, or forgotten)"
        st = ts.state
        if st == WAITING:
            missing = [dep for dep in ts.dependencies if dep.state != MEMORY]
            shown = ", ".join(f"{dep.key!r} ({_where(dep)})" for dep in missing[:10])
            more = f" and {len(missing) - 10} more" if len(missing) > 10 else ""
            return f"{key!r} waits for {len(missing)} input(s) not in memory yet: {shown}{more}"
        if st == QUEUED:
            free = sum(max(ws.slots - len(ws.processing), 0) for ws in self._running)
            return (
                f"{key!r} is a root task queued at the scheduler until a worker has a free slot; "
                f"{self._counts[QUEUED]} task(s) queued, {free} free slot(s) on "
                f"{len(self._running)} running worker(s)"
            )
        if st == NO_WORKER:
            return f"{key!r} is ready but no worker can take it: {self._no_worker_reason(ts)}"
        if st == PROCESSING:
            ws = ts.processing_on
            return (
                f"{key!r} is processing on {ws.name!r} (attempt {ts.attempt}); that worker has "
                f"{len(ws.processing)} task(s) for {ws.nthreads} thread(s), about "
                f"{ws.occupancy:.3g}s of work"
            )
        if st == MEMORY:
            return f"{key!r} is not waiting: it is in memory on {', '.join(ws.name for ws in ts.who_has)}"
        if st == ERRED:
            return f"{key!r} is not waiting: it failed. {ts.error_reason}"
        if st == RELEASED:
            return f"{key!r} is not waiting: nothing needs it now (kept as lineage of {len(ts.dependents)} task(s))"
        return f"{key!r} is in state {st}"

    def _no_worker_reason(self, ts) -> str:
        if not self.workers:
            return "no worker is connected"
        if not self._running:
            return "every worker is paused (memory pressure)"
        reasons = []
        pool = list(self._running)
        if ts.workers is not None:
            named = sorted(map(str, ts.workers))
            pool = [ws for ws in pool if ws.name in ts.workers]
            if not pool:
                reasons.append(f"it is restricted to workers {named}, none of which is connected and running")
        if ts.resources and pool:
            able = [ws for ws in pool if resources_possible(ws, ts.resources)]
            if not able:
                reasons.append(f"no allowed worker has the resources {dict(ts.resources)} at all")
            else:
                reasons.append(
                    f"it needs resources {dict(ts.resources)}; {len(able)} worker(s) have them "
                    "but they are held by running tasks"
                )
        return "; ".join(reasons) or "no running worker satisfies its restrictions"


def _where(ts) -> str:
    if ts.state == PROCESSING:
        return f"processing on {ts.processing_on.name!r}"
    return ts.state
