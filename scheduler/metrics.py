"""What the scheduler remembers for people: the task stream, recent errors, worker reports.

`SchedulerServer` owns one `ClusterMetrics`. The server's read loop calls it with
messages it receives (task failed, and the workers' ``worker-metrics`` reports; the
server itself appends task-done runs), and it does the least possible there: append a
tuple to a bounded ring buffer. Everything a human
looks at (thread lanes, task prefixes, colours, per-prefix progress) is derived later,
when the dashboard, ``/metrics`` or a client asks, and only for records not seen yet.

Records of the task stream are ``(key, worker, start, stop, status)`` with wall-clock
times from the worker; ``status`` is ``"done"`` or ``"error"`` for a task run, or
``"transfer"`` / ``"spill"`` for the activity workers report about once a second.
The wire does not say which thread ran a task, so `StreamView` packs each worker's
runs into non-overlapping lanes, which is what a thread is on a picture.

The aggregation functions at the bottom are pure: they read a `SchedulerState` and
return plain data, so they are tested on a state built by hand.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, deque
from typing import Iterable

from pardata.diagnostics.palette import prefix_colour

from .records import ERRED, MEMORY, PROCESSING, RELEASED, key_prefix

__all__ = [
    "ClusterMetrics",
    "StreamView",
    "TaskStream",
    "WorkerReport",
    "key_text",
    "prefix_colour",
    "progress_by_prefix",
    "upstream_progress",
]

#: Task-stream records kept by the scheduler (raw, cheap tuples).
TASK_STREAM_LENGTH = 100_000
#: Records kept with lanes and prefixes for the dashboard.
VIEW_LENGTH = 50_000
#: Recent errors kept with their tracebacks.
ERRORS_LENGTH = 50

KIND_OF_STATUS = {"done": "compute", "error": "error", "transfer": "transfer", "spill": "spill"}


class TaskStream(deque):
    """A ring buffer of task-stream records that also counts every record ever appended.

    ``total`` is a cursor: ``since(cursor)`` returns the records appended after it (as
    many as are still kept) and the new cursor.

    >>> s = TaskStream(maxlen=2)
    >>> for i in range(3):
    ...     s.append((f"x-{i}", "w", 0.0, 1.0, "done"))
    >>> s.total, [r[0] for r in s.since(1)[0]]
    (3, ['x-1', 'x-2'])
    """

    def __init__(self, maxlen: int = TASK_STREAM_LENGTH) -> None:
        super().__init__(maxlen=maxlen)
        self.total = 0

    def append(self, record) -> None:
        deque.append(self, record)
        self.total += 1

    def since(self, cursor: int) -> tuple[list, int]:
        total = self.total
        n = min(max(total - cursor, 0), len(self))
        if n == 0:
            return [], total
        if n == len(self):
            return list(self), total
        out = [self[-i] for i in range(n, 0, -1)] if n < 64 else list(_tail(self, n))
        return out, total


def _tail(d: deque, n: int) -> list:
    it = reversed(d)
    out = [next(it) for _ in range(n)]
    out.reverse()
    return out


@dataclasses.dataclass
class WorkerReport:
    """The latest ``worker-metrics`` report of one worker: named numbers (CPU, network,
    event-loop latency, its HTTP port, ...) the state machine has no use for."""

    values: dict = dataclasses.field(default_factory=dict)
    time: float = 0.0

    def get(self, *names, default=0):
        """The first of ``names`` the worker reported, else ``default``."""
        for name in names:
            if name in self.values:
                return self.values[name]
        return default


class ClusterMetrics:
    """The task stream, recent errors and latest worker reports of one scheduler."""

    def __init__(self, stream_length: int = TASK_STREAM_LENGTH, errors_length: int = ERRORS_LENGTH) -> None:
        self.task_stream = TaskStream(stream_length)
        self.errors: deque = deque(maxlen=errors_length)  # (key, worker, time, traceback)
        self.erred_total = 0
        self.workers: dict[str, WorkerReport] = {}
        self.latency = None  # a LoopLatency probe, set by whoever runs one
        self.view = StreamView(self.task_stream)

    @property
    def loop_latency(self) -> float:
        """The event loop's latest measured lateness (seconds), 0 when not measured."""
        return self.latency.latest if self.latency is not None else 0.0

    # --- called from the server's read loop: keep these cheap -----------------------------

    def task_failed(self, worker: str, msg) -> None:
        """A ``task-failed`` message: a run in the stream and an entry in recent errors."""
        self.task_stream.append((msg.key, worker, msg.start, msg.stop, "error"))
        self.errors.append((msg.key, worker, msg.stop, msg.traceback or ""))
        self.erred_total += 1

    def worker_metrics(self, worker: str, msg, now: float) -> None:
        """A ``worker-metrics`` report: keep its values; its transfers and spills join the stream."""
        self.workers[worker] = WorkerReport(msg.values, now)
        append = self.task_stream.append
        for kind, key, start, stop, _nbytes in msg.activity:
            append((key, worker, start, stop, kind))

    # --- read side -----------------------------------------------------------------------

    def report(self, worker: str) -> WorkerReport:
        return self.workers.get(worker) or WorkerReport()

    def forget_workers(self, present: Iterable[str]) -> None:
        """Drop reports of workers that are gone."""
        keep = set(present)
        for name in [w for w in self.workers if w not in keep]:
            del self.workers[name]


