"""The data behind the dashboard: plain JSON-ready dicts read from a running scheduler.

`DashboardData` reads the server's `SchedulerState`, its worker registrations and its
`ClusterMetrics`; it never changes them. Whole-state aggregations (progress per task
prefix) are cached for `CACHE_SECONDS`, so any number of open browsers costs the
scheduler one pass over its tasks per interval; the task stream is served
incrementally from a cursor each browser keeps.
"""

from __future__ import annotations

import time
from typing import Any

from pardata import config

from ..metrics import key_from_text, key_text, prefix_colour, progress_by_prefix, stream_records
from ..why import DEFAULT_PAUSE, explain

__all__ = ["DashboardData", "worker_row"]

#: Seconds a whole-state aggregation is reused for.
CACHE_SECONDS = 0.5
#: A whole-state pass is repeated no sooner than this many times its own duration.
PROGRESS_BUDGET = 100
#: A browser is asked to poll no sooner than this many times what its last answer cost
#: (so one open page costs the scheduler at most ~2.5%, however busy it is).
POLL_BUDGET = 40
#: Poll intervals asked of browsers, milliseconds.
POLL_MS = (500, 5000)
#: Most task-stream records sent in one poll (beyond, one in k is sent).
STREAM_LIMIT = 2000
#: Dependencies / dependents / story entries shown on a task page.
TASK_PAGE_LIMIT = 200


def _pause_default() -> float:
    value = config.get("worker.memory.pause", DEFAULT_PAUSE)
    return float(value) if value else 0.0


def worker_row(ws, info: dict, report, pause_default: float = DEFAULT_PAUSE, now: float | None = None) -> dict:
    """One worker as the pages show it; figures a worker did not report are 0."""
    managed = int(ws.managed_bytes or 0)
    process = int(ws.process_bytes or 0)
    address = ws.name
    http_port = int(report.get("http_port", default=0) or 0)
    host = _host_of(address)
    seen = (time.monotonic() if now is None else now) - ws.last_seen
    return {
        "address": address,
        "name": str(info.get("name", address)),
        "nthreads": ws.nthreads,
        "memory_limit": int(ws.memory_limit or 0),
        "managed": managed,
        "unmanaged": max(process - managed, 0),
        "spilled": int(getattr(ws, "spilled_bytes", 0) or 0),
        "process": process,
        "paused": bool(ws.paused),
        "pause_reason": str(getattr(ws, "memory_reason", "") or ""),
        "pause_fraction": float(report.get("pause_fraction", default=pause_default) or 0.0),
        "cpu": float(report.get("cpu", default=0.0) or 0.0),
        "net_in": float(report.get("net_in_bps", default=0.0) or 0.0),
        "net_out": float(report.get("net_out_bps", default=0.0) or 0.0),
        "transfer_in_bytes": int(report.get("transfer_in_bytes", default=0) or 0),
        "transfer_out_bytes": int(report.get("transfer_out_bytes", default=0) or 0),
        "loop_latency": float(report.get("loop_latency", default=0.0) or 0.0),
        "processing": len(ws.processing),
        "keys": len(ws.has_what),
        "nbytes": int(ws.nbytes),
        "last_seen": round(max(seen, 0.0), 3),
        "pid": info.get("pid", 0),
        "http": f"http://{host}:{http_port}" if http_port and host else "",
    }


def _host_of(address: str) -> str:
    """``tcp://127.0.0.1:4000`` -> ``127.0.0.1``; ``tcp://[::1]:4000`` -> ``[::1]``."""
    if "://" not in address:
        return ""
    rest = address.split("://", 1)[1]
    if rest.startswith("["):
        return rest[: rest.index("]") + 1] if "]" in rest else ""
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


