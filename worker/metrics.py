"""What a worker tells people about itself: ``/metrics``, ``/health`` and metric reports.

`WorkerDiagnostics` belongs to one `WorkerServer`. It counts bytes moved to and from
peers (the server calls `transfer_in` / `transfer_out`), measures its process's CPU
use and its event loop's latency, and, about once a second, sends the scheduler a
``worker-metrics`` message: named numbers for the dashboard plus the transfers and
spills since the previous report, which the dashboard draws in the task stream. It
also serves a tiny HTTP endpoint (``/metrics`` in Prometheus text, ``/health``) on the
worker's host, at a free port unless told otherwise; the port goes into the reports,
so the dashboard can link to it.

Nothing here is on a task's path: the counters are plain integer additions, and the
report is built on the event loop once per interval.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from pardata.comm import messages as m
from pardata.diagnostics.http import HTTPService
from pardata.diagnostics.loop import LoopLatency
from pardata.diagnostics.prometheus import CONTENT_TYPE, Exposition

__all__ = ["WorkerDiagnostics", "worker_metrics_text"]

logger = logging.getLogger("pardata.worker")

#: Transfers and spills remembered between two reports (older ones are dropped).
ACTIVITY_LENGTH = 2000
#: Seconds after a transfer before it is reported (a burst of them goes in one report).
ACTIVITY_DELAY = 0.1


class WorkerDiagnostics:
    """Counters, the HTTP endpoint and the periodic report of one worker."""

    def __init__(self, server, http_address="") -> None:
        self.server = server
        self.http_address = http_address
        self.transfer_in_bytes = 0
        self.transfer_out_bytes = 0
        self.transfers_in = 0
        self.transfers_out = 0
        self.activity: deque = deque(maxlen=ACTIVITY_LENGTH)
        self.latency = LoopLatency()
        self.http: HTTPService | None = None
        self.cpu = 0.0
        self._process = None
        self._last = (time.monotonic(), 0, 0)
        self._rates = (0.0, 0.0)
        self._spill_seen = (0, 0.0, 0, 0.0)  # spill bytes, seconds, unspill bytes, seconds
        self._wake: asyncio.Event | None = None

    # --- counters (called by the server, on the event loop) ----------------------------------

    def transfer_in(self, keys, start: float, nbytes: int) -> None:
        """A fetch from a peer finished: ``keys`` (``nbytes`` in all) since ``start`` (wall clock)."""
        self.transfer_in_bytes += nbytes
        self.transfers_in += 1
        if keys:
            self.activity.append(("transfer", next(iter(keys)), start, time.time(), int(nbytes)))
            if self._wake is not None:
                self._wake.set()

    def transfer_out(self, reply) -> None:
        """A ``data`` reply to a peer or client is about to be sent."""
        nbytes = 0
        for value in getattr(reply, "values", ()):
            nbytes += getattr(value, "nbytes", 0) or 0
        self.transfer_out_bytes += nbytes
        self.transfers_out += 1

    # --- the periodic report -------------------------------------------------------------------

    async def run(self, interval: float = 1.0) -> None:
        """Serve HTTP and report to the scheduler every ``interval`` s until cancelled."""
        try:
            self._start_http()
            self.latency.start()
            self._cpu_prime()
            self._wake = asyncio.Event()
            while True:
                self.server._to_scheduler(self.report())
                try:  # a transfer or spill wakes it early, so the task stream shows it soon
                    await asyncio.wait_for(self._wake.wait(), interval)
                    await asyncio.sleep(ACTIVITY_DELAY)  # let a burst of them gather
                except asyncio.TimeoutError:
                    pass
                self._wake.clear()
        finally:
            await self.latency.stop()
            if self.http is not None:
                await self.http.stop()

    def _start_http(self) -> None:
        address = self.http_address
        if address is None:
            return
        if address == "":
            host = _host_of(self.server.address) or "127.0.0.1"
            address = f"[{host}]:0" if ":" in host else f"{host}:0"
        try:
            self.http = HTTPService(_make_app(self), address, name=f"worker {self.server.name} metrics").start()
        except OSError as exc:  # no endpoint then; the worker itself works on
            logger.warning("worker %s: cannot serve /metrics at %s: %s", self.server.name, address, exc)
            self.http = None

    def _cpu_prime(self) -> None:
        try:
            import psutil

            self._process = psutil.Process()
            self._process.cpu_percent(None)
        except Exception:  # noqa: BLE001 - no CPU figure then
            self._process = None

    def values(self) -> dict[str, float]:
        """The named numbers of a report (rates over the time since the previous call)."""
        now = time.monotonic()
        then, seen_in, seen_out = self._last
        dt = now - then
        if dt > 0.05:
            self._rates = ((self.transfer_in_bytes - seen_in) / dt, (self.transfer_out_bytes - seen_out) / dt)
            self._last = (now, self.transfer_in_bytes, self.transfer_out_bytes)
        if self._process is not None:
            try:
                self.cpu = float(self._process.cpu_percent(None))
            except Exception:  # noqa: BLE001 - the figure stays as it was
                pass
        self._spill_activity()
        return {
            "cpu": self.cpu,
            "net_in_bps": self._rates[0],
            "net_out_bps": self._rates[1],
            "transfer_in_bytes": float(self.transfer_in_bytes),
            "transfer_out_bytes": float(self.transfer_out_bytes),
            "transfers_in": float(self.transfers_in),
            "transfers_out": float(self.transfers_out),
            "loop_latency": self.latency.latest,
            "http_port": float(self.http.port if self.http is not None else 0),
        }

    def report(self) -> m.WorkerMetrics:
        values = self.values()
        activity = list(self.activity)
        self.activity.clear()
        return m.WorkerMetrics(values=values, activity=activity)

    def _spill_activity(self) -> None:
        """Spilling since the last report, as one rectangle per direction (the spill
        buffer keeps totals, not each write): ends now, lasts the time spent."""
        metrics = _spill_metrics(self.server)
        if metrics is None:
            return
        seen = (metrics.spill_bytes, metrics.spill_seconds, metrics.unspill_bytes, metrics.unspill_seconds)
        old, self._spill_seen = self._spill_seen, seen
        now = time.time()
        for label, nbytes, seconds in (("spill", seen[0] - old[0], seen[1] - old[1]),
                                       ("unspill", seen[2] - old[2], seen[3] - old[3])):
            if nbytes > 0 and seconds > 0:
                self.activity.append(("spill", label, now - seconds, now, int(nbytes)))


def _spill_metrics(server):
    store = getattr(server, "store", None)
    buffer = getattr(store, "buffer", None)
    if buffer is None or not hasattr(buffer, "metrics"):
        return None
    try:
        return buffer.metrics()
    except Exception:  # noqa: BLE001 - a closed buffer: nothing to report
        return None


def _host_of(address: str) -> str:
    rest = address.split("://", 1)[-1]
    if rest.startswith("["):
        return rest[1: rest.index("]")] if "]" in rest else ""
    return rest.rsplit(":", 1)[0]


def worker_metrics_text(diag: WorkerDiagnostics) -> str:
    """Prometheus text for one worker."""
    server = diag.server
    out = Exposition()
    state = server.state
    counts: dict[str, int] = {}
    if state is not None:
        for ts in list(state.tasks.values()):
            counts[ts.state] = counts.get(ts.state, 0) + 1
    out.add("pardata_worker_tasks", "gauge", "Tasks known to this worker, by state.",
            [({"state": s}, n) for s, n in sorted(counts.items())])
    out.gauge("pardata_worker_threads", "Threads running tasks.", server.nthreads)
    out.gauge("pardata_worker_memory_limit_bytes", "Memory limit (0: none).", server.memory_limit)
    managed, process, spilled, paused = _memory(server)
    out.add("pardata_worker_memory_bytes", "gauge", "Memory by type.", [
        ({"type": "managed"}, managed),
        ({"type": "unmanaged"}, max(process - managed, 0)),
        ({"type": "spilled"}, spilled),
        ({"type": "process"}, process),
    ])
    out.gauge("pardata_worker_paused", "1 while paused for memory pressure.", 1 if paused else 0)
    out.add("pardata_worker_transfer_bytes_total", "counter", "Bytes received from / sent to peers.",
            [({"direction": "in"}, diag.transfer_in_bytes), ({"direction": "out"}, diag.transfer_out_bytes)])
    out.add("pardata_worker_transfers_total", "counter", "Transfers with peers.",
            [({"direction": "in"}, diag.transfers_in), ({"direction": "out"}, diag.transfers_out)])
    out.gauge("pardata_worker_cpu_percent", "CPU use of this process at the last report (100 = one core).",
              diag.cpu)
    out.gauge("pardata_worker_event_loop_latency_seconds", "How late the event loop ran a timer.",
              diag.latency.latest)
    return out.render()


def _memory(server) -> tuple[int, int, int, bool]:
    monitor = getattr(server, "monitor", None)
    if monitor is not None:
        try:
            s = monitor.state()
            return int(s.managed), int(s.process), int(s.spilled), bool(s.paused)
        except Exception:  # noqa: BLE001 - fall back to the store's figures
            pass
    managed = int(getattr(server.store, "total_nbytes", 0) or 0)
    try:
        import psutil

        process = psutil.Process().memory_info().rss
    except Exception:  # noqa: BLE001
        process = 0
    return managed, process, 0, False


def _make_app(diag: WorkerDiagnostics):
    import tornado.web

    class Metrics(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", CONTENT_TYPE)
            self.finish(worker_metrics_text(diag))

    class Health(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", "text/plain; charset=utf-8")
            status = diag.server.status
            self.set_status(200 if status == "running" else 503)
            self.finish("ok" if status == "running" else status)

    return tornado.web.Application([(r"/metrics", Metrics), (r"/health", Health)], log_function=_no_log)


def _no_log(handler) -> None:
    pass