class StreamView:
    """Task-stream records with lanes, prefixes and kinds, derived lazily and kept bounded.

    ``update()`` processes the raw records appended since the last call; each processed
    record is ``[seq, key_text, prefix, worker, lane, start, stop, kind]`` where ``seq``
    is its position in the raw stream (the cursor the dashboard polls with). Runs of
    tasks get lanes ``0, 1, ...`` per worker; transfers and spills get their own lanes
    (``lane`` counted separately, ``kind`` tells them apart).
    """

    #: Runs overlapping by less than this (clock jitter) still share a lane.
    TOLERANCE = 1e-4
    #: Intervals remembered per lane to check overlaps against.
    MEMORY = 16

    def __init__(self, stream: TaskStream, length: int = VIEW_LENGTH) -> None:
        self.stream = stream
        #: ``{key: task}`` of the scheduler, if known: a task's prefix is read from it
        #: rather than parsed from its key again.
        self.tasks: dict = {}
        self.records: deque = deque(maxlen=length)
        self.cursor = 0
        self._lanes: dict = {}  # (worker, group) -> [_Lane, ...]
        self.prefixes: dict[str, str] = {}  # prefix -> colour, in order of appearance

    def update(self) -> None:
        # a backlog longer than what is kept would be dropped anyway: skip its start
        cursor = max(self.cursor, self.stream.total - (self.records.maxlen or 0))
        raw, total = self.stream.since(cursor)
        seq = total - len(raw)
        self.cursor = total
        out = self.records
        tasks = self.tasks
        for key, worker, start, stop, status in raw:
            kind = KIND_OF_STATUS.get(status, status)
            if kind == "compute" or kind == "error":
                ts = tasks.get(key)
                prefix = ts.prefix if ts is not None else key_prefix(key)
            else:
                prefix = kind
            if prefix not in self.prefixes:
                self.prefixes[prefix] = prefix_colour(prefix)
            lane = self._lane(worker, "io" if kind in ("transfer", "spill") else "run", start, stop)
            out.append([seq, key_text(key), prefix, worker, lane, start, stop, kind])
            seq += 1

    def since(self, cursor: int, limit: int = 5000) -> tuple[list, int]:
        """Processed records after ``cursor`` (the newest ``limit`` of them) and the new cursor."""
        self.update()
        recs = self.records
        if not recs or recs[-1][0] < cursor:
            return [], self.cursor
        n = 0
        for rec in reversed(recs):
            if rec[0] < cursor or n >= limit:
                break
            n += 1
        return _tail(recs, n), self.cursor

    def forget_workers(self, present: Iterable[str]) -> None:
        keep = set(present)
        for lane_key in [k for k in self._lanes if k[0] not in keep]:
            del self._lanes[lane_key]

    def _lane(self, worker: str, group: str, start: float, stop: float) -> int:
        """Best fit: the lane whose latest run ended last before ``start`` (so lanes stay
        dense, as threads are); a run that started before a lane's latest one ended
        (records come in order of completion, not of start) is checked against the runs
        each lane remembers."""
        lanes = self._lanes.get((worker, group))
        if lanes is None:
            lanes = self._lanes[(worker, group)] = []
        tol = self.TOLERANCE
        best, best_stop = -1, -1.0
        for i, lane in enumerate(lanes):
            if lane.last_stop - tol <= start and lane.last_stop > best_stop:
                best, best_stop = i, lane.last_stop
        if best < 0:
            for i, lane in enumerate(lanes):
                if all(stop <= s + tol or start >= e - tol for s, e in lane.runs):
                    best = i
                    break
        if best < 0:
            lanes.append(_Lane(start, stop, self.MEMORY))
            return len(lanes) - 1
        lane = lanes[best]
        lane.runs.append((start, stop))
        if stop > lane.last_stop:
            lane.last_stop = stop
        return best


