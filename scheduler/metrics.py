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
The wire does not say which thread ran a task: readers pack each worker's runs into
non-overlapping lanes, which is what a thread is on a picture (the dashboard's script,
and ``pardata.distributed.report``), so the scheduler spends nothing on it.

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
    "stream_records",
    "TaskStream",
    "WorkerReport",
    "key_text",
    "prefix_colour",
    "progress_by_prefix",
    "upstream_progress",
]

#: Task-stream records kept by the scheduler (raw, cheap tuples).
TASK_STREAM_LENGTH = 100_000
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


def stream_records(stream: TaskStream, tasks, since: int, limit: int | None = None) -> dict:
    """Task-stream records appended after cursor ``since``, ready for JSON.

    Returns ``{"next": cursor, "records": [...], "workers": [...], "step": k, "missed": n}``
    where each record is ``[seq, key_text, prefix, worker_index, start, stop, kind]``
    (``kind``: compute, error, transfer or spill; ``seq`` its position in the stream). A
    task's prefix is read from ``tasks`` (the scheduler's ``{key: task}``) when it is
    still there. With more than ``limit`` new records, one in ``step`` is sent, evenly
    (the newest always), so a busy cluster costs a bounded amount per poll; ``missed``
    counts records the ring buffer dropped before they were asked for. Which thread ran
    what is left to the reader (lanes are packed from the times, see ``dashboard.js``).
    """
    raw, cursor = stream.since(since)
    first = cursor - len(raw)
    n = len(raw)
    step = 1 if not limit or n <= limit else -(-n // limit)
    workers: list = []
    windex: dict = {}
    out = []
    get_task = tasks.get
    kinds = KIND_OF_STATUS
    indices = range(n) if step == 1 else range((n - 1) % step, n, step)  # the newest always
    for i in indices:
        key, worker, start, stop, status = raw[i]
        kind = kinds.get(status, status)
        if kind == "compute" or kind == "error":
            ts = get_task(key)
            prefix = ts.prefix if ts is not None else key_prefix(key)
        else:
            prefix = kind
        w = windex.get(worker)
        if w is None:
            w = windex[worker] = len(workers)
            workers.append(worker)
        out.append([first + i, key if type(key) is str else key_text(key), prefix, w, start, stop, kind])
    return {"next": cursor, "records": out, "workers": workers, "step": step,
            "missed": max(cursor - since - n, 0) if since < cursor else 0}


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