class DashboardData:
    """JSON documents for the pages and the JSON API of one `SchedulerServer`."""

    def __init__(self, server) -> None:
        self.server = server
        self._progress: tuple[float, list] = (-1.0, [])
        self._prefix_order: dict = {}  # prefixes in order of first appearance
        self._progress_cost = 0.0  # CPU seconds the last progress pass took
        self.status_cost = 0.0  # CPU seconds the last status answer took, encoding included
        self.colours: dict[str, str] = {}  # task prefix -> colour, in order of appearance
        self.pause_default = _pause_default()

    @property
    def state(self):
        return self.server.state

    @property
    def metrics(self):
        return self.server.metrics

    # --- pieces --------------------------------------------------------------------------

    def workers(self) -> list[dict]:
        server, state, metrics = self.server, self.state, self.metrics
        now = time.monotonic()
        rows = []
        for name, ws in list(state.workers.items()):
            info = server.worker_info.get(name, {})
            rows.append(worker_row(ws, info, metrics.report(name), self.pause_default, now))
        if len(metrics.workers) > len(rows):
            metrics.forget_workers(state.workers)
        return rows

    def progress(self) -> list[dict]:
        stamp, cached = self._progress
        now = time.monotonic()
        # at most every CACHE_SECONDS, and then so that this pass costs at most
        # 1 / PROGRESS_BUDGET of the scheduler's time, however many tasks it holds
        if now - stamp < max(CACHE_SECONDS, PROGRESS_BUDGET * self._progress_cost):
            return cached
        cpu = time.thread_time()
        rows = []
        for prefix, counts in progress_by_prefix(self.state.tasks.values(), self._prefix_order).items():
            rows.append({"prefix": prefix, "colour": self._colour(prefix), **counts})
        self._progress = (now, rows)
        self._progress_cost = time.thread_time() - cpu
        return rows

    def errors(self, limit: int = 20) -> list[dict]:
        tasks = self.state.tasks
        out = []
        for key, worker, when, tb in reversed(list(self.metrics.errors)[-limit:]):
            ts = tasks.get(key)
            out.append({
                "key": key_text(key),
                "worker": worker,
                "time": when,
                "state": ts.state if ts is not None else "forgotten",
                "reason": (ts.error_reason if ts is not None else "") or "",
                "traceback": tb,
            })
        return out

    def stream(self, since: int, limit: int | None = STREAM_LIMIT) -> dict:
        """Task-stream records after cursor ``since`` (see `stream_records`), with the
        colours of their prefixes."""
        doc = stream_records(self.metrics.task_stream, self.state.tasks, since, limit)
        colours = {}
        for rec in doc["records"]:
            prefix = rec[2]
            if prefix not in colours:
                colours[prefix] = self._colour(prefix)
        doc["colours"] = colours
        return doc

    def _colour(self, prefix: str) -> str:
        colour = self.colours.get(prefix)
        if colour is None:
            colour = self.colours[prefix] = prefix_colour(prefix)
        return colour

    def stream_view(self, keys=None) -> dict:
        """For performance reports: with ``keys`` ``[("since", cursor)]`` every record
        after that cursor; without, only the current cursor (``next``)."""
        if not keys:
            return {"next": self.metrics.task_stream.total}
        return self.stream(int(keys[0][1]), limit=None)

    def why(self, key) -> list:
        """``[[depth, sentence], ...]``: why ``key`` is not done (see `scheduler.why`)."""
        return [[d, t] for d, t in explain(self.state, key, self._details)]

    def counts(self) -> dict:
        return dict(self.state.task_states_counts())

    # --- documents -----------------------------------------------------------------------

    def status(self, since: int = 0) -> dict:
        """Everything the live page draws, with task-stream records after ``since``."""
        stream = self.stream(since)
        low, high = POLL_MS
        return {
            "time": time.time(),
            "poll_ms": int(min(max(low, 1000 * POLL_BUDGET * self.status_cost), high)),
            "scheduler": self.overview(),
            "tasks": self.counts(),
            "progress": self.progress(),
            "workers": self.workers(),
            "stream": stream,
            "errors": self.errors(),
        }

    def overview(self) -> dict:
        server, state = self.server, self.state
        return {
            "id": server.id,
            "address": _address(server),
            "workers": len(state.workers),
            "threads": sum(ws.nthreads for ws in state.workers.values()),
            "clients": len(server.clients),
            "tasks": len(state.tasks),
            "completed": self.metrics.task_stream.total,
            "erred": self.metrics.erred_total,
            "stale_messages": state.stale_messages,
            "loop_latency": self.metrics.loop_latency,
            "uptime": time.time() - server.started,
        }

    def task(self, text: str) -> dict[str, Any] | None:
        """The page of one key (``text`` as `key_text` writes it); None if unknown."""
        state = self.state
        key = key_from_text(text, state.tasks)
        why = [{"depth": d, "text": t} for d, t in explain(state, key, self._details)]
        story = [_story_entry(e) for e in state.story(key)[-TASK_PAGE_LIMIT:]]
        ts = state.tasks.get(key)
        recent = [e for e in self.errors(limit=self.metrics.errors.maxlen or 50) if e["key"] == key_text(key)]
        if ts is None:
            if not story and not recent:
                return None
            return {"key": key_text(key), "state": "forgotten", "why": why, "story": story, "errors": recent}
        blame = ts.blame if ts.blame is not None else None
        return {
            "key": key_text(key),
            "prefix": ts.prefix,
            "state": ts.state,
            "priority": list(ts.priority),
            "attempt": ts.attempt,
            "retries": ts.retries,
            "nbytes": ts.nbytes,
            "processing_on": ts.processing_on.name if ts.processing_on is not None else "",
            "who_has": [ws.name for ws in ts.who_has],
            "who_wants": [str(c) for c in ts.who_wants],
            "dependencies": [[key_text(d.key), d.state] for d in ts.dependencies[:TASK_PAGE_LIMIT]],
            "n_dependencies": len(ts.dependencies),
            "dependents": [[key_text(d.key), d.state] for d in list(ts.dependents)[:TASK_PAGE_LIMIT]],
            "n_dependents": len(ts.dependents),
            "error_reason": ts.error_reason or "",
            "blamed": key_text(blame.key) if blame is not None and blame is not ts else "",
            "traceback": (ts.traceback or (blame.traceback if blame is not None else "") or ""),
            "why": why,
            "story": story,
            "errors": recent,
        }

    def _details(self, worker: str) -> dict:
        return dict(self.metrics.report(worker).values)


def _address(server) -> str:
    try:
        return server.address
    except RuntimeError:
        return ""


def _story_entry(entry: tuple) -> dict:
    kind = entry[0]
    stimulus = entry[1] if len(entry) > 1 else 0
    if kind == "transition":
        text = f"{entry[3]} -> {entry[4]}"
    elif kind == "stale":
        text = f"stale message dropped: {entry[3]}"
    else:
        text = repr(entry[2])
    return {"kind": kind, "stimulus": stimulus, "text": text}