class _Lane:
    __slots__ = ("last_stop", "runs")

    def __init__(self, start: float, stop: float, memory: int) -> None:
        self.last_stop = stop
        self.runs = deque([(start, stop)], maxlen=memory)


def key_text(key) -> str:
    """A key as text for people and URLs: a str as is, a tuple as JSON-like ``["x", 0]``.

    >>> key_text("inc-1"), key_text(("x-1", 0, 2))
    ('inc-1', '["x-1", 0, 2]')
    """
    if type(key) is str:
        return key
    if type(key) is tuple:
        import json

        return json.dumps(list(key))
    return str(key)


def key_from_text(text: str, known) -> object:
    """The key ``key_text`` gave ``text`` (``known`` is a mapping of live keys)."""
    if text in known:
        return text
    if text.startswith("["):
        import json

        try:
            value = json.loads(text)
        except ValueError:
            return text
        if isinstance(value, list):
            return tuple(value)
    return text


# --- pure aggregations over a SchedulerState ---------------------------------------------

PROGRESS_FIELDS = ("total", "done", "memory", "erred", "processing", "waiting")


def _tally(triples) -> dict:
    """``{prefix: [total, done, memory, erred, processing, waiting]}`` from counted
    ``(prefix, state, computed)`` triples (``computed``: ``nbytes >= 0``)."""
    out: dict = {}
    for (prefix, st, computed), n in triples.items():
        c = out.get(prefix)
        if c is None:
            c = out[prefix] = [0, 0, 0, 0, 0, 0]
        c[0] += n
        if st == MEMORY:
            c[1] += n
            c[2] += n
        elif st == PROCESSING:
            c[4] += n
        elif st == ERRED:
            c[3] += n
        elif st == RELEASED:
            if computed:
                c[1] += n  # computed once, released since: done
        else:  # waiting, queued, no-worker
            c[5] += n
    return out


def progress_by_prefix(tasks: Iterable, order: dict | None = None) -> dict:
    """``{prefix: {"total", "done", "memory", "erred", "processing", "waiting"}}``.

    *done* counts tasks in memory and tasks computed and released since; *waiting*
    counts waiting, queued and no-worker tasks. Prefixes come in the order of ``order``
    (a dict kept by the caller across calls: prefixes seen first come first), which
    this updates. Counting is one C-level pass (``Counter``), about 0.2 us a task.
    """
    counts = _tally(Counter((ts.prefix, ts.state, ts.nbytes >= 0) for ts in tasks))
    if order is None:
        order = {}
    for prefix in counts:
        if prefix not in order:
            order[prefix] = len(order)
    ordered = sorted(counts.items(), key=lambda kv: order[kv[0]])
    return {p: dict(zip(PROGRESS_FIELDS, c)) for p, c in ordered}


def upstream_progress(state, keys) -> dict:
    """`progress_by_prefix` over ``keys`` and every task they depend on, transitively.

    Tasks already forgotten are not seen: a caller polling this keeps the largest
    total it saw per prefix and counts what vanished as done.
    """
    tasks = state.tasks
    seen: set = set()
    stack = [tasks[k] for k in keys if k in tasks]
    while stack:
        ts = stack.pop()
        if ts in seen:
            continue
        seen.add(ts)
        stack.extend(dep for dep in ts.dependencies if dep not in seen)
    return progress_by_prefix(sorted(seen, key=lambda ts: ts.seq))
